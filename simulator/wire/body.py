"""Request bodies: read at most N bytes, then parse strict JSON (UTF-8, no lone surrogates, bounded depth)."""

from __future__ import annotations

import math
from typing import Any

import pydantic_core
from starlette.requests import Request

from simulator.wire.errors import WireError

#: the body limit of operations that name none (IoT Central has its own setting); a certificate upload is ~2 KB
DEFAULT_MAX_BYTES = 1024 * 1024
#: how deep a JSON body may nest: the default ``MaxDepth`` of .NET's JSON readers, which the real services run on.
#: The deepest body any operation defines (an enrollment group's attestation) is 5 levels.
MAX_DEPTH = 64


def media_type(request: Request) -> str:
    """The request's media type, lower-cased, without parameters (``application/json; charset=utf-8`` →
    ``application/json``); empty when there is no ``Content-Type``."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The raw body, or 413 ``too_large`` as soon as it exceeds ``max_bytes`` (a declared ``Content-Length`` over the
    limit is refused before anything is read). Consumes the request's stream."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise WireError("too_large", f"the request body is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise WireError("too_large", f"the request body is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Strict JSON: UTF-8 text (no BOM), no lone surrogate, no ``NaN``/``Infinity``, no number overflowing to
    infinity, nested at most ``max_depth`` deep. Raises :class:`WireError` (400) otherwise."""
    try:
        value = pydantic_core.from_json(raw, allow_inf_nan=False, cache_strings="keys")
    except ValueError as exc:
        hint = ""
        if "hex escape" in str(exc) or "surrogate" in str(exc):
            hint = " (a \\uD800-\\uDFFF escape must be half of a surrogate pair)"
        elif "recursion limit" in str(exc):
            raise WireError("too_deep", f"the request body is nested more than {max_depth} levels deep") from None
        raise WireError("invalid_json", f"the request body is not valid JSON: {exc}{hint}") from None
    _check_tree(value, max_depth)
    return value


def _check_tree(value: Any, max_depth: int) -> None:
    """One iterative walk: nesting depth and finite numbers (jiter turns ``1e400`` into ``inf``)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            items: Any = item.values()
        elif isinstance(item, list):
            items = item
        else:
            if isinstance(item, float) and not math.isfinite(item):
                raise WireError("invalid_number", "the request body holds a number too large to represent")
            continue
        if depth + 1 > max_depth:
            raise WireError("too_deep", f"the request body is nested more than {max_depth} levels deep")
        stack.extend((child, depth + 1) for child in items)


async def read_json(
    request: Request,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    media_types: tuple[str, ...] | None = None,
) -> Any:
    """Read and parse a JSON body; ``None`` when the body is empty (or only white space).

    With ``media_types``, a non-empty body of another ``Content-Type`` is 415 ``unsupported_media_type``.
    """
    raw = await read_body(request, max_bytes=max_bytes)
    if not raw.strip():
        return None
    if media_types is not None:
        kind = media_type(request)
        if kind not in media_types:
            raise WireError(
                "unsupported_media_type",
                f"the media type {kind or '(none)'!r} is not supported; send {' or '.join(media_types)}",
            )
    return parse_json(raw, max_depth=max_depth)

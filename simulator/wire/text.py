"""Text from the request line: query strings must percent-decode to UTF-8; JSON strings must be encodable text."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.requests import Request

from simulator.wire.errors import WireError


def check_query(request: Request) -> None:
    """Refuse a query string whose percent-decoded bytes are not UTF-8 (Starlette would silently turn them into
    U+FFFD, so a client's bad text would pass for something it never sent)."""
    raw = request.scope.get("query_string") or b""
    if not raw:
        return
    try:
        unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("invalid_text", "the query string is not UTF-8 text") from None


def check_text(value: str, name: str) -> str:
    """``value`` if it is storable text — encodable as UTF-8, so no lone surrogate — else :class:`WireError`.

    :func:`~simulator.wire.parse_json` already refuses lone surrogates in bodies; this is for text that reaches a
    model another way (the Python control API, a value built from several parts)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise WireError("invalid_text", f"{name} is not valid text (a lone surrogate)", target=name) from None
    return value

"""Matchers: does a request match a recorded one? Each says *why not* by raising :class:`MatchError`.

A replay answers a request with the first recorded exchange, not yet played, that every matcher accepts
(vcrpy's ``matchers.py`` shape: a matcher is a plain function ``(recorded, request) -> None`` that raises with a
reason). The three the replay uses, in order:

* :func:`method` — the HTTP method;
* :func:`uri` — the *normalised* URI: scheme and host lower-cased, default port dropped, path segments decoded and
  re-encoded one way, query parameters sorted; ``api-version`` and placeholders are compared like any value;
* :func:`body` — the body: as JSON when both sides parse (key order and spacing do not matter), else as bytes; no
  body and an empty body are the same.

:func:`closest` scores every candidate by how many matchers it passes (then by textual similarity) and
:func:`explain` renders the best one as a diff, which is how a miss explains itself.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from harness.clients.exchange import Exchange

Matcher = Callable[[Exchange, Exchange], None]


class MatchError(AssertionError):
    """A recorded exchange does not match the request: ``matcher`` names the matcher, the message says why."""

    def __init__(self, matcher: str, reason: str) -> None:
        super().__init__(f"{matcher}: {reason}")
        self.matcher = matcher
        self.reason = reason


def normalise_uri(url: str) -> str:
    """The URI a matcher compares (see the module docstring)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and not ((parts.scheme == "https" and port == 443) or (parts.scheme == "http" and port == 80)):
        host = f"{host}:{port}"
    path = "/".join(quote(unquote(segment), safe="@:!$&'()*+,;=-._~") for segment in parts.path.split("/"))
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return urlunsplit((parts.scheme.lower(), host, path, query, ""))


def method(recorded: Exchange, request: Exchange) -> None:
    if recorded.method.upper() != request.method.upper():
        raise MatchError("method", f"{request.method} was asked, {recorded.method} was recorded")


def uri(recorded: Exchange, request: Exchange) -> None:
    want, got = normalise_uri(recorded.url), normalise_uri(request.url)
    if want != got:
        raise MatchError("uri", f"{got} was asked, {want} was recorded")


def body(recorded: Exchange, request: Exchange) -> None:
    want, got = comparable_body(recorded.request_body), comparable_body(request.request_body)
    if want != got:
        raise MatchError("body", "the request bodies differ")


def comparable_body(raw: bytes) -> Any:
    """A body as the :func:`body` matcher compares it: parsed JSON, else the bytes (``None`` when empty)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


DEFAULT_MATCHERS: tuple[Matcher, ...] = (method, uri, body)


def request_key(exchange: Exchange) -> tuple[str, str, str]:
    """What the three default matchers compare, as one value: equal keys ⇔ every default matcher accepts.

    A replay compares keys (computed once per recorded entry) and runs the matchers themselves only to explain a
    miss."""
    shown = comparable_body(exchange.request_body)
    text = shown.hex() if isinstance(shown, bytes) else json.dumps(shown, sort_keys=True, separators=(",", ":"))
    return exchange.method.upper(), normalise_uri(exchange.url), text


def failures(recorded: Exchange, request: Exchange, matchers: Sequence[Matcher] = DEFAULT_MATCHERS) -> list[str]:
    """Why ``recorded`` does not answer ``request`` — one reason per failing matcher (empty when it does)."""
    reasons = []
    for matcher in matchers:
        try:
            matcher(recorded, request)
        except MatchError as exc:
            reasons.append(str(exc))
    return reasons


def closest(
    request: Exchange, candidates: Sequence[tuple[int, Exchange]], matchers: Sequence[Matcher] = DEFAULT_MATCHERS
) -> tuple[int, Exchange, list[str]] | None:
    """The candidate (index, exchange) that fails the fewest matchers, ties broken by textual similarity."""
    best: tuple[tuple[int, float], int, Exchange, list[str]] | None = None
    asked = render(request)
    for index, candidate in candidates:
        reasons = failures(candidate, request, matchers)
        score = (-len(reasons), difflib.SequenceMatcher(None, render(candidate), asked).ratio())
        if best is None or score > best[0]:
            best = (score, index, candidate, reasons)
    return None if best is None else (best[1], best[2], best[3])


def render(exchange: Exchange) -> str:
    """The request as a diff shows it: ``METHOD normalised-URI`` then the body (JSON indented)."""
    shown = comparable_body(exchange.request_body)
    if isinstance(shown, bytes):
        text = shown.decode("utf-8", "replace")
    elif shown is None:
        text = ""
    else:
        text = json.dumps(shown, indent=2, sort_keys=True)
    return f"{exchange.method.upper()} {normalise_uri(exchange.url)}\n{text}".rstrip("\n")


def explain(request: Exchange, recorded: Exchange) -> str:
    """A unified diff from the recorded request (``-``) to the one asked (``+``)."""
    recorded_lines = _shorten(render(recorded)).splitlines()
    asked_lines = _shorten(render(request)).splitlines()
    return "\n".join(difflib.unified_diff(recorded_lines, asked_lines, "recorded", "asked", lineterm="", n=2))


def _shorten(text: str, limit: int = 160) -> str:
    """Long lines (base64 certificates) cut in the middle so a diff stays readable."""
    out = []
    for line in text.splitlines():
        out.append(line if len(line) <= limit else f"{line[: limit // 2]}…{line[-limit // 2 :]}")
    return "\n".join(out)


__all__ = [
    "DEFAULT_MATCHERS",
    "MatchError",
    "body",
    "closest",
    "explain",
    "failures",
    "method",
    "normalise_uri",
    "request_key",
    "uri",
]

"""The HTTP exchanges of each step, for the reports: heard from the session's wire clients, sanitized like a live
recording (:mod:`harness.recording.sanitize`: no tokens, keys or identifying values), as plain JSON.

Collecting is opt-in (``run(..., capture_exchanges=True)``; the CLI turns it on when a JSON, JUnit or HTML report
is asked for): sanitizing reads every certificate that went over the wire, which a run without a report need not
pay for.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from typing import Any

MAX_BODY = 64 * 1024


def _body(raw: bytes) -> Any:
    """A body as a report shows it: JSON as JSON, text as text, anything else as base64 (bounded)."""
    if not raw:
        return None
    shown = raw[:MAX_BODY]
    cut = {"truncated_from": len(raw)} if len(raw) > MAX_BODY else {}
    try:
        text = shown.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(shown).decode("ascii"), **cut}
    if not cut:
        try:
            return json.loads(text)
        except ValueError:
            pass
    return {"text": text, **cut} if cut else text


def exchange_json(exchange: Any) -> dict[str, Any]:
    """One (already sanitized) :class:`harness.clients.exchange.Exchange` as JSON."""
    response = None
    if exchange.status is not None:
        response = {
            "status": exchange.status,
            "headers": dict(exchange.response_headers),
            "body": _body(exchange.response_body),
        }
    return {
        "service": exchange.service,
        "request": {
            "method": exchange.method,
            "url": exchange.url,
            "headers": dict(exchange.request_headers),
            "body": _body(exchange.request_body),
        },
        "response": response,
        "error": exchange.error,
        "seconds": round(exchange.seconds, 6),
        "attempt": exchange.attempt,
        "retried": exchange.retried,
    }


class StepExchanges:
    """Keeps each step's raw exchanges while the session runs; :meth:`sanitized` turns them into report JSON."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.raw: dict[int, list[Any]] = defaultdict(list)
        session.add_exchange_listener(self.hear)

    def hear(self, exchange: Any) -> None:
        if exchange.step is not None:
            self.raw[exchange.step].append(exchange)

    def sanitized(self) -> tuple[dict[int, list[dict[str, Any]]], Any]:
        """Every step's exchanges, sanitized together (so one value gets one placeholder), and the sanitizer."""
        from harness.recording.sanitize import Sanitizer

        sanitizer = Sanitizer.for_session(self.session)
        sanitizer.learn([exchange for exchanges in self.raw.values() for exchange in exchanges])
        shown = {
            step: [exchange_json(sanitizer.sanitize(exchange)) for exchange in exchanges]
            for step, exchanges in self.raw.items()
        }
        return shown, sanitizer


def without_tokens(value: Any, sanitizer: Any) -> Any:
    """``value`` with every token the sanitizer knows replaced by its placeholder (the rest left readable)."""
    tokens = {known.value: known for known in sanitizer.known.values() if known.kind == "token"}
    if not tokens:
        return value

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            for token in tokens:
                if token in item:
                    item = item.replace(token, sanitizer.placeholders.get("token", token))
            return item
        if isinstance(item, dict):
            return {key: walk(child) for key, child in item.items()}
        if isinstance(item, list | tuple):
            return [walk(child) for child in item]
        return item

    return walk(value)

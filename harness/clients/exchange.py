"""One HTTP exchange as a wire client saw it: the request it sent and the answer it got (or the failure).

Every :class:`~harness.clients.base.WireClient` can hand each exchange to a listener (``on_exchange=``) the moment
the answer has been read, retried attempts included. That single hook is what recordings
(:mod:`harness.recording`), the per-step exchanges of a report and the live safety guard build on; nothing is
kept unless a listener keeps it, and nothing here is sanitized — run an exchange through
:class:`harness.recording.sanitize.Sanitizer` before it goes anywhere a person or a file might see it::

    seen: list[Exchange] = []
    client = SphereLegacyClient(auth, on_exchange=seen.append)
    client.list_tenants()
    seen[0].method, seen[0].url, seen[0].status, seen[0].response_json()

``step`` is filled in by the session (the index of the scenario step that was running), ``retried`` says the client
sent the same request again after this answer (a 429/5xx it retried), and ``error`` holds the transport failure of a
request that got no answer (``status`` is then ``None``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Exchange:
    """A request and its response, raw: headers as (name, value) pairs in wire order, bodies as bytes."""

    service: str
    method: str
    url: str
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    request_body: bytes = b""
    status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""
    seconds: float = 0.0
    attempt: int = 1
    retried: bool = False
    error: str | None = None
    step: int | None = None

    @classmethod
    def from_response(
        cls, service: str, response: httpx.Response, *, seconds: float, attempt: int, retried: bool
    ) -> Exchange:
        """The exchange behind an ``httpx.Response`` whose body has been read."""
        request = response.request
        return cls(
            service=service,
            method=request.method,
            url=str(request.url),
            request_headers=list(request.headers.multi_items()),
            request_body=request.content,
            status=response.status_code,
            response_headers=list(response.headers.multi_items()),
            response_body=response.content,
            seconds=seconds,
            attempt=attempt,
            retried=retried,
        )

    @classmethod
    def from_failure(
        cls, service: str, request: httpx.Request, error: BaseException, *, seconds: float, attempt: int, retried: bool
    ) -> Exchange:
        """A request that got no answer (connection refused, reset, dropped)."""
        try:
            body = request.content
        except httpx.RequestNotRead:  # a streamed body never read: nothing to show
            body = b""
        return cls(
            service=service,
            method=request.method,
            url=str(request.url),
            request_headers=list(request.headers.multi_items()),
            request_body=body,
            seconds=seconds,
            attempt=attempt,
            retried=retried,
            error=f"{type(error).__name__}: {error}",
        )

    def header(self, name: str, *, response: bool = True) -> str | None:
        """The first value of header ``name`` (case-insensitive) of the response (or the request)."""
        wanted = name.lower()
        for key, value in self.response_headers if response else self.request_headers:
            if key.lower() == wanted:
                return value
        return None

    def response_json(self) -> Any:
        """The response body parsed as JSON (``None`` when it is empty or not JSON)."""
        return _json_or_none(self.response_body)

    def request_json(self) -> Any:
        return _json_or_none(self.request_body)


def _json_or_none(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


#: what a client calls with every exchange
ExchangeListener = Callable[[Exchange], None]
#: what a client calls before sending: ``guard(method, url)`` raises to refuse the request
RequestGuard = Callable[[str, str], None]

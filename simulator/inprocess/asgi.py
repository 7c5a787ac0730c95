"""Serve one ``httpx.Request`` with an ASGI app in this process and hand back the ``httpx.Response``.

This is the part of :class:`httpx.ASGITransport` the in-process world needs, without what it does not: no anyio
event per request (the transport creates one to wait for the response, and asks ``sniffio`` which library runs),
no response streaming while the app still runs. The app — a service adapter inside its middleware chain — is
awaited to completion; what it sent is collected and returned as a response whose stream holds the raw body
bytes, so the client decodes ``Content-Encoding`` exactly as it would off a socket.

The ASGI scope is the one ``ASGITransport`` builds (``http_version`` 1.1, ``client`` ``127.0.0.1:123``), so an app
sees the same request either way. An exception the app raises reaches the caller, as with
``ASGITransport(raise_app_exceptions=True)``; the fault layer's :class:`~simulator.fault_middleware.InjectedDrop`
becomes :class:`httpx.ReadError` — what a client sees when the server closes the connection mid-response.
"""

from __future__ import annotations

from typing import Any

import httpx

from simulator.fault_middleware import InjectedDrop

CLIENT_ADDRESS = ("127.0.0.1", 123)
_DISCONNECT = {"type": "http.disconnect"}


def scope_for(request: httpx.Request) -> dict[str, Any]:
    """The ASGI HTTP scope of ``request`` (the same keys and values as ``httpx.ASGITransport``)."""
    url = request.url
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "headers": [(name.lower(), value) for name, value in request.headers.raw],
        "scheme": url.scheme,
        "path": url.path,
        "raw_path": url.raw_path.split(b"?", 1)[0],
        "query_string": url.query,
        "server": (url.host, url.port),
        "client": CLIENT_ADDRESS,
        "root_path": "",
    }


async def call_app(app: Any, request: httpx.Request) -> httpx.Response:
    """Run ``app`` on ``request`` (whose body has been read) and return the whole response."""
    body = request.content
    received = False
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            return _DISCONNECT
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        kind = message["type"]
        if kind == "http.response.start":
            status, headers = message["status"], message.get("headers", [])
        elif kind == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await app(scope_for(request), receive, send)
    except InjectedDrop as exc:
        raise httpx.ReadError(f"connection dropped by the server ({exc})", request=request) from None
    if status is None:
        raise RuntimeError(f"the app sent no response to {request.method} {request.url}")
    raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return httpx.Response(
        status,
        headers=headers,
        stream=httpx.ByteStream(raw),
        request=request,
        extensions={"http_version": b"HTTP/1.1"},
    )

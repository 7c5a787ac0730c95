"""requests into the world: ``HTTPAdapter.send`` as patched while a cloud router is active.

``requests`` — and every Azure SDK for Python, whose default pipeline transport is a ``requests.Session`` (so
``AzureSphereMgmtClient`` too) — sends through ``requests.adapters.HTTPAdapter.send``.
:mod:`simulator.inprocess.activation` replaces it with :func:`send` for the duration of a ``cloud.mock()`` block.
A request for the world's hosts becomes an ``httpx.Request`` (method, URL, headers, body bytes — the ``Host``
header is added from the URL, as http.client would) and takes the same way in as httpx's:
:func:`simulator.inprocess.router.dispatch`, the service's ASGI app inside its middleware chain. The answer comes
back as a ``urllib3.HTTPResponse`` holding the raw body, and the adapter's own ``build_response`` makes the
``requests.Response`` — status, reason, headers, cookies, encoding, ``Content-Encoding`` decoding all done by
requests itself.

Any other host goes to the router's ``responses.RequestsMock`` (``router.requests_mock``) when the caller made one
— it answers the routes added to it and refuses the rest with ``requests.ConnectionError`` — and is refused with
``requests.ConnectionError`` at once otherwise. Nothing reaches the network.

Transport-level failures keep their meaning: a dropped connection (the ``drop`` fault, or an
``httpx.ReadError`` from a transport hook) is a ``ConnectionError`` wrapping urllib3's ``ProtocolError``
("Connection aborted."), which azure-core treats as a failure *after* the request was sent
(``ServiceResponseError``); a refused connection (``httpx.ConnectError``) is a plain ``ConnectionError``
(``ServiceRequestError``: never sent); timeouts are ``ConnectTimeout`` / ``ReadTimeout``.

This module imports ``requests`` only when it patches it (see :mod:`simulator.inprocess.activation`).
"""

from __future__ import annotations

import io
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx

from simulator.inprocess.active import current
from simulator.inprocess.hosts import world_service

_patched: list[tuple[type, Any]] = []  # (HTTPAdapter class, its original send)


def install(adapters: ModuleType) -> None:
    """Patch ``adapters.HTTPAdapter.send`` (``adapters`` is the ``requests.adapters`` module)."""
    if _patched:
        return
    cls = adapters.HTTPAdapter
    _patched.append((cls, cls.send))
    cls.send = send


def uninstall() -> None:
    """Put back the original ``HTTPAdapter.send`` (unless someone patched over ours meanwhile)."""
    while _patched:
        cls, original = _patched.pop()
        if cls.send is send:
            cls.send = original


def _original_send() -> Any:
    return _patched[0][1]


def send(
    adapter: Any,
    request: Any,
    stream: bool = False,
    timeout: Any = None,
    verify: Any = True,
    cert: Any = None,
    proxies: Any = None,
) -> Any:
    """``HTTPAdapter.send`` while the world is mocked."""
    router = current()
    kwargs = {"stream": stream, "timeout": timeout, "verify": verify, "cert": cert, "proxies": proxies}
    if router is None:
        return _original_send()(adapter, request, **kwargs)
    parts = urlsplit(request.url)
    service = world_service(parts.scheme.lower(), parts.hostname or "")
    if service is None:
        return _refuse(router, adapter, request, kwargs)
    wire = to_httpx_request(request)
    try:
        response = router.serve(wire, service)
    except httpx.TransportError as exc:
        raise requests_error(exc, request) from exc
    return adapter.build_response(request, to_urllib3_response(response, request.method))


def _refuse(router: Any, adapter: Any, request: Any, kwargs: dict[str, Any]) -> Any:
    mock = router.existing_requests_mock
    if mock is not None:
        return mock.unbound_on_send()(adapter, request, **kwargs)  # the caller's routes; refuses the rest
    from requests.exceptions import ConnectionError as RequestsConnectionError

    raise RequestsConnectionError(
        f"sphere-harness: {request.method} {request.url} is not a host of the fake world, and no route for it "
        "was added (router.requests_mock.add(...)); the in-process world never reaches the network",
        request=request,
    )


def to_httpx_request(request: Any) -> httpx.Request:
    """The ``httpx.Request`` for a ``requests.PreparedRequest``: same method, URL, headers and body bytes."""
    body = request.body
    if body is None:
        content = b""
    elif isinstance(body, bytes):
        content = body
    elif isinstance(body, str):
        content = body.encode("utf-8")  # what urllib3 sends for a str body
    elif hasattr(body, "read"):
        data = body.read()
        content = data.encode("utf-8") if isinstance(data, str) else data
    else:  # an iterable of chunks (requests sends it chunked)
        content = b"".join(chunk.encode("utf-8") if isinstance(chunk, str) else chunk for chunk in body)
    return httpx.Request(request.method, request.url, headers=list(request.headers.items()), content=content)


def to_urllib3_response(response: httpx.Response, method: str) -> Any:
    """A ``urllib3.HTTPResponse`` holding ``response``'s status, headers (repeats kept) and raw body bytes."""
    from urllib3 import HTTPHeaderDict, HTTPResponse

    headers = HTTPHeaderDict()
    for name, value in response.headers.raw:
        headers.add(name.decode("latin-1"), value.decode("latin-1"))
    # requests reads cookies from the original http.client response's headers (``msg``); give it these headers
    # there, with an empty closed body, as the ``responses`` library does
    closed = io.BytesIO()
    closed.close()
    original = HTTPResponse(body=closed, msg=headers, preload_content=False)  # type: ignore[arg-type]
    return HTTPResponse(
        body=io.BytesIO(b"".join(response.iter_raw())),  # the bytes as sent: requests decodes Content-Encoding
        headers=headers,
        status=response.status_code,
        reason=response.reason_phrase,
        preload_content=False,
        original_response=original,  # type: ignore[arg-type]
        request_method=method,
    )


def requests_error(exc: httpx.TransportError, request: Any) -> Exception:
    """The exception requests raises for the transport failure ``exc`` (see the module docstring)."""
    from http.client import RemoteDisconnected

    from requests import exceptions
    from urllib3.exceptions import ProtocolError

    message = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return exceptions.ConnectTimeout(message, request=request)
    if isinstance(exc, httpx.TimeoutException):
        return exceptions.ReadTimeout(message, request=request)
    if isinstance(exc, httpx.ConnectError):
        return exceptions.ConnectionError(message, request=request)
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        aborted = ProtocolError("Connection aborted.", RemoteDisconnected(message))
        return exceptions.ConnectionError(aborted, request=request)
    return exceptions.ConnectionError(message, request=request)


def requests_mock_for(router: Any) -> Any:
    """A ``responses.RequestsMock`` for ``router``'s extra routes: not started (our patch consults it directly),
    not asserting on its own (the router's ``assert_all_called`` checks its routes)."""
    import responses
    from requests.adapters import HTTPAdapter

    # a passthrough route goes to the real send, not to ours (responses would take whatever is there on import)
    real = _patched[0][1] if _patched else HTTPAdapter.send
    return responses.RequestsMock(assert_all_requests_are_fired=False, real_adapter_send=real)

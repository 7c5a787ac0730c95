"""httpx into the world: the transports' request handlers, as patched while a cloud router is active.

:mod:`simulator.inprocess.activation` puts :func:`handle_request` on ``httpx.HTTPTransport`` and
:func:`handle_async_request` on ``httpx.AsyncHTTPTransport`` — the transports every ``httpx.Client`` and
``AsyncClient`` builds unless given another — so a client needs no configuration: the URL decides. A request for
the world is answered in-process with the request object the client built (its body read), and the response goes
back to the client, which reads, decodes and hooks it as if it came off a socket. No ``httpcore`` request, no route
table, no ASGI transport sits in between.

Any other request goes to the active router's respx route table (routes the caller added); if none matches, it
fails with :class:`respx.models.AllMockedAssertionError` — unless a respx mock of the caller's own is active too, in
which case it is passed to the real transport, where that mock (which patches beneath it) decides. A route marked
``pass_through`` goes to the real transport too.
"""

from __future__ import annotations

from typing import Any

import httpx
from respx.mocks import Mocker
from respx.models import AllMockedAssertionError, PassThrough

from simulator.inprocess.active import current
from simulator.inprocess.hosts import world_service

#: the handlers this module replaced (set by :mod:`simulator.inprocess.activation` when it installs the patch)
ORIGINALS: list[Any] = []


def _other_respx_active() -> bool:
    return any(mocker.routers for mocker in Mocker.registry.values())


def handle_request(transport: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
    """``HTTPTransport.handle_request`` while the world is mocked."""
    router = current()
    if router is None:
        return ORIGINALS[0](transport, request)
    url = request.url
    service = world_service(url.scheme, url.host)
    if service is not None:
        request.read()
        return router.serve(request, service)
    try:
        return router.handler(request)
    except PassThrough:
        return ORIGINALS[0](transport, request)
    except AllMockedAssertionError:
        if _other_respx_active():
            return ORIGINALS[0](transport, request)
        raise


async def handle_async_request(transport: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
    """``AsyncHTTPTransport.handle_async_request`` while the world is mocked (served in the caller's loop)."""
    router = current()
    if router is None:
        return await ORIGINALS[1](transport, request)
    url = request.url
    service = world_service(url.scheme, url.host)
    if service is not None:
        await request.aread()
        return await router.aserve(request, service)
    try:
        return await router.async_handler(request)
    except PassThrough:
        return await ORIGINALS[1](transport, request)
    except AllMockedAssertionError:
        if _other_respx_active():
            return await ORIGINALS[1](transport, request)
        raise

"""The cloud router (what ``cloud.mock()`` returns) and :func:`dispatch`, the one function that carries a request in.

The package docstring, :mod:`simulator.inprocess`, is the user's guide. While a router is active, httpx's own
transports (:mod:`simulator.inprocess.httpx_transport`) and requests' adapter
(:mod:`simulator.inprocess.requests_transport`) ask :func:`~simulator.inprocess.hosts.world_service` whether a URL is
the world's; if it is, :func:`dispatch` serves it with the service's ASGI app (:mod:`simulator.inprocess.asgi`), and
the response goes back through the same client objects a socket's would.

A request for any other host is the router's to refuse: respx's route table (routes the caller added with
``router.get(...)`` and friends) answers httpx, ``responses`` (``router.requests_mock``) answers requests, and a
request neither knows fails at once — :class:`respx.models.AllMockedAssertionError`,
:class:`requests.ConnectionError` — instead of reaching the network.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.from_thread
import httpx
import respx

from simulator.inprocess import activation
from simulator.inprocess.asgi import call_app
from simulator.inprocess.hosts import SERVICE_APPS

TransportHook = Callable[[httpx.Request, str], None]


class CloudRouter(respx.MockRouter):
    """The world's in-process router. Use it as a context manager (``with cloud.mock() as router``).

    It is a :class:`respx.MockRouter` whose route table holds only the caller's routes (the world answers before
    any route is matched), so everything respx offers for extra hosts works: ``router.get(url).respond(...)``,
    ``router.calls`` (world requests included), ``assert_all_called``. For code using ``requests``,
    :attr:`requests_mock` is a ``responses.RequestsMock`` to add routes to in the same way.

    Entering patches httpx's and requests' transports for the block (once, however many routers are active; the
    oldest active router answers, as with respx); leaving restores them, removes routes added inside the block and
    clears the call records.
    """

    def __init__(self, cloud: Any, *, assert_all_called: bool = False) -> None:
        # respx snapshots its route table on construction and on every start; each snapshot copies the call list,
        # a unittest.mock object costing ~40 µs to make. An empty table needs no copy (see snapshot/rollback).
        self._empty_snapshots: list[bool] = []
        # using=None: respx patches nothing itself; the world's transports consult this route table directly
        super().__init__(assert_all_called=assert_all_called, assert_all_mocked=True, using=None)
        self.cloud = cloud
        self.transport_hooks: list[TransportHook] = []
        #: the services that answered a request since the router started (for ``assert_all_called``)
        self.services_called: set[str] = set()
        self._portal_cm: Any = None
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._portal_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._started = False
        self._control_app: Any = None
        self._requests: Any = None

    # -- respx plumbing --

    def snapshot(self) -> None:
        if self.routes or self.calls:
            self._empty_snapshots.append(False)
            super().snapshot()
        else:
            self._empty_snapshots.append(True)

    def rollback(self) -> None:
        if self._empty_snapshots and self._empty_snapshots.pop():
            self.routes.clear()
            del self.calls[:]
            return
        super().rollback()

    def assert_all_called(self) -> None:
        """respx's check for the caller's own routes, plus: every service of the world answered a request."""
        super().assert_all_called()
        if self._requests is not None:
            unused_routes = [(m.method, m.url) for m in self._requests.registered() if m.call_count == 0]
            assert not unused_routes, f"RESPONSES: some routes were not called! {unused_routes!r}"
        unused = [service for service in (*SERVICE_APPS, "control") if service not in self.services_called]
        assert not unused, f"RESPX: some routes were not called! (services never called: {', '.join(unused)})"

    def reset(self) -> None:
        super().reset()
        self.services_called.clear()

    @property
    def requests_mock(self) -> Any:
        """A ``responses.RequestsMock`` for hosts outside the world reached with ``requests``: add routes to it as
        to any (``router.requests_mock.add(responses.POST, token_url, json={...})``). Only what is added answers;
        the routes are removed when the block ends. (Not started on its own: the router's patch of requests
        consults it.)"""
        if self._requests is None:
            from simulator.inprocess.requests_transport import requests_mock_for

            self._requests = requests_mock_for(self)
        return self._requests

    @property
    def existing_requests_mock(self) -> Any:
        """:attr:`requests_mock` if the caller made it, else None (without importing ``responses``)."""
        return self._requests

    def start(self) -> None:
        if self._started:
            raise RuntimeError("this cloud router is already active")
        super().start()
        self._loop_thread = threading.get_ident()
        self._started = True
        activation.activate(self)

    def stop(self, clear: bool = True, reset: bool = True, quiet: bool = False) -> None:
        if not self._started:
            return
        self._started = False
        activation.deactivate(self)
        try:
            super().stop(clear=clear, reset=reset, quiet=quiet)
        finally:
            if self._requests is not None:
                if clear:
                    self._requests.reset()  # its routes, calls and passthroughs
                elif reset:
                    self._requests.calls.reset()
            with self._portal_lock:
                portal_cm, self._portal_cm, self._portal = self._portal_cm, None, None
            if portal_cm is not None:
                portal_cm.__exit__(None, None, None)
            loop, self._loop, self._loop_thread = self._loop, None, None
            if loop is not None:
                loop.close()

    # -- the world's side --

    def app_for(self, service: str) -> Any:
        """The ASGI app serving ``service`` now (looked up per request: ``cloud.reset()`` rebuilds the adapters)."""
        if service == "control":
            if self._control_app is None:
                from simulator import route_compilation
                from simulator.control import build_control_app

                route_compilation.install()
                self._control_app = build_control_app(self.cloud)
            return self._control_app
        return getattr(self.cloud, SERVICE_APPS[service])

    def serve(self, request: httpx.Request, service: str) -> httpx.Response:
        """Serve a sync client's request (its body read) and record the call, as respx records its own."""
        try:
            response = dispatch(self, request, service)
        except BaseException:
            self.calls.record(request, None)
            raise
        self.calls.record(request, response)
        return response  # type: ignore[return-value]

    async def aserve(self, request: httpx.Request, service: str) -> httpx.Response:
        """Serve an async client's request in the caller's event loop and record the call."""
        try:
            response = await dispatch(self, request, service, asynchronous=True)  # type: ignore[misc]
        except BaseException:
            self.calls.record(request, None)
            raise
        self.calls.record(request, response)
        return response

    def run_sync(self, app: Any, request: httpx.Request) -> httpx.Response:
        """Run ``app`` on a sync client's request and return the whole response.

        In the thread that started the router, with no event loop running there, the app runs on the router's own
        loop in this thread (made on first use, closed with the router); anywhere else — another thread, or a sync
        client called inside a coroutine — on one loop in a background thread (an anyio blocking portal, started
        on first need and stopped with the router).
        """
        if not self._started:
            raise RuntimeError("the cloud router is not started: use it as a context manager")
        if threading.get_ident() == self._loop_thread and not _loop_running_here():
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.new_event_loop()
            return loop.run_until_complete(call_app(app, request))
        return self._portal_for_other_threads().call(call_app, app, request)

    def _portal_for_other_threads(self) -> anyio.from_thread.BlockingPortal:
        with self._portal_lock:
            if self._portal is None:
                self._portal_cm = anyio.from_thread.start_blocking_portal()
                self._portal = self._portal_cm.__enter__()
            return self._portal


def dispatch(
    router: CloudRouter, request: httpx.Request, service: str, *, asynchronous: bool = False
) -> httpx.Response | Awaitable[httpx.Response]:
    """Carry one request (body read) into the world: transport hooks, then the service's ASGI app.

    Every in-process request passes here — httpx (sync and async) and requests alike (requests' are converted to
    an ``httpx.Request`` first) — so this is the seam for transport-level fault injection (``router.transport_hooks``:
    each is called as ``hook(request, service)`` and may raise an :class:`httpx.TransportError`) and for anything
    that wants to see every request and response. Returns the response, or an awaitable of it when
    ``asynchronous``.
    """
    router.services_called.add(service)
    for hook in list(router.transport_hooks):
        hook(request, service)
    app = router.app_for(service)
    if asynchronous:
        return call_app(app, request)
    return router.run_sync(app, request)


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def mock_cloud(cloud: Any, *, assert_all_called: bool = False) -> CloudRouter:
    """A router sending the real Azure host names of ``cloud``'s services into its ASGI apps.

    Returns the router unstarted; ``with mock_cloud(cloud) as router:`` patches httpx and requests for the block.
    With ``assert_all_called=True`` leaving the block fails unless every service answered a request and every
    route the caller added was used (respx semantics).
    """
    return CloudRouter(cloud, assert_all_called=assert_all_called)

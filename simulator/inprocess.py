"""The in-process way into the offline world: respx routes the real Azure host names into the ASGI adapters.

Code written against Azure — ``httpx.get("https://prod.core.sphere.azure.net/v2/tenants", …)``, an
``httpx.AsyncClient`` talking to ``https://contoso.azureiotcentral.com/api/…`` — runs unmodified against a
:class:`~simulator.cloud.FakeCloud`, without a socket::

    cloud = FakeCloud(seed=1)
    with cloud.mock() as router:                   # == mock_cloud(cloud)
        httpx.get("https://management.azure.com/subscriptions/…", headers={"Authorization": …})
        router.calls                               # every request respx saw (respx's own call log)

=========================================  ==========================  ================================
host                                       service                     ASGI app
=========================================  ==========================  ================================
``prod.core.sphere.azure.net``              Sphere security service v2  ``cloud.legacy_app``
``management.azure.com``                    Sphere ARM (2024-04-01)     ``cloud.arm_app``
``<subdomain>.azureiotcentral.com``         IoT Central data plane      ``cloud.central_app``
``global.azure-devices-provisioning.net``   DPS device HTTPS API        ``cloud.dps_app``
``sim.sphere-harness.local``                simulator control ``/_sim`` :func:`simulator.control.build_control_app`
=========================================  ==========================  ================================

Only ``https`` reaches the services (the real ones have no plain-HTTP endpoint); the control host accepts both.
The request arrives at the app as sent — the ``Host`` header is untouched, so the Central adapter picks the app by
subdomain. Any other host is *not* swallowed: respx answers it with ``AllMockedAssertionError`` (nothing ever
reaches the network), and routes the caller adds to the returned router work as usual.

**Sync and async clients.** An ``httpx.AsyncClient`` request is awaited straight through
:class:`httpx.ASGITransport`. A sync request cannot await, so the router runs the app to completion on an event
loop of its own: in the thread that started the router (the common case — a test, a scenario run) on a loop
created with the router and closed with it, called directly (~20 µs a request); from any other thread, or from a
thread whose own loop is running, on one loop in a background thread (an anyio blocking portal, started on first
need and stopped with the router; a hop between threads costs ~10× more). No event loop is built per request.
Which path applies is known from respx itself: :class:`CloudRouter` marks its async resolution with a context
variable, so a sync client used inside a coroutine still takes the sync path.

**Fault injection.** The fault layer's HTTP effects live in the adapters (:mod:`simulator.fault_middleware`). Its
``drop`` effect aborts the response half-way; here that becomes :class:`httpx.ReadError`, as a dropped connection
would. Transport-level faults before the app is reached go through :attr:`CloudRouter.transport_hooks`: each hook
is called as ``hook(request, service)`` and may raise an :class:`httpx.TransportError` (``ConnectError``,
``ReadTimeout`` …). All of it happens in :func:`dispatch`, the one function that carries a request into the world.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.from_thread
import httpx
import respx
from respx.patterns import M

from simulator.control import CONTROL_HOST

SPHERE_LEGACY_HOST = "prod.core.sphere.azure.net"
ARM_HOST = "management.azure.com"
CENTRAL_DOMAIN = "azureiotcentral.com"
DPS_HOST = "global.azure-devices-provisioning.net"

#: service name → the FakeCloud attribute holding its ASGI app (``control`` is built by the router itself)
SERVICE_APPS: dict[str, str] = {
    "sphere-legacy": "legacy_app",
    "sphere-arm": "arm_app",
    "central": "central_app",
    "dps": "dps_app",
}

CENTRAL_HOST_PATTERN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+" + re.escape(CENTRAL_DOMAIN) + r"$")

TransportHook = Callable[[httpx.Request, str], None]

_resolving_async: contextvars.ContextVar[bool] = contextvars.ContextVar("sphere_harness_async", default=False)


def service_for_host(host: str) -> str | None:
    """Which service of the world answers ``host`` (case-insensitive), or None for a host the world does not own."""
    host = host.lower().rstrip(".")
    if host == SPHERE_LEGACY_HOST:
        return "sphere-legacy"
    if host == ARM_HOST:
        return "sphere-arm"
    if host == DPS_HOST:
        return "dps"
    if host == CONTROL_HOST:
        return "control"
    if CENTRAL_HOST_PATTERN.match(host):
        return "central"
    return None


class CloudRouter(respx.MockRouter):
    """A respx router with the world's routes. Use it as a context manager (``with cloud.mock() as router``).

    Entering starts respx's patching of httpx and the background event loop for sync clients; leaving stops both
    and removes routes the caller added inside the block (respx's usual rollback).
    """

    def __init__(self, cloud: Any, *, assert_all_called: bool = False) -> None:
        super().__init__(assert_all_called=assert_all_called, assert_all_mocked=True)
        self.cloud = cloud
        self.transport_hooks: list[TransportHook] = []
        self._portal_cm: Any = None
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._portal_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._control_app: Any = None
        #: the services that answered a request since the router started (for ``assert_all_called``)
        self.services_called: set[str] = set()
        # One route for the whole world: respx gives every route (and every snapshot of it) a CallList, which is a
        # unittest.mock object and costs more to make than a request costs to serve. Which service answers is
        # decided per request from the host (service_for_host), after the route has matched.
        hosts = M(host=SPHERE_LEGACY_HOST) | M(host=ARM_HOST) | M(host__regex=CENTRAL_HOST_PATTERN.pattern)
        world = (M(scheme="https") & (hosts | M(host=DPS_HOST))) | M(host=CONTROL_HOST)
        self.route(world, name="world").mock(side_effect=self._side_effect)

    # -- respx plumbing --

    def _side_effect(self, request: httpx.Request) -> httpx.Response | Awaitable[httpx.Response]:
        service = service_for_host(request.url.host)
        assert service is not None, "the world route matched a host no service owns"
        return dispatch(self, request, service)

    def assert_all_called(self) -> None:
        """respx's check for the caller's own routes, plus: every service of the world answered a request."""
        super().assert_all_called()
        unused = [service for service in (*SERVICE_APPS, "control") if service not in self.services_called]
        assert not unused, f"RESPX: some routes were not called! (services never called: {', '.join(unused)})"

    def reset(self) -> None:
        super().reset()
        self.services_called.clear()

    async def aresolve(self, request: httpx.Request) -> Any:
        token = _resolving_async.set(True)
        try:
            return await super().aresolve(request)
        finally:
            _resolving_async.reset(token)

    def start(self) -> None:
        if self._loop is None:
            self._loop, self._loop_thread = asyncio.new_event_loop(), threading.get_ident()
        super().start()

    def stop(self, clear: bool = True, reset: bool = True, quiet: bool = False) -> None:
        try:
            super().stop(clear=clear, reset=reset, quiet=quiet)
        finally:
            with self._portal_lock:
                portal_cm, self._portal_cm, self._portal = self._portal_cm, None, None
            if portal_cm is not None:
                portal_cm.__exit__(None, None, None)
            loop, self._loop, self._loop_thread = self._loop, None, None
            if loop is not None:
                loop.close()

    def _portal_for_other_threads(self) -> anyio.from_thread.BlockingPortal:
        with self._portal_lock:
            if self._portal is None:
                self._portal_cm = anyio.from_thread.start_blocking_portal()
                self._portal = self._portal_cm.__enter__()
            return self._portal

    # -- the world's side --

    def app_for(self, service: str) -> Any:
        """The ASGI app serving ``service`` now (looked up per request: ``cloud.reset()`` rebuilds the adapters)."""
        if service == "control":
            if self._control_app is None:
                from simulator.control import build_control_app

                self._control_app = build_control_app(self.cloud)
            return self._control_app
        return getattr(self.cloud, SERVICE_APPS[service])

    def run_sync(self, app: Any, request: httpx.Request) -> httpx.Response:
        """Serve a sync client's request on the router's event loop and return a fully read response."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the cloud router is not started: use it as a context manager")
        body = request.read()
        twin = httpx.Request(
            request.method, request.url, headers=request.headers, content=body, extensions=request.extensions
        )
        if threading.get_ident() == self._loop_thread and not _loop_running_here():
            return loop.run_until_complete(_call_app_buffered(app, twin))
        return self._portal_for_other_threads().call(_call_app_buffered, app, twin)


def dispatch(router: CloudRouter, request: httpx.Request, service: str) -> httpx.Response | Awaitable[httpx.Response]:
    """Carry one request into the world: transport hooks, then the service's ASGI app (sync or async).

    This is the single seam for transport-level fault injection: wrap it, or add ``router.transport_hooks``.
    """
    router.services_called.add(service)
    for hook in list(router.transport_hooks):
        hook(request, service)
    app = router.app_for(service)
    if _resolving_async.get():
        return _call_app(app, request)
    return router.run_sync(app, request)


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def _call_app(app: Any, request: httpx.Request) -> httpx.Response:
    from simulator.fault_middleware import InjectedDrop

    try:
        return await httpx.ASGITransport(app=app).handle_async_request(request)
    except InjectedDrop as exc:
        raise httpx.ReadError(f"connection dropped by the server ({exc})", request=request) from None


async def _call_app_buffered(app: Any, request: httpx.Request) -> httpx.Response:
    response = await _call_app(app, request)
    raw = b"".join([chunk async for chunk in response.stream])  # raw bytes: the client does any decoding
    return httpx.Response(response.status_code, headers=response.headers, content=raw, request=request)


def mock_cloud(cloud: Any, *, assert_all_called: bool = False) -> CloudRouter:
    """A respx router sending the real Azure host names of ``cloud``'s services into its ASGI apps.

    Returns the router unstarted; ``with mock_cloud(cloud) as router:`` patches httpx for the block. With
    ``assert_all_called=True`` leaving the block fails unless every service route was used (respx semantics).
    """
    return CloudRouter(cloud, assert_all_called=assert_all_called)

"""The in-process way into the offline world: the real Azure host names reach the world's ASGI adapters.

Code written against Azure — ``httpx.get("https://prod.core.sphere.azure.net/v2/tenants", …)``, an
``httpx.AsyncClient`` talking to ``https://contoso.azureiotcentral.com/api/…``, ``requests``, or an Azure SDK
client such as ``AzureSphereMgmtClient`` (whose transport is requests) — runs unmodified against a
:class:`~simulator.cloud.FakeCloud`, without a socket::

    cloud = FakeCloud(seed=1)
    with cloud.mock() as router:                   # == mock_cloud(cloud)
        httpx.get("https://management.azure.com/subscriptions/…", headers={"Authorization": …})
        requests.get("https://prod.core.sphere.azure.net/v2/tenants", headers={"Authorization": …})
        router.calls                               # every httpx and requests call the router answered

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
subdomain. Any other host is *not* swallowed and never reaches the network: httpx gets
``respx.models.AllMockedAssertionError`` and requests ``requests.ConnectionError``, unless the caller added a route
for it — ``router.get(url).respond(...)`` (the router is a respx router) for httpx,
``router.requests_mock.add(...)`` (a ``responses.RequestsMock``) for requests.

**How a request gets in.** While a block is active, httpx's ``HTTPTransport``/``AsyncHTTPTransport`` and requests'
``HTTPAdapter`` hand a request for a world host straight to :func:`dispatch` with the request object the client
built (:mod:`~simulator.inprocess.httpx_transport`, :mod:`~simulator.inprocess.requests_transport`); the service's
adapter — its Starlette app inside the middleware chain of :meth:`FakeCloud._adapter <simulator.cloud.FakeCloud>`
— runs on it (:mod:`~simulator.inprocess.asgi`), and the client reads the response as it would off a socket:
status, headers, raw body bytes. There is no route matching per request, no ``httpcore`` round trip, no ASGI
transport object; the world decides by host alone (:mod:`~simulator.inprocess.hosts`).

**Sync and async clients.** An ``httpx.AsyncClient`` request is awaited in the caller's event loop. A sync
request (httpx or requests) runs the app to completion on an event loop of the router's: in the thread that
started the router (the common case — a test, a scenario run) on a loop made on first use and closed with the
router, in the calling thread; from any other thread, or from a thread whose own loop is running, on one loop in a
background thread (an anyio blocking portal, started on first need and stopped with the router).

**Fault injection.** The fault layer's HTTP effects live in the adapters (:mod:`simulator.fault_middleware`). Its
``drop`` effect aborts the response half-way; here that becomes :class:`httpx.ReadError` (requests:
``ConnectionError`` with "Connection aborted."), as a dropped connection would. Transport-level faults before the
app is reached go through :attr:`CloudRouter.transport_hooks`: each hook is called as ``hook(request, service)``
and may raise an :class:`httpx.TransportError` (``ConnectError``, ``ReadTimeout`` …; requests clients get the
matching requests exception). All of it happens in :func:`dispatch`, the one function that carries a request into
the world.
"""

from simulator.inprocess.hosts import (
    ARM_HOST,
    CENTRAL_DOMAIN,
    CENTRAL_HOST_PATTERN,
    DPS_HOST,
    SERVICE_APPS,
    SPHERE_LEGACY_HOST,
    service_for_host,
    world_service,
)
from simulator.inprocess.router import CloudRouter, TransportHook, dispatch, mock_cloud

__all__ = [
    "ARM_HOST",
    "CENTRAL_DOMAIN",
    "CENTRAL_HOST_PATTERN",
    "DPS_HOST",
    "SERVICE_APPS",
    "SPHERE_LEGACY_HOST",
    "CloudRouter",
    "TransportHook",
    "dispatch",
    "mock_cloud",
    "service_for_host",
    "world_service",
]

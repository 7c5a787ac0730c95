"""The ASGI side of fault injection: wraps a service's Starlette app and applies firing rules.

For each HTTP request the middleware finds the route that will serve it (the route's ``name`` is the
*operation* a rule matches), asks the world's :class:`~simulator.faults.FaultInjector`, and then:

* ``status`` — answers with the service's own error shape (the adapter's ``error_response`` function), plus
  ``Retry-After`` when the rule says so; the model is never reached, so state is unchanged;
* ``latency`` — sleeps ``latency_s`` (real time), then lets the request through;
* ``drop`` — starts a response and aborts it, so the server closes the connection mid-response and the client
  sees a transport error (in-process, :mod:`simulator.inprocess` raises ``httpx.ReadError`` instead). Served, the
  abort is an :class:`InjectedDrop` raised through uvicorn, which closes the connection and logs "Exception in ASGI
  application" with a traceback; :func:`quiet_injected_drops` filters exactly those records out, because a drop
  the tester asked for is not a server error;
* ``dps_failed`` / ``connack`` — not HTTP effects; the DPS model and the MQTT server apply them. A fired
  ``dps_failed`` is left in ``scope["state"]`` under :data:`EFFECT_KEY` for the DPS route to pass on.

Each adapter is wrapped once (:meth:`simulator.cloud.FakeCloud._adapter`), so each request is counted once
against the rules. For IoT Central the ``app`` a rule names is matched against the app the request reaches: the
``Host`` subdomain, else the world's default app (a served world on ``127.0.0.1``). The ``/_sim`` control surface
is never wrapped: no rule can lock a tester out of clearing the rules.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

ErrorShaper = Callable[[Request, int, str, str], Response]


#: a fired effect that only the route can apply (``dps_failed``: the registration is made, then ends ``failed``);
#: routes read it from ``request.scope["state"]``
EFFECT_KEY = "sphere_harness_fault_effect"


class InjectedDrop(Exception):
    """Raised inside the app to abort a response half-way (served) — the connection is dropped."""


class QuietInjectedDrops(logging.Filter):
    """Drops log records whose exception is an :class:`InjectedDrop` (uvicorn's "Exception in ASGI application"
    for a connection a fault rule closed on purpose); every other record, and every other exception, passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, InjectedDrop)


def quiet_injected_drops(logger_name: str = "uvicorn.error") -> None:
    """Keep injected drops out of ``logger_name`` (uvicorn's error logger); idempotent. :mod:`simulator.server`
    calls it before its listeners start."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, QuietInjectedDrops) for f in logger.filters):
        logger.addFilter(QuietInjectedDrops())


class FaultMiddleware:
    """Apply the world's fault rules to one service's ASGI app."""

    def __init__(self, app: ASGIApp, *, cloud: Any, service: str, error_response: ErrorShaper) -> None:
        self.app = app
        self.cloud = cloud
        self.service = service
        self.error_response = error_response

    def _operation(self, scope: Scope) -> tuple[str, dict[str, Any]]:
        for route in getattr(self.app, "routes", []):
            match, child = route.matches(scope)
            if match is Match.FULL:
                return getattr(route, "name", None) or "*", child.get("path_params", {})
        return "unrouted", {}

    def _app_label(self, host: str) -> str | None:
        """The IoT Central app a request addresses, as the Central adapter picks it: the ``Host`` subdomain, else the
        world's default app (served on ``127.0.0.1`` there is no subdomain). Other services have no app."""
        if self.service != "central":
            return None
        central = getattr(self.cloud, "central", None)
        with self.cloud.lock:
            if central is None or not central.apps:  # no app at all: none to match (and none may be conjured)
                return None
            app = central.find_app_for_host(host)
            return app.subdomain if app is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        injector = getattr(self.cloud, "faults", None)
        if scope["type"] != "http" or injector is None or not injector.rules:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        operation, params = self._operation(scope)
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        tenant = params.get("tenant_id") or params.get("tenantId") or params.get("catalog") or params.get("id_scope")
        app_label = self._app_label(host)
        with self.cloud.lock:  # a rule's counters are world state: committed (persisted world) before the answer
            effect = injector.check(self.service, operation, app=app_label, tenant=tenant)
        if effect is None or effect.kind in ("connack", "dps_failed"):
            if effect is not None:  # the route applies it (DPS ``failed`` status); it finds it here
                state[EFFECT_KEY] = effect
            await self.app(scope, receive, send)
            return
        if effect.kind == "latency":
            await asyncio.sleep(effect.latency_s)
            await self.app(scope, receive, send)
            return
        if effect.kind == "drop":
            state["sphere_harness_drop"] = True
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise InjectedDrop(f"injected connection drop on {self.service}/{operation}")
        scope.setdefault("app", self.app)  # error shapers read request.app.state like the routes do
        request = Request(scope, receive)
        code = effect.code or _default_code(effect.status)
        response = self.error_response(request, effect.status, code, effect.message)
        if effect.retry_after is not None:
            response.headers["Retry-After"] = str(effect.retry_after)
        await response(scope, receive, send)


def _default_code(status: int) -> str:
    return {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        429: "TooManyRequests",
        500: "InternalServerError",
        502: "BadGateway",
        503: "ServiceUnavailable",
        504: "GatewayTimeout",
    }.get(status, "InjectedFault")

"""The served way into the offline world: HTTPS and MQTT over TLS on loopback, described by an endpoints file.

Anything that can speak HTTPS or MQTT — the Azure CLI, ``azure-mgmt-sphere``, the Azure IoT device SDK, a test in
another language — can use the world once it is served::

    with serve_cloud(cloud, mqtt_port=0, endpoints_file="endpoints.json") as served:
        served.endpoints["sphere"]["arm_url"]      # https://127.0.0.1:<port>
        served.ca_bundle                           # the local CA to trust (simulator.tls)

Layout (one uvicorn server per port, all in ONE background thread with its own event loop):

====================  ======================================================================================
Sphere port ``P``      ``/v2/…`` → Sphere legacy API (``legacy_url`` = ``https://host:P/v2``), everything else
                       → Sphere ARM API (``arm_url`` = ``https://host:P``, the client appends ``/subscriptions``)
Central port ``P+1``   IoT Central data plane; with no subdomain in ``Host`` it reaches the world's default
                       app (the one in the endpoints file)
DPS port ``P+2``       DPS device HTTPS API. Asks for a TLS client certificate (optional at the TLS layer) and
                       trusts every CA the world knows, refreshed on each new connection, so registrations
                       present real, key-proven device certificates (:class:`simulator.dps.https_api.TlsH11Protocol`)
every HTTPS port       ``/_sim/…`` — the simulator control API (:mod:`simulator.control`); ``control_url`` names
                       the one on the Sphere port
``mqtt_port``          DPS and IoT hub over MQTT 3.1.1/TLS (:func:`simulator.dps.mqtt.start_mqtt_server`). The
                       device SDK hard-codes 8883, hence the default; ``0`` picks a free port
                       (tests), ``None`` serves no MQTT
====================  ======================================================================================

``port=0`` (default) gives every HTTPS listener a free port; ``port=P`` uses ``P``, ``P+1``, ``P+2``.

Before anything listens the world gets a default tenant with an Administrator user and a default IoT Central app
(:func:`simulator.control.ensure_defaults`); their IDs and tokens are in the endpoints. The endpoints file is written
(temp file + rename) only after every HTTPS listener has answered ``GET /_sim/health`` over verified TLS and the
MQTT port accepts TCP connections, and it is removed again by :meth:`ServedCloud.stop` (or at process exit); a
stale file left by a killed server is replaced on start (:mod:`simulator.endpoints_file`). ``POST /_sim/reset``
re-creates the defaults with the same IDs and rewrites the file with the new tokens.

The local CA and the server certificates it issues are dated by the real clock (clients judge them against real
time); the Sphere certificates devices present are judged on the world's clock by the DPS HTTPS and MQTT listeners
(``dps.tls_validity_clock = "world"``, :class:`simulator.dps.mqtt.WorldTrust`), so the world's clock can be
travelled freely.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from simulator import endpoints_file
from simulator.control import CONTROL_PREFIX, WorldDefaults, build_control_app, ensure_defaults
from simulator.control_guard import ControlGuard, exposure_warning, new_control_token, resolve_mode
from simulator.listeners import ListenerLimits, TlsListener, with_read_deadlines
from simulator.tls import LocalTls, local_tls

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
HTTPS_SERVICES = ("sphere", "central", "dps")

ASGIApp = Callable[..., Any]


class ServeError(RuntimeError):
    """The world could not be served (a port in use, a listener that never became ready)."""


# -- ASGI composition ------------------------------------------------------------------------------------------


class PortApp:
    """The ASGI app of one HTTPS port: ``/_sim`` to the control API, the rest to the port's service app(s).

    Service apps are looked up on the world per request, because :meth:`FakeCloud.reset` rebuilds them.
    """

    def __init__(self, cloud: Any, service: str, control: ASGIApp | None, portal: Any = None) -> None:
        self.cloud = cloud
        self.service = service
        self.control = control  # None: --control off, /_sim reaches the service (its own 404)
        self.portal = portal  # simulator.portal.Portal: the Central port's pages, and the Sphere journal

    def target(self, path: str) -> ASGIApp:
        if self.control is not None and (path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")):
            return self.control
        if self.service == "sphere":
            legacy = path == "/v2" or path.startswith("/v2/")
            app = self.cloud.legacy_app if legacy else self.cloud.arm_app
            return self.portal.journal.wrap(app) if self.portal is not None else app
        if self.service == "central":
            api = path == "/api" or path.startswith("/api/")
            return self.cloud.central_app if api or self.portal is None else self.portal
        return self.cloud.dps_app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return  # lifespan is off; websockets are not served
        await self.target(scope["path"])(scope, receive, send)


class RequestLog:
    """ASGI middleware logging ``method path → status (ms)`` for every request, through :mod:`logging`."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_logged(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            path = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
            log.info("%s %s %s -> %s (%.1f ms)", self.service, scope["method"], path, status or "aborted", elapsed_ms)


def _dps_protocol() -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with the TLS client chain in the ASGI scope (the DPS port authenticates devices by it).

    The listener brings the world's trust up to date before each handshake (:class:`simulator.listeners.TlsListener`
    ``before_handshake``), so a CA uploaded to IoT Central a moment ago is trusted when this connection's client
    certificate is checked.
    """
    from simulator.dps.https_api import TlsH11Protocol

    return TlsH11Protocol


# -- the served world ------------------------------------------------------------------------------------------


@dataclass
class _Listener:
    service: str
    sock: socket.socket
    port: int
    server: uvicorn.Server | None = None
    guard: TlsListener | None = None


class ServedCloud:
    """A world served on loopback. Built and started by :func:`serve_cloud`; stop it with :meth:`stop` (or ``with``).

    ``endpoints`` is the endpoints-file dictionary, ``ca_bundle`` the absolute path of the local CA's PEM,
    ``urls`` the base URL of every listener by service.
    """

    def __init__(
        self,
        cloud: Any,
        *,
        host: str,
        port: int,
        mqtt_port: int | None,
        tls: LocalTls,
        endpoints_file: Path | None,
        log_requests: bool,
        limits: ListenerLimits | None = None,
        control: str = "auto",
        control_token: str | None = None,
    ) -> None:
        self.cloud = cloud
        self.host = host
        self.tls = tls
        self.endpoints_file = endpoints_file
        self.log_requests = log_requests
        #: what one client may hold on each listener (connection cap, TLS and read timeouts)
        self.limits = limits or ListenerLimits()
        #: who may use /_sim: "open" (loopback), "token" (Authorization: Bearer <control_token>) or "off"
        self.control_access = resolve_mode(control, host)
        self.control_token = (control_token or new_control_token()) if self.control_access == "token" else None
        self.requested_port = port
        self.requested_mqtt_port = mqtt_port
        self.mqtt_port: int | None = None
        self.endpoints: dict[str, Any] = {}
        self.defaults: WorldDefaults | None = None
        self.portal: Any = None
        self._listeners: list[_Listener] = []
        self._mqtt: Any = None
        #: the device-facing TLS trust (a server context and the world's CAs in it), one for the DPS HTTPS and the
        #: MQTT listener: :meth:`_device_trust`
        self._trust: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped = False

    # -- public --

    @property
    def ca_bundle(self) -> str:
        """Absolute path of the local CA certificate (PEM) that every listener's certificate chains to."""
        return str(self.tls.ca_pem)

    def port_of(self, service: str) -> int:
        """The HTTPS port of ``"sphere"``, ``"central"`` or ``"dps"``."""
        return next(listener.port for listener in self._listeners if listener.service == service)

    @property
    def urls(self) -> dict[str, str | None]:
        base = {service: f"https://{self._url_host}:{self.port_of(service)}" for service in HTTPS_SERVICES}
        return {
            "sphere-legacy": base["sphere"] + "/v2",
            "sphere-arm": base["sphere"],
            "central": base["central"],
            "dps": base["dps"],
            "control": base["sphere"] + CONTROL_PREFIX,
            "mqtt": f"mqtts://{self._url_host}:{self.mqtt_port}" if self.mqtt_port is not None else None,
        }

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the local CA (for httpx ``verify=``, ``ssl.wrap_socket`` …)."""
        return self.tls.client_context()

    def stop(self) -> None:
        """Stop every listener, end the server thread, remove the endpoints file. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop may have ended on its own after a failure
                loop.call_soon_threadsafe(event.set)
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            if self._thread.is_alive():
                log.error("the served world's thread did not stop within %.0f s", STOP_TIMEOUT_S)
        for listener in self._listeners:
            listener.sock.close()
        if self.endpoints_file is not None:
            endpoints_file.remove(self.endpoints_file)

    def __enter__(self) -> ServedCloud:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "serving"
        return f"<ServedCloud {state} {self.urls if self._listeners else ''}>"

    # -- start-up --

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def _start(self) -> None:
        if self.endpoints_file is not None:
            try:
                endpoints_file.claim(self.endpoints_file)  # a stale file is replaced, a live world's is not
            except endpoints_file.EndpointsFileInUse as exc:
                raise ServeError(str(exc)) from None
        warning = exposure_warning(self.host, self.control_access)
        if warning is not None:
            log.warning("%s", warning)
        self.defaults = ensure_defaults(self.cloud)
        self._bind()
        self.portal = self._make_portal()
        self.control_app = build_control_app(self.cloud, on_reset=[self._after_reset], on_restore=[self._after_restore])
        # Load the world's CAs into the device-facing TLS context now, before any listener accepts: on a world of
        # 10⁴ tenants that takes seconds (OpenSSL's certificate store grows by sorting), which a first handshake
        # would otherwise spend on the event loop — every listener stalled, the start-up probe timed out.
        self._device_trust().sync()
        self._thread = threading.Thread(target=self._run, name="sphere-harness-served-world", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            self.stop()
            raise ServeError(f"the served world did not start within {START_TIMEOUT_S:.0f} s")
        if self._error is not None:
            error = self._error
            self.stop()
            raise ServeError(f"the served world could not start: {error}") from error
        try:
            self._probe()
        except OSError as exc:
            self.stop()
            raise ServeError(f"a listener of the served world does not answer: {exc}") from exc
        self.endpoints = self._endpoints()
        self._write_endpoints()

    def _device_trust(self) -> Any:
        """The one :class:`~simulator.dps.mqtt.WorldTrust` of the device-facing listeners (DPS HTTPS and MQTT).

        Both ask for client certificates and trust the same CAs, so they share one server context: the world's CAs
        are loaded into one certificate store, once, instead of one store per listener.
        """
        if self._trust is None:
            from simulator.dps.mqtt import WorldTrust, prepare_server_context

            self._trust = WorldTrust(self.cloud, prepare_server_context(self.tls.server_context()))
        return self._trust

    def _bind(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for offset, service in enumerate(HTTPS_SERVICES):
            wanted = self.requested_port + offset if self.requested_port else 0
            # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP,
            # and an accepted socket inherits the listener's. With proto 0, Nagle holds back the second write of
            # every response until the client's delayed ACK (~40 ms per request on a kept-alive connection).
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, wanted))
            except OSError as exc:
                sock.close()
                for listener in self._listeners:
                    listener.sock.close()
                self._listeners.clear()
                raise ServeError(f"cannot listen for {service} on {self.host}:{wanted}: {exc.strerror}") from exc
            sock.setblocking(False)
            self._listeners.append(_Listener(service, sock, sock.getsockname()[1]))

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            log.exception("the served world failed")
        finally:
            self._ready.set()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._stop_event = asyncio.Event()
        try:
            await self._start_listeners()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            await self._shutdown()
            return
        self._ready.set()
        ticks = [asyncio.create_task(listener.server.main_loop()) for listener in self._listeners if listener.server]
        await self._stop_event.wait()
        for listener in self._listeners:
            if listener.server is not None:
                listener.server.should_exit = True
        await asyncio.gather(*ticks, return_exceptions=True)
        await self._shutdown()

    async def _start_listeners(self) -> None:
        from simulator.fault_middleware import quiet_injected_drops

        quiet_injected_drops()  # a drop fault closes the connection on purpose: no "Exception in ASGI application"
        for listener in self._listeners:
            app: ASGIApp = PortApp(self.cloud, listener.service, self._guarded_control(), self.portal)
            if self.log_requests:
                app = RequestLog(app, listener.service)
            context = self.tls.server_context()
            protocol: Any = "h11"
            before_handshake = None
            if listener.service == "dps":
                trust = self._device_trust()
                context = trust.context
                protocol = _dps_protocol()
                before_handshake = trust.sync
            config = uvicorn.Config(
                app,
                http=protocol,
                lifespan="off",
                log_config=None,
                access_log=False,
                proxy_headers=False,
                server_header=False,
                timeout_graceful_shutdown=2,
                timeout_keep_alive=self.limits.keep_alive_s,
                ws="none",
            )
            config.load()
            server = uvicorn.Server(config)
            server.lifespan = config.lifespan_class(config)  # what Server.serve() sets up before startup()
            # Instead of server.startup(): our own accept loop (simulator.listeners) with a connection cap, TLS in a
            # tracked task and read deadlines; uvicorn keeps the HTTP protocol, its state and its shutdown.
            protocol_class = with_read_deadlines(config.http_protocol_class, self.limits)
            factory = functools.partial(
                protocol_class, config=config, server_state=server.server_state, app_state=server.lifespan.state
            )
            guard = TlsListener(
                listener.service, listener.sock, context, factory, self.limits, before_handshake=before_handshake
            )
            server.servers = [await guard.start()]
            server.started = True
            listener.server, listener.guard = server, guard
        if self.requested_mqtt_port is None:
            return
        try:
            from simulator.dps.mqtt import start_mqtt_server
        except ImportError:
            log.warning("simulator.dps.mqtt is not available: serving no MQTT listener")
            return
        try:
            self._mqtt = await start_mqtt_server(
                self.cloud,
                self.host,
                self.requested_mqtt_port,
                self.tls.server_context,
                served_host=self.host,
                limits=self.limits,
                trust=self._device_trust(),
            )
        except OSError as exc:
            raise ServeError(f"cannot listen for MQTT on {self.host}:{self.requested_mqtt_port}: {exc}") from exc
        self.mqtt_port = self._mqtt.port

    async def _shutdown(self) -> None:
        """Stop accepting, end idle connections at once, let requests in flight finish (uvicorn's graceful
        shutdown, at most 2 s), then abort whatever is left — no connection outlives the loop."""
        if self._mqtt is not None:
            self._mqtt.close()
            with contextlib.suppress(Exception):
                await self._mqtt.wait_closed()
        guards = [listener.guard for listener in self._listeners if listener.guard is not None]
        for guard in guards:
            guard.close()
        running = [listener.server for listener in self._listeners if listener.server and listener.server.started]
        for server in running:
            for connection in list(server.server_state.connections):
                cycle = getattr(connection, "cycle", None)
                if cycle is None or cycle.response_complete:  # idle keep-alive: no close_notify dance on the way out
                    connection.transport.abort()
        await asyncio.gather(*(server.shutdown() for server in running))
        await asyncio.gather(*(guard.abort_all() for guard in guards))

    def _guarded_control(self) -> ASGIApp | None:
        """The control app as this world exposes it: open, behind the token guard, or not at all."""
        if self.control_access == "off":
            return None
        if self.control_access == "token":
            assert self.control_token is not None
            return ControlGuard(self.control_app, self.control_token)
        return self.control_app

    def _probe(self) -> None:
        """Prove each listener is up: ``GET /_sim/health`` over verified TLS, a TCP connect to MQTT.

        Uses :mod:`http.client`, not httpx, so an active respx mock in the caller cannot intercept the probe.
        """
        context = self.tls.client_context()
        for listener in self._listeners:
            connection = http.client.HTTPSConnection(self.host, listener.port, context=context, timeout=5)
            try:
                headers = {"Authorization": f"Bearer {self.control_token}"} if self.control_token else {}
                connection.request("GET", f"{CONTROL_PREFIX}/health", headers=headers)
                response = connection.getresponse()
                response.read()
                expected = response.status < 500 if self.control_access == "off" else response.status == 200
                if not expected:  # with --control off the service behind the port answers (a 404 in its shape)
                    raise OSError(f"{listener.service} answered {response.status} to the health probe")
            finally:
                connection.close()
        if self.mqtt_port is not None:
            with socket.create_connection((self.host, self.mqtt_port), timeout=5):
                pass

    # -- endpoints --

    def _endpoints(self) -> dict[str, Any]:
        assert self.defaults is not None
        tenant, app, urls = self.defaults.tenant, self.defaults.app, self.urls
        return {
            "ca_bundle": self.ca_bundle,
            "sphere": {
                "legacy_url": urls["sphere-legacy"],
                "arm_url": urls["sphere-arm"],
                "token": tenant.token,
                "arm_token": tenant.arm_token,
                "tenant_id": tenant.tenant_id,
                "subscription_id": tenant.subscription_id,
                "resource_group": tenant.resource_group,
                "catalog": tenant.catalog,
                "user": tenant.user,
            },
            "central": {
                "url": urls["central"],
                "subdomain": app.subdomain,
                "api_token": app.api_token,
                "id_scope": app.id_scope,
                "portal_url": self.portal.signin_link(urls["central"], app.subdomain, tenant.user),
            },
            "dps": {
                "host": self.host,
                "mqtt_port": self.mqtt_port,
                "https_url": urls["dps"],
                "id_scope": app.id_scope,
            },
            "pid": os.getpid(),  # whose file this is: a start finding it with its process gone replaces it
            "state_dir": str(self.cloud.state_dir) if getattr(self.cloud, "state_dir", None) else None,
            **({"control_url": urls["control"]} if self.control_access != "off" else {}),
            **({"control_token": self.control_token} if self.control_token else {}),
        }

    def _write_endpoints(self) -> None:
        if self.endpoints_file is not None:
            endpoints_file.write(self.endpoints_file, self.endpoints)

    def _after_restore(self) -> dict[str, Any]:
        """``POST /_sim/restore`` hook: the restored world's own defaults (its first tenant and app), rewritten file."""
        self.defaults = ensure_defaults(self.cloud)
        portal = getattr(self, "portal", None)
        if portal is not None:  # the restored world's default app and tenant belong to the default user
            tenant, app = self.defaults.tenant, self.defaults.app
            portal.add_trainee(tenant.user, app.subdomain, tenant.tenant_id, tenant.user)
        self.endpoints = self._endpoints()
        self._write_endpoints()
        return {"endpoints": self.endpoints}

    def _make_portal(self) -> Any:
        """The IoT Central pages (:mod:`simulator.portal`) for the Central port; the default app belongs with the
        default tenant and user. Host names the server certificate carries count as hosts without a subdomain."""
        from simulator.portal.app import Portal

        assert self.defaults is not None
        portal = Portal(self.cloud, base_hosts=tuple(self.tls.names))
        tenant, app = self.defaults.tenant, self.defaults.app
        portal.add_trainee(tenant.user, app.subdomain, tenant.tenant_id, tenant.user)
        return portal

    def _after_reset(self) -> dict[str, Any]:
        """``POST /_sim/reset`` hook: the same tenant and app IDs again, new tokens, a rewritten endpoints file."""
        assert self.defaults is not None
        old_tenant, old_app = self.defaults.tenant, self.defaults.app
        with self.cloud.lock:
            self.cloud.sphere.create_tenant(
                name=old_tenant.name,
                tenant_id=old_tenant.tenant_id,
                subscription_id=old_tenant.subscription_id,
                resource_group=old_tenant.resource_group,
                catalog=old_tenant.catalog,
            )
            self.cloud.central.create_app(subdomain=old_app.subdomain, name=old_app.name)
            self.defaults = ensure_defaults(self.cloud, tenant_id=old_tenant.tenant_id, subdomain=old_app.subdomain)
        self.portal.journal.clear()
        self.endpoints = self._endpoints()
        self._write_endpoints()
        return {"endpoints": self.endpoints}


def serve_cloud(
    cloud: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    mqtt_port: int | None = 8883,
    workdir: str | os.PathLike[str] | None = None,
    endpoints_file: str | os.PathLike[str] | None = None,
    log_requests: bool = False,
    limits: ListenerLimits | None = None,
    control: str = "auto",
    control_token: str | None = None,
) -> ServedCloud:
    """Serve ``cloud`` on ``host`` and return the running :class:`ServedCloud` (also a context manager).

    ``workdir`` holds the local CA and server certificate (default: ``<state_dir>/tls`` for a persisted world, so a
    restarted world keeps its CA; else one temporary directory per process, so all worlds of a process share a CA).
    ``endpoints_file``, if given, receives the endpoints JSON once everything is ready. ``limits`` bounds what one
    client may hold on each listener (:class:`simulator.listeners.ListenerLimits`: connection cap, TLS handshake,
    header and body read timeouts). ``control`` says who may use ``/_sim`` (:mod:`simulator.control_guard`:
    ``"auto"`` — open on loopback, token-guarded elsewhere —, ``"token"`` or ``"off"``); ``control_token`` fixes the
    token instead of a random one. Raises :class:`ServeError` when a port is taken or a listener does not come up.
    """
    if not isinstance(port, int) or not 0 <= port <= 65535 - len(HTTPS_SERVICES):
        raise ValueError(f"port must be 0 (free ports) or a first port for {len(HTTPS_SERVICES)} consecutive ports")
    # a served world names its own listener as ``assignedHub`` so an unmodified SDK can dial the hub it is
    # told (``iotc-<guid>.azure-devices.net`` does not resolve here). Only the untouched default changes; an
    # explicit setting ("model" set on purpose cannot be told apart, so set a host name to pin one) is kept.
    if cloud.settings.dps.assigned_hub_host == "model":
        cloud.settings.dps.assigned_hub_host = "served"
    if workdir is None and getattr(cloud, "state_dir", None) is not None:
        workdir = Path(cloud.state_dir) / "tls"  # a persisted world keeps its local CA: its clients keep trusting it
    tls = local_tls(workdir, names=[host])
    served = ServedCloud(
        cloud,
        host=host,
        port=port,
        mqtt_port=mqtt_port,
        tls=tls,
        endpoints_file=Path(endpoints_file).resolve() if endpoints_file is not None else None,
        log_requests=log_requests,
        limits=limits,
        control=control,
        control_token=control_token,
    )
    served._start()
    return served

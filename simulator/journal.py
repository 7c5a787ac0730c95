"""The request journal: what each service of the world was asked, and what it answered — see what happened.

Like WireMock's ``/__admin/requests`` and moto's ``/moto-api/``: every HTTP request that reaches a service of the
world — in-process through respx or served over a socket, it makes no difference — is noted with its service,
operation (the route's name, as fault rules match it), method, path, status, duration and the world's time. The
:class:`JournalMiddleware` sits outermost in the adapter chain that :meth:`simulator.cloud.FakeCloud._adapter`
builds (journal → fault layer → adapter), so a request a fault rule refused or dropped is in it too. The MQTT/TLS
listener (:mod:`simulator.dps.mqtt`) notes its exchanges the same way: each CONNECT and each PUBLISH of DPS and the
hub (``method`` ``CONNECT``/``PUBLISH``, ``path`` the topic, ``status`` the one the reply topic carries — none for
telemetry, a refusal or a drop — and ``host`` ``mqtt``).

It is bounded (:data:`DEFAULT_CAPACITY` entries per service, the oldest forgotten first), filterable and
clearable::

    cloud.journal.entries(service="central", status=400)        # from Python
    GET  /_sim/requests?service=central&status=400&limit=20    # over HTTP (control API)
    DELETE /_sim/requests

Bodies and headers are not kept: the journal must cost next to nothing on the in-process path (one small record per
request) and must never hold a token. The harness's reports carry full, sanitized exchanges instead.
"""

from __future__ import annotations

import fnmatch
import itertools
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from starlette.routing import Match

DEFAULT_CAPACITY = 500
#: the services that note requests (the fault rules' service names): the HTTPS adapters, DPS and the hub over MQTT
SERVICES = ("sphere-legacy", "sphere-arm", "central", "dps", "hub")


@dataclass(frozen=True)
class JournalEntry:
    """One request as the world saw it."""

    id: int
    service: str
    operation: str
    method: str
    path: str
    query: str
    status: int | None  # None: the connection was dropped (a ``drop`` fault) or the app crashed
    ms: float
    at: str  # the world's clock (ISO 8601) when the request arrived
    host: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestJournal:
    """The world's recent requests, per service, each service's ring holding at most ``capacity`` entries."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._rings: dict[str, deque[JournalEntry]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, entry_fields: dict[str, Any]) -> JournalEntry:
        with self._lock:
            entry = JournalEntry(id=next(self._ids), **entry_fields)
            ring = self._rings.get(entry.service)
            if ring is None:
                ring = self._rings[entry.service] = deque(maxlen=self.capacity)
            ring.append(entry)
            return entry

    def entries(
        self,
        *,
        service: str | None = None,
        operation: str | None = None,
        method: str | None = None,
        status: int | None = None,
        path: str | None = None,
        since: int | None = None,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        """Entries oldest first, filtered: ``service``, ``operation`` and ``path`` take globs (``sphere-*``,
        ``*verify*``), ``since`` an id (entries after it), ``limit`` keeps the newest ``limit``.

        A ``service`` that names none of :data:`SERVICES` is a :class:`ValueError` (with the close name): a misspelt
        filter must not look like a service that was never asked anything."""
        services = matching_services(service) if service else None
        with self._lock:
            rings = [self._rings.get(s, ()) for s in services] if services is not None else list(self._rings.values())
            found = [entry for ring in rings for entry in ring]
        found.sort(key=lambda entry: entry.id)
        if operation:
            found = [e for e in found if fnmatch.fnmatchcase(e.operation, operation)]
        if method:
            found = [e for e in found if e.method == method.upper()]
        if status is not None:
            found = [e for e in found if e.status == status]
        if path:
            found = [e for e in found if fnmatch.fnmatchcase(e.path, path if "*" in path else f"*{path}*")]
        if since is not None:
            found = [e for e in found if e.id > since]
        if limit is not None:
            found = found[-limit:] if limit > 0 else []
        return found

    def counts(self) -> dict[str, int]:
        """How many entries each service's ring holds now."""
        with self._lock:
            return {service: len(ring) for service, ring in sorted(self._rings.items())}

    def clear(self, service: str | None = None) -> int:
        """Forget every entry (or those of the services ``service`` names); returns how many were forgotten."""
        services = matching_services(service) if service else None
        with self._lock:
            if services is None:
                gone = sum(len(ring) for ring in self._rings.values())
                self._rings.clear()
                return gone
            return sum(len(self._rings.pop(s, ())) for s in services)


def matching_services(pattern: str) -> list[str]:
    """The services a ``service`` filter names (a name or a glob); :class:`ValueError` when it names none."""
    found = [service for service in SERVICES if fnmatch.fnmatchcase(service, pattern)]
    if not found:
        from simulator.suggest import did_you_mean

        hint = did_you_mean(pattern, SERVICES, limit=2, cutoff=0.6)
        raise ValueError(f"unknown service {pattern!r}{hint}; the services are {', '.join(SERVICES)} (globs work)")
    return found


class JournalMiddleware:
    """ASGI middleware noting each HTTP request of one service in ``cloud.journal`` (outermost in the chain)."""

    def __init__(self, app: Any, *, cloud: Any, service: str, routes: list[Any]) -> None:
        self.app = app
        self.cloud = cloud
        self.service = service
        #: the route that served a request is known afterwards from the endpoint Starlette put in the scope
        self._names: dict[Any, str] = {}
        self._routes = routes
        for route in routes:
            endpoint = getattr(route, "endpoint", None)
            if endpoint is not None:
                self._names.setdefault(endpoint, getattr(route, "name", None) or "*")

    def _operation(self, scope: dict[str, Any]) -> str:
        endpoint = scope.get("endpoint")
        if endpoint is not None and endpoint in self._names:
            return self._names[endpoint]
        for route in self._routes:  # the route never ran (a fault answered first, or none matched): find it
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return getattr(route, "name", None) or "*"
        return "unrouted"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        journal = getattr(self.cloud, "journal", None)
        if scope["type"] != "http" or journal is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        at = self.cloud.clock.now().isoformat()
        status: int | None = None

        async def noting(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        dropped = False
        try:
            await self.app(scope, receive, noting)
        except BaseException:
            dropped = True
            raise
        finally:
            state = scope.get("state") or {}
            if dropped or state.get("sphere_harness_drop"):
                status = None
            host = next((v.decode("latin-1") for k, v in scope.get("headers") or [] if k == b"host"), "")
            journal.record(
                {
                    "service": self.service,
                    "operation": self._operation(scope),
                    "method": scope["method"],
                    "path": scope["path"],
                    "query": (scope.get("query_string") or b"").decode("latin-1"),
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 3),
                    "at": at,
                    "host": host,
                }
            )

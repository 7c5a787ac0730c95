"""The offline world: one clock, one random source, the three service models, and their wire adapters.

``FakeCloud`` is what tests and the harness hold. It owns the models and builds each ASGI adapter once::

    cloud = FakeCloud(seed=7)
    tenant = cloud.sphere.create_tenant(name="Contoso")
    app = cloud.central.create_app(subdomain="contoso")

    with cloud.mock():                  # in-process: respx routes the real hostnames into the adapters
        httpx.get("https://prod.core.sphere.azure.net/v2/tenants", headers=...)

    with cloud.serve() as served:       # over real sockets: HTTPS (and MQTT/TLS) on 127.0.0.1
        served.endpoints                # the endpoints-file dictionary

Both ways reach the same state, like moto's decorator and ThreadedMotoServer. Adapters call the models
while holding :attr:`FakeCloud.lock`, so in-process and served requests never interleave inside a model.

A world lives in memory unless it is given a state directory: ``FakeCloud(state_dir="world/")`` keeps the whole
world in ``world/world.sqlite3`` (:mod:`simulator.state.store`) — every change committed when the outermost
``with cloud.lock:`` ends, before any response — and ``FakeCloud(state_dir="world/")`` in a later process resumes
it exactly. :meth:`FakeCloud.snapshot` and :meth:`FakeCloud.restore` copy a whole world to and from one document
(:mod:`simulator.state.codec`).
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from simulator.clock import Clock
from simulator.entropy import Entropy
from simulator.faults import FaultInjector
from simulator.journal import RequestJournal
from simulator.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from simulator.central.model import CentralService
    from simulator.dps.model import DpsService
    from simulator.sphere.model import SphereService


#: Functions ``wrap(app, service) -> app`` applied to every service adapter a world builds, outermost last (after
#: the fault layer, so they see injected answers too). An observation seam: the project's test suite installs its
#: contract checks here (``tests/contracts/``), which validate every answer against Azure's published documents.
ADAPTER_WRAPPERS: list[Callable[[Any, str], Any]] = []


class FakeCloud:
    """The whole offline world. ``seed`` makes every key, id and code repeatable.

    ``state_dir``: keep the world in this directory (created if needed) and resume the one it holds. Reopening a
    stored world takes its seed, settings and clock from the directory; giving a different ``seed`` or any of
    ``settings``, ``clock``, ``start`` or ``identity`` then is a :class:`ValueError` (they would be ignored).
    ``identity``: the world's secret (:mod:`simulator.entropy`); random unless given, so tokens of one world never
    work in another, even with the same seed.
    """

    #: runtime-only attributes, not part of the world's state (:mod:`simulator.state.codec`)
    __codec_transient__ = ("_store",)
    _store: Any = None

    def __init__(
        self,
        seed: int | None = None,
        *,
        settings: Settings | dict[str, Any] | None = None,
        clock: Clock | None = None,
        start: datetime | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        identity: bytes | None = None,
    ) -> None:
        store = None
        if state_dir is not None:
            from simulator.state.store import WorldStore

            store = WorldStore(state_dir)
            try:
                if store.has_world():
                    self._reopen(store, seed, settings=settings, clock=clock, start=start, identity=identity)
                    return
            except BaseException:
                store.close()
                raise
        if isinstance(settings, dict):
            settings = Settings.from_mapping(settings)
        self.seed = seed
        self.settings = settings or Settings()
        self.clock = clock or Clock(start)
        self.entropy = Entropy(seed, secret=identity if identity is not None else os.urandom(16))
        self.lock = threading.RLock()
        self.faults = FaultInjector(self.entropy.fork("faults"))
        self._build_models()
        if store is not None:
            try:
                store.attach(self)
            except BaseException:
                store.close()
                raise
            object.__setattr__(self, "_store", store)

    def _reopen(self, store: Any, seed: int | None, **not_allowed: Any) -> None:
        given = sorted(name for name, value in not_allowed.items() if value is not None)
        if given:
            raise ValueError(
                f"{store.directory} already holds a world: it keeps its own {', '.join(given)} (omit them, or use a "
                "new state directory)"
            )
        store.load(root=self)
        if seed is not None and seed != self.seed:
            raise ValueError(f"{store.directory} holds a world with seed {self.seed}, not {seed}")
        object.__setattr__(self, "_store", store)

    @cached_property
    def journal(self) -> RequestJournal:
        """The world's request journal (:mod:`simulator.journal`): runtime-only, never persisted or dumped."""
        return RequestJournal()

    @property
    def identity(self) -> bytes | None:
        """The world's secret: tokens are bound to it (:meth:`simulator.entropy.Entropy.seal`)."""
        return self.entropy.secret

    @property
    def state_dir(self) -> Any:
        """The directory this world is kept in (a :class:`~pathlib.Path`), or None for a world in memory."""
        return self._store.directory if self._store is not None else None

    # -- persistence ----------------------------------------------------------------------------------------

    def commit(self) -> int:
        """Write what changed since the last commit (done anyway when the outermost ``with cloud.lock:`` ends;
        call it after changing the models directly, without the lock). Returns how many objects were written."""
        if self._store is None:
            return 0
        with self.lock:
            return self._store.commit()

    def close(self) -> None:
        """Commit and stop persisting (the directory is free for another process). A world in memory: nothing."""
        store = self._store
        if store is None:
            return
        with self.lock:
            try:
                store.close()
            finally:
                object.__setattr__(self, "_store", None)
                if hasattr(self.lock, "on_release"):
                    self.lock.on_release = None

    def __enter__(self) -> FakeCloud:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def snapshot(self) -> dict[str, Any]:
        """The whole world as one JSON-ready document (:func:`simulator.state.codec.dump_world`)."""
        from simulator.state.codec import dump_world

        with self.lock:
            return dump_world(self)

    def clone(self) -> FakeCloud:
        """An independent copy of this world: the same state and secret (a copy is the same world, so its tokens
        work in it), its own lock, clock and random streams; in memory even if this world is persisted, with no
        request journal and no adapters built yet. Immutable values — certificates, keys — are shared, not copied
        (:mod:`simulator.templates`): build an expensive world once and hand each test a clone."""
        from simulator.templates import clone_world

        return clone_world(self)

    def restore(self, document: dict[str, Any]) -> None:
        """Become the world ``document`` describes (checked strictly first: a bad document changes nothing). A
        persisted world writes the restored state in place of its own, in one transaction."""
        from simulator.state.codec import load_world, record_state

        world = load_world(document)
        with self.lock:
            state = {name: value for name, value in record_state(world).items() if name != "lock"}
            previous = {name: value for name, value in vars(self).items() if name in state or name.startswith("_p_")}
            try:
                for name, value in state.items():
                    setattr(self, name, value)
                if self._store is not None:
                    self._store.replace(self)
            except BaseException:  # the store could not take it: memory goes back to the world it was
                for name in state:
                    self.__dict__.pop(name, None)
                self.__dict__.update(previous)
                raise
            self._forget_adapters()

    def _build_models(self) -> None:
        from simulator.central.model import CentralService
        from simulator.dps.model import DpsService
        from simulator.sphere.model import SphereService

        self.sphere: SphereService = SphereService(self.clock, self.entropy.fork("sphere"), self.settings)
        self.central: CentralService = CentralService(self.clock, self.entropy.fork("central"), self.settings)
        self.dps: DpsService = DpsService(
            self.clock, self.entropy.fork("dps"), self.settings, central=self.central, sphere=self.sphere
        )

    def reset(self) -> None:
        """Forget every tenant, app, device, registration and fault rule (the clock keeps its time). The world gets
        a new secret: no token issued before the reset works after it."""
        with self.lock:
            self.entropy = Entropy(self.seed, secret=os.urandom(16))
            self.faults = FaultInjector(self.entropy.fork("faults"))
            self.journal.clear()
            self._build_models()
            self._forget_adapters()

    def _forget_adapters(self) -> None:
        for name in ("legacy_app", "arm_app", "central_app", "dps_app"):
            self.__dict__.pop(name, None)

    # -- wire adapters (ASGI apps), built once per world --------------------------------------------------

    def _adapter(self, module_name: str, service: str):
        """Build one service adapter and wrap it in the fault layer (:mod:`simulator.fault_middleware`), and that in
        the request journal (:mod:`simulator.journal`), which so sees every request, faulted ones included.

        The adapter module provides ``build_app(cloud)`` and ``error_response(request, status, code, message)``
        (its own wire error shape), which injected ``status`` faults answer with.
        """
        import importlib

        from simulator import route_compilation
        from simulator.fault_middleware import FaultMiddleware
        from simulator.journal import JournalMiddleware

        route_compilation.install()  # every world builds the same routes: compile each pattern once per process
        module = importlib.import_module(module_name)
        app = module.build_app(self)
        observed = FaultMiddleware(app, cloud=self, service=service, error_response=module.error_response)
        for wrap in ADAPTER_WRAPPERS:  # observers see what the fault layer answers; the journal stays outermost
            observed = wrap(observed, service)
        return JournalMiddleware(observed, cloud=self, service=service, routes=list(getattr(app, "routes", [])))

    @cached_property
    def legacy_app(self):
        """The Sphere legacy v2 API (``https://prod.core.sphere.azure.net/v2/...``)."""
        return self._adapter("simulator.sphere.legacy_api", "sphere-legacy")

    @cached_property
    def arm_app(self):
        """The Sphere ARM API (``https://management.azure.com/subscriptions/...``)."""
        return self._adapter("simulator.sphere.arm_api", "sphere-arm")

    @cached_property
    def central_app(self):
        """The IoT Central data-plane API (``https://{subdomain}.azureiotcentral.com/api/...``)."""
        return self._adapter("simulator.central.api", "central")

    @cached_property
    def dps_app(self):
        """The DPS device HTTPS API (``https://global.azure-devices-provisioning.net/{idScope}/...``)."""
        return self._adapter("simulator.dps.https_api", "dps")

    # -- see what happened -------------------------------------------------------------------------------

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """The request journal, oldest first (``service=``, ``operation=``, ``method=``, ``status=``, ``path=``,
        ``since=``, ``limit=``); ``cloud.journal.clear()`` forgets it. Same as ``GET /_sim/requests``."""
        return [entry.to_json() for entry in self.journal.entries(**filters)]

    def state(self) -> dict[str, Any]:
        """A readable view of what the world holds — tenants, CA generations, groups, entries, codes, devices,
        registrations — without private keys or tokens. Same as ``GET /_sim/state``."""
        from simulator.world_view import world_view

        with self.lock:
            return world_view(self)

    # -- ways in ------------------------------------------------------------------------------------------

    def mock(self, **kwargs: Any) -> AbstractContextManager[Any]:
        """Route the real hostnames into this world for httpx code running in this process (respx)."""
        from simulator.inprocess import mock_cloud

        return mock_cloud(self, **kwargs)

    def serve(self, **kwargs: Any) -> AbstractContextManager[Any]:
        """Serve this world over HTTPS (and MQTT over TLS) on loopback until the context exits."""
        from simulator.server import serve_cloud

        return serve_cloud(self, **kwargs)

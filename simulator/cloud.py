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
"""

from __future__ import annotations

import threading
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from simulator.clock import Clock
from simulator.entropy import Entropy
from simulator.faults import FaultInjector
from simulator.settings import Settings

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from simulator.central.model import CentralService
    from simulator.dps.model import DpsService
    from simulator.sphere.model import SphereService


class FakeCloud:
    """The whole offline world. ``seed`` makes every key, id and code repeatable."""

    def __init__(
        self,
        seed: int | None = None,
        *,
        settings: Settings | dict[str, Any] | None = None,
        clock: Clock | None = None,
        start: datetime | None = None,
    ) -> None:
        if isinstance(settings, dict):
            settings = Settings.from_mapping(settings)
        self.seed = seed
        self.settings = settings or Settings()
        self.clock = clock or Clock(start)
        self.entropy = Entropy(seed)
        self.lock = threading.RLock()
        self.faults = FaultInjector(self.entropy.fork("faults"))
        self._build_models()

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
        """Forget every tenant, app, device, registration and fault rule (the clock keeps its time)."""
        with self.lock:
            self.entropy = Entropy(self.seed)
            self.faults = FaultInjector(self.entropy.fork("faults"))
            self._build_models()
            for name in ("legacy_app", "arm_app", "central_app", "dps_app"):
                self.__dict__.pop(name, None)

    # -- wire adapters (ASGI apps), built once per world --------------------------------------------------

    def _adapter(self, module_name: str, service: str):
        """Build one service adapter and wrap it in the fault layer (:mod:`simulator.fault_middleware`).

        The adapter module provides ``build_app(cloud)`` and ``error_response(request, status, code, message)``
        (its own wire error shape), which injected ``status`` faults answer with.
        """
        import importlib

        from simulator.fault_middleware import FaultMiddleware

        module = importlib.import_module(module_name)
        return FaultMiddleware(
            module.build_app(self), cloud=self, service=service, error_response=module.error_response
        )

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

    # -- ways in ------------------------------------------------------------------------------------------

    def mock(self, **kwargs: Any) -> AbstractContextManager[Any]:
        """Route the real hostnames into this world for httpx code running in this process (respx)."""
        from simulator.inprocess import mock_cloud

        return mock_cloud(self, **kwargs)

    def serve(self, **kwargs: Any) -> AbstractContextManager[Any]:
        """Serve this world over HTTPS (and MQTT over TLS) on loopback until the context exits."""
        from simulator.server import serve_cloud

        return serve_cloud(self, **kwargs)

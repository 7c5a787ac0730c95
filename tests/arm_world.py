"""A world with one catalog, its Administrator and a Reader, reached in-process over plain ``httpx`` at
``management.azure.com`` — shared by the ARM tests of the Sphere surfaces.

``call`` adds ``api-version`` unless the URL has one (``Location``, ``Azure-AsyncOperation``, ``nextLink``);
``refused`` checks a refusal's status, ARM error shape (``target`` absent or a string, never ``null``) and that the
model did not change; ``finish`` follows a long-running answer to its end the way azure-mgmt-core's poller does.
"""

from __future__ import annotations

import asyncio
import weakref
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.inprocess.asgi import call_app

ARM = "https://management.azure.com"
VERSION = {"api-version": "2024-04-01"}
START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
CATALOG_PATH = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.AzureSphere/catalogs/cat"


class ArmTransport(httpx.BaseTransport):
    """Straight into the world's Sphere apps (ARM, legacy) on an event loop of its own: no patching, so two worlds
    in one test never see each other's requests, and ~2 ms a request instead of ~40 ms for entering
    ``cloud.mock()`` each time (``tests/test_sphere_arm_api.py`` covers the way through ``cloud.mock()``)."""

    APPS: ClassVar[dict[str, str]] = {"management.azure.com": "arm_app", "prod.core.sphere.azure.net": "legacy_app"}

    def __init__(self, cloud: FakeCloud) -> None:
        self.cloud = cloud
        self.loop = asyncio.new_event_loop()
        weakref.finalize(self, self.loop.close)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        app = getattr(self.cloud, self.APPS[request.url.host])
        request.read()
        return self.loop.run_until_complete(call_app(app, request))

    def close(self) -> None:
        self.loop.close()


class Arm:
    def __init__(self, seed: int = 21, **sphere_settings: Any) -> None:
        self.cloud = FakeCloud(seed=seed, clock=Clock(START, frozen=True), settings={"sphere": sphere_settings})
        self.sphere = self.cloud.sphere
        self.tenant = self.sphere.create_tenant(
            name="Contoso", subscription_id=SUBSCRIPTION, resource_group="rg", catalog="cat"
        )
        self.sphere.create_user("admin@contoso.com", {self.tenant.id: ["Administrator"]})
        self.sphere.create_user("reader@contoso.com", {self.tenant.id: ["Reader"]})
        self.admin = self.headers("admin@contoso.com")
        self.reader = self.headers("reader@contoso.com")
        self.base = ARM + CATALOG_PATH
        self.client = httpx.Client(transport=ArmTransport(self.cloud))
        weakref.finalize(self, self.client.close)

    def headers(self, email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.sphere.issue_token(email, 'arm')}"}

    def call(
        self, method: str, path: str, *, headers: dict | None = None, params: dict | None = None, **kw: Any
    ) -> httpx.Response:
        url = path if path.startswith("https://") else self.base + path
        if params is None and "api-version=" not in url:
            params = VERSION
        return self.client.request(method, url, headers=self.admin if headers is None else headers, params=params, **kw)

    def finish(self, response: httpx.Response) -> httpx.Response:
        """Poll a long-running answer to its end: the status URL until not InProgress, then the final GET (PUT: the
        resource; otherwise the ``Location``)."""
        assert response.status_code in (200, 201, 202), response.text
        status_url = response.headers.get("azure-asyncoperation")
        location = response.headers.get("location")
        if status_url is not None:
            status = self.call("GET", status_url)
            assert status.status_code == 200 and status.json()["status"] == "Succeeded", status.text
            if response.request.method == "PUT":
                return self.call("GET", str(response.request.url))
        if location is not None:
            return self.call("GET", location)
        return response

    def refused(self, response: httpx.Response, status: int, code: str, before: dict) -> None:
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]) <= {"code", "message", "target"}
        assert body["error"]["code"] == code and isinstance(body["error"]["message"], str)
        assert isinstance(body["error"].get("target", ""), str)
        assert self.sphere.snapshot() == before

    def claimed(self, product: str | None = None, group: str | None = None) -> str:
        device = self.sphere.create_device().id
        self.sphere.claim_devices(self.tenant.id, [device], product=product, device_group=group)
        return device

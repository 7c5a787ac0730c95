"""Persistence of the Sphere surfaces: after every ARM or legacy write — products, device groups, claims and moves,
images, deployments, capability images, catalogs, insights, OS update checks; accepted or refused — the world read
back from disk dumps exactly like the live one, and no mutable of the world escapes tracking. A ``restart`` rule
reopens the world from its directory and carries on with the same tokens.
"""

from __future__ import annotations

import base64
import shutil
import tempfile

import httpx
import hypothesis.strategies as st
from arm_world import ArmTransport
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from simulator.cloud import FakeCloud
from simulator.state import describe_differences, dump_world
from simulator.state.store import read_world
from simulator.state.tracking import untracked_mutables

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
RESOURCE_GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg"
CATALOG = f"https://management.azure.com{RESOURCE_GROUP}/providers/Microsoft.AzureSphere/catalogs"
PRODUCTS = st.sampled_from(["Dishwasher", "Fridge", "x"])
GROUPS = st.sampled_from(["Development", "Production", "Lab", ".default"])
VERSION = {"api-version": "2024-04-01"}


class PersistedSphere(RuleBasedStateMachine):
    @initialize(seed=st.integers(0, 2))
    def start(self, seed: int) -> None:
        self.directory = tempfile.mkdtemp(prefix="sphere-surfaces-")
        self.cloud = FakeCloud(seed=seed, state_dir=self.directory)
        with self.cloud.lock:
            sphere = self.cloud.sphere
            tenant = sphere.create_tenant(subscription_id=SUBSCRIPTION, resource_group="rg", catalog="cat")
            sphere.create_user("ops@contoso.com", {tenant.id: ["Administrator"]})
            self.tenant_id = tenant.id
            self.arm_token = sphere.issue_token("ops@contoso.com", "arm")
            self.legacy_token = sphere.issue_token("ops@contoso.com", "sphere")
        self.open_client()
        self.devices: list[str] = []
        self.images: list[str] = []

    def open_client(self) -> None:
        self.client = httpx.Client(transport=ArmTransport(self.cloud))

    def teardown(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if getattr(self, "cloud", None) is not None:
            self.cloud.close()
        if getattr(self, "directory", None):
            shutil.rmtree(self.directory, ignore_errors=True)

    def arm(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.arm_token}"}
        response = self.client.request(method, f"{CATALOG}/cat{path}", params=VERSION, headers=headers, **kwargs)
        assert response.status_code < 500, response.text
        return response

    def legacy(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        url = f"https://prod.core.sphere.azure.net/v2/tenants/{self.tenant_id}{path}"
        response = self.client.request(method, url, headers={"Authorization": f"Bearer {self.legacy_token}"}, **kwargs)
        assert response.status_code < 500, response.text
        return response

    # -- products and groups --

    @rule(product=PRODUCTS)
    def put_product(self, product: str) -> None:
        self.arm("PUT", f"/products/{product}", json={"properties": {"description": "made by the machine"}})

    @rule(product=PRODUCTS)
    def legacy_product(self, product: str) -> None:
        self.legacy("POST", "/products", json={"Name": product, "CreateDefaultGroups": True})

    @rule(product=PRODUCTS, group=GROUPS)
    def put_group(self, product: str, group: str) -> None:
        self.arm("PUT", f"/products/{product}/deviceGroups/{group}", json={"properties": {"osFeedType": "RetailEval"}})

    @rule(product=PRODUCTS, group=GROUPS, policy=st.sampled_from(["UpdateAll", "No3rdPartyAppUpdates", "Bad"]))
    def patch_group(self, product: str, group: str, policy: str) -> None:
        self.arm("PATCH", f"/products/{product}/deviceGroups/{group}", json={"properties": {"updatePolicy": policy}})

    @rule(product=PRODUCTS)
    def defaults(self, product: str) -> None:
        self.arm("POST", f"/products/{product}/generateDefaultDeviceGroups")

    @rule(product=PRODUCTS, group=GROUPS)
    def delete_group(self, product: str, group: str) -> None:
        self.arm("DELETE", f"/products/{product}/deviceGroups/{group}")

    @rule(product=PRODUCTS)
    def delete_product(self, product: str) -> None:
        self.arm("DELETE", f"/products/{product}")

    # -- devices --

    @rule(product=PRODUCTS, group=GROUPS)
    def claim(self, product: str, group: str) -> None:
        with self.cloud.lock:
            device = self.cloud.sphere.create_device().id
        self.devices.append(device)
        self.arm("PUT", f"/products/{product}/deviceGroups/{group}/devices/{device}", json={})

    @precondition(lambda self: self.devices)
    @rule(data=st.data(), product=PRODUCTS, group=GROUPS)
    def move(self, data: st.DataObject, product: str, group: str) -> None:
        device = data.draw(st.sampled_from(self.devices))
        with self.cloud.lock:
            record = self.cloud.sphere.get_device(device)
            if record.tenant_id is None:
                return
            tenant = self.cloud.sphere.get_tenant(self.tenant_id)
            here = "/products/.default/deviceGroups/.default" if record.device_group_id is None else None
            if here is None:
                found = tenant.device_group_by_id(record.device_group_id)
                here = f"/products/{found.product.name}/deviceGroups/{found.name}"
        target = (
            f"{RESOURCE_GROUP}/providers/Microsoft.AzureSphere/catalogs/cat/products/{product}/deviceGroups/{group}"
        )
        self.arm("PATCH", f"{here}/devices/{device}", json={"properties": {"deviceGroupId": target}})

    @precondition(lambda self: self.devices)
    @rule(data=st.data())
    def device_reports(self, data: st.DataObject) -> None:
        device = data.draw(st.sampled_from(self.devices))
        with self.cloud.lock:
            sphere = self.cloud.sphere
            if sphere.get_device(device).tenant_id is not None:
                sphere.record_update_check(device, "24.01")
                sphere.record_device_insight(
                    device, description="crash", event_category="c", event_class="k", event_type="t"
                )

    @precondition(lambda self: self.devices)
    @rule(data=st.data())
    def capability(self, data: st.DataObject) -> None:
        device = data.draw(st.sampled_from(self.devices))
        self.arm(
            "POST",
            f"/products/.default/deviceGroups/.default/devices/{device}/generateCapabilityImage",
            json={"capabilities": ["ApplicationDevelopment"]},
        )

    # -- images and deployments --

    @rule(content=st.binary(min_size=0, max_size=8))
    def upload(self, content: bytes) -> None:
        response = self.arm("POST", "/uploadImage", json={"properties": {"image": base64.b64encode(content).decode()}})
        if response.status_code == 202:
            self.images.append(
                self.client.get(
                    response.headers["location"], headers={"Authorization": f"Bearer {self.arm_token}"}
                ).json()["name"]
            )

    @precondition(lambda self: self.images)
    @rule(data=st.data(), product=PRODUCTS, group=GROUPS)
    def deploy(self, data: st.DataObject, product: str, group: str) -> None:
        image = data.draw(st.sampled_from(self.images))
        body = {"properties": {"deployedImages": [{"properties": {"imageId": image}}]}}
        self.arm("PUT", f"/products/{product}/deviceGroups/{group}/deployments/.default", json=body)

    @precondition(lambda self: self.images)
    @rule(data=st.data())
    def delete_image(self, data: st.DataObject) -> None:
        self.arm("DELETE", f"/images/{data.draw(st.sampled_from(self.images))}")

    # -- catalogs and restarts --

    @rule(name=st.sampled_from(["second", "third"]), delete=st.booleans())
    def catalog(self, name: str, delete: bool) -> None:
        headers = {"Authorization": f"Bearer {self.arm_token}"}
        if delete:
            self.client.delete(f"{CATALOG}/{name}", params=VERSION, headers=headers)
        else:
            body = {"location": "global", "tags": {"made": "here"}}
            self.client.put(f"{CATALOG}/{name}", params=VERSION, headers=headers, json=body)

    @rule()
    def restart(self) -> None:
        self.client.close()
        self.cloud.close()
        self.cloud = FakeCloud(state_dir=self.directory)
        self.open_client()
        assert self.arm("GET", "").status_code == 200  # the same token still works

    @invariant()
    def disk_equals_memory(self) -> None:
        with self.cloud.lock:
            live = dump_world(self.cloud)
        stored = dump_world(read_world(self.directory))
        differences = describe_differences(live, stored)
        assert not differences, "\n".join(differences)
        assert untracked_mutables(self.cloud) == []


PersistedSphere.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestPersistedSphere = PersistedSphere.TestCase

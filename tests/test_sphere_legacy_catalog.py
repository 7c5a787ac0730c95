"""The legacy v2 routes the public samples call beside the trust workflow (products, device groups, one device, a
device's group, a user's roles, a device's images, capability images), in-process with plain ``httpx``.

Shapes are the public API reference's (PascalCase, integer enumerations, ``{"Items", "ContinuationToken"}``); every
refusal answers ``PublicApiErrorDetails`` (``sphere.legacy_error_body``) and leaves the model as it was.
"""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from arm_world import ArmTransport
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.sphere.capabilities import parse_capability_image

BASE = "https://prod.core.sphere.azure.net/v2"
START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


class Legacy:
    def __init__(self, **sphere_settings: Any) -> None:
        self.cloud = FakeCloud(seed=14, clock=Clock(START, frozen=True), settings={"sphere": sphere_settings})
        self.sphere = self.cloud.sphere
        self.tenant = self.sphere.create_tenant(name="ContosoTenant")
        self.other = self.sphere.create_tenant(name="Fabrikam")
        self.sphere.create_user("admin@contoso.com", {self.tenant.id: ["Administrator"]})
        self.sphere.create_user("reader@contoso.com", {self.tenant.id: ["Reader"]})
        self.admin = self.headers("admin@contoso.com")
        self.reader = self.headers("reader@contoso.com")
        self.t = f"/tenants/{self.tenant.id}"
        self.client = httpx.Client(transport=ArmTransport(self.cloud))  # in-process, no patching

    def headers(self, email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.sphere.issue_token(email, 'sphere')}"}

    def call(self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, BASE + path, headers=self.admin if headers is None else headers, **kwargs)

    def claimed(self, group: str | None = None) -> str:
        device = self.sphere.create_device().id
        self.sphere.claim_device(self.tenant.id, device)
        if group is not None:
            self.sphere.assign_device(self.tenant.id, device, self.tenant.device_group_by_id(group))
        return device


@pytest.fixture
def api():
    world = Legacy()
    yield world
    world.client.close()


def refused(api: Legacy, response: httpx.Response, status: int, error_code: str, before: dict) -> None:
    assert response.status_code == status, response.text
    [detail] = response.json()
    assert detail["Status"] == status and detail["ErrorCode"] == error_code and detail["Detail"]
    assert api.sphere.snapshot() == before


def test_products_create_list_get_and_default_groups(api: Legacy) -> None:
    assert api.call("GET", f"{api.t}/products").json() == {"Items": [], "ContinuationToken": None}
    created = api.call("POST", f"{api.t}/products", json={"Name": "Dishwasher", "Description": "Contoso dishwashers"})
    assert created.status_code == 202
    operation = created.json()
    assert operation["OperationType"] == 4 and operation["State"] == 0 and operation["TenantId"] == api.tenant.id
    assert api.call("GET", f"{api.t}/operations/{operation['OperationId']}").json()["State"] == 2
    [product] = api.call("GET", f"{api.t}/products").json()["Items"]
    assert product == {
        "Id": product["Id"],
        "TenantId": api.tenant.id,
        "Name": "Dishwasher",
        "Description": "Contoso dishwashers",
    }
    assert api.call("GET", f"{api.t}/products/{product['Id'].upper()}").json() == product
    defaults = api.call("POST", f"{api.t}/products/{product['Id']}/devicegroups").json()["Items"]
    assert [g["Name"] for g in defaults] == [
        "Development",
        "Field Test",
        "Production",
        "Production OS Evaluation",
        "Field Test OS Evaluation",
    ]
    development = defaults[0]
    assert development["UpdatePolicy"] == 1 and development["OsFeedType"] == 0  # No3rdPartyAppUpdates, Retail
    assert defaults[3]["OsFeedType"] == 1 and defaults[3]["UpdatePolicy"] == 0  # RetailEval, UpdateAll
    assert development["ProductId"] == product["Id"] and development["CurrentDeployment"] is None
    with_groups = api.call("POST", f"{api.t}/products", json={"Name": "Fridge", "CreateDefaultGroups": True})
    assert with_groups.status_code == 202
    names = [g["Name"] for g in api.call("GET", f"{api.t}/devicegroups").json()["Items"]]
    assert names.count("Production") == 2 and len(names) == 10


def test_device_groups_create_get_by_id_and_by_name(api: Legacy) -> None:
    product = api.sphere.create_product(api.tenant.id, "Dishwasher")
    body = {
        "Name": "US region",
        "Description": "United States marketing region",
        "ProductId": product.id,
        "OsFeedType": 1,
        "UpdatePolicy": 1,
        "AllowCrashDumpsCollection": True,
    }
    group = api.call("POST", f"{api.t}/devicegroups", json=body).json()
    assert group["Name"] == "US region" and group["OsFeedType"] == 1 and group["UpdatePolicy"] == 1
    assert group["AllowCrashDumpsCollection"] is True and group["TenantId"] == api.tenant.id
    assert api.call("GET", f"{api.t}/devicegroups/{group['Id']}").json() == group
    by_name = api.call("GET", f"{api.t}/products/name/Dishwasher/deviceGroups/name/US region")
    assert by_name.json() == group
    page = api.call("GET", f"{api.t}/devicegroups", params={"maxPageSize": 1}).json()
    assert page["Items"] == [group] and page["ContinuationToken"] is None


def test_device_get_move_and_images(api: Legacy) -> None:
    product = api.sphere.create_product(api.tenant.id, "Dishwasher")
    groups = api.sphere.generate_default_device_groups(api.tenant.id, "Dishwasher")
    development, production = groups[0], groups[2]
    device = api.claimed()
    got = api.call("GET", f"{api.t}/devices/{device.upper()}").json()
    assert got["DeviceId"] == device and got["DeviceGroupId"] is None and got["ProductId"] is None
    assert got["LastInstalledOSVersion"] is None  # never asked for updates
    moved = api.call("PUT", f"{api.t}/devices/{device}/devicegroup", json=production.id)
    assert moved.status_code == 202 and moved.json()["OperationType"] == 2
    got = api.call("GET", f"{api.t}/devices/{device}").json()
    assert (got["ProductId"], got["DeviceGroupId"]) == (product.id, production.id)

    image, _ = api.sphere.upload_image(api.tenant.id, b"application package")
    api.sphere.create_deployment(api.tenant.id, "Dishwasher", "Production", [image.id])
    images = api.call("GET", f"{api.t}/devices/{device}/images").json()["Items"]
    assert [i["Id"] for i in images] == [image.id]
    api.sphere.create_deployment(api.tenant.id, "Dishwasher", "Development", [image.id])
    api.call("PUT", f"{api.t}/devices/{device}/devicegroup", json=development.id)
    # Development's update policy is No3rdPartyAppUpdates: the device gets no application images
    assert api.call("GET", f"{api.t}/devices/{device}/images").json()["Items"] == []

    api.sphere.record_update_check(device, "24.01")
    got = api.call("GET", f"{api.t}/devices/{device}").json()
    assert got["LastInstalledOSVersion"] == "24.01" and got["LastAvailableOSVersion"] == "24.03"
    assert got["LastUpdateRequestUTC"] == got["LastOSUpdateUTC"] == "2026-11-29T10:00:00.0000000Z"


def test_device_move_waits_for_the_claim_delay() -> None:
    api = Legacy(claim_delay_s=30)
    api.sphere.create_product(api.tenant.id, "Dishwasher")
    [group] = [api.sphere.create_device_group(api.tenant.id, "Dishwasher", "Lab")]
    device = api.sphere.create_device().id
    api.sphere.claim_device(api.tenant.id, device)
    api.cloud.clock.advance(timedelta(seconds=30))
    moved = api.call("PUT", f"{api.t}/devices/{device}/devicegroup", json=group.id).json()
    assert api.call("GET", f"{api.t}/devices/{device}").json()["DeviceGroupId"] is None
    assert api.call("GET", f"{api.t}/operations/{moved['OperationId']}").json()["State"] == 1
    api.cloud.clock.advance(timedelta(seconds=30))
    assert api.call("GET", f"{api.t}/devices/{device}").json()["DeviceGroupId"] == group.id
    claimed_at = api.sphere.get_device(device).claimed_at
    assert claimed_at == START + timedelta(seconds=30)  # moving is not claiming again


def test_user_roles(api: Legacy) -> None:
    roles = api.call("GET", f"{api.t}/users/Reader@Contoso.com/role").json()
    assert roles == {"Roles": [{"TenantId": api.tenant.id, "RoleNames": ["Reader"]}]}
    api.sphere.create_user("elsewhere@fabrikam.com", {api.other.id: ["Administrator"]})
    assert api.call("GET", f"{api.t}/users/elsewhere@fabrikam.com/role").json() == {"Roles": []}


def test_capability_image(api: Legacy) -> None:
    device = api.claimed()
    response = api.call("POST", f"{api.t}/deviceCapabilityImage", json={"DeviceId": device, "Capabilities": [11]})
    assert set(response.json()) == {"SignedDeviceCapabilityImageBytes"}
    data = base64.b64decode(response.json()["SignedDeviceCapabilityImageBytes"])
    assert data[:4] == bytes.fromhex("fd5cfd5c") and struct.unpack("<I", data[4:8]) == (1,)
    device_id, numbers, signed, signature = parse_capability_image(data)
    assert (device_id, numbers) == (device, [11])
    key = api.tenant.generations[0].certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))  # raises if the image was not signed by the tenant CA


def test_refusals_change_nothing(api: Legacy) -> None:
    product = api.sphere.create_product(api.tenant.id, "Dishwasher")
    group = api.sphere.create_device_group(api.tenant.id, "Dishwasher", "Lab")
    foreign = api.sphere.create_device().id
    api.sphere.claim_device(api.other.id, foreign)
    mine = api.claimed()
    before = api.sphere.snapshot()
    products, groups = f"{api.t}/products", f"{api.t}/devicegroups"
    refused(api, api.call("POST", products, json={"Name": "Dishwasher"}), 409, "Conflict", before)
    refused(api, api.call("POST", products, json={"Name": "x"}), 400, "BadRequest", before)
    refused(api, api.call("POST", products, json={"Name": ".default"}), 400, "BadRequest", before)
    refused(api, api.call("POST", products, json=["Dishwasher"]), 400, "BadRequest", before)
    refused(
        api,
        api.call("POST", products, json={"Name": "Fridge", "CreateDefaultGroups": "yes"}),
        400,
        "BadRequest",
        before,
    )
    refused(api, api.call("POST", products, json={"Name": "Fridge"}, headers=api.reader), 403, "Forbidden", before)
    refused(api, api.call("GET", f"{products}/{'0' * 8}-0000-0000-0000-{'0' * 12}"), 404, "NotFound", before)
    refused(api, api.call("POST", groups, json={"Name": "Lab", "ProductId": product.id}), 409, "Conflict", before)
    for bad in ({"OsFeedType": 2}, {"UpdatePolicy": "UpdateAll"}, {"AllowCrashDumpsCollection": 1}):
        body = {"Name": "Other", "ProductId": product.id, **bad}
        refused(api, api.call("POST", groups, json=body), 400, "BadRequest", before)
    refused(api, api.call("POST", groups, json={"Name": "Other"}), 400, "BadRequest", before)
    refused(api, api.call("GET", f"{api.t}/devices/{foreign}"), 404, "NotFound", before)
    move = f"{api.t}/devices/{mine}/devicegroup"
    refused(api, api.call("PUT", move, json="not-a-guid"), 400, "BadRequest", before)
    refused(api, api.call("PUT", move, json=api.other.products[".default"].id), 404, "NotFound", before)
    refused(api, api.call("PUT", move, json=group.id, headers=api.reader), 403, "Forbidden", before)
    refused(api, api.call("PUT", f"{api.t}/devices/{foreign}/devicegroup", json=group.id), 404, "NotFound", before)
    capability = f"{api.t}/deviceCapabilityImage"
    for body in ({"DeviceId": mine, "Capabilities": []}, {"DeviceId": mine, "Capabilities": [99]}, {"DeviceId": 5}):
        refused(api, api.call("POST", capability, json=body), 400, "BadRequest", before)
    refused(
        api, api.call("POST", capability, json={"DeviceId": foreign, "Capabilities": [11]}), 404, "NotFound", before
    )
    refused(api, api.call("GET", f"{api.t}/users/nobody@contoso.com/role"), 404, "NotFound", before)
    refused(api, api.call("GET", f"{api.t}/products", headers={}), 401, "Unauthorized", before)


def test_every_new_route_checks_token_and_tenant(api: Legacy) -> None:
    from simulator.sphere.legacy_api import LegacyApi

    values = {
        "product_id": api.tenant.products[".default"].id,
        "product_name": "P1",
        "group_name": "G1",
        "group_id": api.tenant.products[".default"].id,
        "device_id": "a" * 128,
        "user_id": "admin@contoso.com",
    }
    routes = LegacyApi(api.cloud).catalog_routes("/tenants/{tenant_id}")
    assert len(routes) == 13
    before = api.sphere.snapshot()
    for method, template, _, _ in routes:
        path = template.format(tenant_id=api.tenant.id, **values)
        refused(api, api.call(method, path, headers={}, json={}), 401, "Unauthorized", before)
        missing = template.format(tenant_id="00000000-0000-0000-0000-000000000000", **values)
        refused(api, api.call(method, missing, json={}), 404, "NotFound", before)
        foreign = template.format(tenant_id=api.other.id, **values)
        refused(api, api.call(method, foreign, json={}), 403, "Forbidden", before)


def test_a_405_names_every_method_of_the_path(api: Legacy) -> None:
    before = api.sphere.snapshot()
    response = api.call("PATCH", f"{api.t}/products", json={})
    refused(api, response, 405, "BadRequest", before)
    assert response.headers["allow"] == "GET, HEAD, POST"

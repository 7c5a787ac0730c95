"""The ARM API (``Microsoft.AzureSphere`` 2024-04-01) in-process through ``cloud.mock()``, against
the published OpenAPI document and the ``sphere.arm_*`` settings' defaults: resource shapes, aliases, the flat
proof, paging, the claimDevices long-running operation, and every refusal's ARM error with the model left unchanged.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from simulator import pki
from simulator.clock import Clock
from simulator.cloud import FakeCloud

ARM = "https://management.azure.com"
VERSION = {"api-version": "2024-04-01"}
START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"


class Arm:
    def __init__(self, **sphere_settings: Any) -> None:
        self.cloud = FakeCloud(seed=8, clock=Clock(START, frozen=True), settings={"sphere": sphere_settings})
        self.sphere = self.cloud.sphere
        self.tenant = self.sphere.create_tenant(
            name="Contoso", subscription_id=SUBSCRIPTION, resource_group="rg", catalog="cat"
        )
        self.stranger_tenant = self.sphere.create_tenant(subscription_id=SUBSCRIPTION, resource_group="rg", catalog="x")
        self.sphere.create_user("admin@contoso.com", {self.tenant.id: ["Administrator"]})
        self.sphere.create_user("reader@contoso.com", {self.tenant.id: ["Reader"]})
        self.admin = self.headers("admin@contoso.com")
        self.reader = self.headers("reader@contoso.com")
        self.base = f"{ARM}/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.AzureSphere/catalogs/cat"

    def headers(self, email: str, audience: str = "arm") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.sphere.issue_token(email, audience)}"}

    def call(
        self, method: str, path: str, *, headers: dict | None = None, params: dict | None = None, **kw: Any
    ) -> httpx.Response:
        """``path`` relative to the catalog, or an absolute URL; ``api-version`` is added unless the URL has one
        (``Location`` and ``nextLink``) or ``params`` is given."""
        url = path if path.startswith("https://") else self.base + path
        if params is None and "api-version=" not in url:
            params = VERSION
        with self.cloud.mock():
            return httpx.request(method, url, headers=self.admin if headers is None else headers, params=params, **kw)


@pytest.fixture
def arm() -> Arm:
    return Arm()


def test_catalog_and_listing(arm: Arm) -> None:
    catalog = arm.call("GET", "").json()
    assert catalog == {
        "id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.AzureSphere/catalogs/cat",
        "name": "cat",
        "type": "Microsoft.AzureSphere/catalogs",
        "location": "global",
        "properties": {"tenantId": arm.tenant.id, "provisioningState": "Succeeded"},
    }
    url = f"{ARM}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.AzureSphere/catalogs"
    listed = arm.call("GET", url, params=VERSION).json()
    assert [c["name"] for c in listed["value"]] == ["cat"]  # only catalogs the caller has a role in


def test_certificates_list_get_and_aliases(arm: Arm) -> None:
    generation = arm.tenant.generations[0]
    listed = arm.call("GET", "/certificates").json()
    assert "nextLink" not in listed
    [certificate] = listed["value"]
    assert certificate["name"] == generation.serial and re.fullmatch(r"[0-9A-F]+", certificate["name"])
    assert certificate["id"].endswith(f"/catalogs/cat/certificates/{generation.serial}")
    assert certificate["type"] == "Microsoft.AzureSphere/catalogs/certificates"
    props = certificate["properties"]
    assert props["status"] == "Active" and props["provisioningState"] == "Succeeded"
    assert props["subject"] == (
        f"CN=Microsoft Azure Sphere {arm.tenant.id}, O=Microsoft Corporation, L=Redmond, ST=Washington, C=US"
    )
    assert props["thumbprint"] == generation.thumbprint
    assert pki.b64_to_certificate(props["certificate"]) == generation.certificate
    assert props["notBeforeUtc"] == "2026-11-29T10:00:00Z" and props["expiryUtc"] == "2028-11-28T10:00:00Z"
    for alias in (".default", "default", "active", "ACTIVE", generation.serial.lower()):
        assert arm.call("GET", f"/certificates/{alias}").json() == certificate


def test_cert_chain_and_flat_proof(arm: Arm) -> None:
    ca = arm.tenant.generations[0].certificate
    chain = arm.call("POST", "/certificates/.default/retrieveCertChain").json()
    assert set(chain) == {"certificateChain"}
    certs = pki.p7b_to_chain(base64.b64decode(chain["certificateChain"]))
    assert {pki.to_der(c) for c in certs} == {
        pki.to_der(c) for c in (ca, arm.sphere.policy.certificate, arm.sphere.root.certificate)
    }
    code = "3304517c557a3375e"
    proof = arm.call(
        "POST", "/certificates/.default/retrieveProofOfPossessionNonce", json={"proofOfPossessionNonce": code}
    )
    body = proof.json()
    assert "properties" not in body
    assert set(body) == {
        "certificate",
        "status",
        "subject",
        "thumbprint",
        "expiryUtc",
        "notBeforeUtc",
        "provisioningState",
    }
    certificate = pki.b64_to_certificate(body["certificate"])
    assert body["subject"] == f"CN={code}" and body["thumbprint"] == pki.thumbprint(certificate)
    assert pki.is_issued_by(certificate, ca)
    assert body["notBeforeUtc"] == "2026-11-29T09:55:00Z" and body["expiryUtc"] == "2026-11-30T10:00:00Z"


def test_pem_chain_setting() -> None:
    arm = Arm(arm_chain_encoding="pem")
    text = arm.call("POST", "/certificates/.default/retrieveCertChain").json()["certificateChain"]
    assert pki.load_pem_chain(text)[0] == arm.tenant.generations[0].certificate


def test_claim_devices_long_running_operation(arm: Arm) -> None:
    devices = [arm.sphere.create_device().id for _ in range(3)]
    response = arm.call(
        "POST", "/products/.default/deviceGroups/.default/claimDevices", json={"deviceIdentifiers": devices}
    )
    assert response.status_code == 202
    location = response.headers["location"]
    assert location.startswith(
        f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/providers/Microsoft.AzureSphere/locations/global/operationStatuses/"
    )
    assert location.endswith("?api-version=2024-04-01") and response.headers["retry-after"] == "0"
    assert "azure-asyncoperation" not in response.headers
    done = arm.call("GET", location)
    assert (done.status_code, done.json()) == (200, {})
    listed = arm.call("POST", "/listDevices").json()["value"]
    assert sorted(d["name"] for d in listed) == sorted(devices)
    device = listed[0]
    assert device["type"] == "Microsoft.AzureSphere/catalogs/products/deviceGroups/devices"
    assert device["properties"]["deviceId"] == device["name"] and device["properties"]["chipSku"] == "MT3620AN"
    in_group = arm.call("GET", "/products/.unassigned/deviceGroups/.unassigned/devices").json()["value"]
    assert len(in_group) == 3
    got = arm.call("GET", f"/products/.default/deviceGroups/.default/devices/{devices[0].upper()}")
    assert got.status_code == 200 and got.json()["name"] == devices[0]


def test_pending_and_failed_operations() -> None:
    arm = Arm(claim_delay_s=10, arm_claim_retry_after_s=5, claim_conflict_mode="async")
    device = arm.sphere.create_device().id
    first = arm.call(
        "POST", "/products/.default/deviceGroups/.default/claimDevices", json={"deviceIdentifiers": [device]}
    )
    assert first.headers["retry-after"] == "5"
    pending = arm.call("GET", first.headers["location"])
    assert pending.status_code == 202 and pending.headers["location"] == first.headers["location"]
    second = arm.call(
        "POST", "/products/.default/deviceGroups/.default/claimDevices", json={"deviceIdentifiers": [device]}
    )
    assert second.status_code == 202  # async mode: the conflict is reported by the operation
    arm.cloud.clock.advance(timedelta(seconds=10))
    assert arm.call("GET", first.headers["location"]).status_code == 200
    failed = arm.call("GET", second.headers["location"])
    assert failed.status_code == 409 and failed.json()["error"]["code"] == "Conflict"


def test_azure_async_operation_setting() -> None:
    arm = Arm(arm_send_azure_async_operation=True, claim_delay_s=5)
    device = arm.sphere.create_device().id
    claim = "/products/.default/deviceGroups/.default/claimDevices"
    response = arm.call("POST", claim, json={"deviceIdentifiers": [device]})
    assert response.headers["azure-asyncoperation"] == response.headers["location"]
    pending = arm.call("GET", response.headers["location"])
    assert (pending.status_code, pending.json()) == (202, {"status": "InProgress"})
    arm.cloud.clock.advance(timedelta(seconds=5))
    assert arm.call("GET", response.headers["location"]).json() == {"status": "Succeeded"}


def test_products_and_device_groups(arm: Arm) -> None:
    arm.sphere.create_product(arm.tenant.id, "Coffee Maker")
    arm.sphere.create_device_group(arm.tenant.id, "Coffee Maker", "Field Test")
    products = arm.call("GET", "/products").json()["value"]
    assert [p["name"] for p in products] == ["Coffee Maker"]  # the placeholders are no products of their own
    group = arm.call("GET", "/products/coffee maker/deviceGroups/field test").json()
    assert group["type"] == "Microsoft.AzureSphere/catalogs/products/deviceGroups" and group["name"] == "Field Test"
    groups = arm.call("GET", "/products/Coffee Maker/deviceGroups").json()["value"]
    assert [g["name"] for g in groups] == ["Field Test"]
    device = arm.sphere.create_device().id
    claimed = arm.call(
        "POST", "/products/Coffee Maker/deviceGroups/Field Test/claimDevices", json={"deviceIdentifiers": [device]}
    )
    assert claimed.status_code == 202
    [listed] = arm.call("GET", "/products/Coffee Maker/deviceGroups/Field Test/devices").json()["value"]
    assert listed["id"].endswith(f"/products/Coffee Maker/deviceGroups/Field Test/devices/{device}")


def test_paging_with_next_link(arm: Arm) -> None:
    ids = [arm.sphere.create_device().id for _ in range(5)]
    arm.sphere.claim_devices(arm.tenant.id, ids)
    seen: list[str] = []
    page = arm.call("POST", "/listDevices", params={**VERSION, "$maxpagesize": "2"}).json()
    while True:
        seen += [d["name"] for d in page["value"]]
        if "nextLink" not in page:
            break
        assert (
            page["nextLink"].startswith("https://management.azure.com/")
            and "api-version=2024-04-01" in page["nextLink"]
        )
        page = arm.call("POST", page["nextLink"]).json()
    assert sorted(seen) == sorted(ids)


# -- refusals --------------------------------------------------------------------------------------------------


def refused(arm: Arm, response: httpx.Response, status: int, code: str, before: dict) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]) <= {"code", "message", "target"}
    assert body["error"]["code"] == code and body["error"]["message"]
    assert body["error"].get("target", "") is not None  # absent, never null
    assert (response.headers.get("www-authenticate") == "Bearer") == (status == 401)
    assert arm.sphere.snapshot() == before


def test_front_door_refusals(arm: Arm) -> None:
    legacy_token = arm.headers("admin@contoso.com", "sphere")  # a legacy token is not for ARM
    before = arm.sphere.snapshot()
    refused(arm, arm.call("GET", "/certificates", params={}), 400, "MissingApiVersionParameter", before)
    refused(
        arm,
        arm.call("GET", "/certificates", params={"api-version": "2022-09-01-preview"}),
        400,
        "InvalidApiVersionParameter",
        before,
    )
    refused(arm, arm.call("GET", "/certificates", headers={}), 401, "AuthenticationFailed", before)
    for headers in (
        {"Authorization": "Bearer nope"},
        {"Authorization": "Token x"},
        legacy_token,
    ):
        refused(arm, arm.call("GET", "/certificates", headers=headers), 401, "InvalidAuthenticationToken", before)
    arm.cloud.clock.advance(timedelta(hours=1))
    refused(arm, arm.call("GET", "/certificates"), 401, "InvalidAuthenticationToken", before)


def test_resource_refusals(arm: Arm) -> None:
    before = arm.sphere.snapshot()
    other = arm.base.replace("/catalogs/cat", "/catalogs/x")
    refused(arm, arm.call("GET", other), 403, "AuthorizationFailed", before)
    refused(arm, arm.call("GET", arm.base.replace("/catalogs/cat", "/catalogs/nope")), 404, "ResourceNotFound", before)
    refused(
        arm,
        arm.call("GET", arm.base.replace("/catalogs/cat", "/catalogs/bad!name")),
        400,
        "InvalidResourceName",
        before,
    )
    refused(arm, arm.call("GET", "/certificates/ABCDEF"), 404, "ResourceNotFound", before)
    refused(arm, arm.call("GET", "/products/x"), 400, "InvalidResourceName", before)
    refused(arm, arm.call("GET", "/products/Nope"), 404, "ResourceNotFound", before)
    refused(
        arm,
        arm.call("GET", f"/products/.default/deviceGroups/.default/devices/{'z' * 5}"),
        400,
        "InvalidResourceName",
        before,
    )
    refused(
        arm,
        arm.call("GET", f"/products/.default/deviceGroups/.default/devices/{'a' * 128}"),
        404,
        "ResourceNotFound",
        before,
    )
    refused(
        arm,
        arm.call("GET", "/certificates", params={**VERSION, "$filter": "x"}),
        400,
        "InvalidQueryParameterValue",
        before,
    )
    refused(arm, arm.call("GET", "/nothing"), 404, "ResourceNotFound", before)


def test_proof_and_claim_body_refusals(arm: Arm) -> None:
    proof = "/certificates/.default/retrieveProofOfPossessionNonce"
    claim = "/products/.default/deviceGroups/.default/claimDevices"
    taken = arm.sphere.create_device().id
    arm.sphere.claim_device(arm.stranger_tenant.id, taken)
    free = arm.sphere.create_device().id
    before = arm.sphere.snapshot()
    for body in ({}, {"proofOfPossessionNonce": 5}, {"proofOfPossessionNonce": ""}, [], None):
        refused(arm, arm.call("POST", proof, json=body), 400, "InvalidRequestContent", before)
    refused(arm, arm.call("POST", proof, content=b"{"), 400, "InvalidRequestContent", before)
    refused(arm, arm.call("POST", claim, json={"deviceIdentifiers": [free, taken]}), 409, "Conflict", before)
    refused(arm, arm.call("POST", claim, json={"deviceIdentifiers": "x"}), 400, "InvalidRequestContent", before)
    refused(arm, arm.call("POST", claim, json={"deviceIdentifiers": ["short"]}), 400, "InvalidRequestContent", before)
    refused(arm, arm.call("POST", claim, json={"deviceIdentifiers": ["b" * 128]}), 404, "ResourceNotFound", before)
    refused(
        arm,
        arm.call("POST", claim, json={"deviceIdentifiers": [free]}, headers=arm.reader),
        403,
        "AuthorizationFailed",
        before,
    )
    missing = (
        f"{ARM}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.AzureSphere/locations/global/operationStatuses/nope"
    )
    refused(arm, arm.call("GET", missing, params=VERSION), 404, "ResourceNotFound", before)


def test_expired_certificate_is_listed_but_not_served(arm: Arm) -> None:
    old = arm.tenant.generations[0]
    arm.cloud.clock.set(old.not_after + timedelta(days=1))
    arm.admin = arm.headers("admin@contoso.com")
    statuses = [c["properties"]["status"] for c in arm.call("GET", "/certificates").json()["value"]]
    assert statuses == ["Expired", "Active"]
    before = arm.sphere.snapshot()
    refused(arm, arm.call("GET", f"/certificates/{old.serial}"), 404, "ResourceNotFound", before)
    refused(arm, arm.call("POST", f"/certificates/{old.serial}/retrieveCertChain"), 404, "ResourceNotFound", before)
    body = {"proofOfPossessionNonce": "LATE"}
    response = arm.call("POST", f"/certificates/{old.serial}/retrieveProofOfPossessionNonce", json=body)
    refused(arm, response, 404, "ResourceNotFound", before)

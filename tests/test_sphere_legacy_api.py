"""The legacy v2 API in-process (acceptances 2 and 3): plain ``httpx`` against ``prod.core.sphere.azure.net``
through ``cloud.mock()``, checked against the public API reference and the defaults of the ``sphere.*`` settings.

Every refusal is checked for status, ``PublicApiErrorDetails`` shape, headers, and an unchanged model.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from simulator import pki
from simulator.clock import Clock
from simulator.cloud import FakeCloud

BASE = "https://prod.core.sphere.azure.net/v2"
START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
SEVEN_DIGITS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


class Legacy:
    """A world with one tenant, an Administrator, a Reader, a stranger and an httpx client routed in-process."""

    def __init__(self, **sphere_settings: Any) -> None:
        self.cloud = FakeCloud(seed=4, clock=Clock(START, frozen=True), settings={"sphere": sphere_settings})
        self.sphere = self.cloud.sphere
        self.tenant = self.sphere.create_tenant(name="ContosoTenant")
        self.other = self.sphere.create_tenant(name="Fabrikam")
        self.sphere.create_user("admin@contoso.com", {self.tenant.id: ["Administrator", "Contributor"]})
        self.sphere.create_user("reader@contoso.com", {self.tenant.id: ["Reader"]})
        self.admin = self.headers("admin@contoso.com")
        self.reader = self.headers("reader@contoso.com")

    def headers(self, email: str, audience: str = "sphere") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.sphere.issue_token(email, audience)}"}

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        with self.cloud.mock():
            return httpx.request(method, BASE + path, headers=headers if headers is not None else self.admin, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)


@pytest.fixture
def api() -> Legacy:
    return Legacy()


def string_body(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    value = response.json()
    assert isinstance(value, str)
    return value


# -- the trust workflow ----------------------------------------------------------------------------------------


def test_trust_workflow(api: Legacy) -> None:
    tenants = api.get("/tenants").json()
    assert tenants == [{"Id": api.tenant.id, "Name": "ContosoTenant", "Roles": ["Administrator", "Contributor"]}]
    assert api.get(f"/tenants/{api.tenant.id}").json() == tenants[0]

    [status] = api.get(f"/tenants/{api.tenant.id}/certificates").json()
    assert set(status) == {"Certificate", "IsActive", "IsRevoked", "Thumbprint"}
    assert status["IsActive"] is True and status["IsRevoked"] is False
    assert re.fullmatch(r"[0-9A-F]{40}", status["Thumbprint"])

    ca = pki.load_der(base64.b64decode(string_body(api.get(f"/tenants/{api.tenant.id}/cert"))))
    assert pki.thumbprint(ca) == status["Thumbprint"]
    assert pki.b64_to_certificate(status["Certificate"]) == ca
    by_thumbprint = api.get(f"/tenants/{api.tenant.id}/cert", params={"thumbprint": status["Thumbprint"].lower()})
    assert pki.b64_to_certificate(string_body(by_thumbprint)) == ca

    chain = pki.b64_to_p7b_chain(string_body(api.get(f"/tenants/{api.tenant.id}/certchain")))
    assert {pki.to_der(c) for c in chain} == {
        pki.to_der(c) for c in (ca, api.sphere.policy.certificate, api.sphere.root.certificate)
    }

    code = "75B86466DA34D2B04C0C4C9557A119687ADAE7D4732BDDB3"
    proof = pki.b64_to_certificate(string_body(api.get(f"/tenants/{api.tenant.id}/verification/{code}")))
    assert pki.get_common_name(proof.subject) == code
    assert pki.is_issued_by(proof, ca)

    certs = pki.b64_to_p7b_chain(string_body(api.get(f"/tenants/{api.tenant.id}/certs")))
    assert certs == [ca]
    chains = pki.b64_to_p7b_chain(string_body(api.get(f"/tenants/{api.tenant.id}/certchains")))
    assert len(chains) == 3


def test_fixed_segments_are_case_insensitive(api: Legacy) -> None:
    assert api.get("/Tenants").status_code == 200
    with api.cloud.mock():
        response = httpx.get(
            f"https://prod.core.sphere.azure.net/V2/TENANTS/{api.tenant.id.upper()}/Certificates", headers=api.admin
        )
    assert response.status_code == 200 and response.json()[0]["IsActive"] is True


def test_claim_poll_and_list_devices(api: Legacy) -> None:
    device = api.sphere.create_device()
    claim = api.put(f"/tenants/{api.tenant.id}/devices/{device.id.upper()}/claim")
    assert claim.status_code == 202
    operation = claim.json()
    assert operation["OperationType"] == 0 and operation["State"] == 0 and operation["TenantId"] == api.tenant.id
    assert SEVEN_DIGITS.match(operation["CreatedDateUTC"])
    assert operation["StartedDateUTC"] is None and operation["Error"] is None
    polled = api.get(f"/tenants/{api.tenant.id}/operations/{operation['OperationId']}").json()
    assert polled["State"] == 2 and SEVEN_DIGITS.match(polled["CompletedDateUTC"])
    page = api.get(f"/tenants/{api.tenant.id}/devices").json()
    assert page == {
        "Items": [
            {
                "DeviceId": device.id,
                "TenantId": api.tenant.id,
                "ProductId": None,
                "DeviceGroupId": None,
                "ChipSku": 0,
                "LastAvailableOSVersion": None,
                "LastInstalledOSVersion": None,
                "LastOSUpdateUTC": None,
                "LastUpdateRequestUTC": None,
            }
        ],
        "ContinuationToken": None,
    }


def test_claim_delay_shows_in_progress_until_the_clock_passes() -> None:
    api = Legacy(claim_delay_s=120)
    device = api.sphere.create_device()
    operation_id = api.put(f"/tenants/{api.tenant.id}/devices/{device.id}/claim").json()["OperationId"]
    assert api.get(f"/tenants/{api.tenant.id}/operations/{operation_id}").json()["State"] == 1
    assert api.get(f"/tenants/{api.tenant.id}/devices").json()["Items"] == []
    api.cloud.clock.advance(timedelta(seconds=120))
    assert api.get(f"/tenants/{api.tenant.id}/operations/{operation_id}").json()["State"] == 2


def test_bulk_claim_and_paging(api: Legacy) -> None:
    ids = [api.sphere.create_device().id for _ in range(5)]
    response = api.put(f"/tenants/{api.tenant.id}/devices", json=ids)
    assert response.status_code == 202 and response.json()["OperationType"] == 11
    seen: list[str] = []
    headers = dict(api.admin)
    while True:
        page = api.get(f"/tenants/{api.tenant.id}/devices", params={"maxPageSize": 2}, headers=headers).json()
        assert len(page["Items"]) <= 2
        seen += [item["DeviceId"] for item in page["Items"]]
        if page["ContinuationToken"] is None:
            break
        headers["Sphere-Continuation"] = page["ContinuationToken"]
    assert sorted(seen) == sorted(ids)


def test_product_and_device_group_device_lists(api: Legacy) -> None:
    product = api.sphere.create_product(api.tenant.id, "Coffee Maker")
    group = api.sphere.create_device_group(api.tenant.id, "Coffee Maker", "Field Test")
    grouped, loose = api.sphere.create_device(), api.sphere.create_device()
    api.sphere.claim_devices(api.tenant.id, [grouped.id], product="Coffee Maker", device_group="Field Test")
    api.sphere.claim_device(api.tenant.id, loose.id)
    by_product = api.get(f"/tenants/{api.tenant.id}/products/{product.id}/devices").json()["Items"]
    by_group = api.get(f"/tenants/{api.tenant.id}/devicegroups/{group.id.upper()}/devices").json()["Items"]
    assert [d["DeviceId"] for d in by_product] == [grouped.id] == [d["DeviceId"] for d in by_group]
    assert by_group[0]["ProductId"] == product.id and by_group[0]["DeviceGroupId"] == group.id


# -- settings variants -----------------------------------------------------------------------------------------


def test_text_string_bodies_and_object_errors_and_envelope() -> None:
    api = Legacy(legacy_string_body="text", legacy_error_body="object", cert_list_envelope=True)
    response = api.get(f"/tenants/{api.tenant.id}/cert")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert pki.b64_to_certificate(response.text) == api.tenant.generations[0].certificate
    listed = api.get(f"/tenants/{api.tenant.id}/certificates").json()
    assert set(listed) == {"Items", "ContinuationToken"} and len(listed["Items"]) == 1
    error = api.get("/tenants/00000000-0000-0000-0000-000000000000")
    assert error.status_code == 404 and error.headers["content-type"] == "application/problem+json"
    assert error.json()["ErrorCode"] == "NotFound"


def test_expired_generation_null_body_setting() -> None:
    api = Legacy(expired_body="null")
    old = api.tenant.generations[0]
    api.cloud.clock.set(old.not_after + timedelta(days=1))
    api.admin = api.headers("admin@contoso.com")  # the old token expired on the way
    response = api.get(f"/tenants/{api.tenant.id}/cert", params={"thumbprint": old.thumbprint})
    assert response.status_code == 200 and response.json() is None
    assert api.get(f"/tenants/{api.tenant.id}/cert", params={"thumbprint": "AB" * 20}).status_code == 404


def test_legacy_api_retires_at_the_configured_instant() -> None:
    api = Legacy(legacy_retire_at="2027-09-27T00:00:00+00:00")
    assert api.get("/tenants").status_code == 200
    api.cloud.clock.set(datetime(2027, 9, 27, tzinfo=UTC))
    api.admin = api.headers("admin@contoso.com")
    before = api.sphere.snapshot()
    gone = api.get("/tenants")
    assert gone.status_code == 410 and gone.json()[0]["Status"] == 410
    assert api.sphere.snapshot() == before


# -- refusals (acceptance 3) -----------------------------------------------------------------------------------


def assert_refused(api: Legacy, response: httpx.Response, status: int, code: str, before: dict) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    [detail] = response.json()
    assert set(detail) == {"Type", "Title", "Status", "Detail", "Instance", "ErrorCode", "Extensions"}
    assert detail["Status"] == status and detail["ErrorCode"] == code and detail["Type"] == "about:blank"
    assert detail["Instance"] == response.request.url.path and detail["Detail"]
    assert ("www-authenticate" in response.headers) == (status == 401)
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert api.sphere.snapshot() == before
    return detail


def test_authentication_failures(api: Legacy) -> None:
    t = api.tenant.id
    expired = api.headers("admin@contoso.com")
    before = api.sphere.snapshot()
    cases = [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-token-we-issued"},
        api.headers("admin@contoso.com", "arm"),  # an ARM token is not for the legacy API
    ]
    before = api.sphere.snapshot()
    for headers in cases:
        assert_refused(api, api.get(f"/tenants/{t}/certificates", headers=headers), 401, "Unauthorized", before)
    api.cloud.clock.advance(timedelta(hours=2))
    before = api.sphere.snapshot()
    assert_refused(api, api.get("/tenants", headers=expired), 401, "Unauthorized", before)


def test_tenant_access_failures(api: Legacy) -> None:
    before = api.sphere.snapshot()
    unknown = "00000000-0000-0000-0000-000000000000"
    assert_refused(api, api.get(f"/tenants/{unknown}/cert"), 404, "NotFound", before)
    assert_refused(api, api.get(f"/tenants/{api.other.id}/certificates"), 403, "Forbidden", before)
    device = api.sphere.create_device()
    before = api.sphere.snapshot()
    response = api.put(f"/tenants/{api.tenant.id}/devices/{device.id}/claim", headers=api.reader)
    assert_refused(api, response, 403, "Forbidden", before)
    hidden = Legacy(foreign_tenant_status=404)
    before = hidden.sphere.snapshot()
    assert_refused(hidden, hidden.get(f"/tenants/{hidden.other.id}/cert"), 404, "NotFound", before)


def test_claim_refusals(api: Legacy) -> None:
    t = api.tenant.id
    device = api.sphere.create_device()
    api.sphere.claim_device(api.other.id, device.id)
    fresh = api.sphere.create_device()
    before = api.sphere.snapshot()
    assert_refused(api, api.put(f"/tenants/{t}/devices/{device.id}/claim"), 409, "Conflict", before)
    assert_refused(api, api.put(f"/tenants/{t}/devices/{'0' * 128}/claim"), 404, "NotFound", before)
    assert_refused(api, api.put(f"/tenants/{t}/devices/{'g' * 127}/claim"), 400, "BadRequest", before)
    assert_refused(api, api.put(f"/tenants/{t}/devices", json=[fresh.id, device.id]), 409, "Conflict", before)
    assert_refused(api, api.put(f"/tenants/{t}/devices", content=b"{not json"), 400, "BadRequest", before)
    assert_refused(api, api.put(f"/tenants/{t}/devices", json={"ids": [fresh.id]}), 400, "BadRequest", before)
    assert_refused(api, api.put(f"/tenants/{t}/devices", json=[fresh.id] * 2), 400, "BadRequest", before)
    assert_refused(api, api.put(f"/tenants/{t}/devices", json=["a" * 128] * 1001), 400, "BadRequest", before)
    assert_refused(api, api.get(f"/tenants/{t}/operations/nope"), 404, "NotFound", before)


def test_async_claim_conflict_surfaces_in_the_operation() -> None:
    api = Legacy(claim_conflict_mode="async")
    device = api.sphere.create_device()
    api.sphere.claim_device(api.other.id, device.id)
    accepted = api.put(f"/tenants/{api.tenant.id}/devices/{device.id}/claim")
    assert accepted.status_code == 202
    polled = api.get(f"/tenants/{api.tenant.id}/operations/{accepted.json()['OperationId']}").json()
    assert polled["State"] == 3 and polled["Error"]["Code"] == 7 and polled["Error"]["Message"]
    assert api.sphere.get_device(device.id).tenant_id == api.other.id


def test_certificate_refusals(api: Legacy) -> None:
    t = api.tenant.id
    before = api.sphere.snapshot()
    assert_refused(api, api.get(f"/tenants/{t}/cert", params={"thumbprint": "AB" * 20}), 404, "NotFound", before)
    long_code = "A" * 129
    assert_refused(api, api.get(f"/tenants/{t}/verification/{long_code}"), 400, "BadRequest", before)
    old = api.tenant.generations[0]
    api.sphere.revoke_generation(t)
    before = api.sphere.snapshot()
    for path in ("cert", "certchain", "verification/CODE"):
        response = api.get(f"/tenants/{t}/{path}", params={"thumbprint": old.thumbprint})
        assert_refused(api, response, 404, "NotFound", before)


def test_paging_refusals(api: Legacy) -> None:
    t = api.tenant.id
    before = api.sphere.snapshot()
    for size in ("0", "-1", "abc", "1001"):
        response = api.get(f"/tenants/{t}/devices", params={"maxPageSize": size})
        assert_refused(api, response, 400, "BadRequest", before)
    headers = {**api.admin, "Sphere-Continuation": "forged"}
    assert_refused(api, api.get(f"/tenants/{t}/devices", headers=headers), 400, "BadRequest", before)


def test_unknown_routes_and_methods(api: Legacy) -> None:
    before = api.sphere.snapshot()
    assert_refused(api, api.get("/tenants/x/nothing/here"), 404, "NotFound", before)
    response = api.request("DELETE", f"/tenants/{api.tenant.id}/devices")
    assert response.status_code == 405 and response.json()[0]["Status"] == 405
    assert api.sphere.snapshot() == before


@settings(max_examples=40, deadline=None)
@given(
    code=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/"), max_size=64)
)
def test_any_code_in_the_path_comes_back_as_the_cn(code: str) -> None:
    """Any printable code without ``/`` (a path separator even when percent-encoded), once percent-encoded."""
    assume(code.strip(".") != "")  # "." and ".." are dot segments: no client can send them as a path segment
    api = _shared_api()
    response = api.get(f"/tenants/{api.tenant.id}/verification/{quote(code, safe='')}")
    proof = pki.b64_to_certificate(string_body(response))
    assert pki.get_common_name(proof.subject) == code


_SHARED: list[Legacy] = []


def _shared_api() -> Legacy:
    if not _SHARED:
        _SHARED.append(Legacy())
    return _SHARED[0]

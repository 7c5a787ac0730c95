"""Contract tests: the wire facts of the IoT Central REST API 2022-07-31 (paths, verbs, shapes, status codes,
headers) over HTTP, and the documented defaults of the ``central.*`` settings where the API leaves a choice open.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import pytest
from test_central_world import (
    API,
    X509_GROUP,
    CentralWorld,
    assert_error,
    b64_der,
    b64_pem,
    client,
    material,
    raw_pem,
    snapshot,
)

from simulator import pki

GROUP = "/api/enrollmentGroups/myx509eg"
PRIMARY = GROUP + "/certificates/primary"


@pytest.fixture
def world() -> CentralWorld:
    return CentralWorld()


@pytest.fixture
def http(world: CentralWorld) -> httpx.Client:
    app = world.central.create_app("appsubdomain")
    with client(world, app) as http:
        yield http


# -- the documented exchanges ----------------------------------------------------------------------------


def test_the_documented_x509_flow_over_http(world: CentralWorld, http: httpx.Client) -> None:
    created = http.put(GROUP + API, json={"displayName": "My group", "enabled": True, "type": "iot", **X509_GROUP})
    assert created.status_code == 200
    body = created.json()
    assert body["id"] == "myx509eg"
    assert body["attestation"] == {"type": "x509", "x509": {"signingCertificates": {}}}
    assert base64.b64decode(body["etag"]).startswith(b'"')

    ca = material().tenant
    uploaded = http.put(PRIMARY + API, json={"verified": False, "certificate": b64_pem(ca.certificate)})
    assert uploaded.status_code == 200
    assert set(uploaded.json()) == {"verified", "info", "etag"}  # the certificate is not echoed
    assert uploaded.json()["info"] == {"sha1Thumbprint": pki.thumbprint(ca.certificate)}

    generated = http.post(PRIMARY + "/generateVerificationCode" + API)
    assert generated.status_code == 200
    code = generated.json()["verificationCode"]
    assert set(generated.json()) == {"verificationCode"}
    assert re.fullmatch(r"[0-9A-F]{48}", code)

    verified = http.post(PRIMARY + "/verify" + API, json={"certificate": b64_der(material().proof(ca, code))})
    assert (verified.status_code, verified.content) == (204, b"")  # 204, no body: the CLI reads none

    entry = http.get(PRIMARY + API).json()
    assert entry["verified"] is True
    group = http.get(GROUP + API).json()
    assert group["attestation"]["x509"]["signingCertificates"] == {"primary": entry}
    assert "idScope" not in group  # the published 2022-07-31 EnrollmentGroup has no idScope

    removed = http.delete(PRIMARY + API)
    assert (removed.status_code, removed.content) == (204, b"")
    assert http.get(GROUP + API).json()["attestation"]["x509"]["signingCertificates"] == {}
    deleted = http.delete(GROUP + API)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert_error(http.get(GROUP + API), 404, "NotFound", world)


@pytest.mark.parametrize("encode", [b64_pem, b64_der, raw_pem], ids=["base64-pem", "base64-der", "raw-pem"])
def test_no_response_ever_contains_the_certificate(http: httpx.Client, encode: Any) -> None:
    ca = material().tenant.certificate
    text = encode(ca)
    http.put(GROUP + API, json=X509_GROUP)
    responses = [
        http.put(PRIMARY + API, json={"certificate": text}),
        http.get(PRIMARY + API),
        http.get(GROUP + API),
        http.get("/api/enrollmentGroups" + API),
    ]
    fragments = [b64_der(ca)[40:80], b64_pem(ca)[40:80], "BEGIN CERTIFICATE", '"certificate"']
    for response in responses:
        assert response.status_code == 200
        for fragment in fragments:
            assert fragment not in response.text


def test_symmetric_key_group_and_list(http: httpx.Client) -> None:
    created = http.put(
        "/api/enrollmentGroups/sk" + API,
        json={"displayName": "SK", "type": "iot", "attestation": {"type": "symmetricKey"}},
    )
    keys = created.json()["attestation"]["symmetricKey"]
    assert set(keys) == {"primaryKey", "secondaryKey"}
    http.put(GROUP + API, json=X509_GROUP)
    listed = http.get("/api/enrollmentGroups" + API).json()
    assert set(listed) == {"value"}
    assert [g["id"] for g in listed["value"]] == ["sk", "myx509eg"]


def test_patch_accepts_both_json_media_types_and_nothing_else(http: httpx.Client) -> None:
    http.put(GROUP + API, json=X509_GROUP)
    for media_type in ("application/merge-patch+json", "application/json", "application/json; charset=utf-8"):
        response = http.patch(GROUP + API, content=b'{"displayName": "x"}', headers={"content-type": media_type})
        assert response.status_code == 200, media_type
    assert_error(
        http.patch(GROUP + API, content=b'{"displayName": "y"}', headers={"content-type": "text/plain"}),
        415,
        "UnsupportedMediaType",
    )
    assert_error(
        http.put(GROUP + API, content=b"{}", headers={"content-type": "application/merge-patch+json"}),
        415,
        "UnsupportedMediaType",
    )
    assert http.get(GROUP + API).json()["displayName"] == "x"


def test_malformed_json_and_missing_bodies_are_bad_requests(http: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    assert_error(http.put(GROUP + API, content=b"{not json", headers=headers), 400, "BadRequest")
    assert_error(http.put(GROUP + API, content=b"", headers=headers), 400, "BadRequest")
    assert_error(http.put(GROUP + API, content=b"\xff\xfe", headers=headers), 400, "BadRequest")
    assert_error(http.put(GROUP + API, json=[1, 2]), 400, "BadRequest")


def test_invalid_entry_names_are_bad_requests(http: httpx.Client) -> None:
    http.put(GROUP + API, json=X509_GROUP)
    assert_error(http.post(GROUP + "/certificates/None/generateVerificationCode" + API), 400, "BadRequest")


# -- api-version -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2022-07-31", "2022-10-31-preview", "2022-06-30-preview"])
def test_every_known_api_version_is_accepted(http: httpx.Client, version: str) -> None:
    assert http.get("/api/enrollmentGroups", params={"api-version": version}).status_code == 200


@pytest.mark.parametrize(
    "query", ["", "?api-version=", "?api-version=2099-01-01", "?api-version=2022-07-31&api-version=2022-06-30-preview"]
)
def test_a_missing_unknown_or_conflicting_api_version_is_a_bad_request(http: httpx.Client, query: str) -> None:
    error = assert_error(http.get("/api/enrollmentGroups" + query), 400, "BadRequest")
    assert "api-version" in error["message"]


def test_a_repeated_identical_api_version_is_tolerated(http: httpx.Client) -> None:
    assert http.get("/api/enrollmentGroups?api-version=2022-07-31&api-version=2022-07-31").status_code == 200


# -- size ----------------------------------------------------------------------------------------------------


def test_oversized_bodies_are_refused_before_parsing(world: CentralWorld, http: httpx.Client) -> None:
    app = world.central.app_by_subdomain("appsubdomain")
    http.put(GROUP + API, json=X509_GROUP)
    before = snapshot(app)
    garbage = b"{" + b"x" * 70_000  # not JSON: a 400 would mean it was parsed
    assert_error(
        http.put(PRIMARY + API, content=garbage, headers={"content-type": "application/json"}),
        413,
        "RequestEntityTooLarge",
    )

    def chunks() -> Any:  # no Content-Length: the limit applies while streaming
        for _ in range(70):
            yield b"x" * 1024

    assert_error(
        http.put(PRIMARY + API, content=chunks(), headers={"content-type": "application/json"}),
        413,
        "RequestEntityTooLarge",
    )
    assert snapshot(app) == before


# -- preconditions ------------------------------------------------------------------------------------------


def test_if_match_and_body_etags_guard_writes(world: CentralWorld, http: httpx.Client) -> None:
    etag = http.put(GROUP + API, json=X509_GROUP).json()["etag"]
    assert_error(
        http.patch(GROUP + API, json={"enabled": False}, headers={"If-Match": '"stale"'}), 412, "PreconditionFailed"
    )
    assert_error(http.patch(GROUP + API, json={"enabled": False, "etag": "stale"}), 412, "PreconditionFailed")
    assert http.get(GROUP + API).json()["etag"] == etag
    updated = http.patch(GROUP + API, json={"enabled": False}, headers={"If-Match": f'"{etag}"'})
    assert updated.status_code == 200
    assert updated.json()["etag"] != etag
    assert http.patch(GROUP + API, json={"enabled": True}, headers={"If-Match": "*"}).status_code == 200


def test_reads_never_change_etags(http: httpx.Client) -> None:
    http.put(GROUP + API, json=X509_GROUP)
    http.put(PRIMARY + API, json={"certificate": b64_pem(material().tenant.certificate)})
    first = (
        http.get(GROUP + API).json(),
        http.get(PRIMARY + API).json(),
        http.get("/api/enrollmentGroups" + API).json(),
    )
    second = (
        http.get(GROUP + API).json(),
        http.get(PRIMARY + API).json(),
        http.get("/api/enrollmentGroups" + API).json(),
    )
    assert first == second


# -- routing failures are in the error shape too ------------------------------------------------------------


def test_unknown_paths_and_verbs_answer_in_the_error_shape(http: httpx.Client) -> None:
    assert_error(http.get("/api/unknown" + API), 404, "NotFound")
    assert_error(http.get("/api/enrollmentGroups/a/b/c/d" + API), 404, "NotFound")
    assert_error(http.post("/api/enrollmentGroups" + API, json={}), 405, "MethodNotAllowed")
    assert_error(http.get(PRIMARY + "/verify" + API), 405, "MethodNotAllowed")


def test_every_refusal_reported_by_the_model_reaches_the_wire(http: httpx.Client) -> None:
    http.put(GROUP + API, json=X509_GROUP)
    http.put(PRIMARY + API, json={"certificate": b64_pem(material().tenant.certificate)})
    http.put("/api/enrollmentGroups/other" + API, json=X509_GROUP)
    taken = http.put(
        "/api/enrollmentGroups/other/certificates/primary" + API,
        json={"certificate": b64_pem(material().tenant.certificate)},
    )
    assert_error(taken, 409, "Conflict")
    assert_error(http.put(PRIMARY + API, json={"certificate": "nope"}), 400, "InvalidCertificate")
    assert_error(http.post(PRIMARY + "/verify" + API, json={"certificate": "x"}), 400, "VerificationCodeNotFound")
    assert_error(http.post(GROUP + "/certificates/secondary/verify" + API, json={"certificate": "x"}), 404, "NotFound")


# -- devices -----------------------------------------------------------------------------------------------


def test_devices_list_get_telemetry_properties_and_attestation(world: CentralWorld, http: httpx.Client) -> None:
    app = world.central.app_by_subdomain("appsubdomain")
    app.add_template("dtmi:com:example:Thermometer;1")
    app.provision_device("Dev-1", model_id="dtmi:com:example:Thermometer;1", attestation_thumbprint="AB" * 20)
    app.record_telemetry("dev-1", b'{"temperature": 22}', {})
    app.record_reported("dev-1", {"firmware": "1.2"})
    device = http.get("/api/devices/DEV-1" + API).json()
    assert device == {
        "id": "dev-1",
        "etag": device["etag"],
        "displayName": "dev-1",
        "template": "dtmi:com:example:Thermometer;1",
        "simulated": False,
        "provisioned": True,
        "enabled": True,
    }
    assert http.get("/api/devices?api-version=2022-06-30-preview").json() == {"value": [device]}
    telemetry = http.get("/api/devices/dev-1/telemetry/temperature" + API).json()
    assert telemetry["value"] == 22
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", telemetry["timestamp"])
    assert_error(http.get("/api/devices/dev-1/telemetry/pressure" + API), 404, "NotFound")
    properties = http.get("/api/devices/dev-1/properties" + API).json()
    assert properties["firmware"] == "1.2" and "firmware" in properties["$metadata"]
    attestation = http.get("/api/devices/dev-1/attestation" + API).json()
    assert attestation == {
        "type": "x509",
        "x509": {"clientCertificates": {"primary": {"info": {"sha1Thumbprint": "AB" * 20}}}},
    }
    assert http.get("/api/devices/dev-1/credentials" + API).json()["idScope"] == app.id_scope
    assert_error(http.get("/api/devices/ghost" + API), 404, "NotFound")


def test_devices_can_be_created_approved_and_deleted(world: CentralWorld) -> None:
    app = world.central.create_app("manual", auto_approve=False)
    app.provision_device("dev-1")
    with client(world, app) as http:
        assert http.get("/api/devices/dev-1" + API).json()["enabled"] is False  # waiting for approval
        approved = http.patch("/api/devices/dev-1" + API, json={"enabled": True})
        assert approved.json()["enabled"] is True
        created = http.put("/api/devices/thermo-1" + API, json={"displayName": "Thermostat"})
        assert (created.json()["provisioned"], created.json()["enabled"]) == (False, True)
        assert http.patch("/api/devices/thermo-1/properties" + API, json={"interval": 5}).status_code == 202  # the spec
        assert app.device_twin("thermo-1")["desired"]["interval"] == 5
        assert http.delete("/api/devices/thermo-1" + API).status_code == 204
        assert_error(http.get("/api/devices/thermo-1" + API), 404, "NotFound")


def test_lists_page_with_an_absolute_next_link_that_the_cli_can_follow(world: CentralWorld) -> None:
    world.settings.central.page_size = 2
    app = world.central.create_app("paged")
    for n in range(5):
        app.provision_device(f"dev-{n}")
    with client(world, app) as http:
        ids, url = [], "/api/devices"
        for _ in range(10):  # bounded: a broken nextLink must fail, not loop
            # like `az iot central device list` (requests): params are appended on every page, so a nextLink
            # that already carries api-version arrives with it twice
            page = http.get(url + ("&" if "?" in url else "?") + "api-version=2022-06-30-preview").json()
            ids += [d["id"] for d in page["value"]]
            url = page.get("nextLink")
            if url is None:
                break
            assert url.startswith("https://paged.azureiotcentral.com/api/devices?")
            assert "$skiptoken=" in url
        assert ids == [f"dev-{n}" for n in range(5)]
        assert_error(http.get("/api/devices" + API + "&$skiptoken=bogus"), 400, "BadRequest")

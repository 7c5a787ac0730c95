"""The contract layer's own tests: the vendored documents, the translation to JSON Schema, each check, the plugin.

Each check is exercised on a hand-made exchange, as schemathesis tests its checks: a conforming one passes, and
each kind of departure is reported with its operation, status and JSON path.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from contracts.layer import check_request, check_response
from contracts.schemas import DOCUMENTS, load

HERE = Path(__file__).resolve().parent
SOURCES = json.loads((HERE / "contracts" / "SOURCES.json").read_text())


# -- the vendored documents ----------------------------------------------------------------------------------


@pytest.mark.parametrize("local", sorted(SOURCES["documents"]))
def test_each_vendored_document_is_the_recorded_derivation(local: str) -> None:
    record = SOURCES["documents"][local]
    data = (DOCUMENTS / local).read_bytes()
    assert hashlib.sha256(data).hexdigest() == record["derived_sha256"]
    assert record["path"].startswith("specification/") and len(record["commit"]) == 40 and len(record["sha256"]) == 64
    assert SOURCES["repository"] == "Azure/azure-rest-api-specs" and "MIT" in SOURCES["licence"]


def test_no_prose_is_left_but_property_names_are() -> None:
    def walk(node: object, names: bool = False) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                assert names or key not in ("description", "summary", "x-ms-examples"), key
                walk(value, not names and key in ("properties", "definitions", "paths", "responses"))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for local in SOURCES["documents"]:
        walk(json.loads((DOCUMENTS / local).read_text()))
    sphere = json.loads((DOCUMENTS / "azuresphere-2024-04-01.json").read_text())
    assert "description" in sphere["definitions"]["ProductProperties"]["properties"]


def test_the_documents_have_the_published_operations() -> None:
    assert len([op for op in load("central").operations]) == 96
    assert len([op for op in load("sphere-arm").operations if not op.operation_id.startswith("ARM.")]) == 45
    assert len(load("dps").operations) == 3


# -- responses -----------------------------------------------------------------------------------------------

DEVICE = "/api/devices/d1"
ATTESTATION = DEVICE + "/attestation"


def respond(path: str, status: int, body: object, method: str = "GET", content_type: str = "application/json"):
    raw = json.dumps(body).encode() if body is not None else b""
    return [
        str(v) for v in check_response("central", method, path, status, content_type, raw, "api-version=2022-07-31")
    ]


def test_a_conforming_answer_passes() -> None:
    assert respond(DEVICE, 200, {"id": "d1", "displayName": "d", "enabled": True, "provisioned": False}) == []
    x509 = {"type": "x509", "x509": {"clientCertificates": {"primary": {"info": {"sha1Thumbprint": "AB"}}}}}
    assert respond(ATTESTATION, 200, x509) == []
    assert respond(DEVICE, 204, None, "DELETE") == []
    error = {"error": {"code": "NotFound", "message": "m", "time": "Sun, 29 Nov 2026 10:00:00 GMT"}}
    assert respond(DEVICE, 404, error) == []


@pytest.mark.parametrize(
    ("path", "status", "body", "expected"),
    [
        (DEVICE, 201, {"id": "d1"}, "Devices_Get → 201: response status: 201 is not a declared response"),
        (DEVICE, 200, {"id": None}, 'Devices_Get → 200: response $.id: null is not of type "string"'),
        (DEVICE, 200, {"idScope": "x"}, "Devices_Get → 200: response $: Additional properties are not allowed"),
        (ATTESTATION, 200, {"type": "sas"}, 'Devices_GetAttestation → 200: response $.type: "sas" is not one of'),
        (ATTESTATION, 200, {"type": "tpm"}, 'Devices_GetAttestation → 200: response $: "tpm" is a required'),
        (DEVICE, 404, {"message": "no"}, 'Devices_Get → 404: response $: "error" is a required property'),
        (
            DEVICE,
            404,
            {"error": {"code": "c", "message": "m", "time": "2026-11-29T10:00:00Z"}},
            'response $.error.time: "2026-11-29T10:00:00Z" is not a "date-time-rfc1123"',
        ),
        ("/api/nowhere", 200, {}, "GET /api/nowhere → 200: response status: 200 answered for an operation"),
        ("/api/nowhere", 404, {"oops": 1}, 'GET /api/nowhere → 404: response $: "error" is a required property'),
    ],
)
def test_each_departure_is_reported_with_operation_status_and_path(path, status, body, expected) -> None:
    found = respond(path, status, body)
    assert any(expected in line for line in found), found


def test_a_204_with_a_body_and_a_non_json_answer_are_reported() -> None:
    assert "a 204 answer has a body" in respond(DEVICE, 204, {"x": 1}, "DELETE")[0]
    assert "'text/plain' where JSON is declared" in respond(DEVICE, 200, "x", content_type="text/plain")[0]


def test_other_api_versions_are_outside_the_document() -> None:
    preview = check_response("central", "GET", DEVICE, 200, "application/json", b'{"idScope": 1}', "api-version=x")
    assert preview == []


def test_arm_bodies_resolve_the_common_types_and_the_operation_status_monitor() -> None:
    catalog = "/subscriptions/s/resourceGroups/r/providers/Microsoft.AzureSphere/catalogs/c"
    error = b'{"error": {"code": "NotFound", "message": "m", "target": null}}'
    found = check_response("sphere-arm", "GET", catalog, 404, "application/json", error, "api-version=2024-04-01")
    assert [v.where for v in found] == ["$.error.target"]
    status = "/subscriptions/s/providers/Microsoft.AzureSphere/locations/global/operationStatuses/o"
    for body in (b"{}", b'{"status": "Succeeded"}'):
        assert check_response("sphere-arm", "GET", status, 200, "application/json", body, "") == []
    assert check_response("sphere-arm", "GET", status, 200, "application/json", b'{"x": 1}', "") != []


# -- requests ------------------------------------------------------------------------------------------------


def request(method: str, path: str, query: str, body: object = None) -> list[str]:
    raw = json.dumps(body).encode() if body is not None else b""
    return [v.where + ": " + v.message for v in check_request("central", method, path, query, "application/json", raw)]


def test_a_conforming_request_passes() -> None:
    group = {"displayName": "g", "type": "iot", "attestation": {"type": "x509"}}
    assert request("PUT", "/api/enrollmentGroups/g1", "api-version=2022-07-31", group) == []


def test_each_request_departure_is_reported() -> None:
    assert request("GET", "/api/devices", "") == ["query parameter 'api-version': required but not sent"]
    assert "does not match" in request("GET", "/api/enrollmentGroups/bad_id", "api-version=2022-07-31")[0]
    entry = request("GET", "/api/enrollmentGroups/g/certificates/tertiary", "api-version=2022-07-31")
    assert entry and "'entry'" in entry[0]
    bad_group = request("PUT", "/api/enrollmentGroups/g1", "api-version=2022-07-31", {"displayName": "g"})
    assert bad_group and bad_group[0].startswith("$:")
    assert request("PUT", "/api/enrollmentGroups/g1", "api-version=2022-07-31") == ["body: required but not sent"]
    assert request("DELETE", "/api/nowhere", "api-version=2022-07-31") == [
        "path: iotcentral-2022-07-31.json has no such operation"
    ]


# -- the plugin ----------------------------------------------------------------------------------------------


def test_a_violation_fails_the_test_that_caused_it_unless_exempt(pytester: pytest.Pytester) -> None:
    pytester.syspathinsert(HERE)
    pytester.makepyfile(
        """
        import pytest
        from contracts.layer import RECORDER, Violation

        def bad():
            RECORDER.add([Violation("response", "central", "Devices_Get", 200, "$.id", "null is not a string")])

        def test_caused_it():
            bad()

        def test_clean_afterwards():
            pass

        @pytest.mark.contract_exempt("a hand-made broken answer")
        def test_exempt():
            bad()
        """
    )
    result = pytester.runpytest("-p", "contracts.plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*contract violations during the test (1)*", "*?central? Devices_Get → 200: response $.id*"]
    )

"""The IoT Central surfaces around the trust workflow (issue 15 §2): attestation, properties, templates,
organizations, API tokens, roles, device groups, components — and the front door's rules for unknown apps,
unauthenticated callers and unsupported verbs.

Every exchange here is also checked against the published 2022-07-31 document by the contract layer
(``tests/contracts/``); these tests pin the behaviour the document cannot: state changes, refusals that change
nothing, and what a created or removed thing does afterwards.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from test_central_world import API, CentralWorld, assert_error, b64_der, client, material, raw_pem

from simulator import pki
from simulator.central.tokens import ADMINISTRATOR

OPERATOR = "ae2c9854-393b-4f97-8c42-479d70ce626e"
THERMOSTAT = "dtmi:contoso:thermostat;1"
TEMPLATE_BODY = {
    "@type": ["ModelDefinition", "DeviceModel"],
    "displayName": "Thermostat",
    "capabilityModel": {
        "@id": "dtmi:contoso:thermostatDevice;1",
        "@type": "Interface",
        "contents": [
            {"@type": "Component", "name": "thermostat1", "displayName": "Thermostat One", "schema": "dtmi:x:t;1"},
            {"@type": "Telemetry", "name": "temperature", "schema": "double"},
        ],
    },
}


@pytest.fixture
def world() -> CentralWorld:
    return CentralWorld()


@pytest.fixture
def http(world: CentralWorld) -> Any:
    app = world.central.create_app("contoso")
    with client(world, app) as http:
        yield http


def state(world: CentralWorld) -> Any:
    app = world.central.app_by_subdomain("contoso")
    return (
        {k: (d.as_dict(), d.attestation, d.desired) for k, d in app.devices.items()},
        {k: t.as_dict() for k, t in app.template_book.templates.items()},
        {k: o.as_dict() for k, o in app.organization_tree.organizations.items()},
        {k: (r.as_dict(), r.salt) for k, r in app.tokens.records.items()},
        {k: g.as_dict() for k, g in app.device_groups.groups.items()},
    )


def refused(world: CentralWorld, response: httpx.Response, status: int, code: str, before: Any) -> None:
    assert_error(response, status, code, world)
    assert state(world) == before


# -- attestation -----------------------------------------------------------------------------------------------


def test_an_api_created_device_has_a_symmetric_key_attestation_and_credentials(http: Any) -> None:
    http.put("/api/devices/thermo-1" + API, json={"displayName": "Thermostat"})
    attestation = http.get("/api/devices/thermo-1/attestation" + API).json()
    assert attestation["type"] == "symmetricKey"
    keys = attestation["symmetricKey"]
    assert len(base64.b64decode(keys["primaryKey"])) == 32 and keys["primaryKey"] != keys["secondaryKey"]
    credentials = http.get("/api/devices/thermo-1/credentials" + API).json()
    assert credentials["symmetricKey"] == keys and credentials["idScope"].startswith("0ne")


def test_attestation_can_be_replaced_patched_and_removed(world: CentralWorld, http: Any) -> None:
    http.put("/api/devices/d1" + API, json={})
    leaf = material().tenant.certificate
    x509 = {"type": "x509", "x509": {"clientCertificates": {"primary": {"certificate": b64_der(leaf)}}}}
    put = http.put("/api/devices/d1/attestation" + API, json=x509)
    assert put.status_code == 200
    assert put.json() == {
        "type": "x509",
        "x509": {"clientCertificates": {"primary": {"info": {"sha1Thumbprint": pki.thumbprint(leaf)}}}},
    }
    both = {
        "x509": {
            "clientCertificates": {
                "primary": {"certificate": raw_pem(leaf)},
                "secondary": x509["x509"]["clientCertificates"]["primary"],
            }
        }
    }
    patched = http.patch("/api/devices/d1/attestation" + API, json=both)
    assert set(patched.json()["x509"]["clientCertificates"]) == {"primary", "secondary"}
    key = base64.b64encode(b"k" * 32).decode()
    symmetric = {"type": "symmetricKey", "symmetricKey": {"primaryKey": key, "secondaryKey": key}}
    assert http.patch("/api/devices/d1/attestation" + API, json=symmetric).json() == symmetric
    tpm = {"type": "tpm", "tpm": {"endorsementKey": base64.b64encode(b"ek").decode()}}
    assert http.put("/api/devices/d1/attestation" + API, json=tpm).json() == tpm
    assert http.get("/api/devices/d1/credentials" + API).json()["tpm"] == tpm["tpm"]
    removed = http.delete("/api/devices/d1/attestation" + API)
    assert (removed.status_code, removed.content) == (204, b"")
    assert_error(http.get("/api/devices/d1/attestation" + API), 404, "NotFound", world)
    assert set(http.get("/api/devices/d1/credentials" + API).json()) == {"idScope"}
    assert_error(http.delete("/api/devices/d1/attestation" + API), 404, "NotFound", world)


@pytest.mark.parametrize(
    "body",
    [
        {"type": "sas"},
        {"type": "symmetricKey"},
        {"type": "symmetricKey", "symmetricKey": {"primaryKey": "not base64!", "secondaryKey": "a"}},
        {"type": "symmetricKey", "symmetricKey": {"primaryKey": "YQ==", "secondaryKey": "YQ=="}},  # 1 byte
        {"type": "x509", "x509": {"clientCertificates": {}}},
        {"type": "x509", "x509": {"clientCertificates": {"primary": {"certificate": "bm90IGEgY2VydA=="}}}},
        {"type": "tpm", "tpm": {}},
        {"type": "tpm", "tpm": {"endorsementKey": "ZWs="}, "x509": {}},
    ],
)
def test_bad_attestations_are_refused_and_change_nothing(world: CentralWorld, http: Any, body: Any) -> None:
    http.put("/api/devices/d1" + API, json={})
    before = state(world)
    response = http.put("/api/devices/d1/attestation" + API, json=body)
    assert response.status_code == 400
    refused(world, response, 400, response.json()["error"]["code"], before)


def test_attestation_of_an_unknown_device_is_404(world: CentralWorld, http: Any) -> None:
    assert_error(http.get("/api/devices/nope/attestation" + API), 404, "NotFound", world)
    assert_error(http.put("/api/devices/nope/attestation" + API, json={"type": "tpm"}), 404, "NotFound", world)


# -- properties ------------------------------------------------------------------------------------------------


def test_properties_are_replaced_and_patched_with_202(world: CentralWorld, http: Any) -> None:
    http.put("/api/devices/d1" + API, json={})
    app = world.central.app_by_subdomain("contoso")
    assert http.put("/api/devices/d1/properties" + API, json={"interval": 5, "mode": "eco"}).status_code == 202
    assert app.devices["d1"].desired == {"interval": 5, "mode": "eco"}
    assert http.patch("/api/devices/d1/properties" + API, json={"mode": None, "x": 1}).status_code == 202
    assert app.devices["d1"].desired == {"interval": 5, "x": 1}
    assert http.put("/api/devices/d1/properties" + API, json={"only": True}).status_code == 202
    assert app.devices["d1"].desired == {"only": True}
    before = state(world)
    refused(world, http.put("/api/devices/d1/properties" + API, json=[1]), 400, "BadRequest", before)
    refused(world, http.put("/api/devices/d1/properties" + API, json={"$v": 1}), 400, "BadRequest", before)


# -- device templates and components ---------------------------------------------------------------------------


def test_templates_are_created_listed_assigned_and_removed(world: CentralWorld, http: Any) -> None:
    created = http.put(f"/api/deviceTemplates/{THERMOSTAT}" + API, json=TEMPLATE_BODY)
    assert created.status_code == 200
    assert created.json()["@id"] == THERMOSTAT and created.json()["displayName"] == "Thermostat"
    assert [t["@id"] for t in http.get("/api/deviceTemplates" + API).json()["value"]] == [THERMOSTAT]
    patched = http.patch(f"/api/deviceTemplates/{THERMOSTAT}" + API, json={"displayName": "Thermostat v1"})
    assert patched.json()["displayName"] == "Thermostat v1" and patched.json()["etag"] != created.json()["etag"]

    device = http.put("/api/devices/t1" + API, json={"displayName": "T1", "template": THERMOSTAT}).json()
    assert device["template"] == THERMOSTAT
    components = http.get("/api/devices/t1/components" + API).json()
    assert components == {
        "value": [
            {"@type": "Component", "name": "thermostat1", "displayName": "Thermostat One", "schema": "dtmi:x:t;1"}
        ]
    }
    before = state(world)
    refused(world, http.delete(f"/api/deviceTemplates/{THERMOSTAT}" + API), 409, "Conflict", before)
    http.patch("/api/devices/t1" + API, json={"template": None})
    assert http.get("/api/devices/t1/components" + API).json() == {"value": []}
    assert http.delete(f"/api/deviceTemplates/{THERMOSTAT}" + API).status_code == 204
    assert_error(http.get(f"/api/deviceTemplates/{THERMOSTAT}" + API), 404, "NotFound", world)


@pytest.mark.parametrize(
    ("template_id", "body"),
    [
        ("not-a-dtmi", TEMPLATE_BODY),
        (THERMOSTAT, {**TEMPLATE_BODY, "@type": []}),
        (THERMOSTAT, {**TEMPLATE_BODY, "@type": ["Interface"]}),
        (THERMOSTAT, {"@type": ["ModelDefinition"]}),
        (THERMOSTAT, {**TEMPLATE_BODY, "capabilityModel": {"contents": [{"@type": "Telemetry"}]}}),
        (THERMOSTAT, {**TEMPLATE_BODY, "extra": 1}),
    ],
)
def test_bad_templates_are_refused(world: CentralWorld, http: Any, template_id: str, body: Any) -> None:
    before = state(world)
    refused(world, http.put(f"/api/deviceTemplates/{template_id}" + API, json=body), 400, "BadRequest", before)


def test_a_device_cannot_name_a_template_the_app_lacks(world: CentralWorld, http: Any) -> None:
    before = state(world)
    response = http.put("/api/devices/t1" + API, json={"template": THERMOSTAT})
    refused(world, response, 400, "BadRequest", before)


# -- organizations ---------------------------------------------------------------------------------------------


def test_organizations_form_a_tree(world: CentralWorld, http: Any) -> None:
    assert http.put("/api/organizations/contoso" + API, json={"displayName": "Contoso"}).status_code == 200
    child = http.put("/api/organizations/seattle" + API, json={"displayName": "Seattle", "parent": "contoso"})
    assert child.json() == {"id": "seattle", "displayName": "Seattle", "parent": "contoso"}
    assert {o["id"] for o in http.get("/api/organizations" + API).json()["value"]} == {"contoso", "seattle"}
    assert http.patch("/api/organizations/seattle" + API, json={"displayName": "SEA"}).json()["displayName"] == "SEA"
    device = http.put("/api/devices/d1" + API, json={"organizations": ["seattle"]}).json()
    assert device["organizations"] == ["seattle"]
    before = state(world)
    refused(world, http.delete("/api/organizations/contoso" + API), 409, "Conflict", before)  # has a child
    refused(world, http.delete("/api/organizations/seattle" + API), 409, "Conflict", before)  # has a device
    cycle = http.patch("/api/organizations/contoso" + API, json={"parent": "seattle"})
    refused(world, cycle, 400, "BadRequest", before)
    refused(world, http.put("/api/organizations/-bad" + API, json={"displayName": "x"}), 400, "BadRequest", before)
    orphan = http.put("/api/organizations/lost" + API, json={"displayName": "x", "parent": "nowhere"})
    refused(world, orphan, 400, "BadRequest", before)
    refused(world, http.put("/api/devices/d2" + API, json={"organizations": ["nowhere"]}), 400, "BadRequest", before)
    http.delete("/api/devices/d1" + API)
    assert http.delete("/api/organizations/seattle" + API).status_code == 204
    assert http.delete("/api/organizations/contoso" + API).status_code == 204


# -- API tokens and roles --------------------------------------------------------------------------------------


def test_a_created_token_works_and_a_removed_one_stops(world: CentralWorld, http: Any) -> None:
    created = http.put("/api/apiTokens/ci" + API, json={"roles": [{"role": OPERATOR}]})
    assert created.status_code == 200
    body = created.json()
    assert body["id"] == "ci" and body["roles"] == [{"role": OPERATOR}] and "expiry" in body
    token = body["token"]
    assert token.startswith("SharedAccessSignature sr=") and "&skn=ci&" in token
    assert "token" not in http.get("/api/apiTokens/ci" + API).json()  # shown once, at creation
    assert {t["id"] for t in http.get("/api/apiTokens" + API).json()["value"]} == {"operator-token", "ci"}
    app = world.central.app_by_subdomain("contoso")
    with client(world, app, token=token) as ci:
        assert ci.get("/api/devices" + API).status_code == 200
        assert http.delete("/api/apiTokens/ci" + API).status_code == 204
        assert_error(ci.get("/api/devices" + API), 401, "Unauthorized", world)
        recreated = http.put("/api/apiTokens/ci" + API, json={"roles": [{"role": ADMINISTRATOR}]}).json()["token"]
        assert_error(ci.get("/api/devices" + API), 401, "Unauthorized", world)  # the old string stays dead
    with client(world, app, token=recreated) as again:
        assert again.get("/api/devices" + API).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"roles": []},
        {"roles": [{"role": "not-a-role"}]},
        {"roles": [{"role": OPERATOR, "organization": "nowhere"}]},
        {"roles": [{"role": OPERATOR}], "expiry": "2000-01-01T00:00:00Z"},
        {"roles": [{"role": OPERATOR}], "expiry": "tomorrow"},
    ],
)
def test_bad_tokens_are_refused(world: CentralWorld, http: Any, body: Any) -> None:
    before = state(world)
    refused(world, http.put("/api/apiTokens/ci" + API, json=body), 400, "BadRequest", before)


def test_roles_are_the_built_in_ones(http: Any) -> None:
    roles = http.get("/api/roles" + API).json()["value"]
    assert {"id": ADMINISTRATOR, "displayName": "Administrator"} in roles
    assert http.get(f"/api/roles/{OPERATOR}" + API).json()["displayName"] == "Operator"
    assert http.get("/api/roles/nope" + API).status_code == 404


# -- device groups ---------------------------------------------------------------------------------------------


def test_device_groups_select_devices_by_their_filter(world: CentralWorld, http: Any) -> None:
    http.put(f"/api/deviceTemplates/{THERMOSTAT}" + API, json=TEMPLATE_BODY)
    http.put("/api/devices/t1" + API, json={"template": THERMOSTAT})
    http.put("/api/devices/t2" + API, json={"template": THERMOSTAT, "simulated": True})
    http.put("/api/devices/other" + API, json={})
    query = f'SELECT * FROM devices WHERE $template = "{THERMOSTAT}" AND $simulated = false'
    created = http.put("/api/deviceGroups/real-thermostats" + API, json={"displayName": "Real", "filter": query})
    assert created.status_code == 200 and created.json()["filter"] == query
    listed = http.get("/api/deviceGroups/real-thermostats/devices" + API).json()["value"]
    assert [d["id"] for d in listed] == ["t1"]
    http.patch("/api/deviceGroups/real-thermostats" + API, json={"filter": "SELECT * FROM devices"})
    assert len(http.get("/api/deviceGroups/real-thermostats/devices" + API).json()["value"]) == 3
    assert [g["id"] for g in http.get("/api/deviceGroups" + API).json()["value"]] == ["real-thermostats"]
    before = state(world)
    unsupported = {"displayName": "x", "filter": "SELECT * FROM devices WHERE $a = 1 OR $b = 2"}
    refused(world, http.put("/api/deviceGroups/g2" + API, json=unsupported), 400, "BadRequest", before)
    refused(world, http.put("/api/deviceGroups/g2" + API, json={"displayName": "x"}), 400, "BadRequest", before)
    refused(world, http.put("/api/deviceGroups/bad id" + API, json=unsupported), 400, "BadRequest", before)
    assert http.delete("/api/deviceGroups/real-thermostats" + API).status_code == 204
    assert_error(http.get("/api/deviceGroups/real-thermostats/devices" + API), 404, "NotFound", world)


# -- the front door --------------------------------------------------------------------------------------------


def test_an_unknown_subdomain_is_no_application(world: CentralWorld) -> None:
    app = world.central.create_app("contoso")
    with client(world, app, host="typo-app.azureiotcentral.com") as http:
        error = assert_error(http.get("/api/devices" + API), 404, "NotFound", world)
    assert "typo-app" in error["message"]


def test_authentication_comes_before_routing(world: CentralWorld) -> None:
    app = world.central.create_app("contoso")
    with client(world, None, host="contoso.azureiotcentral.com") as anonymous:
        for method, path in (("GET", "/api/nothing-here"), ("POST", "/api/devices"), ("GET", "/api/jobs")):
            assert_error(anonymous.request(method, path + API), 401, "Unauthorized", world)
    with client(world, app) as http:
        assert_error(http.get("/api/nothing-here" + API), 404, "NotFound", world)
        not_allowed = http.post("/api/devices/d1" + API, json={})
        assert_error(not_allowed, 405, "MethodNotAllowed", world)
        assert not_allowed.headers["allow"] == "DELETE, GET, HEAD, PATCH, PUT"  # Starlette answers HEAD for GET


# -- persistence -----------------------------------------------------------------------------------------------


def test_the_new_state_persists_and_is_tracked(tmp_path: Any) -> None:
    """Templates, organizations, API-token records, device groups and attestations survive a restart."""
    from simulator.cloud import FakeCloud
    from simulator.state import describe_differences, dump_world
    from simulator.state.store import read_world
    from simulator.state.tracking import untracked_mutables

    cloud = FakeCloud(seed=3, state_dir=tmp_path)
    try:
        with cloud.lock:
            app = cloud.central.default_app
            app.put_template(THERMOSTAT, TEMPLATE_BODY)
            app.put_organization("contoso", {"displayName": "Contoso"})
            app.create_api_token("ci", {"roles": [{"role": OPERATOR, "organization": "contoso"}]})
            app.put_device("d1", {"template": THERMOSTAT, "organizations": ["contoso"]})
            app.put_device_group("all", {"displayName": "All", "filter": "SELECT * FROM devices"})
            key = base64.b64encode(b"k" * 32).decode()
            app.set_device_attestation(
                "d1", {"type": "symmetricKey", "symmetricKey": {"primaryKey": key, "secondaryKey": key}}
            )
        with cloud.lock:
            assert untracked_mutables(cloud) == []
            assert describe_differences(dump_world(cloud), dump_world(read_world(tmp_path))) == []
        with cloud.lock:
            app.tokens.revoke_api_token("ci")
            app.device_groups.remove("all")
        with cloud.lock:
            assert describe_differences(dump_world(cloud), dump_world(read_world(tmp_path))) == []
    finally:
        cloud.close()

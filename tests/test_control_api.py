"""The simulator control surface ``/_sim`` (simulator.control), reached in-process at ``sim.sphere-harness.local``.

What Azure cannot do — reset, clock travel, minting tenants, apps and devices, fault rules — must work through this
API, answer ``{"error": {"code", "message"}}`` on bad input, and leave the world untouched when it refuses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("simulator.sphere.model", reason="the Sphere model (simulator/sphere/model.py) has not landed")

from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.control import CONTROL_HOST, ControlError, create_devices, ensure_defaults, travel
from simulator.entropy import Entropy
from simulator.faults import FaultInjector
from simulator.pki import get_common_name, is_issued_by, load_pem_chain

SIM = f"https://{CONTROL_HOST}/_sim"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SHARED_CLIENT = httpx.Client()  # one client for many hypothesis examples (building a client loads CA files)


def new_cloud(**settings: Any) -> FakeCloud:
    return FakeCloud(seed=5, settings=settings or None, clock=Clock(START, frozen=True))


@pytest.fixture
def cloud() -> Iterator[FakeCloud]:
    world = new_cloud()
    with world.mock():
        yield world


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


# -- health, reset ---------------------------------------------------------------------------------------------


def test_health_reports_the_world(cloud: FakeCloud) -> None:
    cloud.sphere.create_tenant(name="Contoso")
    body = httpx.get(f"{SIM}/health").json()
    import simulator

    expected = {"status": "ok", "now": START.isoformat(), "seed": 5, "tenants": 1, "apps": 0}
    assert body == {**expected, "version": simulator.__version__}


def test_reset_forgets_tenants_apps_and_fault_rules_but_keeps_the_time(cloud: FakeCloud) -> None:
    cloud.faults = FaultInjector(Entropy(1))  # type: ignore[attr-defined]
    cloud.faults.add({"service": "central", "effect": {"status": 503}})
    httpx.post(f"{SIM}/tenants", json={"name": "Contoso"})
    httpx.post(f"{SIM}/apps", json={"subdomain": "contoso"})
    httpx.post(f"{SIM}/clock", json={"advance": "2d"})
    response = httpx.post(f"{SIM}/reset")
    assert response.status_code == 200
    assert response.json()["reset"] is True
    assert response.json()["now"] == (START + timedelta(days=2)).isoformat()
    assert cloud.sphere.tenants == {}
    assert cloud.central.apps == {}
    assert cloud.faults.list() == []


# -- clock -----------------------------------------------------------------------------------------------------


def test_clock_travel_is_observed_by_the_models(cloud: FakeCloud) -> None:
    tenant_id = httpx.post(f"{SIM}/tenants", json={}).json()["tenant_id"]
    assert httpx.get(f"{SIM}/clock").json()["now"] == START.isoformat()
    moved = httpx.post(f"{SIM}/clock", json={"advance": "90d"}).json()
    assert moved["now"] == (START + timedelta(days=90)).isoformat()
    assert cloud.clock.now() == START + timedelta(days=90)
    device = httpx.post(f"{SIM}/devices", json={"count": 1, "tenant_id": tenant_id}).json()["devices"][0]
    leaf = load_pem_chain(device["certificate_chain_pem"].encode())[0]
    assert leaf.not_valid_before_utc >= START + timedelta(days=90) - timedelta(hours=1)  # issued on the fake clock
    jumped = httpx.post(f"{SIM}/clock", json={"set": "2027-01-01T00:00:00Z"}).json()
    assert datetime.fromisoformat(jumped["now"]) == datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"advance": "soon"}, "InvalidDuration"),
        ({"advance": 90}, "InvalidRequest"),
        ({"set": "yesterday"}, "InvalidInstant"),
        ({"set": "2020-01-01T00:00:00Z"}, "ClockCannotGoBack"),
        ({"advance": "1d", "set": "2030-01-01T00:00:00Z"}, "InvalidRequest"),
        ({}, "InvalidRequest"),
        ({"advance": "1d", "speed": 2}, "UnknownField"),
    ],
)
def test_bad_clock_requests_are_refused_and_leave_the_clock_alone(
    cloud: FakeCloud, body: dict[str, Any], code: str
) -> None:
    assert_error(httpx.post(f"{SIM}/clock", json=body), 400, code)
    assert cloud.clock.now() == START


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.dictionaries(
        st.sampled_from(["advance", "set", "other"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=12), st.sampled_from(["1d", "90d", "2h30m", "0s"])),
        max_size=3,
    )
)
def test_any_clock_body_either_travels_forward_or_changes_nothing(cloud: FakeCloud, body: dict[str, Any]) -> None:
    before = cloud.clock.now()
    response = SHARED_CLIENT.post(f"{SIM}/clock", content=json.dumps(body))
    if response.status_code == 200:
        assert cloud.clock.now() >= before
        assert response.json()["now"] == cloud.clock.now().isoformat()
    else:
        assert_error(response, 400)
        assert cloud.clock.now() == before


def test_python_travel_rejects_backwards_moves() -> None:
    world = new_cloud()
    with pytest.raises(ControlError) as refused:
        travel(world, set=START - timedelta(days=1))
    assert refused.value.status == 400
    assert travel(world, advance=timedelta(hours=1)) == START + timedelta(hours=1)


# -- tenants, tokens, apps -------------------------------------------------------------------------------------


def test_a_tenant_comes_with_an_administrator_and_tokens(cloud: FakeCloud) -> None:
    response = httpx.post(f"{SIM}/tenants", json={"name": "Contoso", "email": "ops@contoso.example"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "tenant_id", "name", "catalog", "subscription_id", "resource_group", "user", "token", "arm_token"
    }  # fmt: skip
    tenant = cloud.sphere.get_tenant(body["tenant_id"])
    assert (tenant.name, tenant.catalog, tenant.subscription_id) == (
        body["name"],
        body["catalog"],
        body["subscription_id"],
    )
    assert body["user"] == "ops@contoso.example"
    assert body["token"] and body["arm_token"] and body["token"] != body["arm_token"]


def test_tokens_can_be_reissued_after_travel(cloud: FakeCloud) -> None:
    email = httpx.post(f"{SIM}/tenants", json={}).json()["user"]
    response = httpx.post(f"{SIM}/tokens", json={"email": email, "audience": "arm"})
    assert response.status_code == 201
    assert response.json()["audience"] == "arm" and response.json()["token"]
    assert_error(httpx.post(f"{SIM}/tokens", json={"audience": "graph"}), 400, "InvalidAudience")


@pytest.mark.parametrize("body", [{"name": 7}, {"tenant_id": ["x"]}, {"colour": "blue"}, [1, 2]])
def test_bad_tenant_requests_create_nothing(cloud: FakeCloud, body: Any) -> None:
    assert_error(httpx.post(f"{SIM}/tenants", json=body), 400)
    assert cloud.sphere.tenants == {}


def test_an_app_comes_with_an_api_token_and_id_scope(cloud: FakeCloud) -> None:
    response = httpx.post(f"{SIM}/apps", json={"subdomain": "contoso", "auto_approve": False})
    assert response.status_code == 201
    body = response.json()
    app = cloud.central.app_by_subdomain("contoso")
    assert app is not None
    assert (body["id"], body["id_scope"], body["hub_host"]) == (app.id, app.id_scope, app.hub_host)
    assert body["auto_approve"] is False
    assert body["api_token"].startswith("SharedAccessSignature sr=")
    app.authenticate(body["api_token"])  # a token the app itself accepts


def test_a_taken_or_malformed_subdomain_is_refused_without_a_new_app(cloud: FakeCloud) -> None:
    httpx.post(f"{SIM}/apps", json={"subdomain": "contoso"})
    assert_error(httpx.post(f"{SIM}/apps", json={"subdomain": "contoso"}), 409)
    assert_error(httpx.post(f"{SIM}/apps", json={"subdomain": "not a subdomain!"}), 400)
    assert_error(httpx.post(f"{SIM}/apps", json={"auto_approve": "yes"}), 400)
    assert list(cloud.central.apps) == ["contoso"]


# -- devices ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("present_chain", "length"), [("leaf", 1), ("leaf+tenant", 2), ("full", 4)])
def test_claimed_devices_carry_key_and_the_chain_they_present(present_chain: str, length: int) -> None:
    world = new_cloud(dps={"present_chain": present_chain})
    tenant = world.sphere.create_tenant(name="Contoso")
    with world.mock():
        response = httpx.post(f"{SIM}/devices", json={"count": 3, "claim": True, "tenant_id": tenant.id})
    assert response.status_code == 201
    devices = response.json()["devices"]
    assert len(devices) == 3
    assert len({d["id"] for d in devices}) == 3
    for device in devices:
        assert len(device["id"]) == 128 and int(device["id"], 16) >= 0
        assert device["tenant_id"] == tenant.id
        chain = load_pem_chain(device["certificate_chain_pem"].encode())
        assert len(chain) == length
        leaf = chain[0]
        assert get_common_name(leaf.subject).lower() == device["id"]
        key = serialization.load_pem_private_key(device["key_pem"].encode(), password=None)
        assert key.public_key().public_numbers() == leaf.public_key().public_numbers()
        full = world.sphere.device_certificate_chain(device["id"])
        assert is_issued_by(leaf, full[1])
        assert [c.subject for c in chain[1:]] == [c.subject for c in full[1:length]]


def test_unclaimed_devices_have_no_certificate_yet(cloud: FakeCloud) -> None:
    device = httpx.post(f"{SIM}/devices", json={"count": 1, "claim": False}).json()["devices"][0]
    assert device["certificate_chain_pem"] is None and device["tenant_id"] is None
    key = serialization.load_pem_private_key(device["key_pem"].encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)


def test_the_only_tenant_is_the_default_for_claims(cloud: FakeCloud) -> None:
    tenant = cloud.sphere.create_tenant(name="Only")
    device = httpx.post(f"{SIM}/devices", json={"count": 1}).json()["devices"][0]
    assert device["tenant_id"] == tenant.id


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"count": 0}, 400, "InvalidCount"),
        ({"count": 1001}, 400, "InvalidCount"),
        ({"count": "3"}, 400, "InvalidCount"),
        ({"count": True}, 400, "InvalidCount"),
        ({"count": 1, "tenant_id": "00000000-0000-0000-0000-000000000000"}, 404, "TenantNotFound"),
        ({"count": 1}, 400, "TenantRequired"),  # two tenants: which one?
        ({"count": 1, "claim": False, "tenant_id": "x"}, 400, "InvalidRequest"),
        ({"count": 1, "claim": "yes"}, 400, "InvalidRequest"),
    ],
)
def test_bad_device_requests_mint_nothing(cloud: FakeCloud, body: dict[str, Any], status: int, code: str) -> None:
    cloud.sphere.create_tenant(name="A")
    cloud.sphere.create_tenant(name="B")
    assert_error(httpx.post(f"{SIM}/devices", json=body), status, code)
    # nothing was minted: the seeded Sphere model mints the same next device as a world that was never asked
    fresh = new_cloud()
    fresh.sphere.create_tenant(name="A")
    fresh.sphere.create_tenant(name="B")
    assert fresh.sphere.create_device().id == cloud.sphere.create_device().id


def test_python_create_devices_matches_the_http_api() -> None:
    world = new_cloud()
    tenant = world.sphere.create_tenant(name="Contoso")
    made = create_devices(world, 2, tenant_id=tenant.id.upper())
    assert [d.tenant_id for d in made] == [tenant.id, tenant.id]
    assert all(isinstance(load_pem_chain(d.certificate_chain_pem.encode())[0], x509.Certificate) for d in made)


def test_ensure_defaults_is_idempotent_and_makes_the_app_the_default() -> None:
    world = new_cloud()
    first = ensure_defaults(world)
    second = ensure_defaults(world)
    assert first.tenant.tenant_id == second.tenant.tenant_id
    assert first.app.subdomain == second.app.subdomain == world.central.default_app.subdomain
    assert len(world.sphere.tenants) == 1 and len(world.central.apps) == 1


# -- faults, errors --------------------------------------------------------------------------------------------


def test_fault_rules_can_be_added_listed_and_removed(cloud: FakeCloud) -> None:
    cloud.faults = FaultInjector(Entropy(1))  # type: ignore[attr-defined]
    added = httpx.post(f"{SIM}/faults", json={"service": "central", "operation": "verify", "nth": 2})
    assert added.status_code == 201
    rule_id = added.json()["id"]
    assert [r["id"] for r in httpx.get(f"{SIM}/faults").json()["rules"]] == [rule_id]
    assert_error(httpx.post(f"{SIM}/faults", json={"service": "nowhere"}), 400, "InvalidFaultRule")
    assert_error(httpx.delete(f"{SIM}/faults/fault-999"), 404, "FaultRuleNotFound")
    assert httpx.delete(f"{SIM}/faults/{rule_id}").json() == {"removed": 1}
    assert httpx.get(f"{SIM}/faults").json() == {"rules": []}


def test_unknown_paths_methods_and_bodies_answer_in_the_error_shape(cloud: FakeCloud) -> None:
    assert_error(httpx.get(f"{SIM}/nothing-here"), 404, "NotFound")
    assert_error(httpx.delete(f"{SIM}/clock"), 405, "MethodNotAllowed")
    assert_error(httpx.post(f"{SIM}/apps", content=b"{not json"), 400, "InvalidJson")
    assert_error(httpx.post(f"{SIM}/reset", json={"everything": True}), 400, "UnknownField")


def test_the_control_host_accepts_plain_http_too(cloud: FakeCloud) -> None:
    assert httpx.get(f"http://{CONTROL_HOST}/_sim/health").json()["status"] == "ok"

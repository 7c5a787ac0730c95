"""Hostile input on every surface is refused in the service's own shape and changes nothing (issue 16).

Each test here reproduces one finding of the issue against an in-process world — reproductions 2 (a lone UTF-16
surrogate stored although the request failed), 3 (deep JSON nesting → RecursionError), 5 (paging numbers such as
``²``), 6 (``/_sim`` inputs that crashed), 8 (error shapes of DPS 404/405 and of every 500) — and compares the whole
world's state (:func:`world_state.world_state`) before and after each refusal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from service_shapes import assert_refusal
from world_state import world_state

from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.control import CONTROL_HOST, WorldDefaults, ensure_defaults

START = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
SIM = f"https://{CONTROL_HOST}/_sim"
LEGACY = "https://prod.core.sphere.azure.net/v2"
DPS = "https://global.azure-devices-provisioning.net"
ARM_VERSION = {"api-version": "2024-04-01"}
CENTRAL_VERSION = {"api-version": "2022-07-31"}
LONE_SURROGATE = b'"\\ud800"'
DEEP = b"[" * 5000  # 5 KB: RecursionError in json.loads before the seam
JSON = {"content-type": "application/json"}


class World:
    """One in-process world with its default tenant and app, and the URLs and headers to reach them."""

    def __init__(self) -> None:
        self.cloud = FakeCloud(seed=16, clock=Clock(START, frozen=True))
        self.defaults: WorldDefaults = ensure_defaults(self.cloud)
        tenant, app = self.defaults.tenant, self.defaults.app
        self.tenant_id = tenant.tenant_id
        self.catalog = (
            f"https://management.azure.com/subscriptions/{tenant.subscription_id}/resourceGroups/"
            f"{tenant.resource_group}/providers/Microsoft.AzureSphere/catalogs/{tenant.catalog}"
        )
        self.central = f"https://{app.subdomain}.azureiotcentral.com/api"
        self.id_scope = app.id_scope
        self.legacy_auth = {"authorization": f"Bearer {tenant.token}"}
        self.arm_auth = {"authorization": f"Bearer {tenant.arm_token}"}
        self.central_auth = {"authorization": app.api_token}

    def state(self) -> Any:
        return world_state(self.cloud)


@pytest.fixture
def world() -> Iterator[World]:
    made = World()
    with made.cloud.mock():
        yield made


def refused(world: World, service: str, request: httpx.Request, status: int = 400) -> dict[str, Any]:
    """Send ``request``; it must be refused with ``status`` in ``service``'s shape, and the world stay as it was."""
    before = world.state()
    with httpx.Client() as client:
        response = client.send(request)
    error = assert_refusal(service, response, status)
    assert world.state() == before, f"{request.method} {request.url} changed the world although it was refused"
    return error


# -- reproduction 2: a lone surrogate -----------------------------------------------------------------------------


def test_a_lone_surrogate_in_a_group_name_is_refused_and_nothing_is_stored(world: World) -> None:
    body = b'{"displayName":' + LONE_SURROGATE + b',"type":"iot","attestation":{"type":"x509"}}'
    url = f"{world.central}/enrollmentGroups/poison"
    error = refused(
        world,
        "central",
        httpx.Request("PUT", url, params=CENTRAL_VERSION, content=body, headers={**JSON, **world.central_auth}),
    )
    assert "surrogate" in error["message"]
    listed = httpx.get(f"{world.central}/enrollmentGroups", params=CENTRAL_VERSION, headers=world.central_auth)
    assert listed.status_code == 200 and listed.json() == {"value": []}


@pytest.mark.parametrize("path", ["tenants", "apps"])
def test_a_lone_surrogate_in_a_control_name_creates_nothing(world: World, path: str) -> None:
    body = b'{"name":' + LONE_SURROGATE + b"}"
    refused(world, "control", httpx.Request("POST", f"{SIM}/{path}", content=body, headers=JSON))


def test_a_lone_surrogate_through_the_python_control_api_creates_nothing(world: World) -> None:
    from simulator.control import ControlError, create_app, create_tenant

    before = world.state()
    with pytest.raises(ControlError) as tenant_error:
        create_tenant(world.cloud, name="\ud800")
    with pytest.raises(ControlError):
        create_app(world.cloud, name="\udfff")
    assert tenant_error.value.status == 400
    assert world.state() == before


def test_a_lone_surrogate_as_a_proof_nonce_is_an_arm_400(world: World) -> None:
    url = f"{world.catalog}/certificates/default/retrieveProofOfPossessionNonce"
    body = b'{"proofOfPossessionNonce":' + LONE_SURROGATE + b"}"
    refused(
        world,
        "sphere-arm",
        httpx.Request("POST", url, params=ARM_VERSION, content=body, headers={**JSON, **world.arm_auth}),
    )


# -- reproduction 3: deep nesting on every route that reads a JSON body ------------------------------------------


def deep_requests(world: World) -> list[tuple[str, httpx.Request]]:
    central = {**JSON, **world.central_auth}
    device = f"{world.central}/devices/d1"
    arm = {**JSON, **world.arm_auth}
    group = f"{world.catalog}/products/.default/deviceGroups/.default"
    nonce = f"{world.catalog}/certificates/default/retrieveProofOfPossessionNonce"
    dps_path = f"{DPS}/{world.id_scope}/registrations/dev-1"
    dps_version = {"api-version": "2021-10-01"}
    legacy = {**JSON, **world.legacy_auth}
    bulk_claim = f"{LEGACY}/tenants/{world.tenant_id}/devices"

    def central_request(method: str, url: str) -> httpx.Request:
        return httpx.Request(method, url, params=CENTRAL_VERSION, headers=central, content=DEEP)

    def arm_request(url: str) -> httpx.Request:
        return httpx.Request("POST", url, params=ARM_VERSION, headers=arm, content=DEEP)

    return [
        ("central", central_request("PUT", f"{world.central}/enrollmentGroups/g")),
        ("central", central_request("PUT", device)),
        ("central", central_request("PATCH", f"{device}/properties")),
        ("sphere-legacy", httpx.Request("PUT", bulk_claim, headers=legacy, content=DEEP)),
        ("sphere-arm", arm_request(nonce)),
        ("sphere-arm", arm_request(f"{group}/claimDevices")),
        ("dps", httpx.Request("PUT", f"{dps_path}/register", params=dps_version, headers=JSON, content=DEEP)),
        ("dps", httpx.Request("POST", dps_path, params=dps_version, headers=JSON, content=DEEP)),
        ("control", httpx.Request("POST", f"{SIM}/tenants", headers=JSON, content=DEEP)),
        ("control", httpx.Request("POST", f"{SIM}/faults", headers=JSON, content=DEEP)),
    ]


def test_deeply_nested_json_is_a_400_on_every_route_that_reads_a_body(world: World) -> None:
    for service, request in deep_requests(world):
        error = refused(world, service, request)
        text = str(error).lower()
        assert "nested" in text or "deep" in text, (request.url, error)


def test_json_the_services_do_not_speak_is_refused(world: World) -> None:
    """Not UTF-8, ``NaN``, a number that overflows, a 5,000-digit integer: each a 400, never a 500."""
    central = {**JSON, **world.central_auth}
    for content in (b'{"displayName": "\xff"}', b'{"a": NaN}', b'{"a": 1e400}', b"[" + b"1" * 5000 + b"]"):
        url = f"{world.central}/enrollmentGroups/g"
        refused(world, "central", httpx.Request("PUT", url, params=CENTRAL_VERSION, headers=central, content=content))


def test_a_query_string_that_is_not_utf8_is_refused(world: World) -> None:
    url = f"{world.central}/enrollmentGroups?api-version=2022-07-31&$skiptoken=%FF"
    refused(world, "central", httpx.Request("GET", url, headers=world.central_auth))


# -- reproduction 5: paging numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["²", "١", "99999999999999999999999", "-1", "+5", " 5", "0x10", "1e3"])
def test_arm_paging_numbers_are_ascii_digits_in_range(world: World, value: str) -> None:
    for name in ("$top", "$skip", "$maxpagesize"):
        params = {**ARM_VERSION, name: value}
        error = refused(
            world,
            "sphere-arm",
            httpx.Request("GET", f"{world.catalog}/certificates", params=params, headers=world.arm_auth),
        )
        assert error["target"] == name  # fmt: skip


@pytest.mark.parametrize("value", ["²", "99999999999999999999999", "0", "1001"])
def test_legacy_max_page_size_is_ascii_digits_in_range(world: World, value: str) -> None:
    url = f"{LEGACY}/tenants/{world.tenant_id}/devices"
    request = httpx.Request("GET", url, params={"maxPageSize": value}, headers=world.legacy_auth)
    assert refused(world, "sphere-legacy", request)["ErrorCode"] == "BadRequest"


def test_valid_paging_numbers_still_page(world: World) -> None:
    response = httpx.get(f"{world.catalog}/certificates", params={**ARM_VERSION, "$top": "1"}, headers=world.arm_auth)
    assert response.status_code == 200 and len(response.json()["value"]) == 1


# -- reproduction 6: /_sim inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"advance": "99999999999d"},
        {"advance": "36526d"},
        {"set": "9999-12-31T23:59:59+00:00"},
        {"set": "not a date"},
    ],
)
def test_clock_travel_that_cannot_be_represented_is_a_400_and_the_clock_stays(
    world: World, body: dict[str, str]
) -> None:
    refused(world, "control", httpx.Request("POST", f"{SIM}/clock", json=body))


@pytest.mark.parametrize(
    "effect",
    [
        {"kind": "status", "status": "x"},
        {"kind": "status", "status": True},
        {"kind": "latency", "latency_s": "1"},
        {"kind": "latency", "latency_s": 1e9},
        {"kind": "status", "status": 503, "code": "Bad\r\nX-Injected: 1"},
        {"kind": "status", "status": 503, "retry_after": -1},
        {"kind": "connack", "connack_code": 99},
        {"kind": "dps_failed", "dps_error_code": "x"},
        {"kind": "status", "message": 5},
    ],
)
def test_fault_rules_with_ill_typed_effects_are_a_400(world: World, effect: dict[str, Any]) -> None:
    request = httpx.Request("POST", f"{SIM}/faults", json={"service": "central", "effect": effect})
    assert refused(world, "control", request)["code"] == "InvalidFaultRule"


@pytest.mark.parametrize("field", [{"nth": True}, {"count": 1.5}, {"probability": "0.5"}, {"operation": 5}])
def test_fault_rules_with_ill_typed_fields_are_a_400(world: World, field: dict[str, Any]) -> None:
    request = httpx.Request("POST", f"{SIM}/faults", json={"service": "central", **field})
    refused(world, "control", request)


def test_oversized_control_bodies_are_a_413(world: World) -> None:
    request = httpx.Request("POST", f"{SIM}/tenants", json={"name": "x" * 100_000})
    assert refused(world, "control", request, 413)["code"] == "BodyTooLarge"


# -- reproduction 8: error shapes of DPS 404/405 and of every 500 -------------------------------------------------


def test_dps_answers_unknown_paths_and_methods_in_its_own_shape(world: World) -> None:
    refused(world, "dps", httpx.Request("GET", f"{DPS}/nothing/here"), 404)
    path = f"{DPS}/{world.id_scope}/registrations/dev-1/register"
    refused(world, "dps", httpx.Request("GET", path, params={"api-version": "2021-10-01"}), 405)


def _broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("a bug in the model")


#: service → (what to break, method, path) for the 500 test
BUGS: dict[str, tuple[str, str, str]] = {
    "central": ("simulator.central.model.App.list_groups", "GET", "{central}/enrollmentGroups?api-version=2022-07-31"),
    "sphere-legacy": ("simulator.sphere.model.SphereService.visible_tenants", "GET", LEGACY + "/tenants"),
    "sphere-arm": ("simulator.sphere.model.SphereService.catalog", "GET", "{catalog}?api-version=2024-04-01"),
    "dps": ("simulator.dps.model.DpsService.register", "PUT", DPS + "/{scope}/registrations/d/register?api-version=1"),
    "control": ("simulator.control.travel", "POST", SIM + "/clock"),
}
APPS = {"central": "central_app", "sphere-legacy": "legacy_app", "sphere-arm": "arm_app", "dps": "dps_app"}


@pytest.mark.parametrize("service", sorted(BUGS))
def test_a_bug_is_a_500_in_the_service_shape(world: World, monkeypatch: pytest.MonkeyPatch, service: str) -> None:
    from service_shapes import SHAPES

    from simulator.control import build_control_app

    target, method, url = BUGS[service]
    monkeypatch.setattr(target, _broken)
    url = url.format(central=world.central, catalog=world.catalog, scope=world.id_scope)
    headers = {"sphere-legacy": world.legacy_auth, "sphere-arm": world.arm_auth, "central": world.central_auth}
    app = build_control_app(world.cloud) if service == "control" else getattr(world.cloud, APPS[service])
    body = {"control": {"advance": "1d"}, "dps": {"registrationId": "d"}}.get(service)

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.request(method, url, headers=headers.get(service, {}), json=body)

    response = asyncio.run(call())
    assert response.status_code == 500, response.text
    SHAPES[service](response)


def test_a_non_ascii_nonce_longer_than_64_utf8_bytes_gets_its_proof(world: World) -> None:
    """40 characters, 80 UTF-8 bytes: the CN bound is counted in bytes (this was a 500)."""
    url = f"{world.catalog}/certificates/default/retrieveProofOfPossessionNonce"
    body = {"proofOfPossessionNonce": "é" * 40}
    response = httpx.post(url, params=ARM_VERSION, json=body, headers=world.arm_auth)
    assert response.status_code == 200, response.text
    assert response.json()["subject"].startswith("CN=" + "é" * 40)


def test_a_world_document_with_a_lone_surrogate_is_not_restored(world: World) -> None:
    document = httpx.post(f"{SIM}/snapshot").text
    tenant_name = world.cloud.sphere.tenants[world.tenant_id].name
    poisoned = document.replace(f'"{tenant_name}"', '"\\ud800"', 1)
    assert poisoned != document
    request = httpx.Request("POST", f"{SIM}/restore", content=poisoned.encode(), headers=JSON)
    assert "surrogate" in refused(world, "control", request)["message"]

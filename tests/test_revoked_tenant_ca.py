"""A device certificate from a *revoked* tenant CA (issue 16, reproduction 11).

IoT Central still holds the CA verified; only the Azure Sphere security service knows it was revoked. By default
(``dps.revoked_tenant_ca = "refuse"``) DPS refuses such a chain as it refuses an expired certificate — 401 / 401002
in the DPS error shape, CONNACK 5 over MQTT — and nothing is stored. ``"accept"`` leaves the decision to the
enrollment groups alone (DPS is not documented to consult Sphere or revocation lists).
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
from service_shapes import assert_refusal
from test_dps_model import World
from world_state import world_state

from simulator import pki


def _revoked_world(mode: str | None = None) -> tuple[World, Any, Any]:
    world = World() if mode is None else World(revoked_tenant_ca=mode)
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)
    device.presented_chain()  # the device holds a certificate of the Active generation...
    world.cloud.sphere.revoke_generation(tenant.id)  # ...which Sphere then revokes
    return world, app, device


def _register_over_https(world: World, app: Any, device: Any) -> httpx.Response:
    chain = b"".join(pki.to_pem(c) for c in device.presented_chain(renew=False))
    dps = "https://global.azure-devices-provisioning.net"
    url = f"{dps}/{app.id_scope}/registrations/{device.registration_id}/register"
    headers = {"x-sphere-harness-client-chain": base64.b64encode(chain).decode()}
    body = {"registrationId": device.registration_id}
    with world.cloud.mock():
        return httpx.put(url, params={"api-version": "2021-10-01"}, json=body, headers=headers)


def test_a_chain_through_a_revoked_tenant_ca_is_refused_and_nothing_is_stored() -> None:
    world, app, device = _revoked_world()
    before = world_state(world.cloud)
    response = _register_over_https(world, app, device)
    body = assert_refusal("dps", response, 401)
    assert body["errorCode"] == 401002 and "revoked" in body["message"]
    assert world_state(world.cloud) == before
    assert device.provision(app.id_scope, renew=False).status == "failed"


def test_a_fresh_certificate_from_the_replacement_generation_still_needs_its_own_verified_entry() -> None:
    _, app, device = _revoked_world()
    result = device.provision(app.id_scope)
    assert result.status == "failed"  # renewed from the replacement CA, which no group holds yet


def test_accept_leaves_the_decision_to_the_enrollment_group() -> None:
    world, app, device = _revoked_world("accept")
    response = _register_over_https(world, app, device)
    assert response.status_code == 202 and response.json()["status"] == "assigning"

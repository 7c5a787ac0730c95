"""End to end over real sockets: a device minted by ``/_sim/devices`` registers with the served DPS HTTPS API.

The DPS port asks for a TLS client certificate and trusts every CA the world knows, refreshed per connection: the
device presents its own key and chain in the TLS handshake, exactly as with the real DPS.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("simulator.sphere.model", reason="the Sphere model (simulator/sphere/model.py) has not landed")

from test_dps_model import enroll_certificate

from simulator.cloud import FakeCloud
from simulator.server import ServedCloud, serve_cloud

pytestmark = pytest.mark.served
API = {"api-version": "2021-06-01"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedCloud]:
    with serve_cloud(FakeCloud(seed=31), mqtt_port=None, workdir=tmp_path) as world:
        yield world


def mint_device(world: ServedCloud, folder: Path) -> tuple[str, tuple[str, str]]:
    """``POST /_sim/devices`` and write the device's files, as a tool outside Python would."""
    trust = ssl.create_default_context(cafile=world.ca_bundle)
    with httpx.Client(verify=trust) as http:
        device = http.post(world.endpoints["control_url"] + "/devices", json={"count": 1}).json()["devices"][0]
    cert_file, key_file = folder / "device.cert.pem", folder / "device.key.pem"
    cert_file.write_text(device["certificate_chain_pem"])
    key_file.write_text(device["key_pem"])
    return device["id"], (str(cert_file), str(key_file))


def trust_the_tenant(world: ServedCloud) -> None:
    """The seed workflow's outcome, arranged directly: the tenant CA is a verified entry of an enrollment group."""
    cloud = world.cloud
    with cloud.lock:
        tenant = cloud.sphere.get_tenant(world.endpoints["sphere"]["tenant_id"])
        app = cloud.central.default_app
        now = cloud.clock.now()
        tenant_ca = next(g for g in tenant.generations if g.status(now) == "Active").certificate
        enroll_certificate(cloud, app, tenant_ca, tenant=tenant)


def register(world: ServedCloud, device_id: str, cert: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
    dps = world.endpoints["dps"]
    trust = ssl.create_default_context(cafile=world.ca_bundle)
    if cert is not None:
        trust.load_cert_chain(*cert)
    with httpx.Client(verify=trust, timeout=10) as http:
        url = f"{dps['https_url']}/{dps['id_scope']}/registrations/{device_id}/register"
        response = http.put(url, params=API, json={"registrationId": device_id})
        deadline = time.monotonic() + 5
        while response.status_code == 202 and time.monotonic() < deadline:
            operation = response.json()["operationId"]
            status_url = f"{dps['https_url']}/{dps['id_scope']}/registrations/{device_id}/operations/{operation}"
            response = http.get(status_url, params=API)
        return response.status_code, response.json()


def test_a_claimed_device_auto_enrolls_through_the_served_dps(served: ServedCloud, tmp_path: Path) -> None:
    trust_the_tenant(served)
    device_id, cert = mint_device(served, tmp_path)
    status, body = register(served, device_id, cert)
    assert status == 200, body
    assert body["status"] == "assigned"
    assert body["registrationState"]["deviceId"] == device_id
    with served.cloud.lock:
        assert served.cloud.central.default_app.get_device(device_id).id == device_id


def test_without_a_client_certificate_dps_refuses_in_its_error_shape(served: ServedCloud, tmp_path: Path) -> None:
    trust_the_tenant(served)
    device_id, _ = mint_device(served, tmp_path)
    status, body = register(served, device_id, None)
    assert status == 401
    assert {"errorCode", "trackingId", "message"} <= set(body)


def test_a_tenant_not_trusted_by_any_group_is_not_assigned(served: ServedCloud, tmp_path: Path) -> None:
    device_id, cert = mint_device(served, tmp_path)  # no enrollment group trusts the tenant CA
    status, body = register(served, device_id, cert)
    assert status == 401, body
    assert str(body["errorCode"]).startswith("401")

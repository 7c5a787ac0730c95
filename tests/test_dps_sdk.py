"""ACCEPTANCE 1: the real, unmodified ``azure-iot-device`` 2.14 SDK auto-enrolls a claimed Sphere device.

The SDK's MQTT port is hard-coded to 8883, so this test must own 8883 on a loopback
address: 127.0.0.1, else 127.0.0.2. A lock file serialises the test across pytest-xdist workers and parallel runs;
if no address can be bound the test is skipped with the reason. The SDK polls a fixed 2 s after the first 202
, so the test keeps to one successful registration.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_dps_model import World, central_device

from simulator.device import export_devices
from simulator.dps.mqtt import MqttServerThread, standalone_server_context

pytestmark = pytest.mark.served

SDK_PORT = 8883
ADDRESSES = ("127.0.0.1", "127.0.0.2")
LOCK_FILE = Path(tempfile.gettempdir()) / "sphere-harness-mqtt-8883.lock"


@contextlib.contextmanager
def port_8883_lock(wait_s: float = 90.0) -> Iterator[None]:
    """An inter-process lock (flock) so that only one test at a time holds port 8883."""
    with LOCK_FILE.open("a") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.skip(f"another process held {LOCK_FILE} for {wait_s:.0f} s")
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture
def sdk_world() -> Iterator[tuple[World, MqttServerThread, str, str]]:
    """A served world on <loopback>:8883 whose DPS assigns the served host (``dps.assigned_hub_host = "served"``)."""
    world = World(frozen=False, assigned_hub_host="served")
    context, ca_pem = standalone_server_context(("127.0.0.1", "localhost", "127.0.0.2"))
    with port_8883_lock():
        errors = []
        for host in ADDRESSES:
            server = MqttServerThread(world.cloud, context, host=host, port=SDK_PORT)
            try:
                server.start()
            except OSError as exc:
                errors.append(f"{host}:{SDK_PORT}: {exc}")
                continue
            try:
                yield world, server, host, ca_pem
            finally:
                server.stop()
            return
        pytest.skip("the SDK needs port 8883 and it could not be bound: " + "; ".join(errors))


async def read_back_through_central_api(world: World, app: Any, device_id: str) -> tuple[Any, Any]:
    transport = httpx.ASGITransport(app=world.cloud.central_app)
    base = f"https://{app.subdomain}.azureiotcentral.com"
    headers = {"Authorization": app.issue_api_token()}
    params = {"api-version": "2022-07-31"}
    async with httpx.AsyncClient(transport=transport, base_url=base, headers=headers, params=params) as client:
        device = await client.get(f"/api/devices/{device_id}")
        telemetry = await client.get(f"/api/devices/{device_id}/telemetry/temperature")
    assert device.status_code == telemetry.status_code == 200, (device.text, telemetry.text)
    return device.json(), telemetry.json()


def test_the_unmodified_sdk_registers_connects_and_sends_telemetry_and_a_stranger_is_refused(
    sdk_world: tuple[World, MqttServerThread, str, str], tmp_path: Path
) -> None:
    from azure.iot.device import X509, IoTHubDeviceClient, Message, ProvisioningDeviceClient
    from azure.iot.device.exceptions import CredentialError

    logging.getLogger("azure.iot.device").setLevel(logging.ERROR)
    world, _server, host, ca_pem = sdk_world
    tenant, app = world.tenant("Contoso"), world.app("contoso")
    with world.cloud.lock:
        world.enroll(app, tenant)
    ours = world.device(tenant)
    stranger = world.device(world.tenant("Fabrikam"))
    chains = {d.id: d.certificate_chain() for d in (ours, stranger)}
    listing = json.loads(export_devices([ours.identity, stranger.identity], chains, tmp_path).read_text())
    files = {entry["id"]: X509(entry["cert_file"], entry["key_file"]) for entry in listing}

    # 1. DPS: register and be assigned.
    provisioning = ProvisioningDeviceClient.create_from_x509_certificate(
        provisioning_host=host,
        registration_id=ours.id,
        id_scope=app.id_scope,
        x509=files[ours.id],
        server_verification_cert=ca_pem,
    )
    result = provisioning.register()
    assert result.status == "assigned"
    state = result.registration_state
    assert (state.assigned_hub, state.device_id, state.sub_status) == (host, ours.id.lower(), "initialAssignment")
    assert str(result)  # the official sample prints it; every field must be present

    # 2. IoT hub: connect to the assigned hub and send telemetry.
    hub = IoTHubDeviceClient.create_from_x509_certificate(
        x509=files[ours.id], hostname=state.assigned_hub, device_id=state.device_id, server_verification_cert=ca_pem
    )
    try:
        hub.connect()
        message = Message(json.dumps({"temperature": 22.5}), content_encoding="utf-8", content_type="application/json")
        hub.send_message(message)
        hub.patch_twin_reported_properties({"firmwareVersion": "24.10"})
    finally:
        hub.shutdown()

    # 3. IoT Central shows the device provisioned, with that telemetry and property.
    with world.cloud.lock:
        device = central_device(app, ours.id)
        assert device is not None
        assert (device.provisioned, device.enabled) == (True, True)
        assert device.telemetry["temperature"].value == 22.5
        assert device.reported == {"firmwareVersion": "24.10"}

    # ... and so does IoT Central's devices API (GET /api/devices/{id}, /telemetry/{name}).
    device_body, telemetry = asyncio.run(read_back_through_central_api(world, app, ours.id.lower()))
    assert (device_body["id"], device_body["provisioned"], device_body["enabled"]) == (ours.id.lower(), True, True)
    assert telemetry["value"] == 22.5

    # 4. A device of another tenant: the SDK raises, and the device appears nowhere.
    refused = ProvisioningDeviceClient.create_from_x509_certificate(
        provisioning_host=host,
        registration_id=stranger.id,
        id_scope=app.id_scope,
        x509=files[stranger.id],
        server_verification_cert=ca_pem,
    )
    with pytest.raises(CredentialError):
        refused.register()
    with contextlib.suppress(Exception):
        refused.shutdown()
    with world.cloud.lock:
        assert central_device(app, stranger.id) is None
        assert all(r.device_id != stranger.id.lower() for r in world.dps.registrations.values())

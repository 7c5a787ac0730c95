"""Over real sockets, certificate dates are judged on the *world's* clock (``dps.tls_validity_clock``).

A simulator's clock travels — 25 hours for a device certificate to expire, two years for a tenant CA to rotate —
but OpenSSL compares dates with real time. With ``dps.tls_validity_clock = "world"`` (the default) the served
listeners (MQTT and DPS HTTPS) let the TLS handshake prove the chain and the key, and the DPS model checks the
dates at CONNECT / on every request against the world's clock. These tests put real sockets in the two situations
where the two clocks disagree:

* a certificate issued after the clock travelled is *not yet valid* in real time but valid in the world → admitted;
* a certificate that expired in the world is *still valid* in real time → refused, with DPS's 401002;

and show that ``"system"`` (OpenSSL's own real-time check) refuses the first one in the handshake, while ``"world"``
still refuses a chain to a CA nobody knows in the handshake.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_dps_model import World, central_device, enroll_certificate

from simulator import pki
from simulator.cloud import FakeCloud
from simulator.device import (
    DPS_API_VERSION,
    DeviceConnectionError,
    MqttDeviceSession,
    SimulatedDevice,
    private_key_pem,
)
from simulator.dps.mqtt import VERIFY_NO_CHECK_TIME, MqttServerThread, judge_dates_on, standalone_server_context
from simulator.entropy import Entropy
from simulator.server import ServedCloud, serve_cloud

pytestmark = pytest.mark.served
API = {"api-version": "2021-06-01"}


def real_now() -> datetime:
    return datetime.now(UTC)


# -- the MQTT listener ----------------------------------------------------------------------------------------


class Mqtt:
    """A world served over MQTT/TLS on a free port, with a tenant whose CA is verified in an enrollment group."""

    def __init__(self, world: World, server: MqttServerThread, ca_pem: str) -> None:
        self.world, self.server, self.ca_pem = world, server, ca_pem
        self.tenant = world.tenant()
        self.app = world.app()
        world.enroll(self.app, self.tenant)

    def provision(self, device: SimulatedDevice, **kwargs: Any) -> Any:
        return device.provision_over_mqtt(
            "127.0.0.1", self.server.port, self.app.id_scope, self.ca_pem, poll_interval=0, **kwargs
        )

    def travel(self, **delta: float) -> None:
        with self.world.cloud.lock:
            self.world.cloud.clock.advance(timedelta(**delta))


@contextmanager
def mqtt_world(**dps: Any) -> Iterator[Mqtt]:
    context, ca_pem = standalone_server_context()  # a context per server: the world's date setting lives on it
    world = World(frozen=False, assigned_hub_host="served", **dps)
    with MqttServerThread(world.cloud, context, host="127.0.0.1", port=0) as server:
        yield Mqtt(world, server, ca_pem)


@pytest.fixture
def mqtt() -> Iterator[Mqtt]:
    with mqtt_world() as served:
        yield served


def test_a_certificate_issued_after_clock_travel_is_admitted_though_not_yet_valid_in_real_time(mqtt: Mqtt) -> None:
    device = mqtt.world.device(mqtt.tenant)
    first = mqtt.provision(device)
    assert first.status == "assigned"

    mqtt.travel(hours=25)
    renewed = mqtt.provision(device)  # the expired certificate is renewed at the world's now

    leaf = device.certificate_chain(renew=False)[0]
    assert leaf.not_valid_before_utc > real_now() + timedelta(hours=24)  # OpenSSL alone would say "not yet valid"
    assert renewed.status == "assigned"
    assert renewed.device_id == first.device_id
    with device.open_hub_over_mqtt(mqtt.server.port, mqtt.ca_pem) as hub:  # the hub judges the same way
        hub.send_telemetry({"temperature": 20.5})
    assert central_device(mqtt.app, first.device_id).telemetry["temperature"].value == 20.5


def test_a_certificate_expired_in_the_world_is_refused_at_connect_though_valid_in_real_time(mqtt: Mqtt) -> None:
    device = mqtt.world.device(mqtt.tenant)
    assert mqtt.provision(device).status == "assigned"
    mqtt.travel(hours=25)
    stale = device.certificate_chain(renew=False)[0]
    assert stale.not_valid_after_utc > real_now()  # still valid for OpenSSL

    with pytest.raises(DeviceConnectionError) as refused:
        mqtt.provision(device, renew=False)
    assert refused.value.connack == 5  # the TLS handshake passed; DPS refused at CONNECT (``dps.auth_failure_mode``)
    with pytest.raises(DeviceConnectionError) as hub_refused:
        device.open_hub_over_mqtt(mqtt.server.port, mqtt.ca_pem, renew=False)
    assert hub_refused.value.connack == 5
    assert device.certificate_chain(renew=False)[0] is stale  # nothing renewed behind the device's back


def test_with_res401_the_expired_certificate_gets_dps_error_body() -> None:
    with mqtt_world(auth_failure_mode="res401") as mqtt:
        device = mqtt.world.device(mqtt.tenant)
        first = mqtt.provision(device)
        mqtt.travel(hours=24, seconds=1)
        result = mqtt.provision(device, renew=False)
        assert (result.status, result.error_code) == ("failed", 401002)
        assert "device certificate is not valid at" in (result.error_message or "")
        with mqtt.world.cloud.lock:
            assert [d.id for d in mqtt.app.devices.values()] == [first.device_id]  # nothing new, nothing lost


def test_a_certificate_not_yet_valid_in_the_world_is_refused_at_connect(mqtt: Mqtt, tmp_path: Path) -> None:
    """The model checks notBefore too: a certificate dated an hour into the world's future gets CONNACK 5."""
    device = mqtt.world.device(mqtt.tenant)
    cloud = mqtt.world.cloud
    with cloud.lock:
        now = cloud.clock.now()
        generation = mqtt.tenant.active_generation(now)
        early = pki.make_device_certificate(
            generation.issuer, device.id, device.private_key.public_key(), Entropy(3), now + timedelta(hours=1)
        )
    cert_file, key_file = tmp_path / "early.pem", tmp_path / "early.key"
    cert_file.write_bytes(pki.to_pem(early) + pki.to_pem(generation.certificate))
    key_file.write_bytes(private_key_pem(device.private_key))
    context = ssl.create_default_context(cadata=mqtt.ca_pem)
    context.load_cert_chain(cert_file, key_file)
    username = f"{mqtt.app.id_scope}/registrations/{device.id}/api-version={DPS_API_VERSION}"

    with pytest.raises(DeviceConnectionError) as refused:
        MqttDeviceSession.open("127.0.0.1", mqtt.server.port, device.id, username, context, timeout=5)
    assert refused.value.connack == 5


def test_system_clock_mode_lets_openssl_refuse_a_travelled_certificate() -> None:
    with mqtt_world(tls_validity_clock="system") as mqtt:
        assert not mqtt.server.server.context.verify_flags & VERIFY_NO_CHECK_TIME
        device = mqtt.world.device(mqtt.tenant)
        mqtt.travel(hours=25)
        with pytest.raises(DeviceConnectionError) as refused:
            mqtt.provision(device)
        assert refused.value.connack is None  # refused in the handshake, not at CONNECT
        assert "TLS handshake failed" in str(refused.value)


def test_world_mode_still_refuses_a_chain_to_an_unknown_ca_in_the_handshake(mqtt: Mqtt, tmp_path: Path) -> None:
    """Skipping dates does not skip the chain: a forged CA with the tenant's name is unknown to the listener."""
    device = mqtt.world.device(mqtt.tenant)
    cloud = mqtt.world.cloud
    with cloud.lock:
        now = cloud.clock.now()
        tenant_ca = mqtt.tenant.active_generation(now).certificate
    forged = pki.make_self_signed_ca(tenant_ca.subject, Entropy(5), now)
    leaf = pki.make_device_certificate(forged, device.id, device.private_key.public_key(), Entropy(6), now)
    refused = connect_presenting(mqtt, device, [leaf, forged.certificate], tmp_path)
    assert refused.connack is None


def connect_presenting(mqtt: Mqtt, device: SimulatedDevice, chain: list[Any], folder: Path) -> DeviceConnectionError:
    """Connect to DPS over MQTT as ``device`` presenting ``chain`` (leaf first) with the device's key, over TLS 1.2
    (so that a refusal happens inside the handshake); return the error the connection must end in."""
    cert_file, key_file = folder / "presented.pem", folder / "presented.key"
    cert_file.write_bytes(b"".join(pki.to_pem(cert) for cert in chain))
    key_file.write_bytes(private_key_pem(device.private_key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2  # refusal inside the handshake
    context.load_verify_locations(cadata=mqtt.ca_pem)
    context.load_cert_chain(cert_file, key_file)
    username = f"{mqtt.app.id_scope}/registrations/{device.id}/api-version={DPS_API_VERSION}"
    with pytest.raises(DeviceConnectionError) as refused:
        MqttDeviceSession.open("127.0.0.1", mqtt.server.port, device.id, username, context, timeout=5)
    return refused.value


def test_judge_dates_on_sets_and_clears_only_the_no_check_time_flag() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    before = int(context.verify_flags)
    judge_dates_on(context, "world")
    assert int(context.verify_flags) == before | VERIFY_NO_CHECK_TIME
    judge_dates_on(context, "system")
    assert int(context.verify_flags) == before
    with pytest.raises(ValueError, match="tls_validity_clock"):
        judge_dates_on(context, "wall")
    assert int(context.verify_flags) == before


# -- the DPS HTTPS listener -----------------------------------------------------------------------------------


@contextmanager
def https_world(tmp_path: Path, **dps: Any) -> Iterator[ServedCloud]:
    cloud = FakeCloud(seed=41, settings={"dps": dps})
    with serve_cloud(cloud, mqtt_port=None, workdir=tmp_path) as world:
        with cloud.lock:
            tenant = cloud.sphere.get_tenant(world.endpoints["sphere"]["tenant_id"])
            tenant_ca = tenant.active_generation().certificate
            enroll_certificate(cloud, cloud.central.default_app, tenant_ca, tenant=tenant)
        yield world


def travel(world: ServedCloud, hours: float) -> None:
    with world.cloud.lock:
        world.cloud.clock.advance(timedelta(hours=hours))


def claimed_device(world: ServedCloud, folder: Path) -> tuple[SimulatedDevice, tuple[str, str]]:
    """A claimed device whose certificate is issued at the world's now, written to files for httpx."""
    cloud = world.cloud
    with cloud.lock:
        identity = cloud.sphere.create_device()
        cloud.sphere.claim_device(world.endpoints["sphere"]["tenant_id"], identity.id)
    device = SimulatedDevice(cloud, identity)
    return device, write_chain(device, folder)


def write_chain(device: SimulatedDevice, folder: Path) -> tuple[str, str]:
    cert_file, key_file = folder / f"{device.id[:8]}.pem", folder / f"{device.id[:8]}.key"
    cert_file.write_bytes(b"".join(pki.to_pem(c) for c in device.presented_chain(renew=False)))
    key_file.write_bytes(private_key_pem(device.private_key))
    return str(cert_file), str(key_file)


def register(world: ServedCloud, device_id: str, cert: tuple[str, str]) -> tuple[int, dict[str, Any]]:
    dps = world.endpoints["dps"]
    trust = ssl.create_default_context(cafile=world.ca_bundle)
    trust.load_cert_chain(*cert)
    with httpx.Client(verify=trust, timeout=10) as http:
        url = f"{dps['https_url']}/{dps['id_scope']}/registrations/{device_id}/register"
        response = http.put(url, params=API, json={"registrationId": device_id})
        if response.status_code == 202:
            operation = response.json()["operationId"]
            status_url = f"{dps['https_url']}/{dps['id_scope']}/registrations/{device_id}/operations/{operation}"
            response = http.get(status_url, params=API)
        return response.status_code, response.json()


def test_the_served_dps_https_api_judges_certificate_dates_on_the_world_clock(tmp_path: Path) -> None:
    with https_world(tmp_path) as world:
        travel(world, 25)
        device, cert = claimed_device(world, tmp_path)
        assert device.certificate_chain(renew=False)[0].not_valid_before_utc > real_now() + timedelta(hours=24)
        status, body = register(world, device.id, cert)
        assert status == 200, body
        assert body["status"] == "assigned"

        travel(world, 25)  # the same files, now expired in the world (and still valid in real time)
        status, body = register(world, device.id, cert)
        assert status == 401, body
        assert body["errorCode"] == 401002
        assert "device certificate is not valid at" in body["message"]

        device.certificate_chain()  # the device attests again: a new certificate at the world's now
        status, body = register(world, device.id, write_chain(device, tmp_path))
        assert status == 200, body
        assert body["registrationState"]["deviceId"] == device.id


def test_the_served_dps_https_api_in_system_mode_fails_the_handshake(tmp_path: Path) -> None:
    with https_world(tmp_path, tls_validity_clock="system") as world:
        travel(world, 25)
        device, cert = claimed_device(world, tmp_path)
        with pytest.raises(httpx.TransportError):
            register(world, device.id, cert)

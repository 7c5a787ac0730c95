"""DPS and the IoT hub over real sockets: MQTT 3.1.1 over TLS with client certificates, on a free loopback port.

The listener runs in its own thread (:class:`MqttServerThread`) with a throw-away server certificate; devices use
the small blocking client in :mod:`simulator.device`. The real Azure SDK is exercised in ``test_dps_sdk.py``.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from test_dps_model import World, central_device, enroll_certificate, enrollment_book, set_group_enabled

from simulator import pki
from simulator.device import DeviceConnectionError, MqttDeviceSession, SimulatedDevice
from simulator.dps import mqtt_codec as codec
from simulator.dps.mqtt import MqttServerThread, parse_username, standalone_server_context

pytestmark = pytest.mark.served


@pytest.fixture(scope="module")
def server_tls() -> tuple[ssl.SSLContext, str]:
    return standalone_server_context()


class Served:
    def __init__(self, world: World, server: MqttServerThread, ca_pem: str) -> None:
        self.world, self.server, self.ca_pem = world, server, ca_pem
        self.tenant = world.tenant()
        self.app = world.app()

    @property
    def port(self) -> int:
        return self.server.port

    def provision(self, device: SimulatedDevice, **kwargs: Any) -> Any:
        return device.provision_over_mqtt(
            "127.0.0.1", self.port, self.app.id_scope, self.ca_pem, poll_interval=0.01, **kwargs
        )


def serve(server_tls: tuple[ssl.SSLContext, str], **dps: Any) -> Iterator[Served]:
    context, ca_pem = server_tls
    world = World(frozen=False, assigned_hub_host="served", **dps)
    with MqttServerThread(world.cloud, context, host="127.0.0.1", port=0) as server:
        yield Served(world, server, ca_pem)


@pytest.fixture
def served(server_tls: tuple[ssl.SSLContext, str]) -> Iterator[Served]:
    yield from serve(server_tls)


def test_a_claimed_device_auto_enrolls_then_sends_telemetry_and_reports_properties(served: Served) -> None:
    served.world.enroll(served.app, served.tenant)
    device = served.world.device(served.tenant)

    result = served.provision(device, model_id="dtmi:contoso:thermometer;1")
    assert result.status == "assigned"
    assert result.assigned_hub == "127.0.0.1"  # served: a host the SDK can reach and verify
    assert result.device_id == device.id.lower()
    assert result.registration_state["substatus"] == "initialAssignment"

    with device.open_hub_over_mqtt(served.port, served.ca_pem) as hub:
        hub.send_telemetry({"temperature": 21.5}, {"source": "e2e test"})
        status, version = hub.report_properties({"firmware": "1.2.3"})
        assert (status, version) == (204, 2)
        status, twin = hub.get_twin()
        assert status == 200
        assert twin["reported"] == {"firmware": "1.2.3", "$version": 2}

    recorded = central_device(served.app, device.id.lower())
    assert recorded.provisioned and recorded.enabled
    assert recorded.telemetry["temperature"].value == 21.5
    assert recorded.reported == {"firmware": "1.2.3"}


def test_a_device_of_another_tenant_passes_tls_but_gets_connack_5_and_appears_nowhere(served: Served) -> None:
    served.world.enroll(served.app, served.tenant)
    stranger = served.world.device(served.world.tenant("Fabrikam"))
    with pytest.raises(DeviceConnectionError) as refused:
        served.provision(stranger)
    assert refused.value.connack == codec.CONNACK_NOT_AUTHORIZED  # dps.auth_failure_mode "connack"
    assert served.world.dps.registrations == {}
    assert central_device(served.app, stranger.id) is None


def test_before_verification_refused_at_connect_after_verification_assigned(served: Served) -> None:
    served.world.enroll(served.app, served.tenant, verify=False)
    device = served.world.device(served.tenant)
    with pytest.raises(DeviceConnectionError) as refused:
        served.provision(device)
    assert refused.value.connack == 5
    from test_dps_model import verify_entry

    with served.world.cloud.lock:
        verify_entry(served.world.cloud, served.app, served.tenant)
    assert served.provision(device).status == "assigned"


def test_res401_mode_accepts_the_connection_and_answers_the_register_with_401(
    server_tls: tuple[ssl.SSLContext, str],
) -> None:
    for served in serve(server_tls, auth_failure_mode="res401"):
        served.world.enroll(served.app, served.tenant)
        stranger = served.world.device(served.world.tenant("Fabrikam"))
        result = served.provision(stranger)
        assert (result.status, result.error_code) == ("failed", 401002)
        assert served.world.dps.operations == {}


def test_a_disabled_group_blocks_over_mqtt_too(served: Served) -> None:
    served.world.enroll(served.app, served.tenant)
    with served.world.cloud.lock:
        set_group_enabled(served.app, "sphere", False)
    with pytest.raises(DeviceConnectionError):
        served.provision(served.world.device(served.tenant))


def test_throttled_registrations_get_429_and_are_retried_after_retry_after(
    server_tls: tuple[ssl.SSLContext, str],
) -> None:
    for served in serve(server_tls, registrations_per_second=0.01, throttle_retry_after_s=1):
        served.world.enroll(served.app, served.tenant)  # a budget of one registration per 100 s
        first, second = served.world.device(served.tenant), served.world.device(served.tenant)
        assert served.provision(first).status == "assigned"
        throttled = served.provision(second, max_attempts=1)
        assert throttled.status == "throttled"
        assert throttled.retry_after == 1
        served.world.cloud.clock.advance(seconds=100)
        assert served.provision(second).status == "assigned"


def test_the_hub_admits_only_devices_dps_assigned_to_it(served: Served) -> None:
    served.world.enroll(served.app, served.tenant)
    device = served.world.device(served.tenant)
    with pytest.raises(DeviceConnectionError) as refused:
        device.open_hub_over_mqtt(served.port, served.ca_pem, hub_host="127.0.0.1")
    assert refused.value.connack == 5  # not assigned yet
    assert served.provision(device).status == "assigned"
    with pytest.raises(DeviceConnectionError):
        device.open_hub_over_mqtt(served.port, served.ca_pem, hub_host="other-hub.example", connect_host="127.0.0.1")
    other = served.world.device(served.tenant)
    context = other.client_context(served.ca_pem)
    username = f"127.0.0.1/{device.device_id}/?api-version=2021-04-12"
    with pytest.raises(DeviceConnectionError):  # another device's certificate under this device's ID
        MqttDeviceSession.open("127.0.0.1", served.port, device.device_id, username, context)
    hub = device.open_hub_over_mqtt(served.port, served.ca_pem)
    with hub, pytest.raises(DeviceConnectionError):  # telemetry as another device: the hub hangs up
        hub.publish(f"devices/{other.id}/messages/events/", b"{}")


def test_a_ca_uploaded_while_the_server_runs_is_trusted_by_the_next_handshake(served: Served) -> None:
    """load_verify_locations(cadata=) on the live SSLContext affects new handshakes (trust, WorldTrust)."""
    world = served.world
    entropy, now = world.cloud.entropy.fork("own-ca"), world.cloud.clock.now()
    own_ca = pki.make_self_signed_ca(pki.cn_name("Contoso Device CA"), entropy, now - timedelta(minutes=1))
    identity = world.cloud.sphere.create_device()
    leaf = pki.make_device_certificate(own_ca, identity.id, identity.private_key.public_key(), entropy, now)
    device = SimulatedDevice(world.cloud, identity)
    device._chain = [leaf, own_ca.certificate]  # a non-Sphere device: its chain comes from its own CA

    with pytest.raises(DeviceConnectionError, match="TLS"):
        served.provision(device)  # nobody knows this CA: the handshake fails
    with world.cloud.lock:
        enroll_certificate(world.cloud, served.app, own_ca.certificate, verify=False, group_id="own")
    with pytest.raises(DeviceConnectionError) as refused:
        served.provision(device)  # known but unverified: TLS passes, CONNECT refused
    assert refused.value.connack == 5
    with world.cloud.lock:
        book = enrollment_book(served.app)
        code = book.generate_code("own", "primary")
        proof = pki.make_proof_certificate(own_ca, code, entropy, world.cloud.clock.now())
        book.verify("own", "primary", {"certificate": pki.to_b64(proof)})
    assert served.provision(device).status == "assigned"


# -- protocol behaviour ---------------------------------------------------------------------------------------


def raw_session(served: Served, device: SimulatedDevice) -> MqttDeviceSession:
    username = f"{served.app.id_scope}/registrations/{device.registration_id}/api-version=2019-03-31"
    return MqttDeviceSession.open(
        "127.0.0.1", served.port, device.registration_id, username, device.client_context(served.ca_pem)
    )


def test_suback_grants_at_most_qos_1_and_pings_are_answered(served: Served) -> None:
    served.world.enroll(served.app, served.tenant)
    with raw_session(served, served.world.device(served.tenant)) as session:
        assert session.subscribe("$dps/registrations/res/#", qos=2) == 1
        session.send(codec.Pingreq())
        assert isinstance(session.receive(), codec.Pingresp)
        session.send(codec.Unsubscribe(77, ("$dps/registrations/res/#",)))
        assert session.receive() == codec.Unsuback(77)


def test_a_malformed_packet_or_unknown_topic_ends_the_connection_without_harming_the_server(served: Served) -> None:
    served.world.enroll(served.app, served.tenant)
    device = served.world.device(served.tenant)
    with raw_session(served, device) as session:
        session.sock.sendall(b"\x36\x03\x00\x01a")  # QoS 3
        with pytest.raises(DeviceConnectionError):
            session.receive()
    with raw_session(served, device) as session, pytest.raises(DeviceConnectionError):
        session.publish("$dps/registrations/DELETE/whatever/?$rid=1", b"{}")
    assert served.provision(device).status == "assigned"  # the listener is still fine


def test_replies_reach_only_a_subscribed_client(served: Served) -> None:
    served.world.enroll(served.app, served.tenant)
    device = served.world.device(served.tenant)
    with raw_session(served, device) as session:
        session.timeout = 0.5
        body = f'{{"registrationId": "{device.registration_id}", "payload": null}}'.encode()
        with pytest.raises(DeviceConnectionError, match="timed out"):
            session.request("$dps/registrations/PUT/iotdps-register/?$rid={rid}", body)


def test_a_non_mqtt_311_client_gets_connack_1(served: Served) -> None:
    served.world.enroll(served.app, served.tenant)
    device = served.world.device(served.tenant)
    context = device.client_context(served.ca_pem)
    raw = socket.create_connection(("127.0.0.1", served.port), timeout=5)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(codec.encode(codec.Connect(client_id="x", username="u", protocol_level=5)))
        assert codec.decode(tls.recv(4)) == codec.Connack(return_code=1)


@pytest.mark.parametrize(
    ("username", "kind"),
    [
        ("0ne00FAKE01/registrations/dev-01/api-version=2019-03-31&ClientVersion=azure-iot-device-py", "dps"),
        ("localhost/dev-01/?api-version=2019-10-01&DeviceClientType=azure-iot-device-iothub-py%2F2.14.0", "hub"),
        ("iotc-1.azure-devices.net/registrations/?api-version=2021-04-12", "hub"),
        ("0ne00FAKE01/registrations/dev-01/", None),
        ("localhost/dev-01/mod/?api-version=1", None),
        ("localhost/dev-01/?api-version=", None),
        (None, None),
    ],
)  # fmt: skip
def test_usernames_tell_dps_from_the_hub(username: str | None, kind: str | None) -> None:
    parsed = parse_username(username)
    assert (type(parsed).__name__.removesuffix("Username").lower() if parsed else None) == kind


def test_fault_rules_refuse_the_connect_or_fail_the_registration(served: Served) -> None:
    from simulator.faults import FaultInjector

    world = served.world
    world.cloud.faults = FaultInjector(world.cloud.entropy.fork("faults"))
    world.enroll(served.app, served.tenant)
    device = world.device(served.tenant)
    world.cloud.faults.add(
        {"service": "dps", "operation": "connect", "nth": 1, "effect": {"kind": "connack", "connack_code": 3}}
    )
    with pytest.raises(DeviceConnectionError) as refused:
        served.provision(device)
    assert refused.value.connack == 3
    world.cloud.faults.add({"service": "dps", "operation": "register", "nth": 1, "effect": {"kind": "dps_failed"}})
    failed = served.provision(device)
    assert (failed.status, failed.error_code) == ("failed", 400209)
    assert central_device(served.app, device.id) is None
    assert served.provision(device).status == "assigned"  # both rules have fired once; the third try is clean


def test_device_listeners_issue_no_session_ticket(served: Served) -> None:
    """A registering device never resumes, so the listener spends nothing on tickets (prepare_server_context)."""
    served.world.enroll(served.app, served.tenant)
    device = served.world.device(served.tenant)
    context = device.client_context(served.ca_pem)
    with (
        socket.create_connection(("127.0.0.1", served.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() == "TLSv1.2"
        assert tls.session is not None and not tls.session.has_ticket


def test_stopping_mid_handshake_ends_every_connection_task(
    server_tls: tuple[ssl.SSLContext, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Connections that are still in their TLS handshake (or never start one) when the listener stops are cancelled
    with it: no task outlives the loop (asyncio would log "Task was destroyed but it is pending!" when it is
    collected — and a finalizer running inside the compiler is what crashed a CI run with a SystemError)."""
    import gc
    import logging
    import time

    context, _ = server_tls
    world = World(frozen=False)
    caplog.set_level(logging.ERROR, logger="asyncio")
    with MqttServerThread(world.cloud, context, host="127.0.0.1", port=0) as server:
        silent = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(3)]
        half = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        half.sendall(b"\x16\x03\x01\x00\x05")  # the first bytes of a ClientHello, then nothing
        assert server.server is not None
        deadline = time.monotonic() + 5
        while len(server.server._tasks) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(server.server._tasks) == 4  # tracked from the moment each connection arrived
        mqtt_server = server.server
    assert not mqtt_server._tasks
    for sock in [*silent, half]:
        assert sock.recv(1) == b""  # the server closed it
        sock.close()
    gc.collect()
    assert not [r for r in caplog.records if "destroyed but it is pending" in r.getMessage()]

"""Every fault effect on the device path: DPS (and the hub) over MQTT 3.1.1/TLS on real sockets, and in-process.

A device of a trusted tenant connects to the served world's MQTT listener exactly as the Azure device SDK does:
CONNECT with its certificate in the TLS handshake, SUBSCRIBE ``$dps/registrations/res/#``,
PUBLISH ``$dps/registrations/PUT/iotdps-register/?$rid=…``, then poll. Fault rules bend each step:

=======================  ======================================================================================
``connack``              CONNACK with a non-zero return code (5 "not authorised" by default); no session
``dps_failed``           the registration is accepted (202 ``assigning``) and its operation ends ``failed`` with
                         the rule's six-digit ``errorCode`` (400209 by default); nothing is enrolled
``status``               the reply arrives on ``$dps/registrations/res/{status}/?$rid=…&retry-after=N``
``latency``              the reply comes no sooner than the delay
``drop``                 the server closes the connection (at CONNECT: no CONNACK at all)
=======================  ======================================================================================

Cleared rules stop firing. The same rules are also tried on :class:`~simulator.device.SimulatedDevice`'s in-process
path (:meth:`~simulator.device.SimulatedDevice.provision`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from test_dps_model import central_device, enroll_certificate

from simulator.cloud import FakeCloud
from simulator.device import (
    DPS_API_VERSION,
    POLL_TOPIC,
    REGISTER_TOPIC,
    DeviceConnectionError,
    MqttDeviceSession,
    SimulatedDevice,
)
from simulator.server import ServedCloud, serve_cloud

pytestmark = pytest.mark.served
LATENCY_S = 0.2


@dataclass
class MqttWorld:
    """A served world (HTTPS off, MQTT on a free port) whose tenant CA is verified in the default app."""

    served: ServedCloud
    ca_pem: str

    @property
    def cloud(self) -> FakeCloud:
        return self.served.cloud

    @property
    def port(self) -> int:
        return self.served.endpoints["dps"]["mqtt_port"]

    @property
    def id_scope(self) -> str:
        return self.served.endpoints["dps"]["id_scope"]

    def device(self) -> SimulatedDevice:
        """A new device claimed into the trusted tenant."""
        with self.cloud.lock:
            identity = self.cloud.sphere.create_device()
            self.cloud.sphere.claim_device(self.served.endpoints["sphere"]["tenant_id"], identity.id)
        return SimulatedDevice(self.cloud, identity)

    def provision(self, device: SimulatedDevice, **kwargs: Any) -> Any:
        return device.provision_over_mqtt(
            "127.0.0.1", self.port, self.id_scope, self.ca_pem, poll_interval=0.01, timeout=5, **kwargs
        )

    def session(self, device: SimulatedDevice) -> MqttDeviceSession:
        """A DPS session subscribed to the reply topics, as the SDK opens it."""
        registration_id = device.registration_id
        username = f"{self.id_scope}/registrations/{registration_id}/api-version={DPS_API_VERSION}"
        context = device.client_context(self.ca_pem)
        session = MqttDeviceSession.open("127.0.0.1", self.port, registration_id, username, context, timeout=5)
        session.subscribe("$dps/registrations/res/#")
        return session

    def enrolled(self, device: SimulatedDevice) -> bool:
        with self.cloud.lock:
            return central_device(self.cloud.central.default_app, device.id) is not None


@pytest.fixture(scope="module")
def mqtt_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MqttWorld]:
    cloud = FakeCloud(seed=67, settings={"dps": {"assigned_hub_host": "served"}})
    with serve_cloud(cloud, mqtt_port=0, workdir=tmp_path_factory.mktemp("mqtt-faults")) as served:
        with cloud.lock:
            tenant = cloud.sphere.get_tenant(served.endpoints["sphere"]["tenant_id"])
            now = cloud.clock.now()
            tenant_ca = next(g for g in tenant.generations if g.status(now) == "Active").certificate
            enroll_certificate(cloud, cloud.central.default_app, tenant_ca, tenant=tenant)
        with open(served.ca_bundle) as bundle:
            yield MqttWorld(served, bundle.read())


@pytest.fixture
def world(mqtt_world: MqttWorld) -> Iterator[MqttWorld]:
    try:
        yield mqtt_world
    finally:
        mqtt_world.cloud.faults.clear()


def _register(world: MqttWorld, session: MqttDeviceSession, device: SimulatedDevice) -> tuple[int, dict, Any]:
    body = json.dumps({"payload": None, "registrationId": device.registration_id}).encode()
    return session.request(REGISTER_TOPIC, body)


# -- CONNACK refusal ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("effect", "code"), [({}, 5), ({"connack_code": 3}, 3)], ids=["default-5", "3"])
def test_connack_refusal_is_the_rules_return_code(world: MqttWorld, effect: dict[str, Any], code: int) -> None:
    device = world.device()
    rule = world.cloud.faults.add(
        {"service": "dps", "operation": "connect", "count": 1, "effect": {"kind": "connack", **effect}}
    )
    with pytest.raises(DeviceConnectionError) as refused:
        world.provision(device)
    assert refused.value.connack == code
    assert rule.fired == 1 and not world.enrolled(device)
    assert world.provision(device).status == "assigned"  # count: 1 — the next connection is accepted


def test_a_hub_connack_refusal_keeps_an_assigned_device_off_the_hub(world: MqttWorld) -> None:
    device = world.device()
    assert world.provision(device).status == "assigned"
    world.cloud.faults.add({"service": "hub", "operation": "connect", "count": 1, "effect": {"kind": "connack"}})
    with pytest.raises(DeviceConnectionError) as refused:
        device.open_hub_over_mqtt(world.port, world.ca_pem, connect_host="127.0.0.1", timeout=5)
    assert refused.value.connack == 5
    with device.open_hub_over_mqtt(world.port, world.ca_pem, connect_host="127.0.0.1", timeout=5) as hub:
        status, _twin = hub.get_twin()
    assert status == 200


# -- DPS failed ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("effect", "code"), [({}, 400209), ({"dps_error_code": 401002}, 401002)])
def test_dps_failed_ends_the_registration_failed_and_enrolls_nothing(
    world: MqttWorld, effect: dict[str, Any], code: int
) -> None:
    device = world.device()
    world.cloud.faults.add(
        {"service": "dps", "operation": "register", "count": 1, "effect": {"kind": "dps_failed", **effect}}
    )
    with world.session(device) as session:
        status, _props, accepted = _register(world, session, device)
        assert (status, accepted["status"]) == (202, "assigning")  # DPS accepts, then the operation fails
        status, _, finished = session.request(POLL_TOPIC + accepted["operationId"], b" ")
    assert status == 200
    assert finished["status"] == "failed"
    assert finished["registrationState"]["status"] == "failed"
    assert finished["registrationState"]["errorCode"] == code
    assert not world.enrolled(device)
    with world.cloud.lock:
        assert (world.id_scope.lower(), device.registration_id.lower()) not in world.cloud.dps.registrations
    assert world.provision(device).status == "assigned"


# -- status with retry-after -------------------------------------------------------------------------------------


def test_a_429_on_register_arrives_on_the_res_429_topic_with_retry_after(world: MqttWorld) -> None:
    device = world.device()
    rule = world.cloud.faults.add(
        {"service": "dps", "operation": "register", "count": 1, "effect": {"status": 429, "retry_after": 4}}
    )
    with world.session(device) as session:
        status, props, body = _register(world, session, device)
        assert status == 429
        assert props["retry-after"] == "4"  # $dps/registrations/res/429/?$rid=1&retry-after=4
        assert body["errorCode"] == 429000 and body["message"] == "Injected fault"
        assert {"errorCode", "trackingId", "message"} <= set(body)
        status, _, accepted = _register(world, session, device)  # the SDK retries the same request
        assert (status, accepted["status"]) == (202, "assigning")
    assert rule.fired == 1


def test_the_device_retries_a_throttled_register_after_retry_after(world: MqttWorld) -> None:
    device = world.device()
    rule = world.cloud.faults.add(
        {"service": "dps", "operation": "register", "count": 2, "effect": {"status": 429, "retry_after": 0}}
    )
    assert world.provision(device).status == "assigned"
    assert (rule.calls, rule.fired) == (3, 2)


def test_an_injected_mqtt_error_has_the_shape_of_a_real_dps_error(world: MqttWorld) -> None:
    device = world.device()
    world.cloud.faults.add(
        {"service": "dps", "operation": "register", "count": 1, "effect": {"status": 429, "code": "429001"}}
    )
    with world.session(device) as session:
        _, _, injected = _register(world, session, device)
        status, _, real = session.request(REGISTER_TOPIC, b"not json")  # the service's own refusal
    assert status == 400
    assert set(injected) == set(real)
    assert injected["errorCode"] == 429001


# -- latency and drop ---------------------------------------------------------------------------------------------


def test_latency_delays_the_register_reply(world: MqttWorld) -> None:
    device = world.device()
    world.cloud.faults.add(
        {"service": "dps", "operation": "register", "count": 1, "effect": {"kind": "latency", "latency_s": LATENCY_S}}
    )
    with world.session(device) as session:
        started = time.perf_counter()
        status, _, _ = _register(world, session, device)
        elapsed = time.perf_counter() - started
    assert status == 202
    assert elapsed >= LATENCY_S


@pytest.mark.parametrize("operation", ["connect", "register"])
def test_a_drop_closes_the_connection(world: MqttWorld, operation: str) -> None:
    device = world.device()
    rule = world.cloud.faults.add({"service": "dps", "operation": operation, "count": 1, "effect": {"kind": "drop"}})
    with pytest.raises(DeviceConnectionError) as dropped, world.session(device) as session:
        _register(world, session, device)
    assert dropped.value.connack is None  # not a refusal: the connection went away
    assert "closed" in str(dropped.value) or "no CONNACK" in str(dropped.value)
    assert rule.fired == 1 and not world.enrolled(device)
    assert world.provision(device).status == "assigned"


# -- lifecycle -----------------------------------------------------------------------------------------------------


def test_cleared_mqtt_rules_stop_firing(world: MqttWorld) -> None:
    device = world.device()
    faults = world.cloud.faults
    refusal = faults.add({"service": "dps", "operation": "connect", "effect": {"kind": "connack"}})
    for _ in range(2):  # unbounded: every connection is refused
        with pytest.raises(DeviceConnectionError):
            world.provision(device)
    assert faults.clear(refusal.id) == 1
    faults.add({"service": "dps", "operation": "register", "effect": {"kind": "dps_failed"}})
    faults.add({"service": "dps", "operation": "connect", "nth": 2, "effect": {"kind": "connack"}})
    assert world.provision(device).status == "failed"
    assert faults.clear() == 2
    assert world.provision(device).status == "assigned"
    assert refusal.calls == 2  # a cleared rule is not even counted any more


# -- in-process: SimulatedDevice.provision ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effect", "expected"),
    [({"kind": "dps_failed"}, ("failed", 400209)), ({"status": 429, "retry_after": 2}, ("throttled", 429000))],
    ids=["dps_failed", "status-429"],
)
def test_the_in_process_device_path_sees_dps_faults(
    world: MqttWorld, effect: dict[str, Any], expected: tuple[str, int]
) -> None:
    device = world.device()
    world.cloud.faults.add({"service": "dps", "operation": "register", "count": 1, "effect": effect})
    result = device.provision(world.id_scope)
    assert (result.status, result.error_code) == expected
    assert not world.enrolled(device)

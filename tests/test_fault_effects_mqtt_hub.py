"""The fault effects simulator/dps/mqtt.py applies beyond a DPS register: at CONNECT, on polls and on the IoT hub.

MQTT 3.1.1 has no HTTP status at CONNECT and none on a PUBACK, so a ``status`` rule there becomes what the device SDK
can actually see: a CONNACK refusal (5 for 401/403, else 3 "server unavailable") at CONNECT, a closed connection on
telemetry; on the twin topics it is the ``$iothub/twin/res/{status}`` reply. ``latency`` delays only the faulted
connection: the CONNACK, the reply, or the telemetry PUBACK. Over real sockets against a served world.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import test_fault_effects_mqtt as mqtt_faults
from test_fault_effects_mqtt import LATENCY_S, MqttWorld, _register

from simulator.device import POLL_TOPIC, DeviceConnectionError, MqttDeviceSession, SimulatedDevice

pytestmark = pytest.mark.served

#: the served world of test_fault_effects_mqtt.py (MQTT on a free port, the tenant CA verified), one per module
mqtt_world = mqtt_faults.mqtt_world


@pytest.fixture
def world(mqtt_world: MqttWorld) -> Iterator[MqttWorld]:
    try:
        yield mqtt_world
    finally:
        mqtt_world.cloud.faults.clear()


def _hub(world: MqttWorld, device: SimulatedDevice) -> MqttDeviceSession:
    return device.open_hub_over_mqtt(world.port, world.ca_pem, connect_host="127.0.0.1", timeout=5)


def _assigned(world: MqttWorld) -> SimulatedDevice:
    device = world.device()
    assert world.provision(device).status == "assigned"
    return device


# -- CONNECT ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "connack"), [(401, 5), (403, 5), (429, 3), (503, 3)])
@pytest.mark.parametrize("service", ["dps", "hub"])
def test_a_status_at_connect_is_a_connack_refusal(world: MqttWorld, service: str, status: int, connack: int) -> None:
    device = _assigned(world) if service == "hub" else world.device()
    rule = world.cloud.faults.add(
        {"service": service, "operation": "connect", "count": 1, "effect": {"status": status}}
    )
    with pytest.raises(DeviceConnectionError) as refused:
        world.session(device) if service == "dps" else _hub(world, device)
    assert refused.value.connack == connack
    assert rule.fired == 1
    if service == "dps":
        assert not world.enrolled(device)
        assert world.provision(device).status == "assigned"  # count: 1 — the next connection is accepted
    else:
        with _hub(world, device) as hub:
            assert hub.get_twin()[0] == 200


@pytest.mark.parametrize("service", ["dps", "hub"])
def test_latency_delays_the_connack(world: MqttWorld, service: str) -> None:
    device = _assigned(world) if service == "hub" else world.device()
    rule = {
        "service": service,
        "operation": "connect",
        "count": 1,
        "effect": {"kind": "latency", "latency_s": LATENCY_S},
    }
    world.cloud.faults.add(rule)
    started = time.perf_counter()
    session = world.session(device) if service == "dps" else _hub(world, device)
    elapsed = time.perf_counter() - started
    with session:
        assert elapsed >= LATENCY_S
        if service == "dps":
            assert _register(world, session, device)[0] == 202  # then served normally


# -- DPS polls ----------------------------------------------------------------------------------------------------


def test_a_status_on_a_poll_has_the_dps_error_shape_and_the_poll_can_be_repeated(world: MqttWorld) -> None:
    device = world.device()
    world.cloud.clock.advance(hours=3)  # far enough from real time to tell the clocks apart; certificates live 24 h
    with world.session(device) as session:
        status, _, accepted = _register(world, session, device)
        assert status == 202
        poll = POLL_TOPIC + accepted["operationId"]
        world.cloud.faults.add(
            {
                "service": "dps",
                "operation": "operation_status",
                "count": 1,
                "effect": {"status": 503, "retry_after": 2, "message": "busy"},
            }
        )
        status, props, body = session.request(poll, b" ")
        assert (status, props["retry-after"]) == (503, "2")
        assert body["errorCode"] == 503000 and body["message"] == "busy"
        stamp = datetime.fromisoformat(body["timestampUtc"][:26] + "+00:00")
        with world.cloud.lock:
            assert abs(stamp - world.cloud.clock.now()) < timedelta(minutes=1)  # the world's clock (travelled)
        assert isinstance(body["trackingId"], str) and body["trackingId"]
        status, _, finished = session.request(poll, b" ")
    assert (status, finished["status"]) == (200, "assigned")


def test_a_non_numeric_rule_code_falls_back_to_status_times_1000(world: MqttWorld) -> None:
    device = world.device()
    world.cloud.faults.add(
        {"service": "dps", "operation": "register", "count": 1, "effect": {"status": 429, "code": "TooManyRequests"}}
    )
    with world.session(device) as session:
        status, _, body = _register(world, session, device)
    assert (status, body["errorCode"]) == (429, 429000)


# -- the hub ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["twin_get", "twin_patch"])
def test_a_status_on_a_twin_request_is_the_twin_error_reply(world: MqttWorld, operation: str) -> None:
    device = _assigned(world)
    rule = world.cloud.faults.add(
        {"service": "hub", "operation": operation, "count": 1, "effect": {"status": 429, "message": "slow down"}}
    )
    with _hub(world, device) as hub:
        if operation == "twin_get":
            assert hub.get_twin() == (429, {"message": "slow down"})
            status, twin = hub.get_twin()
            assert status == 200 and "reported" in twin
        else:
            assert hub.report_properties({"firmware": "1.0"}) == (429, None)
            status, version = hub.report_properties({"firmware": "1.0"})
            assert status == 204 and version is not None
            assert hub.get_twin()[1]["reported"]["firmware"] == "1.0"
    assert rule.fired == 1


def test_a_faulted_twin_patch_changes_nothing(world: MqttWorld) -> None:
    device = _assigned(world)
    world.cloud.faults.add({"service": "hub", "operation": "twin_patch", "count": 1, "effect": {"status": 500}})
    with _hub(world, device) as hub:
        before = hub.get_twin()[1]["reported"]
        assert hub.report_properties({"mode": "faulted"})[0] == 500
        assert hub.get_twin()[1]["reported"] == before


@pytest.mark.parametrize("operation", ["twin_get", "telemetry"])
def test_latency_on_the_hub_delays_the_answer(world: MqttWorld, operation: str) -> None:
    device = _assigned(world)
    world.cloud.faults.add(
        {"service": "hub", "operation": operation, "count": 1, "effect": {"kind": "latency", "latency_s": LATENCY_S}}
    )
    with _hub(world, device) as hub:
        started = time.perf_counter()
        if operation == "twin_get":
            assert hub.get_twin()[0] == 200
        else:
            hub.send_telemetry({"temperature": 20.0})  # QoS 1: returns when the PUBACK arrives
        assert time.perf_counter() - started >= LATENCY_S


@pytest.mark.parametrize("effect", [{"status": 503}, {"kind": "drop"}], ids=["status", "drop"])
def test_a_faulted_telemetry_message_closes_the_connection_and_is_not_recorded(
    world: MqttWorld, effect: dict[str, Any]
) -> None:
    device = _assigned(world)
    world.cloud.faults.add({"service": "hub", "operation": "telemetry", "count": 1, "effect": effect})
    with _hub(world, device) as hub, pytest.raises(DeviceConnectionError):
        hub.send_telemetry({"temperature": 99.0})
    with _hub(world, device) as hub:
        hub.send_telemetry({"temperature": 21.0})
        assert hub.get_twin()[0] == 200  # a round trip: the telemetry before it has been handled
    with world.cloud.lock:
        record = world.cloud.central.default_app.get_device(device.device_id)
        messages, temperature = record.messages, record.telemetry["temperature"].value
    assert (messages, temperature) == (1, 21.0)  # the faulted message never reached IoT Central

"""DPS fault rules reach the in-process device path (:meth:`SimulatedDevice.provision` / :meth:`poll`).

The MQTT listener asks the world's rules for ``dps/register`` and ``dps/operation_status``; a device provisioning
in-process must meet the same rules with the same effects, or a scenario would pass on ``fake`` and fail on
``served``. A faulted call changes nothing (no registration, no IoT Central device) and the rule counts it once.
Through the harness, ``device.connect`` counts every 429 a rule gave, and a dropped connection is a transport
failure on both targets.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_dps_model import World, central_device

from harness.runner import run_scenario
from simulator.device import DeviceConnectionError, SimulatedDevice


def _world() -> tuple[World, Any, SimulatedDevice]:
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    return world, app, world.device(tenant)


def _registered(world: World, app: Any, device: SimulatedDevice) -> bool:
    key = (app.id_scope.lower(), device.registration_id.lower())
    return key in world.dps.registrations or central_device(app, device.id) is not None


@pytest.mark.parametrize(
    ("effect", "status", "code"),
    [
        ({"status": 429, "retry_after": 2}, "throttled", 429000),
        ({"status": 429, "code": "429001"}, "throttled", 429001),
        ({"status": 503}, "failed", 503000),
        ({"kind": "dps_failed"}, "failed", 400209),
        ({"kind": "dps_failed", "dps_error_code": 401002}, "failed", 401002),
    ],
)
def test_a_register_rule_gives_the_result_the_mqtt_listener_gives(
    effect: dict[str, Any], status: str, code: int
) -> None:
    world, app, device = _world()
    rule = world.cloud.faults.add({"service": "dps", "operation": "register", "count": 1, "effect": effect})
    result = device.provision(app.id_scope)
    assert (result.status, result.error_code) == (status, code)
    assert result.throttled_replies == (1 if status == "throttled" else 0)
    if "retry_after" in effect:
        assert result.retry_after == effect["retry_after"]
    assert central_device(app, device.id) is None
    assert (rule.calls, rule.fired) == (1, 1)
    assert device.provision(app.id_scope).status == "assigned"  # count: 1 — spent
    assert rule.calls == 2


def test_a_status_answered_instead_of_dps_leaves_no_trace() -> None:
    world, app, device = _world()
    world.cloud.faults.add({"service": "dps", "operation": "register", "effect": {"status": 500}})
    before = (dict(world.dps.registrations), dict(world.dps.operations))
    assert device.provision(app.id_scope).status == "failed"
    assert (dict(world.dps.registrations), dict(world.dps.operations)) == before
    assert not _registered(world, app, device)


def test_a_drop_raises_a_connection_error_marked_dropped() -> None:
    world, app, device = _world()
    world.cloud.faults.add({"service": "dps", "operation": "register", "count": 1, "effect": {"kind": "drop"}})
    with pytest.raises(DeviceConnectionError) as dropped:
        device.provision(app.id_scope)
    assert dropped.value.dropped and dropped.value.connack is None
    assert not _registered(world, app, device)
    assert device.provision(app.id_scope).status == "assigned"


def test_a_poll_rule_applies_to_the_operation_lookup() -> None:
    world = World(assignment_delay_s=5)
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)
    assert device.provision(app.id_scope).status == "assigning"
    world.cloud.clock.advance(seconds=5)
    world.cloud.faults.add(
        {"service": "dps", "operation": "operation_status", "count": 1, "effect": {"status": 429, "retry_after": 1}}
    )
    throttled = device.poll()
    assert (throttled.status, throttled.throttled_replies) == ("throttled", 1)
    assert device.poll().status == "assigned"


def test_latency_waits_then_serves_and_connack_means_nothing_in_process() -> None:
    world, app, device = _world()
    faults = world.cloud.faults
    refusal = faults.add({"service": "dps", "operation": "register", "count": 1, "effect": {"kind": "connack"}})
    assert device.provision(app.id_scope).status == "assigned"  # no CONNECT in-process: nothing to refuse
    assert refusal.fired == 1
    faults.add({"service": "dps", "operation": "register", "effect": {"kind": "latency", "latency_s": 0.05}})
    clock_before = world.cloud.clock.now()
    started = time.perf_counter()
    assert device.provision(app.id_scope).status == "assigned"
    assert time.perf_counter() - started >= 0.05
    assert world.cloud.clock.now() == clock_before  # real time passed; the world's (frozen) clock did not move


@settings(max_examples=15, deadline=None)
@given(count=st.integers(1, 4), fleet=st.integers(1, 3))
def test_the_rule_decides_the_throttled_count_of_a_rollout(count: int, fleet: int) -> None:
    """However many devices and throttled calls, the devices see exactly ``count`` 429s and all get in."""
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    devices = [world.device(tenant) for _ in range(fleet)]
    rule = world.cloud.faults.add(
        {"service": "dps", "operation": "register", "count": count, "effect": {"status": 429, "retry_after": 1}}
    )
    seen = 0
    for device in devices:
        for _ in range(count + 1):
            result = device.provision(app.id_scope)
            seen += result.throttled_replies
            if result.status == "assigned":
                break
        assert result.status == "assigned"
    assert seen == count == rule.fired
    assert rule.calls == count + fleet


SCENARIO = """
name: drop-at-dps
description: a dropped DPS connection is a transport failure on both targets
given:
  tenants: [{key: contoso}]
  apps: [{key: central}]
steps:
  - sphere.ca-certificate.download: {destination: CAcertificate.cer}
  - central.enrollment-group.create: {id: azure-sphere, display_name: Azure Sphere}
  - central.certificate.set: {group: azure-sphere, path: CAcertificate.cer}
  - central.verification-code.generate: {group: azure-sphere}
    save_as: code
  - sphere.ca-certificate.download-proof: {verification_code: "{code}"}
  - central.certificate.verify: {group: azure-sphere, path: ValidationCertification.cer}
  - device.create: {count: 1}
    save_as: fleet
  - device.claim: {devices: "{fleet.ids}"}
  - sim.fault.add: {service: dps, operation: register, count: 1, effect: {kind: drop}}
  - device.connect: {devices: "{fleet.ids}"}
    expect_error: {transport: true}
    save_as: dropped
  - device.connect: {devices: "{fleet.ids}"}
    save_as: rollout
  - expect: {actual: "{rollout.count}", equals: 1}
"""


@pytest.mark.parametrize("target", ["fake", pytest.param("served", marks=pytest.mark.served)])
def test_a_dropped_dps_connection_is_a_transport_failure_on_both_targets(target: str, tmp_path: Path) -> None:
    path = tmp_path / "drop-at-dps.yaml"
    path.write_text(SCENARIO)
    result = run_scenario(path, target, workdir=tmp_path / "work")
    assert result.passed, [f"{s.name}: {s.error}" for s in result.steps if s.outcome != "passed"]
    assert result.variables["dropped"]["transport"] is True

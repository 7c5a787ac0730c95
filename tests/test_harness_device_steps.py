"""Issue #5 through the harness: devices auto-enroll on first connection, on ``fake`` and over sockets on ``served``.

The two shipped scenarios run end to end (auto-enroll: refused before verification, admitted after, another tenant's
device refused and nowhere; fleet-rollout: a throttled DPS, every device in after retries). Around them, direct
checks of what the steps promise: refusals leave no IoT Central device, throttling is waited out on the world's
clock and bounded, bad arguments are clear errors, the served default of ``dps.assigned_hub_host``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.runner import run_scenario
from harness.scenario import ScenarioError, parse_scenario
from harness.steps import device as device_steps
from harness.steps import registry
from simulator.cloud import FakeCloud

SCRIPT = str(Path(sys.executable).parent / "sphere-harness")

TRUST = """
  - sphere.ca-certificate.download: {destination: CAcertificate.cer}
  - central.enrollment-group.create: {id: azure-sphere, display_name: Azure Sphere}
  - central.certificate.set: {group: azure-sphere, entry: primary, path: CAcertificate.cer}
  - central.verification-code.generate: {group: azure-sphere, entry: primary}
    save_as: code
  - sphere.ca-certificate.download-proof: {verification_code: "{code}"}
  - central.certificate.verify: {group: azure-sphere, entry: primary, path: ValidationCertification.cer}
"""


def failures(result: object) -> list[str]:
    return [f"{s.name}: {s.outcome} {s.error}" for s in result.steps if s.outcome != "passed"]  # type: ignore[attr-defined]


def run_text(text: str, target: str, tmp_path: Path, name: str = "t") -> object:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return run_scenario(path, target, workdir=tmp_path / "work")


@pytest.mark.parametrize("target", ["fake", "served"])
def test_auto_enroll_scenario_passes(target: str, tmp_path: Path) -> None:
    result = run_scenario("auto-enroll", target, workdir=tmp_path)
    assert result.passed, failures(result)
    conn = result.variables["conn"]["devices"][0]
    # the device ID auto-enrollment creates is the CN, lower-cased; on served the hub is the listener
    assert conn["device_id"] == result.variables["fresh"]["ids"][0].lower()
    if target == "served":
        assert conn["assigned_hub"] == "127.0.0.1"
    else:
        assert conn["assigned_hub"].endswith(".azure-devices.net")
    assert {d["id"] for d in result.variables["devices"]} == {
        result.variables["early"]["ids"][0].lower(),
        conn["device_id"],
    }
    assert result.variables["foreign"]["ids"][0].lower() not in {d["id"] for d in result.variables["devices"]}


@pytest.mark.parametrize("target", ["fake", "served"])
def test_fleet_rollout_scenario_passes_with_throttling(target: str, tmp_path: Path) -> None:
    result = run_scenario("fleet-rollout", target, workdir=tmp_path)
    assert result.passed, failures(result)
    rollout = result.variables["rollout"]
    assert rollout["count"] == 20 and rollout["throttled"] > 0
    assert all(d["assigned_hub"] for d in rollout["devices"])
    assert len({d["device_id"] for d in rollout["devices"]}) == 20


def test_fleet_size_is_overridable_by_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPHERE_HARNESS_FLEET_SIZE", "7")
    result = run_scenario("fleet-rollout", "fake", workdir=tmp_path)
    assert result.passed, failures(result)
    assert result.variables["fleet"]["count"] == 7 and len(result.variables["devices"]) == 7


def test_cli_runs_both_scenarios_served(tmp_path: Path) -> None:
    done = subprocess.run(
        [SCRIPT, "run", "auto-enroll", "fleet-rollout", "--target", "served"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED auto-enroll" in done.stdout and "PASSED fleet-rollout" in done.stdout


def test_throttle_retries_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(device_steps, "wait", lambda ctx, seconds: waits.append(seconds))  # the clock never moves
    text = f"""
name: bounded
given:
  settings: {{dps: {{registrations_per_second: 1, throttle_retry_after_s: 2}}}}
steps:
{TRUST}
  - device.create: {{count: 2}}
    save_as: two
  - device.claim: {{devices: "{{two.ids}}"}}
  - device.connect: {{devices: "{{two.ids}}", attempts: 3}}
    expect_error: {{status: 429}}
    save_as: refused
  - central.device.list:
    save_as: devices
  - expect: {{actual: "{{devices}}", length: 1}}
"""
    result = run_text(text, "fake", tmp_path)
    assert result.passed, failures(result)
    assert waits == [2.0, 2.0]  # honours retry-after, and stops after `attempts` tries
    assert "after 3 attempt(s)" in result.variables["refused"]["message"]


def test_unclaimed_device_has_no_certificate_and_is_refused(tmp_path: Path) -> None:
    text = f"""
name: unclaimed
steps:
{TRUST}
  - device.create: {{count: 1}}
    save_as: d
  - device.connect: {{devices: "{{d.ids}}"}}
    expect_error: {{status: 409, code: DeviceNotClaimed}}
  - central.device.list:
    save_as: devices
  - expect: {{actual: "{{devices}}", length: 0}}
"""
    result = run_text(text, "fake", tmp_path)
    assert result.passed, failures(result)
    assert result.variables["devices"] == []


def test_sending_before_connecting_is_a_clear_failure(tmp_path: Path) -> None:
    text = """
name: early-send
steps:
  - device.create: {count: 1}
    save_as: d
  - device.send: {devices: "{d.ids}"}
"""
    result = run_text(text, "fake", tmp_path)
    assert not result.passed
    sent = next(s for s in result.steps if s.kind == "device.send")
    assert sent.outcome == "failed" and "run device.connect first" in (sent.error or "")


def test_device_steps_are_fake_only_and_registered() -> None:
    kinds = registry()
    for kind in ("device.create", "device.claim", "device.connect", "device.send", "device.report"):
        assert kinds[kind].fake_only, kind
    assert not kinds["central.device.telemetry.get"].fake_only  # a real data-plane read


def test_bad_device_arguments_fail_at_load_time() -> None:
    with pytest.raises(ScenarioError, match=r"device\.create"):
        parse_scenario("steps:\n  - device.create: {count: 0}\n", "bad.yaml")
    with pytest.raises(ScenarioError, match=r"device\.connect"):
        parse_scenario("steps:\n  - device.connect: {devices: [], attempts: 3}\n", "bad.yaml")


def test_serving_defaults_assigned_hub_to_the_served_host_but_keeps_an_explicit_one() -> None:
    cloud = FakeCloud(1)
    with cloud.serve(port=0, mqtt_port=None):
        assert cloud.settings.dps.assigned_hub_host == "served"
    pinned = FakeCloud(1, settings={"dps": {"assigned_hub_host": "hub.example.test"}})
    with pinned.serve(port=0, mqtt_port=None):
        assert pinned.settings.dps.assigned_hub_host == "hub.example.test"

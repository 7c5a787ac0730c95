"""Live runs that cannot hurt, against a served world posing as Azure: the allow-list, --plan, irreversible steps,
cleanup after SIGINT/SIGTERM at every step boundary and in the middle of every request, after an exception and a
failed step (bounded in time), ``live sweep``, and scenarios that declare where they may run.

Every test serves a fresh world on loopback and points a live configuration (its endpoints file plus an allow-list)
at it; "nothing is left behind" is read from the world itself: the app holds no enrollment group afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.config import LiveConfig
from harness.live.guard import LiveGuard, NotAllowed, check_allowed
from harness.live.interrupt import RunInterrupted
from harness.live.sweep import created_at
from harness.runner import run
from harness.scenario import ScenarioError, find_scenario, load_scenario, parse_scenario
from harness.session import Cleanup, Session
from harness.targets import LiveTarget, TargetError, make_target
from simulator.cloud import FakeCloud

OPT_IN = "--i-understand-this-touches-real-resources"
SEED_STEPS = 11  # steps of scenarios/enable-trust.yaml
SEED_REQUESTS = 8  # HTTP requests it sends (login, CA, create, set, code, proof, verify, get)


@dataclasses.dataclass
class World:
    cloud: Any
    served: Any
    endpoints_file: Path

    @property
    def endpoints(self) -> dict[str, Any]:
        return self.served.endpoints

    def allow(self) -> dict[str, list[str]]:
        return {"tenants": [self.endpoints["sphere"]["tenant_id"]], "apps": [self.endpoints["central"]["subdomain"]]}

    def config(self, **extra: Any) -> LiveConfig:
        return LiveConfig.model_validate({**self.endpoints, "allow": self.allow(), **extra})

    def groups(self) -> list[str]:
        app = self.cloud.central.app_by_subdomain(self.endpoints["central"]["subdomain"])
        return [g.id for g in app.list_groups().items]

    def writes(self) -> list[tuple[str, str]]:
        """Every non-GET request the world answered outside its control surface."""
        return [(r["method"], r["path"]) for r in self.cloud.requests() if r["service"] != "control" and
                r["method"] not in ("GET", "HEAD")]  # fmt: skip

    def on_request(self, hook: Any) -> None:
        """Call ``hook(service, operation)`` as each request reaches the world (before its model acts on it)."""
        faults = self.cloud.faults
        faults.add({"id": "observe", "service": "*", "probability": 0.0})  # makes the front door ask every time
        original = faults.check

        def check(service: str, operation: str, **kwargs: Any) -> Any:
            hook(service, operation)
            return original(service, operation, **kwargs)

        faults.check = check


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    cloud = FakeCloud(seed=3)
    endpoints = tmp_path / "endpoints.json"
    with cloud.serve(port=0, mqtt_port=None, endpoints_file=endpoints) as served:
        yield World(cloud, served, endpoints)


def seed() -> Any:
    return load_scenario(find_scenario("enable-trust"))


def scenario(text: str) -> Any:
    return parse_scenario(textwrap.dedent(text), "case.yaml")


# -- the allow-list ----------------------------------------------------------------------------------------------


def test_a_tenant_or_app_off_the_allow_list_is_refused_before_any_request(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPHERE_HARNESS_LIVE", "1")
    monkeypatch.delenv("SPHERE_HARNESS_LIVE_ALLOW", raising=False)
    tenant, app = world.endpoints["sphere"]["tenant_id"], world.endpoints["central"]["subdomain"]
    args = ["run", "enable-trust", "--target", "live", "--live-config", str(world.endpoints_file)]
    assert main(args) == 2
    assert f"tenant {tenant} and app {app} not allowed (the allow-list is empty)" in capsys.readouterr().err
    monkeypatch.setenv("SPHERE_HARNESS_LIVE_ALLOW", f"tenant:{tenant},app:someone-elses-app")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"app {app} not allowed (the allow-list holds tenants [{tenant}] and apps [someone-elses-app])" in err
    assert world.cloud.requests() == []  # refused before the first request
    monkeypatch.setenv("SPHERE_HARNESS_LIVE_ALLOW", "tenant:x,banana:y")
    assert main(args) == 2
    assert "'banana:y' is not `tenant:<tenant id>` or `app:<app subdomain>`" in capsys.readouterr().err


def test_the_guard_refuses_requests_to_anything_but_the_configured_tenant_catalog_and_app(world: World) -> None:
    config = world.config()
    check_allowed(config)
    guard = LiveGuard(config)
    sphere, central = world.endpoints["sphere"], world.endpoints["central"]
    tenant, legacy, arm = sphere["tenant_id"], sphere["legacy_url"], sphere["arm_url"]
    group = f"/subscriptions/{sphere['subscription_id']}/resourceGroups/{sphere['resource_group']}"
    catalog = f"{group}/providers/Microsoft.AzureSphere/catalogs/{sphere['catalog']}"
    guard("GET", f"{legacy}/tenants")
    guard("GET", f"{legacy}/tenants/{tenant.upper()}/cert")
    guard("POST", f"{arm}{catalog}/certificates/.default/retrieveCertChain?api-version=2024-04-01")
    guard("PUT", f"{central['url']}/api/enrollmentGroups/g?api-version=2022-07-31")
    other = "00000000-1111-2222-3333-444444444444"
    refusals = {
        f"{legacy}/tenants/{other}/cert": f"tenant {other} is not the configured, allowed tenant",
        f"{arm}{group}/providers/Microsoft.AzureSphere/catalogs/another/certificates": "catalogs another is not the",
        "https://evil.example/v2/tenants": "not an endpoint of the configured Sphere tenant or IoT Central app",
        "https://other-app.azureiotcentral.com/api/devices": "not an endpoint",
    }
    for url, reason in refusals.items():
        with pytest.raises(NotAllowed, match=reason):
            guard("GET", url)
    with pytest.raises(NotAllowed, match="--plan sends only reads; refused PUT"):
        LiveGuard(config, reads_only=True)("PUT", f"{central['url']}/api/enrollmentGroups/g")


# -- scenarios declare where they run ----------------------------------------------------------------------------


def test_only_wire_only_scenarios_may_declare_live_and_list_shows_the_targets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(
        ScenarioError, match=r"case.yaml:1: targets: `live` is declared, but step 2 \(sim.clock.advance"
    ):
        scenario(
            """\
            targets: [fake, served, live]
            steps:
              - sphere.login
              - sim.clock.advance: {by: 1d}
            """
        )
    with pytest.raises(ScenarioError, match=r"it needs 2 tenant\(s\) and 1 app\(s\)"):
        scenario("targets: [live]\ngiven: {tenants: [{key: a}, {key: b}]}\nsteps: [sphere.login]\n")
    with pytest.raises(ScenarioError, match=r"given\.settings"):
        scenario("targets: [live]\ngiven: {settings: {central: {code_reuse: true}}}\nsteps: [sphere.login]\n")
    assert scenario("steps: [sphere.login]\n").targets == ("fake", "served")  # live must be asked for
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "enable-trust" in listing and "fake, served, live" in listing
    for name in ("expired-proof", "auto-enroll", "proof-from-another-tenant"):
        assert load_scenario(find_scenario(name)).targets == ("fake", "served")


def test_a_scenario_that_needs_fake_only_arrangement_is_refused_on_live_up_front(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    allow = world.allow()
    monkeypatch.setenv("SPHERE_HARNESS_LIVE_ALLOW", f"tenant:{allow['tenants'][0]},app:{allow['apps'][0]}")
    code = main(["run", "expired-proof", "enable-trust", "--target", "live", OPT_IN, "--live-config",
                 str(world.endpoints_file), "--workdir", str(tmp_path)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2  # one scenario refused; the other still ran
    assert (
        "refused up front: expired-proof declares targets [fake, served], not live: step 7 (sim.clock.advance, "
        "line 18) arranges the fake world through the simulator control surface" in captured.err
    )
    assert "PASSED enable-trust" in captured.out
    assert world.groups() == []


# -- --plan --------------------------------------------------------------------------------------------------------


def test_plan_lists_what_would_be_created_changed_and_deleted_and_sends_only_reads(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    allow = world.allow()
    monkeypatch.setenv("SPHERE_HARNESS_LIVE_ALLOW", f"tenant:{allow['tenants'][0]},app:{allow['apps'][0]}")
    monkeypatch.setenv("SPHERE_HARNESS_RUN_PREFIX", "sh-plan")
    args = ["run", "enable-trust", "--target", "live", "--plan", OPT_IN, "--live-config", str(world.endpoints_file)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "run prefix sh-plan-" in out
    assert "3  create  enrollment group sh-plan-azure-sphere (Azure Sphere)" in out
    assert "4  change  set the primary certificate of group sh-plan-azure-sphere from CAcertificate.cer" in out
    assert (
        "9  change  verify the primary certificate of group sh-plan-azure-sphere with ValidationCertification.cer"
        in out
    )
    assert "when the run ends: delete enrollment group sh-plan-azure-sphere" in out
    assert world.writes() == [] and world.groups() == []
    assert {r["method"] for r in world.cloud.requests() if r["service"] != "control"} == {"GET"}

    # a group left by a killed run holds the tenant CA: the plan says the upload would be refused (exit 1)
    monkeypatch.delenv("SPHERE_HARNESS_RUN_PREFIX")
    _leave_behind(world, tmp_path)
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "notice: enrollment groups left by earlier runs: sh-20000101000000-dead-azure-sphere" in out
    assert "already hold the tenant CA" in out and "use a scratch app" in out


def _leave_behind(world: World, tmp_path: Path) -> None:
    """A group holding the tenant CA, as a run killed with SIGKILL leaves it (no cleanup ran)."""
    config = world.config(run_prefix="sh-20000101000000-dead")
    session_cleanups: list[Any] = []

    class NoCleanup(LiveTarget):
        def session(self, scenario: Any, **kwargs: Any) -> Any:
            context = super().session(scenario, **kwargs)

            class Wrapper:
                def __enter__(self) -> Session:
                    session = context.__enter__()
                    session_cleanups.append(session)
                    return session

                def __exit__(self, *exc: Any) -> Any:
                    session_cleanups[0].cleanups.clear()  # SIGKILL: nothing runs
                    return context.__exit__(*exc)

            return Wrapper()

    run(seed(), NoCleanup(config), workdir=tmp_path / "killed")
    assert world.groups() == ["sh-20000101000000-dead-azure-sphere"]


# -- irreversible steps --------------------------------------------------------------------------------------------


def test_irreversible_steps_are_skipped_on_live_unless_allowed(world: World, tmp_path: Path) -> None:
    claim = scenario(
        """\
        targets: [live]
        vars: {device: ""}
        steps:
          - sphere.device.claim: {device: "{device}"}
            name: claim the device
        """
    )
    with world.cloud.lock:
        device = world.cloud.sphere.create_device().id
    claim.vars["device"] = device
    skipped = run(claim, LiveTarget(world.config()), workdir=tmp_path)
    assert skipped.passed and skipped.steps[0].outcome == "skipped"
    assert (
        "irreversible on Azure" in (skipped.steps[0].reason or "") and "--allow-irreversible" in skipped.steps[0].reason
    )
    assert world.writes() == []
    allowed = run(claim, LiveTarget(world.config(), allow_irreversible=True), workdir=tmp_path)
    assert allowed.passed and allowed.steps[0].outcome == "passed"
    assert world.writes() == [("PUT", f"/v2/tenants/{world.endpoints['sphere']['tenant_id']}/devices/{device}/claim")]


# -- cleanup that holds ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("boundary", range(SEED_STEPS + 1))
def test_a_signal_at_any_step_boundary_ends_in_cleanup(world: World, tmp_path: Path, boundary: int) -> None:
    """SIGTERM (even boundaries) or SIGINT (odd) just before step ``boundary`` runs (or after the last one)."""
    signum = signal.SIGTERM if boundary % 2 == 0 else signal.SIGINT

    def listener(event: str, payload: Any) -> None:
        before = event == "before" and payload[0].index == boundary
        after_last = event == "step" and boundary == SEED_STEPS and payload.index == SEED_STEPS - 1
        if before or after_last:
            os.kill(os.getpid(), signum)

    result = run(seed(), LiveTarget(world.config()), workdir=tmp_path, listener=listener)
    assert result.interrupted == signum
    assert result.error == f"interrupted by {signal.Signals(signum).name}; the run stopped and cleaned up"
    ran = [s.outcome for s in result.steps[:boundary]]
    assert ran == ["passed"] * boundary
    assert all(s.outcome == "skipped" for s in result.steps[boundary:])
    created = boundary > 2  # step 3 creates the group
    assert [c["ok"] for c in result.cleanups] == ([True] if created else [])
    assert world.groups() == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(signal.getsignal(signal.SIGTERM))


@pytest.mark.parametrize("request_number", range(1, SEED_REQUESTS + 1))
def test_a_signal_in_the_middle_of_any_request_ends_in_cleanup(
    world: World, tmp_path: Path, request_number: int
) -> None:
    """The world itself sends the signal while it handles request ``request_number`` (the create included): the
    client never sees that answer, and the cleanup still deletes what the service made."""
    signum = signal.SIGTERM if request_number % 2 else signal.SIGINT
    seen: list[str] = []

    def hook(service: str, operation: str) -> None:
        if service == "control":
            return
        seen.append(operation)
        if len(seen) == request_number:
            os.kill(os.getpid(), signum)

    world.on_request(hook)
    result = run(seed(), LiveTarget(world.config()), workdir=tmp_path)
    assert result.interrupted == signum, (seen, [s.outcome for s in result.steps])
    running = [s for s in result.steps if s.outcome == "error"]
    assert len(running) == 1 and running[0].error.startswith(f"interrupted by {signal.Signals(signum).name}")
    assert world.groups() == [], (seen, result.cleanups)
    assert all(c["ok"] for c in result.cleanups)


def test_an_exception_or_a_failed_step_ends_in_cleanup(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.steps import base

    def boom(ctx: Any, args: Any) -> None:
        raise RuntimeError("a bug in a step")

    verify = base._REGISTRY["central.certificate.verify"]
    monkeypatch.setitem(base._REGISTRY, verify.kind, dataclasses.replace(verify, function=boom))
    crashed = run(seed(), LiveTarget(world.config()), workdir=tmp_path)
    assert crashed.steps[8].outcome == "error" and "a bug in a step" in (crashed.steps[8].error or "")
    assert [c["ok"] for c in crashed.cleanups] == [True] and world.groups() == []

    def listener(event: str, payload: Any) -> None:  # an exception that escapes the runner altogether
        if event == "step" and payload.index == 5:
            raise RuntimeError("the reporter broke")

    with pytest.raises(RuntimeError, match="the reporter broke"):
        run(seed(), LiveTarget(world.config()), workdir=tmp_path, listener=listener)
    assert world.groups() == []


def test_cleanup_is_bounded_in_time_and_says_what_it_could_not_do(world: World, tmp_path: Path) -> None:
    world.cloud.faults.add(
        {"service": "central", "operation": "delete_group", "effect": {"kind": "latency", "latency_s": 30}}
    )
    result = run(seed(), LiveTarget(world.config(cleanup_timeout=1)), workdir=tmp_path)
    assert not result.passed and [s.outcome for s in result.steps] == ["passed"] * SEED_STEPS
    (cleanup,) = result.cleanups
    assert cleanup["ok"] is False and "timed out" in cleanup["error"].lower()
    world.cloud.faults.clear()

    # the limit covers them all: once it has passed, the rest are reported as not attempted (newest run first)
    now = [0.0]
    session = Session(target="live", live=True, workdir=tmp_path, seed=0)
    unreached = session.add_cleanup("delete the older group", lambda: pytest.fail("ran after the limit"))
    slow = session.add_cleanup("delete the newer group", lambda: now.__setitem__(0, now[0] + 5))
    session.run_cleanups(3, clock=lambda: now[0])
    assert isinstance(slow, Cleanup) and isinstance(unreached, Cleanup)
    assert (slow.ok, unreached.ok) == (True, False)
    assert unreached.error == (
        "not attempted: the cleanup time limit (3s) ran out; `sphere-harness live sweep` finds what is left"
    )


@pytest.mark.served
def test_the_cli_killed_with_sigterm_mid_request_cleans_up_and_exits_143(world: World, tmp_path: Path) -> None:
    allow = world.allow()
    env = {**os.environ, "SPHERE_HARNESS_LIVE": "1",
           "SPHERE_HARNESS_LIVE_ALLOW": f"tenant:{allow['tenants'][0]},app:{allow['apps'][0]}"}  # fmt: skip
    command = [sys.executable, "-c", "import sys; from harness.cli import main; sys.exit(main())", "run",
               "enable-trust", "--target", "live", "--live-config", str(world.endpoints_file), "--workdir",
               str(tmp_path)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def hook(service: str, operation: str) -> None:
        if operation == "set_certificate":  # the group exists; the upload is in flight
            process.send_signal(signal.SIGTERM)

    world.on_request(hook)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, (out, err)
    assert "cleaned up delete enrollment group sh-" in out
    assert "interrupted by SIGTERM" in out
    assert world.groups() == []


# -- live sweep ----------------------------------------------------------------------------------------------------


def test_sweep_lists_then_deletes_what_runs_left_behind(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = world.cloud.central.app_by_subdomain(world.endpoints["central"]["subdomain"])
    now = datetime.now(UTC)
    old = f"sh-{now - timedelta(hours=3):%Y%m%d%H%M%S}-ab12-azure-sphere"
    young = f"sh-{now - timedelta(minutes=5):%Y%m%d%H%M%S}-cd34-azure-sphere"
    with world.cloud.lock:
        for group_id in (old, young, "sh-custom-azure-sphere", "production-devices"):
            app.put_group(group_id, {"displayName": group_id, "type": "iot", "attestation": {"type": "x509"}})
    allow = world.allow()
    monkeypatch.setenv("SPHERE_HARNESS_LIVE_ALLOW", f"tenant:{allow['tenants'][0]},app:{allow['apps'][0]}")
    args = ["live", "sweep", "--live-config", str(world.endpoints_file), OPT_IN]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"would delete  enrollment group {old} (created" in out and "3.0 h ago" in out
    assert f"kept     enrollment group {young}" in out and "younger than 1h" in out
    assert "kept     enrollment group sh-custom-azure-sphere (age unknown)" in out
    assert "production-devices" not in out
    assert "3 group(s) with the prefix, 1 due" in out
    assert sorted(world.groups()) == sorted([old, young, "sh-custom-azure-sphere", "production-devices"])

    assert main([*args, "--yes"]) == 0
    assert f"deleted  enrollment group {old}" in capsys.readouterr().out
    assert sorted(world.groups()) == sorted([young, "sh-custom-azure-sphere", "production-devices"])
    assert main([*args, "--yes", "--older-than", "0"]) == 0
    assert world.groups() == ["production-devices"]

    assert main(["live", "sweep", "--live-config", str(world.endpoints_file)]) == 2  # no opt-in
    assert main([*args, "--older-than", "soon"]) == 2
    assert created_at("sh-20261130101500-ab12-x") == datetime(2026, 11, 30, 10, 15, tzinfo=UTC)
    assert created_at("sh-test-x") is None


def test_run_interrupted_is_not_an_exception_anything_can_swallow() -> None:
    assert not issubclass(RunInterrupted, Exception)
    assert RunInterrupted(signal.SIGTERM).exit_status == 143 and RunInterrupted(signal.SIGINT).exit_status == 130


def test_make_target_keeps_plan_to_live(world: World) -> None:
    with pytest.raises(TargetError, match="--plan shows what a live run would do"):
        make_target("fake", plan=True)
    assert json.loads(world.endpoints_file.read_text())["sphere"]["tenant_id"]

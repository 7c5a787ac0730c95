"""The runner and the targets against the real fake world: in-process, served over HTTPS, and "live" at a served world.

These are end-to-end: the harness's clients speak the wire contracts to the fakes (respx in-process, real sockets
when served); the checks read the files the steps wrote and the fake world's own state.
"""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness import run_scenario
from harness.config import LiveConfig
from harness.report import junit_xml, to_json
from harness.runner import run
from harness.scenario import parse_scenario
from harness.targets import FakeTarget, LiveTarget, ServedTarget, TargetError, make_target


def scenario(text: str, name: str = "case") -> object:
    return parse_scenario(textwrap.dedent(text), f"{name}.yaml")


def cn(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def assert_seed_files(workdir: Path, code: str) -> None:
    """Both .cer files are DER; the proof's CN is the code and its signature verifies under the tenant CA key."""
    ca = x509.load_der_x509_certificate((workdir / "CAcertificate.cer").read_bytes())
    proof = x509.load_der_x509_certificate((workdir / "ValidationCertification.cer").read_bytes())
    assert cn(proof) == code
    assert proof.issuer == ca.subject
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(proof.signature, proof.tbs_certificate_bytes, ec.ECDSA(proof.signature_hash_algorithm))


def test_seed_workflow_in_process(tmp_path: Path) -> None:
    result = run_scenario("enable-trust", workdir=tmp_path)
    assert result.passed, result.failed_step
    assert [s.outcome for s in result.steps] == ["passed"] * len(result.steps)
    assert all(s.seconds >= 0 for s in result.steps)
    assert result.variables["entry"]["verified"] is True
    assert_seed_files(tmp_path, result.variables["code"])
    assert result.variables["ca"]["thumbprint"] == result.variables["uploaded"]["info"]["sha1Thumbprint"]


def test_a_seed_makes_names_and_codes_repeatable(tmp_path: Path) -> None:
    first = run_scenario("enable-trust", seed=42, workdir=tmp_path / "a")
    second = run_scenario("enable-trust", seed=42, workdir=tmp_path / "b")
    other = run_scenario("enable-trust", seed=43, workdir=tmp_path / "c")
    assert first.passed and second.passed and other.passed
    for key in ("tenant", "app", "code"):
        assert first.variables[key] == second.variables[key]
    assert first.variables["code"] != other.variables["code"]
    assert first.variables["tenant"]["name"] != other.variables["tenant"]["name"]


def test_seed_workflow_served_over_https(tmp_path: Path) -> None:
    from simulator.cloud import FakeCloud

    cloud = FakeCloud(seed=5)
    with cloud.serve(port=0, mqtt_port=None) as served:
        result = run_scenario("enable-trust", target=ServedTarget(served), workdir=tmp_path)
        assert result.passed, result.failed_step
        assert_seed_files(tmp_path, result.variables["code"])
        # the Host header reached the scenario's own app, not the served world's default app
        app = cloud.central.app_by_subdomain(result.variables["app"]["subdomain"])
        assert app is not None and app is not cloud.central.default_app
        assert app.get_certificate("azure-sphere", "primary").verified


def test_live_target_at_a_served_world_prefixes_and_cleans_up_even_after_failure(tmp_path: Path) -> None:
    from simulator.cloud import FakeCloud

    failing = scenario(
        """\
        targets: [fake, served, live]
        given: {tenants: [{key: t}], apps: [{key: a}]}
        steps:
          - central.enrollment-group.create: {id: azure-sphere, display_name: Azure Sphere}
            save_as: group
          - expect: {actual: "{group.id}", equals: azure-sphere}
            name: the live group carries the run prefix, so this fails
        """
    )
    arranging = scenario(
        """\
        given: {tenants: [{key: t}], apps: [{key: a}]}
        steps:
          - sim.clock.advance: {by: 1d}
          - central.enrollment-group.create: {id: azure-sphere, display_name: Azure Sphere}
        """
    )
    cloud = FakeCloud(seed=9)
    with cloud.serve(port=0, mqtt_port=None) as served:
        config = LiveConfig.model_validate({**served.endpoints, "run_prefix": "sh-test", "allow": allow(served)})
        target = LiveTarget(config)
        result = run(failing, target, workdir=tmp_path)
        assert not result.passed
        assert [s.outcome for s in result.steps] == ["passed", "failed"]
        assert result.variables["group"]["id"] == "sh-test-azure-sphere"
        assert '+"sh-test-azure-sphere"' in (result.steps[1].error or "")
        assert result.cleanups == [
            {"description": "delete enrollment group sh-test-azure-sphere", "ok": True, "error": None}
        ]
        app = cloud.central.app_by_subdomain(served.endpoints["central"]["subdomain"])
        assert [g.id for g in app.list_groups().items] == []  # deleted at the end

        with pytest.raises(TargetError, match=r"refused up front: case declares targets \[fake, served\], not live: "
                           r"step 1 \(sim.clock.advance, line 3\) arranges the fake world"):  # fmt: skip
            run(arranging, target, workdir=tmp_path)

        seed = run_scenario("enable-trust", target=target, workdir=tmp_path / "seed")
        assert seed.passed, seed.failed_step
        assert_seed_files(tmp_path / "seed", seed.variables["code"])


def allow(served: object) -> dict[str, list[str]]:
    """The allow-list naming a served world's default tenant and app."""
    endpoints = served.endpoints  # type: ignore[attr-defined]
    return {"tenants": [endpoints["sphere"]["tenant_id"]], "apps": [endpoints["central"]["subdomain"]]}


def test_live_needs_the_opt_in_and_a_configuration(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="i-understand-this-touches-real-resources"):
        make_target("live", env={})
    with pytest.raises(TargetError, match="no live configuration"):
        make_target("live", opt_in=True, env={})
    with pytest.raises(TargetError, match=r"central\.subdomain"):
        make_target("live", env={"SPHERE_HARNESS_LIVE": "1", "SPHERE_TENANT_ID": "t"})
    env = {"SPHERE_HARNESS_LIVE": "1", "SPHERE_TENANT_ID": "t", "CENTRAL_APP_SUBDOMAIN": "contoso"}
    with pytest.raises(TargetError, match=r"tenant t and app contoso not allowed \(the allow-list is empty\)"):
        make_target("live", env=env)
    with pytest.raises(TargetError, match=r"app contoso not allowed \(the allow-list holds tenants \[t\]"):
        make_target("live", env={**env, "SPHERE_HARNESS_LIVE_ALLOW": "tenant:t"})
    target = make_target("live", env={**env, "SPHERE_HARNESS_LIVE_ALLOW": "tenant:t, app:contoso"})
    assert isinstance(target, LiveTarget) and target.config.central.subdomain == "contoso"
    config = tmp_path / "live.yaml"
    config.write_text("sphere: {tenant_id: t, tokn: x}\ncentral: {subdomain: c}\n")
    with pytest.raises(TargetError, match="tokn"):
        make_target("live", live_config=config, opt_in=True, env={})


def test_failing_expectation_names_the_step_and_shows_a_diff(tmp_path: Path) -> None:
    broken = scenario(
        """\
        steps:
          - sphere.ca-certificate.list:
            save_as: certificates
          - expect: {actual: "{certificates[0].IsActive}", equals: false}
            name: the first generation is inactive
          - sphere.login
        """
    )
    result = run(broken, FakeTarget(), workdir=tmp_path)
    assert not result.passed
    assert [s.outcome for s in result.steps] == ["passed", "failed", "skipped"]
    assert result.steps[2].reason == "after failure"
    failed = result.failed_step
    assert failed is not None and failed.name == "the first generation is inactive" and failed.line == 4
    assert "-false" in failed.error and "+true" in failed.error


def test_expect_error_passes_on_the_right_error_and_fails_otherwise(tmp_path: Path) -> None:
    text = """\
        steps:
          - central.enrollment-group.get: {id: nope}
            expect_error: {status: 404, code: NotFound}
            save_as: missing
          - expect: {actual: "{missing}", matches: {status: 404, service: IoT Central}}
          - central.enrollment-group.get: {id: nope}
            expect_error: {status: 400}
          - central.enrollment-group.list:
            expect_error: {status: 404}
        """
    result = run(scenario(text), FakeTarget(), workdir=tmp_path)
    assert [s.outcome for s in result.steps] == ["passed", "passed", "failed", "skipped"]
    assert "status 404, expected 400" in result.steps[2].error
    only_last = scenario(text.replace("expect_error: {status: 400}", "expect_error: {status: 404}"))
    result = run(only_last, FakeTarget(), workdir=tmp_path)
    assert result.steps[3].outcome == "failed" and "but it succeeded" in result.steps[3].error


def test_arguments_invalid_after_substitution_fail_the_step(tmp_path: Path) -> None:
    result = run(
        scenario(
            """\
            steps:
              - sphere.login:
                save_as: login
              - sim.devices.create: {count: "{login.user}"}
            """
        ),
        FakeTarget(),
        workdir=tmp_path,
    )
    assert result.steps[1].outcome == "failed"
    assert "invalid arguments for sim.devices.create (line 4): count" in result.steps[1].error


def test_two_tenants_are_isolated_and_login_selects(tmp_path: Path) -> None:
    result = run(
        scenario(
            """\
            given:
              tenants: [{key: north, name: North}, {key: south, name: South}]
            steps:
              - sphere.tenant.list: {tenant: south}
                save_as: visible
              - expect: {actual: "{visible}", length: 1}
              - expect: {actual: "{visible[0].Name}", equals: South}
              - sphere.login: {tenant: north}
              - sphere.ca-certificate.download: {destination: north.cer}
                save_as: ca
              - expect: {actual: "{ca.subject}", contains: "{tenants.north.id}"}
            """
        ),
        FakeTarget(),
        workdir=tmp_path,
    )
    assert result.passed, result.failed_step


def test_sim_steps_travel_the_clock_mint_devices_claim_and_reset(tmp_path: Path) -> None:
    result = run(
        scenario(
            """\
            steps:
              - sim.clock.advance: {by: 10d}
                save_as: now
              - sim.devices.create: {count: 2, claim: false}
                save_as: devices
              - sphere.device.claim: {device: "{devices[0].id}"}
              - sphere.device.list:
                save_as: claimed
              - expect: {actual: "{claimed}", length: 1}
              - sphere.device.claim: {device: "{devices[0].id}"}
                name: claiming twice is a conflict (``sphere.claim_conflict_mode``)
                expect_error: {status: 409}
              - sim.reset
              - sphere.device.list:
                save_as: after
              - expect: {actual: "{after}", length: 0}
            """
        ),
        FakeTarget(),
        workdir=tmp_path,
    )
    assert result.passed, result.failed_step
    assert result.variables["claimed"][0]["DeviceId"].lower() == result.variables["devices"][0]["id"].lower()


def test_given_settings_reach_the_world(tmp_path: Path) -> None:
    result = run(
        scenario(
            """\
            given:
              settings: {central: {code_reuse: true}}
            steps:
              - central.enrollment-group.create: {id: g, display_name: G}
              - sphere.ca-certificate.download
              - central.certificate.set: {group: g, path: CAcertificate.cer}
              - central.verification-code.generate: {group: g}
                save_as: one
              - central.verification-code.generate: {group: g}
                save_as: two
              - expect: {actual: "{two}", equals: "{one}"}
            """
        ),
        FakeTarget(),
        workdir=tmp_path,
    )
    assert result.passed, result.failed_step


def test_reports_json_and_junit(tmp_path: Path) -> None:
    good = run_scenario("enable-trust", workdir=tmp_path / "good")
    bad = run(
        scenario("steps:\n  - expect: {actual: 1, equals: 2}\n    name: one is two\n", "bad"),
        FakeTarget(),
        workdir=tmp_path / "bad",
    )
    report = to_json([good, bad])
    assert report["passed"] is False
    assert [s["passed"] for s in report["scenarios"]] == [True, False]
    assert json.loads(json.dumps(report))["scenarios"][1]["steps"][0]["outcome"] == "failed"
    suites = junit_xml([good, bad])
    assert suites.get("tests") == str(len(good.steps) + 1) and suites.get("failures") == "1"
    failure = suites.find("./testsuite[2]/testcase/failure")
    assert failure is not None and "expected values to be equal" in failure.get("message", "")
    ET.fromstring(ET.tostring(suites))  # well-formed


@pytest.mark.parametrize("name", ["enable-trust", "enable-trust-arm", "proof-mismatch"])
def test_every_shipped_scenario_passes_in_process(name: str, tmp_path: Path) -> None:
    result = run_scenario(name, workdir=tmp_path)
    assert result.passed, result.failed_step

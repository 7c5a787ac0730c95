"""The ``sphere-harness`` command: run (fake, served, live), exit statuses, reports, list, validate, serve, device."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import NameOID

from harness.cli import main

SCRIPT = str(Path(sys.executable).parent / "sphere-harness")
OPT_IN = "--i-understand-this-touches-real-resources"


def read_der(path: Path) -> x509.Certificate:
    return x509.load_der_x509_certificate(path.read_bytes())


def cn(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_run_with_no_arguments_runs_the_seed_workflow_offline(tmp_path: Path) -> None:
    done = subprocess.run([SCRIPT, "run"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED enable-trust" in done.stdout
    assert "sphere.ca-certificate.download-proof" in done.stdout and "central.certificate.verify" in done.stdout
    work = tmp_path / "sphere-harness-work" / "enable-trust"
    ca, proof = read_der(work / "CAcertificate.cer"), read_der(work / "ValidationCertification.cer")
    assert proof.issuer == ca.subject and len(cn(proof)) == 48  # 48 hex characters


@pytest.mark.served
def test_run_served_over_https(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--target", "served", "--workdir", str(tmp_path), "--seed", "3"]) == 0
    assert "enable-trust on served (seed 3)" in capsys.readouterr().out
    assert read_der(tmp_path / "ValidationCertification.cer").issuer == read_der(tmp_path / "CAcertificate.cer").subject


@pytest.mark.served
def test_run_live_at_a_served_world_and_refusal_without_opt_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from simulator.cloud import FakeCloud

    monkeypatch.delenv("SPHERE_HARNESS_LIVE", raising=False)
    endpoints = tmp_path / "endpoints.json"
    with FakeCloud(seed=1).serve(port=0, mqtt_port=None, endpoints_file=endpoints) as served:
        assert main(["run", "--target", "live", "--live-config", str(endpoints), "--workdir", str(tmp_path)]) == 2
        assert OPT_IN in capsys.readouterr().err
        tenant, app = served.endpoints["sphere"]["tenant_id"], served.endpoints["central"]["subdomain"]
        monkeypatch.setenv("SPHERE_HARNESS_LIVE_ALLOW", f"tenant:{tenant},app:{app}")
        code = main(["run", "--target", "live", "--live-config", str(endpoints), OPT_IN, "--workdir", str(tmp_path)])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "PASSED enable-trust" in out and "cleaned up delete enrollment group sh-" in out
    assert cn(read_der(tmp_path / "ValidationCertification.cer"))


def test_a_broken_scenario_file_exits_2_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("steps:\n  - sphere.login\n  - central.certificate.get:\n      group: g\n      entri: primary\n")
    assert main(["run", str(broken), "--workdir", str(tmp_path)]) == 2
    assert f"{broken}:5:" in capsys.readouterr().err
    assert main(["validate", str(broken)]) == 2
    assert f"{broken}:5: step 2 (central.certificate.get): unknown argument 'entri'" in capsys.readouterr().err
    assert main(["run", "--target", "nowhere"]) == 2


def test_a_failing_expectation_exits_1_naming_the_step_with_a_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = tmp_path / "failing.yaml"
    failing.write_text(
        "steps:\n"
        "  - sphere.ca-certificate.list:\n"
        "    save_as: certificates\n"
        "  - expect: {actual: '{certificates}', length: 3}\n"
        "    name: three generations exist\n"
    )
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    code = main(["run", str(failing), "--workdir", str(tmp_path), "--report-json", str(report), "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED failing at step 2 (three generations exist, line 4)" in out
    assert "expected length 3, got 1" in out and "-3" in out and "+1" in out
    data = json.loads(report.read_text())
    assert data["passed"] is False and data["scenarios"][0]["steps"][1]["outcome"] == "failed"
    assert ET.parse(junit).getroot().get("failures") == "1"


def test_list_and_validate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "enable-trust  [fake, served, live]  The seed unit" in out and "proof-mismatch" in out
    assert main(["validate", "scenarios/enable-trust.yaml", "scenarios/proof-mismatch.yaml"]) == 0
    assert "valid: scenarios/enable-trust.yaml (enable-trust, 11 steps)" in capsys.readouterr().out


@pytest.mark.served
@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_serve_writes_endpoints_when_ready_and_stops_cleanly(tmp_path: Path, stop_with: signal.Signals) -> None:
    endpoints = tmp_path / "endpoints.json"
    process = subprocess.Popen(
        [SCRIPT, "serve", "--port", "0", "--mqtt-port", "0", "--seed", "4", "--endpoints-file", str(endpoints)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not endpoints.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the endpoints file never appeared"
            time.sleep(0.05)
        data = json.loads(endpoints.read_text())
        trust = ssl.create_default_context(cafile=data["ca_bundle"])
        health = httpx.get(f"{data['control_url']}/health", verify=trust)  # ready means answering
        assert health.json()["status"] == "ok"
        tenants = httpx.get(
            f"{data['sphere']['legacy_url']}/tenants",
            headers={"Authorization": f"Bearer {data['sphere']['token']}"},
            verify=trust,
        )
        assert tenants.status_code == 200
        process.send_signal(stop_with)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "GET /v2/tenants -> 200" in err  # each request is logged
    assert not endpoints.exists()


@pytest.mark.served
def test_device_new_writes_keys_chains_and_an_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.cloud import FakeCloud

    endpoints = tmp_path / "endpoints.json"
    out = tmp_path / "devices"
    with FakeCloud(seed=2).serve(port=0, mqtt_port=None, endpoints_file=endpoints):
        assert (
            main(["device", "new", "--count", "2", "--claim", "--endpoints-file", str(endpoints), "--out", str(out)])
            == 0
        )
        assert main(["device", "new", "--endpoints-file", str(endpoints), "--out", str(tmp_path / "bare")]) == 0
    index = json.loads((out / "devices.json").read_text())
    assert len(index) == 2 and set(index[0]) == {"id", "key_file", "cert_file"}
    for entry in index:
        chain = x509.load_pem_x509_certificates(Path(entry["cert_file"]).read_bytes())
        key = load_pem_private_key(Path(entry["key_file"]).read_bytes(), password=None)
        assert cn(chain[0]).lower() == entry["id"].lower()
        assert chain[0].public_key() == key.public_key()
    unclaimed = json.loads((tmp_path / "bare" / "devices.json").read_text())
    assert unclaimed[0]["cert_file"] is None
    assert main(["device", "new", "--endpoints-file", str(tmp_path / "missing.json"), "--out", str(out)]) == 2
    assert "not a usable endpoints file" in capsys.readouterr().err

"""Record and replay: the recording format (the test-proxy's, byte for byte where it matters), recording a run on
every target, replaying it offline with no sockets and no fakes, and how a replay that does not match explains
itself; the CLI and the pytest plugin offer the same. A hypothesis test runs the workflow with random identities and
finds none of them in the recording."""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import string
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from recording_helpers import leaks

from harness.cli import main
from harness.clients.exchange import Exchange
from harness.recording.cassette import Cassette, RecordMode, ReplayMiss, load, save
from harness.recording.format import RecordingDocument, RecordingError, body_to_json, dumps, loads
from harness.recording.recorder import RecordingTarget
from harness.recording.replay import ReplayTarget
from harness.recording.sanitize import is_placeholder
from harness.runner import run, run_scenario
from harness.scenario import find_scenario, load_scenario, parse_scenario
from harness.targets import FakeTarget, TargetError, make_target

SHIPPED = Path(__file__).resolve().parent.parent / "recordings"
JSON = [("content-type", "application/json; charset=utf-8")]


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a replay opened a socket")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# -- the format ----------------------------------------------------------------------------------------------------


def test_bodies_follow_the_test_proxy_rules_and_read_back() -> None:
    text = [("content-type", "text/plain; charset=utf-8")]
    assert body_to_json(b"", JSON) is None
    assert body_to_json(b'{"a": 1}', JSON) == {"a": 1}  # a JSON object is stored as JSON
    assert body_to_json(b'[{"Id": "x"}]', JSON) == '[{"Id": "x"}]'  # an array is text (the test-proxy's rule)
    assert body_to_json(b'"MIIB"', JSON) == '"MIIB"'  # so is a JSON string
    assert body_to_json(b"line one\nline two", text) == ["line one\n", "line two"]  # split after newlines
    assert body_to_json(b"\x30\x82\x01", [("content-type", "application/pkix-cert")]) == "MIIB"  # binary: base64
    exchange = Exchange(
        "central", "PUT", "https://x.azureiotcentral.com/api/a", [("content-type", "application/json")],
        b'{"certificate":"MIIB"}', 200, [*JSON, ("etag", "a"), ("etag", "b")], b"[1,2]", step=3,
    )  # fmt: skip
    document = loads(dumps(RecordingDocument(entries=[exchange], variables={"seed": "7"})))
    back = document.entries[0]
    assert (back.method, back.url, back.status, back.step) == ("PUT", exchange.url, 200, 3)
    assert json.loads(back.request_body) == {"certificate": "MIIB"} and back.response_body == b"[1,2]"
    assert ("etag", "a") in back.response_headers and ("etag", "b") in back.response_headers
    raw = json.loads(dumps(RecordingDocument(entries=[exchange])))
    assert set(raw["Entries"][0]) == {
        "RequestUri", "RequestMethod", "RequestHeaders", "RequestBody", "StatusCode", "ResponseHeaders",
        "ResponseBody",
    }  # fmt: skip
    assert raw["Entries"][0]["ResponseHeaders"]["etag"] == ["a", "b"]
    assert raw["SphereHarness"]["FormatVersion"] == 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not JSON"),
        ('{"Entries": {}}', "an object with an `Entries` list"),
        ('{"Entries": [{"RequestUri": "x"}]}', "Entries[0]: missing RequestMethod, StatusCode"),
        ('{"Entries": [], "SphereHarness": {"FormatVersion": 99}}', "FormatVersion 99 is not one this harness reads"),
        ('{"Entries": [], "Variables": {"seed": 7}}', "`Variables` must map names to strings"),
    ],
)
def test_a_bad_recording_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(RecordingError, match=re.escape(problem)):
        loads(text, "bad.json")


def test_record_mode_names_the_valid_modes() -> None:
    assert RecordMode.parse("ONCE") is RecordMode.ONCE
    with pytest.raises(ValueError, match="unknown record mode 'sometimes'; expected one of: none, once, all"):
        RecordMode.parse("sometimes")


def test_save_writes_whole_files_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.json"
    save(RecordingDocument(variables={"v": "1"}), target)
    assert json.loads(target.read_text())["Variables"] == {"v": "1"}
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)

    def broken(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", broken)
    with pytest.raises(OSError, match="disk full"):
        save(RecordingDocument(variables={"v": "2"}), target)
    assert json.loads(target.read_text())["Variables"] == {"v": "1"}  # the old file, untouched
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # and no temporary file left


# -- recording and replaying ----------------------------------------------------------------------------------------


def test_a_fake_run_is_recorded_and_replays_offline(tmp_path: Path, no_sockets: None) -> None:
    recording = tmp_path / "enable-trust.json"
    recorded = run_scenario("enable-trust", workdir=tmp_path / "a", record=recording)
    assert recorded.passed
    document = loads(recording.read_text())
    assert [e.step for e in document.entries] == [0, 1, 2, 3, 5, 6, 8, 9]  # expect steps send nothing
    assert all(e.service != "control" for e in document.entries)  # `given` is not part of a recording
    assert document.variables["scenario"] == "enable-trust" and document.variables["target"] == "fake"
    assert is_placeholder(document.variables["tenants.contoso.tenant_id"])
    assert document.scenario["Source"] == "scenarios/enable-trust.yaml" and "sphere.login" in document.scenario["Text"]

    replayed = run_scenario(None, "replay", workdir=tmp_path / "b", recording=recording)
    assert replayed.passed, replayed.failed_step
    assert replayed.target == "replay" and replayed.variables["entry"]["verified"] is True
    # the files a replay writes are the recorded certificates (sanitized: the tenant is a placeholder)
    assert (tmp_path / "b" / "ValidationCertification.cer").read_bytes()[:1] == b"\x30"


@pytest.mark.parametrize("name", sorted(p.stem for p in SHIPPED.glob("*.json")))
def test_every_shipped_recording_replays_with_no_sockets_and_no_fakes(
    name: str, tmp_path: Path, no_sockets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simulator.cloud

    monkeypatch.setattr(simulator.cloud, "FakeCloud", None)  # no fake world can be made during a replay
    result = run_scenario(None, "replay", workdir=tmp_path, recording=SHIPPED / f"{name}.json")
    assert result.passed, result.failed_step
    assert [s.outcome for s in result.steps] == ["passed"] * len(result.steps)


def test_a_request_the_recording_does_not_hold_fails_its_step_with_a_diff(tmp_path: Path) -> None:
    recording = tmp_path / "r.json"
    shutil.copy(SHIPPED / "enable-trust.json", recording)
    data = json.loads(recording.read_text())
    create = next(e for e in data["Entries"] if e["RequestMethod"] == "PUT")
    create["RequestBody"]["displayName"] = "Another Name"  # the scenario asks for "Azure Sphere"
    recording.write_text(json.dumps(data))
    result = run_scenario(None, "replay", workdir=tmp_path / "w", recording=recording)
    failed = result.failed_step
    assert failed is not None and failed.kind == "central.enrollment-group.create"
    message = failed.error or ""
    assert message.startswith(
        "replay: no recorded exchange matches PUT https://app-sanitized-1.azureiotcentral.com/api/enrollmentGroups/"
        "sh-20260105090000-0000-azure-sphere?api-version=2022-07-31; the closest is entry 3, step 3 (body: the "
        "request bodies differ)\n--- recorded\n+++ asked\n"
    )
    assert '-  "displayName": "Another Name",' in message and '+  "displayName": "Azure Sphere",' in message


def test_an_exchange_the_run_never_asks_for_fails_its_step(tmp_path: Path) -> None:
    recording = tmp_path / "r.json"
    data = json.loads((SHIPPED / "enable-trust.json").read_text())
    first = data["Entries"][0]
    data["Entries"].insert(1, first)  # the recording says login listed the tenants twice
    data["SphereHarness"]["Entries"].insert(1, data["SphereHarness"]["Entries"][0])
    recording.write_text(json.dumps(data))
    result = run_scenario(None, "replay", workdir=tmp_path / "w", recording=recording)
    assert result.steps[0].outcome == "failed"
    assert result.steps[0].error == (
        "replay: the recording holds 1 more exchange(s) for this step that the run did not ask for "
        "(entry 2: GET https://prod.core.sphere.azure.net/v2/tenants)"
    )


def test_asking_more_often_than_recorded_is_a_miss() -> None:
    entry = Exchange("sphere-legacy", "GET", "https://prod.core.sphere.azure.net/v2/tenants", status=200, step=0)
    cassette = Cassette(RecordingDocument(entries=[entry]), write_protected=True)
    asked = Exchange("replay", "GET", "https://PROD.core.sphere.azure.net:443/v2/tenants")
    assert cassette.play(asked) is entry  # host case and the default port do not matter
    with pytest.raises(ReplayMiss, match=r"asked once more than the recording holds \(entry 1 answered it already\)"):
        cassette.play(asked)
    with pytest.raises(RecordingError, match="being played"):
        cassette.append(entry)


def test_fake_only_scenarios_cannot_be_replayed_and_targets_check_their_recording(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"refused up front: a recording can only replay steps that speak the wire"):
        run(load_scenario(find_scenario("expired-proof")), ReplayTarget(SHIPPED / "enable-trust.json"))
    with pytest.raises(TargetError, match="--target replay needs --recording FILE"):
        make_target("replay")
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(TargetError, match="expected a test-proxy recording"):
        make_target("replay", recording=tmp_path / "bad.json")
    with pytest.raises(TargetError, match="use it with --target replay"):
        make_target("fake", recording=tmp_path / "bad.json")


@pytest.mark.served
def test_the_device_path_on_served_records_its_mqtt_packets(tmp_path: Path) -> None:
    scenario = parse_scenario(
        textwrap.dedent(
            """\
            steps:
              - sphere.ca-certificate.download: {destination: ca.cer}
              - central.enrollment-group.create: {id: g, display_name: G}
              - central.certificate.set: {group: g, path: ca.cer}
              - central.verification-code.generate: {group: g}
                save_as: code
              - sphere.ca-certificate.download-proof: {verification_code: "{code}", destination: p.cer}
              - central.certificate.verify: {group: g, path: p.cer}
              - device.create: {count: 1}
                save_as: dev
              - device.claim: {devices: "{dev.ids}"}
              - device.connect: {devices: "{dev.ids}"}
            """
        ),
        "device.yaml",
    )
    from harness.targets import ServedTarget

    target = RecordingTarget(ServedTarget(), tmp_path / "device.json")
    result = run(scenario, target, workdir=tmp_path)
    assert result.passed, result.failed_step
    section = json.loads((tmp_path / "device.json").read_text())["SphereHarness"]
    packets = section["MqttEntries"]
    assert {p["Step"] for p in packets} == {8}
    kinds = [(p["Direction"], p["Packet"]) for p in packets]
    assert kinds[:2] == [("out", "CONNECT"), ("in", "CONNACK")]
    register = next(p for p in packets if p.get("Topic", "").startswith("$dps/registrations/PUT/iotdps-register"))
    assert register["Payload"]["registrationId"]
    connect = packets[0]
    assert connect["Username"].startswith("0ne") and is_placeholder(connect["Username"].split("/")[0])


# -- the CLI and the plugin ------------------------------------------------------------------------------------


def test_the_cli_records_and_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recording = tmp_path / "rec.json"
    assert main(["run", "proof-mismatch", "--workdir", str(tmp_path / "a"), "--record", str(recording)]) == 0
    assert main(["run", "--target", "replay", "--recording", str(recording), "--workdir", str(tmp_path / "b")]) == 0
    assert "proof-mismatch on replay" in capsys.readouterr().out
    assert main(["run", "--target", "replay", "--workdir", str(tmp_path / "c")]) == 2
    assert "--target replay needs --recording FILE" in capsys.readouterr().err
    folder = tmp_path / "many"
    folder.mkdir()
    assert main(["run", "enable-trust", "wrong-verification-code", "--record", str(folder), "--workdir",
                 str(tmp_path / "d")]) == 0  # fmt: skip
    assert sorted(p.name for p in folder.iterdir()) == ["enable-trust.json", "wrong-verification-code.json"]


def test_the_pytest_plugin_replays_a_recording(pytester: pytest.Pytester) -> None:
    shutil.copy(SHIPPED / "enable-trust.json", pytester.path / "enable-trust.json")
    pytester.makepyfile(
        test_replay="""
        import pytest

        @pytest.mark.recording("enable-trust.json")
        def test_marker(replayed):
            assert replayed.passed, replayed.failed_step
            assert replayed.target == "replay"

        def test_fixture(run_scenario):
            result = run_scenario(None, target="replay", recording="enable-trust.json")
            assert result.passed and result.variables["entry"]["verified"] is True

        @pytest.mark.recording("made.json", scenario="wrong-verification-code")
        def test_recorded_once_then_replayed(replayed):
            assert replayed.passed and replayed.target == "replay"

        def test_without_marker(replayed):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--harness-record-mode", "once")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*the `replayed` fixture needs @pytest.mark.recording*"])
    made = json.loads((pytester.path / "made.json").read_text())
    assert made["Variables"]["scenario"] == "wrong-verification-code" and made["Variables"]["target"] == "fake"


# -- no secret reaches a recording of a real run ----------------------------------------------------------------

_NAME = st.text(alphabet=string.ascii_letters + string.digits, min_size=12, max_size=20).filter(
    lambda s: sum(c.isalpha() for c in s) >= 4 and sum(c.isdigit() for c in s) >= 2
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(tenant_id=st.uuids().map(str), tenant_name=_NAME, key=_NAME, subdomain=_NAME, app_name=_NAME, extra=_NAME)
def test_a_run_with_random_identities_leaves_none_of_them_in_its_recording(
    tenant_id: str, tenant_name: str, key: str, subdomain: str, app_name: str, extra: str, tmp_path_factory: Any
) -> None:
    """The tenant's ID and name, its Administrator (named after the tenant's key), both Sphere tokens, the app's
    subdomain, name, ID scope and API token, and a value of the configuration's ``sanitize:`` list (here the group's
    display name, so it travels in request and response bodies) — none reaches the file; the recording still
    replays."""
    values = [tenant_name, key, subdomain, app_name, extra]
    # the tenant's key names it in the scenario (and so in the recording): it must not also be one of the secrets
    assume(all(a.lower() not in b.lower() for i, a in enumerate(values) for j, b in enumerate(values) if i != j))
    folder = tmp_path_factory.mktemp("secrets")
    source = folder / "secrets.yaml"
    source.write_text(
        textwrap.dedent(
            f"""\
            given:
              tenants: [{{key: k{key}, name: "{tenant_name}", tenant_id: "{tenant_id}"}}]
              apps: [{{key: central, subdomain: "{subdomain.lower()}", name: "{app_name}"}}]
            steps:
              - sphere.login
              - sphere.ca-certificate.download: {{destination: CAcertificate.cer}}
              - central.enrollment-group.create: {{id: azure-sphere, display_name: "{extra}"}}
              - central.certificate.set: {{group: azure-sphere, path: CAcertificate.cer}}
              - central.verification-code.generate: {{group: azure-sphere}}
                save_as: code
              - sphere.ca-certificate.download-proof: {{verification_code: "{{code}}", destination: proof.cer}}
              - central.certificate.verify: {{group: azure-sphere, path: proof.cer}}
              - central.enrollment-group.get: {{id: azure-sphere}}
            """
        )
    )
    scenario = load_scenario(source)
    secrets: list[str] = []

    class Target(FakeTarget):
        def session(self, scenario: Any, **kwargs: Any) -> Any:
            context = super().session(scenario, **kwargs)

            class Opened:
                def __enter__(self) -> Any:
                    session = context.__enter__()
                    session.sanitize = [extra]
                    tenant, app = session.tenant(), session.app()
                    secrets.extend([tenant.tenant_id, tenant.name, tenant.user, tenant.token, tenant.arm_token,
                                    app.subdomain, app.name, app.id_scope, app.api_token, extra])  # fmt: skip
                    return session

                def __exit__(self, *exc: Any) -> Any:
                    return context.__exit__(*exc)

            return Opened()

    recording = folder / "secrets.json"
    result = run(scenario, RecordingTarget(Target(), recording), workdir=folder / "work")
    assert result.passed, result.failed_step
    api_token = secrets[8].split(" ", 1)[1]  # SharedAccessSignature sr=…
    found = leaks(recording.read_text(), [s for s in secrets if s] + [api_token])
    assert found == [], found
    replay = ReplayTarget(recording)  # its own scenario: the recorded text, sanitized like the exchanges
    replayed = run(replay.scenario(), replay, workdir=folder / "replay")
    assert replayed.passed, replayed.failed_step


def test_load_sanitizes_what_it_reads(tmp_path: Path) -> None:
    """A hand-made recording holding a token: the loaded cassette holds a placeholder instead."""
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"
    entry = {
        "RequestUri": "https://prod.core.sphere.azure.net/v2/tenants", "RequestMethod": "GET",
        "RequestHeaders": {"authorization": f"Bearer {jwt}"}, "RequestBody": None, "StatusCode": 200,
        "ResponseHeaders": {"content-type": "application/json"}, "ResponseBody": {"token": jwt},
    }  # fmt: skip
    path = tmp_path / "foreign.json"
    path.write_text(json.dumps({"Entries": [entry], "Variables": {}}))
    cassette = load(path)
    assert jwt not in repr(cassette.entries) and base64.b64encode(jwt.encode()).decode() not in repr(cassette.entries)
    assert json.loads(cassette.entries[0].response_body) == {"token": "Sanitized-1"}

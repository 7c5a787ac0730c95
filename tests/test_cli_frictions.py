"""The command line as a user meets it: version, start-up imports, names/folders/--all, --var, did-you-mean, serve."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent

HEAVY = ("simulator", "httpx", "pydantic", "cryptography", "harness.runner", "harness.steps", "typer", "rich")


def imported_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running ``code``."""
    probe = code + textwrap.dedent(f"""
        import sys, json
        heavy = {HEAVY!r}
        print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy))))
        """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_version_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    import harness
    import simulator

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith(f"sphere-harness {harness.__version__} (Python 3.")
    assert simulator.__version__ == harness.__version__
    import httpx

    from simulator.cloud import FakeCloud

    with FakeCloud(seed=1).mock():
        assert httpx.get("https://sim.sphere-harness.local/_sim/health").json()["version"] == harness.__version__


def test_help_and_list_import_neither_the_fakes_nor_the_runner() -> None:
    assert imported_after("from harness.cli import main; main(['--help'])") == []
    assert imported_after("from harness.cli import main; main(['list'])") == []


def test_the_pytest_plugin_module_imports_only_pytest() -> None:
    assert imported_after("import harness.pytest_plugin") == []


def test_help_lists_every_registered_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_validate_takes_names_folders_and_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "enable-trust"]) == 0
    assert "valid:" in capsys.readouterr().out
    assert main(["validate", str(ROOT / "scenarios")]) == 0
    out = capsys.readouterr().out
    assert out.count("valid:") == len(list((ROOT / "scenarios").glob("*.yaml")))
    assert main(["validate", "--all"]) == 0
    assert main(["validate", "no-such-scenario"]) == 2
    assert "no scenario file or known scenario by that name" in capsys.readouterr().err
    assert main(["validate", str(tmp_path)]) == 2  # an empty folder is a mistake, not a pass
    assert "holds no *.yaml scenario" in capsys.readouterr().err


def test_run_a_folder_with_vars(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mine"
    write(
        folder,
        "a.yaml",
        """
        vars: {greeting: hello, size: 1}
        steps:
          - expect: {actual: "{greeting}", equals: bye}
          - expect: {actual: "{size}", equals: 3}
        """,
    )
    write(folder, "b.yaml", "steps:\n  - sim.clock.advance: {by: 1d}\n")
    work = tmp_path / "work"
    # several scenarios: a variable goes to those that declare it (b.yaml declares none and runs as written)
    assert main(["run", str(folder), "--workdir", str(work), "--var", "greeting=bye", "--var", "size=3"]) == 0
    assert "2 of 2 scenarios passed" in capsys.readouterr().out
    assert main(["run", str(folder), "--workdir", str(work), "--var", "greting=bye"]) == 2
    assert "none of the scenarios declares it (did you mean greeting?)" in capsys.readouterr().err
    one = ["run", str(folder / "a.yaml"), "--workdir", str(work)]
    assert main([*one, "--var", "greeting=bye", "--var", "size=3"]) == 0
    assert main([*one, "--var", "greting=bye"]) == 2
    assert "(did you mean greeting?)" in capsys.readouterr().err
    assert main([*one, "--var", "novalue"]) == 2


#: misspellings in a fault rule, and what `validate` must say about each
FAULT_TYPOS = {
    "knd": "unknown effect field(s): knd (did you mean kind?)",
    "centrl": "unknown service 'centrl' (did you mean central?)",
    "dorp": "unknown effect kind 'dorp' (did you mean drop?)",
    "verfy": "central has no operation 'verfy' (did you mean verify?), so the rule would never fire",
}


def fault_case(rule: str) -> tuple[str, str]:
    """A scenario adding one fault rule, with what `validate` must say about it."""
    word = next(word for word in FAULT_TYPOS if word in rule)
    return f"steps:\n  - sim.fault.add: {{{rule}}}\n", FAULT_TYPOS[word]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "steps:\n  - central.certificate.verify: {group: g, path: p.cer}\n    expect_eror: {status: 400}\n",
            "unknown step field 'expect_eror' (did you mean expect_error?)",
        ),
        ("steps:\n  - central.certificate.get: {group: g, entyr: primary}\n", "(did you mean entry?)"),
        ("descripton: x\nsteps:\n  - sphere.login\n", "(did you mean description?)"),
        ("given: {tenants: [{nme: Contoso}]}\nsteps:\n  - sphere.login\n", "(did you mean name?)"),
        ("given: {settings: {central: {code_reus: true}}}\nsteps:\n  - sphere.login\n", "(did you mean code_reuse"),
        (
            "steps:\n  - central.certificate.verify: {group: g, path: p.cer}\n"
            "    expect_error: {status: 400, cod: X}\n",
            "(did you mean code?)",
        ),
        (
            "steps:\n  - sphere.ca-certificate.list:\n    save_as: certs\n  - expect: {actual: '{cert}', length: 1}\n",
            "(did you mean certs?)",
        ),
        (
            "steps:\n  - central.certificate.get: {group: g}\n    save_as: e2\n"
            "  - expect: {actual: '{e2.verifed}', equals: true}\n",
            "{e2} has no key 'verifed' (did you mean verified?)",
        ),
        (
            "steps:\n  - central.certificate.verify: {group: g, path: p.cer}\n    save_as: refusal\n"
            "    expect_error: {status: 400}\n  - expect: {actual: '{refusal.cod}', equals: X}\n",
            "(did you mean code?)",
        ),
        ("steps:\n  - expect: {actual: '{tenant.idd}', equals: x}\n", "(did you mean id?)"),
        # two letters swapped in a short word: difflib's ratio alone misses it
        ("given: {tenants: [{kye: contoso}]}\nsteps:\n  - sphere.login\n", "(did you mean key?)"),
        (
            "steps:\n  - central.certificate.verify: {group: g, path: p.cer}\n    expect_error: {stauts: 400}\n",
            "step 1 (central.certificate.verify): expect_error.stauts: unknown field (did you mean status?)",
        ),
        # a fault rule is checked as the world checks it, before the run: fields, service, effect, operation
        fault_case("service: central, operation: verify, effect: {knd: drop}"),
        fault_case("service: centrl, operation: verify"),
        fault_case("service: central, operation: verify, effect: {kind: dorp}"),
        fault_case("service: central, operation: verfy"),
    ],
)
def test_did_you_mean_on_every_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = write(tmp_path, "typo.yaml", text)
    assert main(["validate", str(path)]) == 2
    assert expected in capsys.readouterr().err


def test_serve_names_the_option_for_a_busy_port() -> None:
    from harness.commands.serve import port_hint

    assert "--mqtt-port" in port_hint("cannot listen for MQTT on 127.0.0.1:8883: [Errno 98] Address already in use")
    assert "--port" in port_hint("cannot listen for sphere on 127.0.0.1:8443: Address already in use")
    assert port_hint("something else") == ""


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_registered_command_loads_and_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--help"]) == 0 or name in ("az", "azsphere")  # the lab shims pass --help to their grammar
    shown = capsys.readouterr().out
    assert "``" not in shown and ":class:" not in shown, f"reST markup in `{name} --help`"


def test_run_all_runs_every_known_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.scenario_files as files

    mine = tmp_path / "mine"
    one = write(mine, "one.yaml", "steps:\n  - expect: {actual: 1, equals: 1}\n")
    two = write(mine, "two.yaml", "steps:\n  - expect: {actual: 1, equals: 2}\n")
    monkeypatch.setattr(files, "list_scenarios", lambda: [("one", one), ("two", two)])
    report = tmp_path / "r.json"
    assert main(["run", "--all", "--workdir", str(tmp_path / "w"), "--report-json", str(report)]) == 1
    assert "1 of 2 scenarios passed" in capsys.readouterr().out
    assert [s["scenario"] for s in json.loads(report.read_text())["scenarios"]] == ["one", "two"]


@pytest.mark.served
def test_serve_says_which_seed_and_which_option_when_the_mqtt_port_is_busy(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", "0", "--mqtt-port", str(port)]) == 1
    err = capsys.readouterr().err
    assert re.search(r"seed \d+ \(random; --seed \d+ serves the same world again\)", err), err
    assert "seed None" not in err
    assert "--mqtt-port" in err and str(port) in err
    assert err.count("start") == 2, err  # "starting the world", then why it could not start: once, no chatter
    assert "Shutting down" not in err


def test_serve_takes_settings_and_refuses_what_is_not_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from harness.commands.serve import parse_settings
    from harness.commands.state import open_world

    assert parse_settings(("central.code_reuse=true", "dps.retry_after_s=1", "central.code_ttl_s=")) == {
        "central": {"code_reuse": True, "code_ttl_s": None},
        "dps": {"retry_after_s": 1},
    }
    for wrong, said in [
        ("centrl.code_reuse=true", "(did you mean central?)"),
        ("central.code_reus=true", "(did you mean code_reuse"),
        ("central.page_size=ten", "central.page_size: Input should be a valid integer"),
        ("dps.auth_failure_mode=conack", "'connack' or 'res401'"),
        ("code_reuse=true", "expected SECTION.NAME=VALUE"),
    ]:
        assert main(["serve", "--setting", wrong]) == 2, wrong  # refused before any listener starts
        assert said in capsys.readouterr().err, wrong
    cloud = open_world(None, state_dir=None, snapshot=None, new_seed=3, settings={"central": {"code_reuse": True}})
    assert cloud.settings.central.code_reuse is True
    assert cloud.state()["settings"] == {"central": {"code_reuse": True}}
    kept = open_world(None, state_dir=tmp_path / "world", snapshot=None, new_seed=3)
    kept.close()
    with pytest.raises(ValueError, match="already holds a world, with its own settings"):
        open_world(None, state_dir=tmp_path / "world", snapshot=None, settings={"central": {"code_reuse": True}})


def test_settings_values_are_checked_like_their_names() -> None:
    from simulator.settings import Settings

    for wrong in (
        {"dps": {"auth_failure_mode": "conack"}},
        {"central": {"page_size": "7"}},
        {"pki": {"root_years": True}},
    ):
        with pytest.raises(ValueError, match=r"^(dps|central|pki)\.\w+: "):
            Settings.from_mapping(wrong)
    assert Settings.from_mapping({"pki": {"proof_hours": 48}}).pki.proof_hours == 48  # an int where a float goes

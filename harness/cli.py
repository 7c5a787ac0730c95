"""``sphere-harness``: run scenarios, list and validate them, serve the fake world, mint simulated devices.

::

    sphere-harness run                                   # scenarios/enable-trust.yaml, offline, in-process
    sphere-harness run enable-trust --target served      # the same over HTTPS on loopback
    sphere-harness run my.yaml --seed 7 --workdir out --report-json out/report.json --junit out/junit.xml
    sphere-harness run --target live --live-config live.yaml --i-understand-this-touches-real-resources
    sphere-harness list
    sphere-harness validate scenarios/enable-trust.yaml
    sphere-harness serve --port 8443 --endpoints-file endpoints.json
    sphere-harness device new --count 3 --claim --endpoints-file endpoints.json --out devices/

Exit status of ``run`` and ``validate``: 0 everything passed, 1 an expectation or a step failed, 2 invalid input
(a scenario file that does not validate, an unknown target, live without the opt-in or without configuration).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from harness.commands import lab as _lab_commands
from harness.config import OPT_IN_FLAG
from harness.scenario import ScenarioError, find_scenario, list_scenarios, load_scenario

EXIT_PASSED, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
DEFAULT_SCENARIO = "enable-trust"

app = typer.Typer(
    name="sphere-harness",
    help="Offline fakes of Azure Sphere, IoT Central and DPS, and scenarios that also run against the real services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
device_app = typer.Typer(help="Simulated Sphere devices of a served world.", no_args_is_help=True)
app.add_typer(device_app, name="device")
_lab_commands.register(app, device_app)  # lab env|shell|serve, azsphere, az, device connect (harness/commands/lab.py)


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


@app.command()
def run(
    scenarios: Annotated[
        list[str] | None, typer.Argument(help="scenario names or files (default: enable-trust)")
    ] = None,
    target: Annotated[str, typer.Option(help="fake | served | live")] = "fake",
    seed: Annotated[int | None, typer.Option(help="seed for names, keys, IDs and codes")] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="work folder for downloaded files (default ./sphere-harness-work/<scenario>)")
    ] = None,
    report_json: Annotated[Path | None, typer.Option("--report-json", help="write a JSON report here")] = None,
    junit: Annotated[Path | None, typer.Option(help="write a JUnit XML report here")] = None,
    i_understand: Annotated[
        bool, typer.Option(OPT_IN_FLAG, help="allow --target live to create and delete real resources")
    ] = False,
    live_config: Annotated[Path | None, typer.Option(help="live configuration file (YAML or endpoints JSON)")] = None,
    step: Annotated[bool, typer.Option("--step", help="pause before each step and show the values after it")] = False,
) -> None:
    """Run scenarios (default: the seed workflow enable-trust) and report each step."""
    from harness.report import ConsoleReporter, write_json, write_junit
    from harness.runner import run as run_one
    from harness.targets import TargetError, make_target

    console, errors = _console(), _console(stderr=True)
    try:
        loaded = [load_scenario(find_scenario(name)) for name in (scenarios or [DEFAULT_SCENARIO])]
        chosen = make_target(target, live_config=live_config, opt_in=i_understand)
    except (ScenarioError, TargetError) as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_INVALID) from None
    reporter = ConsoleReporter(console)
    listen = reporter.listen
    if step:
        from harness.lab.stepper import StepThrough

        listen = StepThrough(reporter.listen)
    results = []
    for scenario in loaded:
        folder = workdir
        if folder is None:
            folder = Path.cwd() / "sphere-harness-work" / scenario.name
        elif len(loaded) > 1:
            folder = folder / scenario.name
        try:
            results.append(run_one(scenario, chosen, seed=seed, workdir=folder, listener=listen))
        except TargetError as exc:
            errors.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(EXIT_INVALID) from None
    if report_json is not None:
        write_json(results, report_json)
    if junit is not None:
        write_junit(results, junit)
    if len(results) > 1:
        passed = sum(1 for r in results if r.passed)
        console.print(f"{passed} of {len(results)} scenarios passed")
    raise typer.Exit(EXIT_PASSED if all(r.passed for r in results) else EXIT_FAILED)


@app.command("list")
def list_command() -> None:
    """List the known scenarios with their one-line descriptions."""
    console = _console()
    for name, path in list_scenarios():
        try:
            description = load_scenario(path).description
        except ScenarioError as exc:
            console.print(f"[bold]{escape(name)}[/]  [red](invalid: {escape(str(exc))})[/]")
            continue
        first_line = description.splitlines()[0] if description else ""
        console.print(f"[bold]{escape(name)}[/]  {escape(first_line)}")


@app.command()
def validate(files: Annotated[list[Path], typer.Argument(help="scenario files to check")]) -> None:
    """Check scenario files without running them (exit 2 and file:line on the first problem of each)."""
    console, errors = _console(), _console(stderr=True)
    bad = 0
    for path in files:
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            errors.print(f"[red]invalid:[/] {escape(str(exc))}")
            bad += 1
            continue
        console.print(f"[green]valid:[/] {escape(str(path))} ({scenario.name}, {len(scenario.steps)} steps)")
    raise typer.Exit(EXIT_INVALID if bad else EXIT_PASSED)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="first HTTPS port (0: free ports)")] = 0,
    mqtt_port: Annotated[
        int, typer.Option(help="MQTT/TLS port for DPS and the hub (the device SDK needs 8883)")
    ] = 8883,
    seed: Annotated[int | None, typer.Option(help="seed of the world")] = None,
    endpoints_file: Annotated[Path | None, typer.Option(help="write the endpoints JSON here once ready")] = None,
) -> None:
    """Serve the whole fake world over HTTPS and MQTT/TLS until interrupted (Ctrl-C or SIGTERM → exit 0)."""
    from simulator.cloud import FakeCloud

    errors = _console(stderr=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        cloud = FakeCloud(seed)
        try:
            served = cloud.serve(
                host=host, port=port, mqtt_port=mqtt_port, endpoints_file=endpoints_file, log_requests=True
            )
        except (OSError, RuntimeError, ValueError) as exc:
            errors.print(f"[red]error:[/] the world did not start: {escape(str(exc))}")
            raise typer.Exit(EXIT_FAILED) from None
        with served:
            where = f"endpoints in {endpoints_file}" if endpoints_file else "endpoints:"
            errors.print(f"serving the fake world (seed {seed}); {where}; Ctrl-C to stop")
            if endpoints_file is None:
                print(json.dumps(served.endpoints), flush=True)
            while not stop.wait(0.5):
                pass
            errors.print("stopping")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    raise typer.Exit(EXIT_PASSED)


@device_app.command("new")
def device_new(
    endpoints_file: Annotated[Path, typer.Option(help="the served world's endpoints file")],
    out: Annotated[Path, typer.Option(help="folder for the key, certificate chain and devices.json")],
    count: Annotated[int, typer.Option(min=1, max=1000, help="how many devices")] = 1,
    claim: Annotated[bool, typer.Option(help="claim them into the world's tenant (gives them certificates)")] = False,
) -> None:
    """Mint simulated Sphere devices through the served world's control API (POST /_sim/devices)."""
    from harness.clients import ControlClient, HarnessClientError

    errors = _console(stderr=True)
    try:
        endpoints = json.loads(endpoints_file.read_text(encoding="utf-8"))
        control_url, ca_bundle = endpoints["control_url"], endpoints["ca_bundle"]
        tenant_id = (endpoints.get("sphere") or {}).get("tenant_id") if claim else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        errors.print(f"[red]error:[/] {escape(str(endpoints_file))} is not a usable endpoints file: {escape(str(exc))}")
        raise typer.Exit(EXIT_INVALID) from None
    try:
        with ControlClient(control_url, verify=ca_bundle) as control:
            devices = control.create_devices(count, claim=claim, tenant_id=tenant_id)
    except HarnessClientError as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_FAILED) from None
    written = write_devices(devices, out)
    console = _console()
    for entry in written:
        console.print(f"{entry['id'][:16]}…  key {entry['key_file']}  chain {entry['cert_file'] or '(unclaimed)'}")
    console.print(f"wrote {out / 'devices.json'}")


def write_devices(devices: list[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """Each device's ``<id>.key.pem`` and ``<id>.chain.pem`` (leaf first) plus ``devices.json`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for device in devices:
        device_id = device["id"]
        key_file = out / f"{device_id}.key.pem"
        key_file.write_text(device["key_pem"], encoding="ascii")
        os.chmod(key_file, 0o600)
        cert_file = None
        if device.get("certificate_chain_pem"):
            cert_file = out / f"{device_id}.chain.pem"
            cert_file.write_text(device["certificate_chain_pem"], encoding="ascii")
        written.append({"id": device_id, "key_file": str(key_file), "cert_file": str(cert_file) if cert_file else None})
    (out / "devices.json").write_text(json.dumps(written, indent=2) + "\n", encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit status (so tests can call it in-process too)."""
    try:
        app(args=argv, prog_name="sphere-harness", standalone_mode=True)
    except SystemExit as exc:  # typer.Exit and click's usage errors (status 2) end here
        code = exc.code
        return code if isinstance(code, int) else (EXIT_PASSED if code is None else EXIT_INVALID)
    return EXIT_PASSED


if __name__ == "__main__":
    sys.exit(main())

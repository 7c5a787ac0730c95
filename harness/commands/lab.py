"""``sphere-harness lab …``, ``sphere-harness azsphere …`` and ``sphere-harness az …``: the training commands.

::

    eval "$(sphere-harness lab env --endpoints-file endpoints.json)"    # azsphere and az on PATH, in this shell
    sphere-harness lab shell --endpoints-file endpoints.json             # a new shell that is a lab
    sphere-harness azsphere ca-certificate list                          # the same shims, without PATH
    sphere-harness lab serve --trainees 20 --out lab/                    # a classroom: one world, N trainees

Registered in :data:`harness.cli.COMMANDS` (imported when used); everything heavy is imported inside the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

EXIT_PASSED, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}

lab_app = typer.Typer(
    help="The training lab: the unit's azsphere and az commands in a shell, and classrooms.", no_args_is_help=True
)

EndpointsOption = Annotated[Path, typer.Option(help="the served world's endpoints file (or a trainee's)")]
LabDirOption = Annotated[
    Path | None, typer.Option(help="the lab folder (default: .sphere-harness-lab beside the endpoints file)")
]


def _prepare(endpoints_file: Path, lab_dir: Path | None):  # -> Lab
    from harness.lab.environment import NotInLab
    from harness.lab.shell import prepare

    try:
        return prepare(endpoints_file, lab_dir)
    except NotInLab as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_INVALID) from None


@lab_app.command("env")
def lab_env(endpoints_file: EndpointsOption, lab_dir: LabDirOption = None) -> None:
    """Print shell exports putting the lab's azsphere and az shims on PATH: eval "$(sphere-harness lab env …)"."""
    from harness.lab.shell import exports

    print(exports(_prepare(endpoints_file, lab_dir)))


@lab_app.command("shell")
def lab_shell(
    endpoints_file: EndpointsOption,
    lab_dir: LabDirOption = None,
    shell: Annotated[str | None, typer.Option(help="the shell to start (default: $SHELL)")] = None,
) -> None:
    """Start a shell whose azsphere and az are the lab's shims, with a prompt that says it is a lab."""
    from harness.lab.shell import run_shell

    raise typer.Exit(run_shell(_prepare(endpoints_file, lab_dir), shell))


@lab_app.command("serve")
def lab_serve(
    trainees: Annotated[int, typer.Option(min=1, max=1000, help="how many trainees")],
    out: Annotated[Path, typer.Option(help="folder for roster.csv, instructor.json and one folder per trainee")],
    host: Annotated[
        str, typer.Option(help="address to listen on (127.0.0.1: this machine only; 0.0.0.0 or an address: a room)")
    ] = "127.0.0.1",
    advertise: Annotated[
        str | None, typer.Option(help="the address the trainees' files name (default: derived from --host)")
    ] = None,
    port: Annotated[int, typer.Option(help="first HTTPS port (0: free ports)")] = 0,
    mqtt_port: Annotated[int, typer.Option(help="MQTT/TLS port for DPS and the hub")] = 8883,
    seed: Annotated[int | None, typer.Option(help="seed of the world")] = None,
) -> None:
    """Serve one world for a classroom: a tenant and an IoT Central app per trainee, until interrupted."""
    import logging
    import signal
    import threading

    from harness.lab.classroom import ClassroomError, serve_classroom

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            classroom = serve_classroom(
                trainees, out, host=host, port=port, mqtt_port=mqtt_port, seed=seed, advertise=advertise
            )
        except ClassroomError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(EXIT_INVALID) from None
        except (OSError, RuntimeError) as exc:
            print(f"error: the classroom did not start: {exc}", file=sys.stderr)
            raise typer.Exit(EXIT_FAILED) from None
        with classroom:
            print(
                f"serving {len(classroom.trainees)} trainees; roster in {classroom.out / 'roster.csv'}", file=sys.stderr
            )
            print(f"instructor page: {classroom.instructor_url}", file=sys.stderr)
            if classroom.served.control_token:
                print(
                    f"serving on {host}: the control API (/_sim) needs the world's control token, which every "
                    "trainee's endpoints.json carries (control_token); hand each trainee only their own folder",
                    file=sys.stderr,
                )
            print("Ctrl-C to stop", file=sys.stderr)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    raise typer.Exit(EXIT_PASSED)


def _shim(tool: str, ctx: typer.Context) -> None:
    from harness.lab.shim import run

    raise typer.Exit(run(tool, list(ctx.args)))


def azsphere(ctx: typer.Context) -> None:
    """The lab's azsphere (legacy Azure Sphere CLI) commands; works inside a lab only (see 'lab env')."""
    _shim("azsphere", ctx)


def az(ctx: typer.Context) -> None:
    """The lab's 'az sphere' commands (ARM); works inside a lab only (see 'lab env')."""
    _shim("az", ctx)


def device_connect(
    endpoints_file: EndpointsOption,
    device_dir: Annotated[Path, typer.Option(help="the folder 'sphere-harness device new --out' wrote")],
    device: Annotated[
        str | None, typer.Option(help="connect only this device ID (default: every device there)")
    ] = None,
) -> None:
    """Connect simulated devices as a real one would after its daily attestation: fetch its certificate chain
    (claimed devices only), register with DPS over MQTT/TLS, and so appear in IoT Central as Provisioned."""
    import json

    from harness.lab.connect import ConnectError, connect_devices
    from harness.lab.environment import resolve_bundle

    try:
        endpoints = resolve_bundle(json.loads(endpoints_file.read_text(encoding="utf-8")), endpoints_file)
        results = connect_devices(endpoints, device_dir, only=device)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_INVALID) from None
    except ConnectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_FAILED) from None
    failed = 0
    for result in results:
        print(result.line())
        failed += not result.ok
    raise typer.Exit(EXIT_FAILED if failed else EXIT_PASSED)


def _single(function, name: str, **settings) -> typer.Typer:  # a one-command typer app: loaded as that command
    app = typer.Typer(add_completion=False)
    app.command(name, **settings)(function)
    return app


#: registered in :data:`harness.cli.COMMANDS` (loaded when used): ``lab``, ``azsphere`` and ``az``; ``device
#: connect`` in :data:`harness.commands.device.DEVICE_COMMANDS`
azsphere_app = _single(azsphere, "azsphere", context_settings=PASSTHROUGH, add_help_option=False)
az_app = _single(az, "az", context_settings=PASSTHROUGH, add_help_option=False)
device_connect_app = _single(device_connect, "connect")

"""``sphere-harness lab …``, ``sphere-harness azsphere …`` and ``sphere-harness az …``: the training commands.

::

    eval "$(sphere-harness lab env --endpoints-file endpoints.json)"    # azsphere and az on PATH, in this shell
    sphere-harness lab shell --endpoints-file endpoints.json             # a new shell that is a lab
    sphere-harness azsphere ca-certificate list                          # the same shims, without PATH
    sphere-harness lab serve --trainees 20 --out lab/                    # a classroom: one world, N trainees

Registered in :mod:`harness.cli` by :func:`register`; everything heavy is imported inside the commands.
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


def _shim(tool: str, ctx: typer.Context) -> None:
    from harness.lab.shim import run

    raise typer.Exit(run(tool, list(ctx.args)))


def azsphere(ctx: typer.Context) -> None:
    """The lab's azsphere (legacy Azure Sphere CLI) commands; works inside a lab only (see 'lab env')."""
    _shim("azsphere", ctx)


def az(ctx: typer.Context) -> None:
    """The lab's 'az sphere' commands (ARM); works inside a lab only (see 'lab env')."""
    _shim("az", ctx)


def register(app: typer.Typer, device_app: typer.Typer) -> None:
    """Add the training commands to the ``sphere-harness`` app (and ``device connect`` to its device group)."""
    app.add_typer(lab_app, name="lab")
    app.command("azsphere", context_settings=PASSTHROUGH, add_help_option=False)(azsphere)
    app.command("az", context_settings=PASSTHROUGH, add_help_option=False)(az)

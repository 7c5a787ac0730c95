"""``sphere-harness``: the command line — a table of commands, each loaded only when it is used.

::

    sphere-harness run                                   # scenarios/enable-trust.yaml, offline, in-process
    sphere-harness run enable-trust --target served      # the same over HTTPS on loopback
    sphere-harness run --all --junit out/junit.xml       # every known scenario
    sphere-harness run my.yaml --seed 7 --var group=lab-1 --report-json r.json --report-html r.html
    sphere-harness list
    sphere-harness validate enable-trust scenarios/      # names, files and folders
    sphere-harness schema > scenario.schema.json         # JSON Schema of scenario files (for editors)
    sphere-harness serve --port 8443 --endpoints-file endpoints.json
    sphere-harness serve --state-dir world/ --endpoints-file endpoints.json   # a world that survives restarts
    sphere-harness state export world.json.gz --state-dir world/             # state import|check too
    sphere-harness inspect --endpoints-file endpoints.json
    sphere-harness device new --count 3 --claim --endpoints-file endpoints.json --out devices/
    sphere-harness --version

Exit status of ``run`` and ``validate``: 0 everything passed, 1 an expectation or a step failed, 2 invalid input
(a scenario file that does not validate, an unknown target, live without the opt-in or without configuration).

**Start-up cost.** This module imports only :mod:`click`. A command's module — and with it the harness, httpx,
pydantic or the fakes — is imported when that command runs, never for ``--help`` or to list the commands: the
one-line help of each command is written in :data:`COMMANDS` beside where it lives (the same pattern as click's
"lazily loading subcommands"). ``bench/startup.py`` measures what that saves.

**Adding a command** (one line): write it in its own module (``harness/commands/lab.py``) as a click command or
group — or a :class:`typer.Typer` app, converted when loaded — and add a row to :data:`COMMANDS`::

    "lab": ("harness.commands.lab:app", "Guided lab: the seed unit's steps without a tenant or a device."),
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

EXIT_PASSED, EXIT_FAILED, EXIT_INVALID = 0, 1, 2

#: command name → ("module:attribute", one-line help shown by ``--help``); the module is imported on first use
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("harness.commands.run:run", "Run scenarios (default: the seed workflow enable-trust), report each step."),
    "list": ("harness.commands.scenarios:list_command", "List the known scenarios with their one-line descriptions."),
    "validate": ("harness.commands.scenarios:validate", "Check scenario files, names or folders without running them."),
    "schema": ("harness.commands.scenarios:schema", "Print the JSON Schema of scenario files (for editors)."),
    "serve": ("harness.commands.serve:serve", "Serve the whole fake world over HTTPS and MQTT/TLS until interrupted."),
    "device": ("harness.commands.device:device", "Simulated Sphere devices of a served world."),
    "inspect": ("harness.commands.inspect:inspect", "Show what a served world holds and the requests it answered."),
    "lab": ("harness.commands.lab:lab_app", "The training lab: the unit's azsphere and az commands in a shell."),
    "azsphere": ("harness.commands.lab:azsphere_app", "The lab's azsphere commands (inside a lab; see 'lab env')."),
    "az": ("harness.commands.lab:az_app", "The lab's 'az sphere' commands (inside a lab; see 'lab env')."),
    "live": ("harness.commands.live:live", "Live runs: list and delete what interrupted runs left behind (sweep)."),
    "state": ("harness.commands.state:state_app", "Worlds on disk: export a world to a file, import one, check."),
    "parity": ("harness.commands.recordings:parity", "Compare a recording with the fake, exchange by exchange."),
    "recordings": ("harness.commands.recordings:recordings", "The shipped recordings: refresh them, check parity."),
}


def load_command(target: str) -> click.Command:
    """Import the command at ``"module:attribute"``; a typer app is turned into its click command."""
    module_name, _, attribute = target.partition(":")
    command: Any = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):  # a typer.Typer (typer builds click commands)
        import typer.main

        command = typer.main.get_command(command)
    return command


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use; ``--help`` reads the table only.

    ``lazy`` is the table (``name -> ("module:attribute", one-line help)``); the top level uses :data:`COMMANDS`.
    """

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = COMMANDS if lazy is None else lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.lazy, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.commands[cmd_name] = load_command(self.lazy[cmd_name][0])
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:  # typer has its own Exit and Abort (not click's): translate them for click
            if type(exc).__module__.startswith("typer") and type(exc).__name__ == "Exit":
                raise click.exceptions.Exit(getattr(exc, "exit_code", 0)) from None
            if type(exc).__module__.startswith("typer") and type(exc).__name__ == "Abort":
                raise click.Abort() from None
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.lazy[name][1]) for name in sorted(self.lazy)]
        extra = sorted(item for item in self.commands.items() if item[0] not in self.lazy)
        rows += [(name, command.get_short_help_str()) for name, command in extra]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _version() -> str:
    from harness._version import __version__

    return __version__


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"sphere-harness {_version()} (Python {sys.version.split()[0]})")
    ctx.exit(0)


@click.group(
    cls=LazyGroup,
    name="sphere-harness",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
    no_args_is_help=True,
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print the version and exit.",
)
def app() -> None:
    """Offline fakes of Azure Sphere, IoT Central and DPS, and scenarios that also run against the real services."""


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit status (so tests can call it in-process too)."""
    try:
        app.main(args=argv, prog_name="sphere-harness", standalone_mode=True)
    except SystemExit as exc:  # ctx.exit(), click's usage errors (status 2) and the commands' exits end here
        code = exc.code
        return code if isinstance(code, int) else (EXIT_PASSED if code is None else EXIT_INVALID)
    return EXIT_PASSED


if __name__ == "__main__":
    sys.exit(main())

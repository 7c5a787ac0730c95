"""The knack glue of the lab shims: a grammar held as data, handlers that return objects, one output layer.

Both the legacy ``azsphere`` CLI and ``az sphere`` (the azure-sphere extension of the Azure CLI) are built on
`knack <https://github.com/microsoft/knack>`_, Microsoft's CLI framework, so the shims use it too and inherit the
real tools' behaviour for free: ``--help`` on every level, ``-o/--output`` and ``--query`` (JMESPath), close-match
suggestions and exit 2 for an unknown command or value, exit 1 and a one-line ``ERROR: …`` for a user error.

A grammar is a :class:`Grammar`: its commands (:class:`Command`, keyed by space-separated paths) with their
arguments (:class:`Arg`), group summaries, the default output format and the table layout. A handler is a plain
function ``handler(ctx, **arguments)`` in the grammar's module; ``ctx`` is the :class:`ShimContext` (the lab, the
output stream) and the return value goes through the output layer. A handler refuses with
:class:`knack.util.CLIError`; the wire clients' errors (:class:`~harness.clients.errors.ServiceError`, a transport
failure) become one ``ERROR:`` line with exit 1 here, never a traceback.

:func:`invoke` runs one command line and returns its exit code (it never calls ``sys.exit``), so tests run the
shims in-process with their own output streams.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import yaml
from knack import CLI
from knack.arguments import ArgumentsContext
from knack.commands import CLICommandsLoader, CommandGroup
from knack.events import EVENT_PARSER_GLOBAL_CREATE
from knack.help_files import helps
from knack.log import CLILogging
from knack.output import OutputProducer, format_json, format_none, format_tsv, format_yaml
from knack.util import CLIError

from harness.lab.environment import Lab

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
SHIM_VERSION = "sphere-harness lab shim"


@dataclass(frozen=True)
class Arg:
    """One argument of a command: the handler parameter ``name`` and its option strings."""

    name: str
    options: tuple[str, ...]
    help: str
    choices: tuple[str, ...] | None = None
    required: bool | None = None  # None: from the handler's signature (no default → required)


@dataclass(frozen=True)
class Command:
    """One command: its path (``"ca-certificate download"``), handler name, help and arguments."""

    path: str
    handler: str
    summary: str
    args: tuple[Arg, ...] = ()
    long_summary: str | None = None
    examples: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Grammar:
    """A whole CLI: name, handler module, command table, group summaries, output defaults."""

    name: str
    module: str
    commands: tuple[Command, ...]
    groups: dict[str, str]
    default_output: str
    table: Callable[[Any], str]  # the table formatter: knack.util.CommandResultItem -> text
    welcome: str

    def command(self, path: str) -> Command:
        return next(c for c in self.commands if c.path == path)


@dataclass
class ShimContext:
    """What a handler receives first: the lab, the tool's name and the stream its messages go to."""

    lab: Lab
    tool: str
    out: TextIO
    extra: dict[str, Any] = field(default_factory=dict)

    def say(self, text: str) -> None:
        """A progress or success line on standard output (``Saved the CA certificate to …``)."""
        print(text, file=self.out, flush=True)

    def __bool__(self) -> bool:  # knack passes the "client" only when it is truthy
        return True


# -- output layer ------------------------------------------------------------------------------------------------


def rows_of(result: Any) -> list[dict[str, Any]]:
    """A result as table rows: a list of objects, or one object as one row."""
    items = result if isinstance(result, list) else [result]
    return [item if isinstance(item, dict) else {"Result": item} for item in items]


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    return str(value)


def format_rule_table(item: Any) -> str:
    """The legacy ``azsphere`` table: a dashed rule, the headers, a rule of ``=``, the rows, a dashed rule.

    That style is documented (the azsphere reference); the widths are not, so columns are padded to
    their widest value with two spaces between them, rules as wide as the table, each line indented by one space.
    """
    rows = rows_of(item.result)
    if not rows:
        return ""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    widths = [max(len(column), *(len(cell(row.get(column))) for row in rows)) for column in columns]

    def line(values: Sequence[str]) -> str:
        return " " + "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    width = sum(widths) + 2 * (len(widths) - 1)
    out = [" " + "-" * width, line(columns), " " + "=" * width]
    out += [line([cell(row.get(c)) for c in columns]) for row in rows]
    out.append(" " + "-" * width)
    return "\n".join(out) + "\n"


class _Output(OutputProducer):
    """knack's output producer with the grammar's default format and table layout."""

    def __init__(self, cli_ctx: Any = None) -> None:
        super().__init__(cli_ctx=cli_ctx)
        cli_ctx.unregister_event(EVENT_PARSER_GLOBAL_CREATE, OutputProducer.on_global_arguments)
        cli_ctx.register_event(EVENT_PARSER_GLOBAL_CREATE, self._global_arguments)

    def formats(self) -> dict[str, Callable[[Any], str]]:
        grammar: Grammar = self.cli_ctx.grammar
        return {
            "json": format_json,
            "jsonc": format_json,
            "table": grammar.table,
            "tsv": format_tsv,
            "yaml": format_yaml,
            "none": format_none,
        }

    def _global_arguments(self, cli_ctx: Any, **kwargs: Any) -> None:
        kwargs["arg_group"].add_argument(
            "--output",
            "-o",
            dest=OutputProducer.ARG_DEST,
            choices=list(self.formats()),
            default=cli_ctx.grammar.default_output,
            help="Output format.",
            type=str.lower,
        )

    def get_formatter(self, format_type: str) -> Callable[[Any], str]:
        return self.formats()[format_type]


# -- commands and arguments ----------------------------------------------------------------------------------------


class _Loader(CLICommandsLoader):
    """Fills knack's command table and argument registry from the grammar (no hand-parsed argv anywhere)."""

    def __init__(self, cli_ctx: Any = None) -> None:
        super().__init__(cli_ctx=cli_ctx, excluded_command_handler_args=["self", "kwargs", "ctx"])

    def load_command_table(self, args: Any) -> Any:
        grammar: Grammar = self.cli_ctx.grammar
        context = self.cli_ctx.shim_context
        for command in grammar.commands:
            group, _, name = command.path.rpartition(" ")
            with CommandGroup(self, group, f"{grammar.module}#{{}}", client_factory=lambda _args: context) as g:
                g.command(name, command.handler)
        return super().load_command_table(args)

    def load_arguments(self, command: Any) -> None:
        for spec in self.cli_ctx.grammar.commands:
            with ArgumentsContext(self, spec.path) as ac:
                for arg in spec.args:
                    settings: dict[str, Any] = {"options_list": list(arg.options), "help": arg.help}
                    if arg.choices is not None:
                        settings["choices"] = list(arg.choices)
                    if arg.required is not None:
                        settings["required"] = arg.required
                    ac.argument(arg.name, **settings)
        super().load_arguments(command)


def _help_entries(grammar: Grammar) -> dict[str, str]:
    """knack's help files (YAML text keyed by command path) for every group and command of the grammar."""
    entries = {path: yaml.safe_dump({"type": "group", "short-summary": text}) for path, text in grammar.groups.items()}
    for command in grammar.commands:
        doc: dict[str, Any] = {"type": "command", "short-summary": command.summary}
        if command.long_summary:
            doc["long-summary"] = command.long_summary
        if command.examples:
            doc["examples"] = [{"name": name, "text": text} for name, text in command.examples]
        entries[command.path] = yaml.safe_dump(doc, sort_keys=False)
    return entries


# -- the CLI -------------------------------------------------------------------------------------------------------


class _Logging(CLILogging):
    """knack's logging, but on one handler of our own: ``ERROR: …`` lines go to the invocation's error stream
    whether or not something (pytest) already configured the root logger."""

    def configure(self, args: Any) -> None:
        self.log_level = self._determine_log_level(args)
        level = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}.get(
            int(self.log_level), logging.WARNING
        )
        self.cli_ctx.shim_log_handler.setLevel(level)


class ShimCLI(CLI):
    """A knack CLI for one grammar, bound to a lab."""

    def __init__(self, grammar: Grammar, context: ShimContext, *, out_file: TextIO, log_handler: logging.Handler):
        self.grammar = grammar
        self.shim_context = context
        self.shim_log_handler = log_handler
        super().__init__(
            cli_name=grammar.name,
            config_dir=str(context.lab.state_dir(grammar.name)),
            config_env_var_prefix=grammar.name.upper(),
            commands_loader_cls=_Loader,
            output_cls=_Output,
            logging_cls=_Logging,
            out_file=out_file,
        )
        self.enable_color = False

    def get_cli_version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("sphere-harness")
        except PackageNotFoundError:  # running from a checkout that was never installed
            return "0"

    def show_version(self) -> None:
        print(f"{self.grammar.name} ({SHIM_VERSION} {self.get_cli_version()})", file=self.out_file)

    def exception_handler(self, ex: Exception) -> int:
        """One ``ERROR:`` line and exit 1 for what the user or the service got wrong; a traceback otherwise."""
        from harness.clients.errors import ServiceError, TransportFailure

        log = logging.getLogger("cli.harness.lab")
        if isinstance(ex, BrokenPipeError):  # `azsphere … | head`: the reader left, nothing to report
            return EXIT_OK
        if isinstance(ex, CLIError):
            log.error("%s", ex)
        elif isinstance(ex, ServiceError):
            log.error("%s", service_message(ex))
        elif isinstance(ex, TransportFailure):
            log.error(
                "could not reach the lab's world (%s): is 'sphere-harness serve' or 'lab serve' still running?",
                ex.cause,
            )
        elif isinstance(ex, OSError):
            log.error("%s", ex)
        else:
            log.exception(ex)
        return EXIT_ERROR


def service_message(exc: Any) -> str:
    """What a service error says to a learner: its message, and its status and code to quote."""
    code = f" ({exc.status} {exc.code})" if exc.code else f" ({exc.status})"
    return f"{exc.message.rstrip('.')}.{code}"


def invoke(
    grammar: Grammar,
    args: Sequence[str],
    lab: Lab,
    *,
    out_file: TextIO | None = None,
    err_file: TextIO | None = None,
) -> int:
    """Run one command line of ``grammar`` in ``lab``; return the exit code (0, 1 a user error, 2 usage)."""
    out = out_file or sys.stdout
    err = err_file or sys.stderr
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    loggers = [logging.getLogger(name) for name in ("cli", "knack")]
    saved = [(lg, lg.propagate, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.propagate = False
        lg.setLevel(logging.DEBUG)
    previous_helps = dict(helps)
    helps.clear()
    helps.update(_help_entries(grammar))
    # knack prints help to sys.stdout and suggestions to sys.stderr: point both at this invocation's streams
    previous_streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    os.environ.setdefault("KNACK_COLOR", "0")
    try:
        context = ShimContext(lab=lab, tool=grammar.name, out=out)
        cli = ShimCLI(grammar, context, out_file=out, log_handler=handler)
        try:
            return int(cli.invoke(list(args), out_file=out) or 0)
        except SystemExit as exc:  # --help (0) and argparse's usage errors (2)
            code = exc.code
            return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_USAGE)
    finally:
        sys.stdout, sys.stderr = previous_streams
        helps.clear()
        helps.update(previous_helps)
        for lg, propagate, level in saved:
            lg.removeHandler(handler)
            lg.propagate = propagate
            lg.setLevel(level)
        out.flush()

"""``sphere-harness run``: run scenarios on a target and report each step (console, JSON, JUnit, HTML).

Every scenario named is loaded first. One that does not validate does not stop the others: it becomes an
*errored* scenario in every report (with its ``file:line`` and the problem) and the run's exit status is 2, while
the valid ones still run — so CI sees every finding of a run, not just the first broken file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from harness.commands._common import EXIT_FAILED, EXIT_INVALID, EXIT_PASSED, fail

DEFAULT_SCENARIO = "enable-trust"
OPT_IN_FLAG = "--i-understand-this-touches-real-resources"  # harness.config.OPT_IN_FLAG (kept import-free here)


def parse_vars(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``("group=lab-1", "count=3")`` → ``{"group": "lab-1", "count": 3}``; values are read as YAML scalars."""
    import yaml

    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{pair!r}: expected NAME=VALUE", param_hint="--var")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        values[name.strip()] = value if isinstance(value, str | int | float | bool) or value is None else raw
    return values


def apply_vars(planned: list[Any], overrides: dict[str, Any], target: str) -> list[Any]:
    """Give each scenario the ``--var`` values it declares under ``vars:``.

    One scenario: every name must be one it declares (a typo is an invalid input, with the close names). Several:
    a name applies to the scenarios that declare it, and is an error only when none of them does.
    """
    from harness.results import Result
    from harness.scenario import Scenario, ScenarioError, with_vars

    scenarios = [item for item in planned if isinstance(item, Scenario)]
    if len(scenarios) > 1:
        declared = {name for scenario in scenarios for name in scenario.vars}
        unknown = [name for name in overrides if name not in declared]
        if unknown:
            from simulator.suggest import did_you_mean

            hint = did_you_mean(unknown[0], sorted(declared))
            raise fail(f"--var {unknown[0]}: none of the scenarios declares it{hint}")
    applied: list[Any] = []
    for item in planned:
        if not isinstance(item, Scenario):
            applied.append(item)
            continue
        mine = overrides if len(scenarios) == 1 else {k: v for k, v in overrides.items() if k in item.vars}
        try:
            applied.append(with_vars(item, mine) if mine else item)
        except ScenarioError as exc:
            click.echo(f"{click.style('error:', fg='red')} {exc}", err=True)
            applied.append(Result.of_invalid_file(item.source, item.name, target, str(exc)))
    return applied


@click.command()
@click.argument("scenarios", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="run every known scenario (see `list`)")
@click.option("--target", default="fake", show_default=True, help="fake | served | live")
@click.option("--seed", type=int, default=None, help="seed for names, keys, IDs and codes")
@click.option(
    "--var",
    "var_pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="set a variable the scenario declares under `vars:` (repeatable)",
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=None,
    help="work folder for downloaded files (default ./sphere-harness-work/<scenario>)",
)
@click.option("--report-json", type=click.Path(path_type=Path), default=None, help="write a JSON report here")
@click.option("--junit", type=click.Path(path_type=Path), default=None, help="write a JUnit XML report here")
@click.option(
    "--report-html", type=click.Path(path_type=Path), default=None, help="write a self-contained HTML report here"
)
@click.option(OPT_IN_FLAG, "i_understand", is_flag=True, help="allow --target live to create and delete real resources")
@click.option("--step", is_flag=True, help="pause before each step and show the values after it (training)")
@click.option(
    "--live-config",
    type=click.Path(path_type=Path),
    default=None,
    help="live configuration file (YAML or endpoints JSON)",
)
@click.option(
    "--record",
    type=click.Path(path_type=Path),
    default=None,
    help="record every HTTP exchange, sanitized, to this file (a folder for several scenarios)",
)
@click.option(
    "--recording",
    type=click.Path(path_type=Path),
    default=None,
    help="the recording --target replay plays (its own scenario unless one is named)",
)
@click.option("--plan", is_flag=True, help="live: show what the run would create, change and delete; send only reads")
@click.option(
    "--allow-irreversible", is_flag=True, help="live: also run steps Azure cannot undo (device claim; docs/live.md)"
)
def run(
    scenarios: tuple[str, ...],
    all_: bool,
    target: str,
    seed: int | None,
    var_pairs: tuple[str, ...],
    workdir: Path | None,
    report_json: Path | None,
    junit: Path | None,
    report_html: Path | None,
    i_understand: bool,
    step: bool,
    live_config: Path | None,
    record: Path | None,
    recording: Path | None,
    plan: bool,
    allow_irreversible: bool,
) -> None:
    """Run scenarios — names, files or folders; default: the seed workflow enable-trust — and report each step."""
    from rich.console import Console

    from harness import scenario_files
    from harness.report import ConsoleReporter, write_html, write_json, write_junit
    from harness.results import Result
    from harness.runner import run as run_one
    from harness.scenario import ScenarioError, expand_scenarios, load_scenario
    from harness.targets import TargetError, make_target

    overrides = parse_vars(var_pairs)
    chosen: list[str | Path] = list(scenarios)
    if all_:
        chosen += [path for _, path in scenario_files.list_scenarios()]
    try:
        made = make_target(
            target,
            live_config=live_config,
            opt_in=i_understand,
            plan=plan,
            allow_irreversible=allow_irreversible,
            recording=recording,
        )
    except TargetError as exc:
        raise fail(str(exc)) from None
    replayed = made.name == "replay" and not chosen
    if not chosen and not replayed:
        chosen = [DEFAULT_SCENARIO]
    if plan and record is not None:
        raise fail("--plan sends nothing worth recording; drop --record")

    console = Console(highlight=False, soft_wrap=True)
    planned: list[Any] = []  # a Scenario to run, or the Result of a file that cannot run
    for argument, found in expand_scenarios(chosen):
        try:
            if isinstance(found, ScenarioError):
                raise found
            planned.append(load_scenario(found))
        except ScenarioError as exc:
            click.echo(f"{click.style('error:', fg='red')} {exc}", err=True)
            name = Path(argument).stem if not isinstance(found, Path) else found.stem
            planned.append(Result.of_invalid_file(exc.source, name, made.name, str(exc)))
    if overrides:
        planned = apply_vars(planned, overrides, made.name)

    if made.name == "replay":
        planned = _with_recorded_vars(made, planned, overrides, replayed=replayed)
    if record is not None:
        from harness.recording.recorder import RecordingTarget

        made = RecordingTarget(made, record if len(planned) == 1 or record.is_dir() else record.with_suffix(""))
    if plan:
        from harness.commands.live import print_plans

        raise click.exceptions.Exit(print_plans(planned, made, seed=seed))
    reporter = ConsoleReporter(console)
    listen = reporter.listen
    if step:
        from harness.lab.stepper import StepThrough

        listen = StepThrough(reporter.listen)
    results: list[Result] = []
    runnable = [item for item in planned if not isinstance(item, Result)]
    for item in planned:
        if isinstance(item, Result):
            results.append(item)
            continue
        folder = workdir
        if folder is None:
            folder = Path.cwd() / "sphere-harness-work" / item.name
        elif len(runnable) > 1:
            folder = folder / item.name
        try:
            capture = any(path is not None for path in (report_json, junit, report_html))
            results.append(run_one(item, made, seed=seed, workdir=folder, listener=listen, capture_exchanges=capture))
        except TargetError as exc:  # this scenario cannot run here (e.g. not declared for live): say so, go on
            click.echo(f"{click.style('error:', fg='red')} {exc}", err=True)
            results.append(Result.of_refused(item.source, item.name, made.name, str(exc)))
            continue
        if results[-1].interrupted:  # SIGINT/SIGTERM: the run cleaned up; run nothing more
            break
    if report_json is not None:
        write_json(results, report_json)
    if junit is not None:
        write_junit(results, junit)
    if report_html is not None:
        write_html(results, report_html)
    if len(results) > 1:
        passed = sum(1 for r in results if r.passed)
        console.print(f"{passed} of {len(results)} scenarios passed")
    interrupted = next((r.interrupted for r in results if r.interrupted), None)
    if interrupted:
        raise click.exceptions.Exit(128 + interrupted)
    if any(r.invalid for r in results):
        raise click.exceptions.Exit(EXIT_INVALID)
    raise click.exceptions.Exit(EXIT_PASSED if all(r.passed for r in results) else EXIT_FAILED)


def _with_recorded_vars(target: Any, planned: list[Any], overrides: dict[str, Any], *, replayed: bool) -> list[Any]:
    """A replay runs with the ``vars`` the recording was made with (``--var`` still wins); with no scenario named,
    it runs the recording's own scenario."""
    from harness.recording.format import RecordingError
    from harness.recording.replay import recorded_vars
    from harness.results import Result
    from harness.scenario import ScenarioError, with_vars

    try:
        if replayed:
            planned = [target.scenario()]
        recorded = recorded_vars(target.cassette())
    except (RecordingError, ScenarioError) as exc:
        raise fail(str(exc)) from None
    out = []
    for item in planned:
        if not isinstance(item, Result):
            values = {k: v for k, v in recorded.items() if k in item.vars and k not in overrides}
            item = with_vars(item, values) if values else item
        out.append(item)
    return out

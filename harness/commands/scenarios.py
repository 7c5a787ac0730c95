"""``sphere-harness list``, ``validate`` and ``schema``: the scenario files, without running them."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.commands._common import EXIT_INVALID, EXIT_PASSED


def _summary(path: Path) -> tuple[str, list[str]]:
    """The first line of a scenario's ``description`` and the ``targets`` it declares (default fake, served) — read
    with the YAML parser alone (no validation, no steps)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
    if not isinstance(data, dict) or "steps" not in data:
        raise ValueError("not a scenario: expected a mapping with `steps:`")
    description = str(data.get("description") or "").strip()
    targets = data.get("targets")
    targets = [str(t) for t in targets] if isinstance(targets, list) else ["fake", "served"]
    return (description.splitlines()[0] if description else ""), targets


@click.command("list")
def list_command() -> None:
    """List the known scenarios (./scenarios, then the installed ones): the targets each declares (`targets:`;
    only those with `live` may run against real endpoints) and its one-line description.

    Only the YAML is read here; `sphere-harness validate --all` checks every step of every scenario.
    """
    from harness.scenario_files import list_scenarios

    for name, path in list_scenarios():
        try:
            description, targets = _summary(path)
        except ValueError as exc:
            click.echo(f"{click.style(name, bold=True)}  {click.style(f'(invalid: {exc})', fg='red')}")
            continue
        click.echo(f"{click.style(name, bold=True)}  [{', '.join(targets)}]  {description}")


@click.command()
@click.argument("scenarios", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="every known scenario (see `list`)")
def validate(scenarios: tuple[str, ...], all_: bool) -> None:
    """Check scenarios — names, files or folders — without running them (exit 2 and file:line for each problem)."""
    from harness import scenario_files
    from harness.scenario import ScenarioError, expand_scenarios, load_scenario

    chosen: list[str | Path] = (
        [*scenarios, *(path for _, path in scenario_files.list_scenarios())] if all_ else list(scenarios)
    )
    if not chosen:
        raise click.UsageError("name scenarios, files or folders to check, or give --all")
    bad = 0
    for _, found in expand_scenarios(chosen):
        try:
            if isinstance(found, ScenarioError):
                raise found
            scenario = load_scenario(found)
        except ScenarioError as exc:
            click.echo(f"{click.style('invalid:', fg='red')} {exc}", err=True)
            bad += 1
            continue
        click.echo(f"{click.style('valid:', fg='green')} {found} ({scenario.name}, {len(scenario.steps)} steps)")
    raise click.exceptions.Exit(EXIT_INVALID if bad else EXIT_PASSED)


@click.command()
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, help="write it here, not to stdout")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of scenario files, generated from the step registry (for editors' completion)."""
    from harness.schema import scenario_schema

    text = json.dumps(scenario_schema(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)

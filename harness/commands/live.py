"""``sphere-harness live …`` and ``run --plan``: the commands that keep live runs from hurting.

::

    export SPHERE_HARNESS_LIVE=1 SPHERE_HARNESS_LIVE_CONFIG=live.yaml    # the opt-in and the configuration
    sphere-harness live sweep                                            # list groups left by runs over 1 h ago
    sphere-harness live sweep --older-than 0 --yes                       # delete every one of them
    sphere-harness run enable-trust --target live --plan                 # what a run would do; reads only

``live sweep`` exits 0 when nothing failed, 1 when a deletion failed, 2 on bad input (no opt-in, a configuration
whose tenant or app is not on its allow-list, an unreadable duration).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from harness.commands._common import EXIT_FAILED, EXIT_INVALID, EXIT_PASSED, fail

OPT_IN_FLAG = "--i-understand-this-touches-real-resources"  # harness.config.OPT_IN_FLAG (kept import-free here)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_age(text: str) -> timedelta:
    """``"90s"``, ``"30m"``, ``"1h"``, ``"2d"`` or ``"0"`` → a :class:`timedelta`."""
    match = _DURATION.match(text)
    if match is None:
        raise click.BadParameter(f"{text!r}: expected a duration like 30m, 1h or 2d (or 0)", param_hint="--older-than")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 1}[match.group(2)]
    return timedelta(seconds=float(match.group(1)) * unit)


@click.group()
def live() -> None:
    """Live runs against real endpoints: find and delete what interrupted runs left behind."""


@live.command()
@click.option("--live-config", type=click.Path(path_type=Path), default=None, help="live configuration file")
@click.option("--older-than", default="1h", show_default=True, help="only groups older than this (0: all)")
@click.option("--prefix", default="sh-", show_default=True, help="the run prefix stem of the groups to sweep")
@click.option("--yes", is_flag=True, help="delete them (without it the sweep only lists)")
@click.option(OPT_IN_FLAG, "i_understand", is_flag=True, help="allow the sweep to read and delete real resources")
def sweep(live_config: Path | None, older_than: str, prefix: str, yes: bool, i_understand: bool) -> None:
    """List enrollment groups left by live runs (their IDs start with the run prefix); --yes deletes them."""
    from harness.config import OPT_IN_ENV, LiveConfigError, load_live_config, opted_in
    from harness.live.guard import NotAllowed, check_allowed
    from harness.live.sweep import central_client
    from harness.live.sweep import sweep as run_sweep

    age = parse_age(older_than)
    if not opted_in(i_understand):
        raise fail(f"refusing to touch live endpoints without the opt-in: pass {OPT_IN_FLAG} or set {OPT_IN_ENV}=1")
    try:
        config = load_live_config(live_config)
        check_allowed(config)
    except (LiveConfigError, NotAllowed) as exc:
        raise fail(str(exc)) from None
    app = config.central.subdomain or config.central.url
    mode = "sweeping" if yes else "dry run (add --yes to delete)"
    click.echo(f"{mode}: app {app}, prefix {prefix!r}, older than {older_than}")
    failed = 0

    def report(item: Any) -> None:
        nonlocal failed
        if item.error:
            failed += 1
            click.echo(f"  failed   {item.describe()}: {item.error}")
        elif item.deleted:
            click.echo(f"  deleted  {item.describe()}")
        elif item.due:
            click.echo(f"  would delete  {item.describe()}")
        else:
            click.echo(f"  kept     {item.describe()} — younger than {older_than}")

    from harness.clients.errors import HarnessClientError

    try:
        with central_client(config) as central:
            found = run_sweep(central, older_than=age, delete=yes, prefix=prefix, report=report)
    except HarnessClientError as exc:  # a listing that fails (401, unreachable app): one line, exit 1
        raise fail(f"cannot list the app's enrollment groups: {exc}", EXIT_FAILED) from None
    due = sum(1 for item in found if item.due)
    click.echo(f"{len(found)} group(s) with the prefix, {due} due" + (f", {failed} failed" if failed else ""))
    raise click.exceptions.Exit(EXIT_FAILED if failed else EXIT_PASSED)


def print_plans(planned: list[Any], target: Any, *, seed: int | None) -> int:
    """``run --plan``: print the plan of each scenario; the exit status (0 no problem, 1 problems, 2 refusals)."""
    from harness.live.plan import make_plan
    from harness.results import Result

    status = EXIT_PASSED
    for item in planned:
        if isinstance(item, Result):  # a file that did not validate
            status = EXIT_INVALID
            continue
        refusal = item.refusal(target.name)
        if refusal is not None:
            click.echo(f"{click.style('error:', fg='red')} refused up front: {refusal}", err=True)
            status = EXIT_INVALID
            continue
        plan = make_plan(item, target, seed=seed or 0)
        for line in plan.lines():
            click.echo(line)
        if not plan.ok and status == EXIT_PASSED:
            status = EXIT_FAILED
    return status

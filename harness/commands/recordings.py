"""``sphere-harness parity`` and ``sphere-harness recordings …``: compare recordings with the fakes, keep them fresh.

::

    sphere-harness parity recordings/enable-trust.json [--report-json parity.json]   # 0 equal, 1 differ, 2 bad
    sphere-harness recordings refresh                   # record every live-capable scenario against a served world
    sphere-harness recordings check                     # parity of every shipped recording (all must be equal)
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.commands._common import EXIT_FAILED, EXIT_PASSED, fail


@click.command()
@click.argument("recordings", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--report-json", type=click.Path(path_type=Path), default=None, help="write the JSON report here")
@click.option("--workdir", type=click.Path(path_type=Path), default=None, help="work folder of the fake runs")
def parity(recordings: tuple[Path, ...], report_json: Path | None, workdir: Path | None) -> None:
    """Run each recording's scenario on the fake (same seed and inputs) and compare exchange by exchange."""
    from harness.recording.format import RecordingError
    from harness.recording.parity import parity as compare
    from harness.scenario import ScenarioError

    reports = []
    for path in recordings:
        try:
            reports.append(compare(path, workdir=workdir / path.stem if workdir else None))
        except (RecordingError, ScenarioError) as exc:
            raise fail(f"{exc}") from None
        click.echo(reports[-1].text())
    if report_json is not None:
        report_json.parent.mkdir(parents=True, exist_ok=True)
        document = {"equal": all(r.equal for r in reports), "recordings": [r.to_json() for r in reports]}
        report_json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    raise click.exceptions.Exit(EXIT_PASSED if all(r.equal for r in reports) else EXIT_FAILED)


@click.group()
def recordings() -> None:
    """The shipped recordings (recordings/): record them again, or check them against the fakes."""


@recordings.command()
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="folder (default: the project's recordings/)"
)
@click.argument("names", nargs=-1)
def refresh(out: Path | None, names: tuple[str, ...]) -> None:
    """Record every live-capable scenario (or NAMES) against a fresh served world posing as Azure."""
    from harness.recording.shipped import refresh as record

    def report(item) -> None:  # type: ignore[no-untyped-def]
        mark = "recorded" if item.passed else "FAILED  "
        click.echo(f"  {mark} {item.name} → {item.path}" + (f": {item.error}" if item.error else ""))

    done = record(out, names=list(names) or None, report=report)
    raise click.exceptions.Exit(EXIT_PASSED if all(item.passed for item in done) else EXIT_FAILED)


@recordings.command()
@click.argument("folder", required=False, type=click.Path(path_type=Path))
def check(folder: Path | None) -> None:
    """Parity of every recording in FOLDER (default: the project's recordings/) against the fake."""
    from harness.recording.shipped import check as run_check

    reports = run_check(folder, report=lambda r: click.echo(r.text()))
    if not reports:
        raise fail("no recordings found")
    raise click.exceptions.Exit(EXIT_PASSED if all(r.equal for r in reports) else EXIT_FAILED)

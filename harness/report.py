"""Reports of scenario runs: a console line per step and a summary (rich), JSON, and JUnit XML for CI.

Console::

    enable-trust on fake (seed 7) — files in ./run
      ✓  1   0.010s  sphere.login  azsphere login; azsphere tenant select
      ✓  2   0.004s  sphere.ca-certificate.download  azsphere ca-certificate download --destination CAcertificate.cer
      ✗ 11   0.000s  expect  the primary certificate is verified
           expected values to be equal
           --- expected
           +++ actual
           -true
           +false
    FAILED enable-trust at step 11 (the primary certificate is verified, line 68): 10 passed, 1 failed, 0 skipped

JSON (``--report-json``) is ``{"passed": bool, "version", "scenarios": [Result.to_json(), …]}``: every step's
inputs, saved value and HTTP exchanges. JUnit (``--junit``) has one ``<testsuite>`` per scenario (``timestamp``,
``hostname``) and one ``<testcase>`` per step, with ``<failure>``/``<error>``/``<skipped>`` (the message and the
diff) and a ``<system-out>`` holding the step's inputs and value. HTML (``--report-html``) is one self-contained page
(:mod:`harness.report_html`). A scenario file that did not validate is an errored scenario in each of them.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from harness.results import ERROR, FAILED, PASSED, SKIPPED, Result, StepResult, jsonable

SYMBOLS = {PASSED: ("✓", "green"), FAILED: ("✗", "red"), ERROR: ("!", "red bold"), SKIPPED: ("-", "yellow")}


class ConsoleReporter:
    """Prints each step as it finishes, then a summary line. Use :meth:`listen` as the runner's listener."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)

    def listen(self, event: str, payload: Any) -> None:
        if event == "start":
            self.start(payload)
        elif event == "step":
            self.step(payload)
        elif event == "finish":
            self.finish(payload)

    def start(self, result: Result) -> None:
        if result.invalid:
            return
        self.console.print(
            f"[bold]{escape(result.scenario)}[/] on [cyan]{result.target}[/] (seed {result.seed}) — "
            f"files in {escape(str(result.workdir))}"
        )

    def step(self, step: StepResult) -> None:
        symbol, style = SYMBOLS.get(step.outcome, ("?", "white"))
        label = step.name if step.name != step.kind else ""
        name = f"[bold]{escape(step.kind)}[/]" + (f"  {escape(label)}" if label else "")
        self.console.print(f"  [{style}]{symbol}[/] {step.index + 1:>2} {step.seconds:7.3f}s  {name}")
        if step.error:
            for line in step.error.rstrip().splitlines():
                self.console.print(f"       {escape(line)}", style=_line_style(line))
        elif step.reason and step.reason != "after failure":
            self.console.print(f"       skipped: {escape(step.reason)}", style="yellow")

    def finish(self, result: Result) -> None:
        if result.error:
            self.console.print(f"[red]error:[/] {escape(result.error)}")
        for cleanup in result.cleanups:
            mark = "[green]cleaned up[/]" if cleanup.get("ok") else "[red]cleanup failed[/]"
            detail = f": {cleanup.get('error')}" if cleanup.get("error") else ""
            self.console.print(f"  {mark} {escape(cleanup['description'])}{escape(detail)}")
        counts = {outcome: sum(1 for s in result.steps if s.outcome == outcome) for outcome in SYMBOLS}
        verdict = "[green bold]PASSED[/]" if result.passed else "[red bold]FAILED[/]"
        failed = result.failed_step
        where = f" at step {failed.index + 1} ({escape(failed.name)}, line {failed.line})" if failed else ""
        self.console.print(
            f"{verdict} {escape(result.scenario)}{where}: {counts[PASSED]} passed, "
            f"{counts[FAILED] + counts[ERROR]} failed, {counts[SKIPPED]} skipped in {result.seconds:.2f}s"
        )


def _line_style(line: str) -> str | None:
    if line.startswith("+") and not line.startswith("+++"):
        return "green"
    if line.startswith("-") and not line.startswith("---"):
        return "red"
    return None


def to_json(results: list[Result]) -> dict[str, Any]:
    from harness._version import __version__

    return {
        "passed": all(r.passed for r in results),
        "version": __version__,
        "scenarios": [r.to_json() for r in results],
    }


def step_output(step: StepResult) -> str:
    """What a step took and gave, as the text of its JUnit ``<system-out>``."""
    parts = [f"inputs: {json.dumps(jsonable(step.inputs), indent=2, sort_keys=True)}"]
    if step.outcome == PASSED:
        label = f"value (saved as {step.save_as})" if step.save_as else "value"
        parts.append(f"{label}: {json.dumps(jsonable(step.value), indent=2, sort_keys=True)}")
    for exchange in step.exchanges:
        request, response = exchange.get("request", {}), exchange.get("response") or {}
        parts.append(f"{request.get('method', '?')} {request.get('url', '?')} -> {response.get('status', '-')}")
    return "\n".join(parts) + "\n"


def write_json(results: list[Result], path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(to_json(results), indent=2) + "\n", encoding="utf-8")
    return target


def junit_xml(results: list[Result]) -> ET.Element:
    """JUnit XML: ``<testsuites>`` → a ``<testsuite>`` per scenario → a ``<testcase>`` per step."""
    suites = ET.Element("testsuites", name="sphere-harness")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for result in results:
        counts = {
            "tests": len(result.steps),
            "failures": sum(1 for s in result.steps if s.outcome == FAILED),
            "errors": sum(1 for s in result.steps if s.outcome == ERROR) + (1 if result.error else 0),
            "skipped": sum(1 for s in result.steps if s.outcome == SKIPPED),
        }
        for key, value in counts.items():
            totals[key] += value
        if result.error:
            counts["tests"] += 1
            totals["tests"] += 1
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"{result.scenario} [{result.target}]",
            timestamp=result.started_at.replace(microsecond=0, tzinfo=None).isoformat(),
            hostname=result.hostname,
            time=f"{result.seconds:.3f}",
            file=result.source,
            **{k: str(v) for k, v in counts.items()},
        )
        properties = ET.SubElement(suite, "properties")
        from harness._version import __version__

        facts = (("seed", result.seed), ("target", result.target), ("workdir", result.workdir))
        facts += (("version", __version__),)
        for key, value in facts:
            ET.SubElement(properties, "property", name=key, value="" if value is None else str(value))
        if result.error:
            label = "(scenario file)" if result.invalid else "(target)"
            case = ET.SubElement(suite, "testcase", name=label, classname=result.scenario, time="0", file=result.source)
            ET.SubElement(case, "error", message=result.error.splitlines()[0]).text = result.error
        for step in result.steps:
            case = ET.SubElement(
                suite,
                "testcase",
                name=f"{step.index + 1:02d} {step.name}",
                classname=f"{result.scenario}.{step.kind}",
                time=f"{step.seconds:.3f}",
                file=result.source,
                line=str(step.line),
            )
            if step.outcome in (FAILED, ERROR):
                tag = "failure" if step.outcome == FAILED else "error"
                message = (step.error or "").splitlines()[0] if step.error else step.outcome
                ET.SubElement(case, tag, message=message).text = step.error
            elif step.outcome == SKIPPED:
                ET.SubElement(case, "skipped", message=step.reason or "skipped")
            if step.outcome != SKIPPED:
                ET.SubElement(case, "system-out").text = step_output(step)
    for key, value in totals.items():
        suites.set(key, str(value))
    return suites


def write_junit(results: list[Result], path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(junit_xml(results))
    ET.indent(tree)
    tree.write(target, encoding="utf-8", xml_declaration=True)
    return target


def write_html(results: list[Result], path: str | Path) -> Path:
    """One self-contained HTML page of the run (no external assets): see :mod:`harness.report_html`."""
    from harness.report_html import render_html

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(to_json(results)), encoding="utf-8")
    return target

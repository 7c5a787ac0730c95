"""The HTML report (``--report-html``): one self-contained page a person would rather read than XML.

The page is rendered from the JSON report (:func:`harness.report.to_json`) with Jinja2 (autoescaped): the verdict
and counts, an index of the scenarios with each one's first failure (links to its section), then per scenario a
table of its steps — open when the scenario failed or is the only one. Each step unfolds (``<details>``, no script
needed) into its inputs, its saved value, the certificate it produced (subject, issuer, thumbprint, validity —
whenever a value describes one), the failure with its diff, and every HTTP exchange: the request's method, URL,
headers and body, the response's status, headers and body (secrets redacted: :mod:`harness.step_exchanges`). Long
values wrap instead of widening the page. No external assets: the style sheet (in ``templates/report.html.j2``) is
inline and nothing is fetched, so CI can archive the file and anyone can open it anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CERTIFICATE_KEYS = ("subject", "issuer", "thumbprint", "not_before", "not_after")

TEMPLATE = Path(__file__).parent / "templates" / "report.html.j2"


def _certificates(value: Any) -> list[list[tuple[str, Any]]]:
    """The certificate descriptions inside a step's value (a dict with subject, issuer, thumbprint and dates)."""
    found: list[list[tuple[str, Any]]] = []

    def walk(item: Any, depth: int) -> None:
        if depth > 4:
            return
        if isinstance(item, dict):
            if all(key in item for key in CERTIFICATE_KEYS):
                rows = [(key, item[key]) for key in ("common_name", *CERTIFICATE_KEYS, "serial", "path") if key in item]
                found.append(rows)
                return
            for child in item.values():
                walk(child, depth + 1)
        elif isinstance(item, list):
            for child in item[:20]:
                walk(child, depth + 1)

    walk(value, 0)
    return found


def _diff_class(line: str) -> str:
    if line.startswith("+") and not line.startswith("+++"):
        return "diff-add"
    if line.startswith("-") and not line.startswith("---"):
        return "diff-del"
    return ""


def _outcome(scenario: dict[str, Any]) -> str:
    """``passed``, ``failed`` or ``invalid`` (a file that did not validate)."""
    if scenario.get("invalid"):
        return "invalid"
    return "passed" if scenario.get("passed") else "failed"


def _step_counts(scenario: dict[str, Any]) -> str:
    """``11 steps: 10 passed, 1 failed``."""
    steps = scenario.get("steps") or []
    tally: dict[str, int] = {}
    for step in steps:
        tally[step["outcome"]] = tally.get(step["outcome"], 0) + 1
    parts = [f"{tally[o]} {o}" for o in ("passed", "failed", "error", "skipped") if tally.get(o)]
    return f"{len(steps)} step{'s' if len(steps) != 1 else ''}" + (f": {', '.join(parts)}" if parts else "")


def _first_failure(scenario: dict[str, Any]) -> str:
    """Where and why a scenario failed, in one line (empty when it passed)."""
    for step in scenario.get("steps") or []:
        if step["outcome"] in ("failed", "error"):
            why = (step.get("error") or "").strip().splitlines()
            return _short(f"step {step['index']} ({step['name']}): {why[0] if why else step['outcome']}")
    if not scenario.get("passed") and scenario.get("error"):
        return _short(str(scenario["error"]).strip().splitlines()[0])
    return ""


def _short(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _body(value: Any) -> str:
    """A request or response body as the page shows it: text as it is, JSON indented."""
    return value if isinstance(value, str) else _pretty(value)


def render_html(report: dict[str, Any]) -> str:
    """The page for a JSON report (``{"passed", "version", "scenarios": [...]}``)."""
    import jinja2

    environment = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined)
    template = environment.from_string(TEMPLATE.read_text(encoding="utf-8"))
    counts = {"passed": 0, "failed": 0, "invalid": 0}
    for scenario in report["scenarios"]:
        counts[_outcome(scenario)] += 1
    return template.render(
        report=report,
        verdict="PASSED" if report["passed"] else "FAILED",
        counts=counts,
        pretty=_pretty,
        body=_body,
        certificates=_certificates,
        diff_class=_diff_class,
        outcome=_outcome,
        step_counts=_step_counts,
        first_failure=_first_failure,
    )

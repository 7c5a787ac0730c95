"""The HTML report (``--report-html``): one self-contained page a person would rather read than XML.

The page is rendered from the JSON report (:func:`harness.report.to_json`) with Jinja2 (autoescaped): a summary of
the run, then per scenario a table of its steps. Each step unfolds (``<details>``, no script needed) into its
inputs, its saved value, the certificate it produced (subject, issuer, thumbprint, validity — whenever a value
describes one), the failure with its diff, and every HTTP exchange with request and response. No external assets:
the style sheet (in ``templates/report.html.j2``) is inline and nothing is fetched, so CI can archive the file and
anyone can open it anywhere.
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


def render_html(report: dict[str, Any]) -> str:
    """The page for a JSON report (``{"passed", "version", "scenarios": [...]}``)."""
    import jinja2

    environment = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined)
    template = environment.from_string(TEMPLATE.read_text(encoding="utf-8"))
    passed = sum(1 for s in report["scenarios"] if s["passed"])
    return template.render(
        report=report,
        verdict="PASSED" if report["passed"] else "FAILED",
        passed=passed,
        pretty=lambda value: json.dumps(value, indent=2, sort_keys=True, default=str),
        certificates=_certificates,
        diff_class=_diff_class,
    )

"""Documents generated from the code, so they cannot drift from it: ``python -m harness.docgen`` rewrites them,
``python -m harness.docgen --check`` (and ``tests/test_docs_current.py``) fails when one is stale.

=================================  =================================================================================
``docs/http-api.md``               every route of every fake, from the adapters' route tables
                                   (:mod:`harness.docgen.http_api`)
``docs/steps.md``                  every scenario step kind, from the step registry (:mod:`harness.docgen.steps`)
``docs/faults.md``                 fault rule fields and the operation names per service (:mod:`harness.docgen.faults`)
``docs/fidelity.md``               where behaviour comes from; its settings table from :mod:`simulator.settings`
                                   (:mod:`harness.docgen.fidelity`)
``scenarios/scenario.schema.json`` the JSON Schema of scenario files (:mod:`harness.schema`)
``harness/fault_operations.json``  the operation names per service, for ``validate`` (:mod:`harness.docgen.faults`)
=================================  =================================================================================

Generation is deterministic: the same code gives byte-identical files (a fixed seed for the world whose route
tables are read, no clock, sorted tables).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
REGENERATE = "python -m harness.docgen"


def _schema() -> str:
    from harness.schema import scenario_schema

    return json.dumps(scenario_schema(), indent=2) + "\n"


def _http_api() -> str:
    from harness.docgen.http_api import render

    return render()


def _steps() -> str:
    from harness.docgen.steps import render

    return render()


def _faults() -> str:
    from harness.docgen.faults import render

    return render()


def _fault_operations() -> str:
    from harness.docgen.faults import operations

    return operations()


def _fidelity() -> str:
    from harness.docgen.fidelity import render

    return render()


#: path (relative to the repository) → the function that writes its text
OUTPUTS: dict[str, Callable[[], str]] = {
    "docs/http-api.md": _http_api,
    "docs/steps.md": _steps,
    "docs/faults.md": _faults,
    "docs/fidelity.md": _fidelity,
    "scenarios/scenario.schema.json": _schema,
    "harness/fault_operations.json": _fault_operations,
}


def generate(root: Path = ROOT) -> list[Path]:
    """Write every generated document under ``root``; returns the paths that changed."""
    changed = []
    for relative, make in OUTPUTS.items():
        path = root / relative
        text = make()
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def stale(root: Path = ROOT) -> list[str]:
    """The generated documents under ``root`` that differ from what the code generates now."""
    found = []
    for relative, make in OUTPUTS.items():
        path = root / relative
        if not path.exists() or path.read_text(encoding="utf-8") != make():
            found.append(relative)
    return found

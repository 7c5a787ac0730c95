"""The scenario harness: clients of the real wire contracts, scenarios as data, fake / served / live targets.

The Python API::

    import harness

    result = harness.run_scenario("enable-trust")               # offline, in-process
    result = harness.run_scenario("scenarios/my.yaml", target="served", seed=7, workdir="out")
    assert result.passed, result.failed_step
    result.steps[0].outcome, result.steps[0].seconds, result.variables["code"]

The same from the shell: ``sphere-harness run [SCENARIO...] [--target fake|served|live]``; from pytest: the
``run_scenario`` fixture of the ``sphere_harness`` plugin.

Importing :mod:`harness` costs nothing: the names below are imported on first use (PEP 562), so the pytest plugin
(``harness.pytest_plugin``) and the command line (``harness.cli``) load without the runner, httpx or the fakes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from harness._version import __version__

if TYPE_CHECKING:
    from harness.results import Result, StepResult
    from harness.runner import run_scenario
    from harness.scenario import ScenarioError, load_scenario
    from harness.targets import TargetError

_LAZY = {
    "Result": "harness.results",
    "StepResult": "harness.results",
    "run_scenario": "harness.runner",
    "ScenarioError": "harness.scenario",
    "load_scenario": "harness.scenario",
    "TargetError": "harness.targets",
}

__all__ = ["Result", "ScenarioError", "StepResult", "TargetError", "__version__", "load_scenario", "run_scenario"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

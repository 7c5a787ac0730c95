"""The scenario harness: clients of the real wire contracts, scenarios as data, fake / served / live targets.

The Python API::

    import harness

    result = harness.run_scenario("enable-trust")               # offline, in-process
    result = harness.run_scenario("scenarios/my.yaml", target="served", seed=7, workdir="out")
    assert result.passed, result.failed_step
    result.steps[0].outcome, result.steps[0].seconds, result.variables["code"]

The same from the shell: ``sphere-harness run [SCENARIO...] [--target fake|served|live]``; from pytest: the
``run_scenario`` fixture of the ``sphere_harness`` plugin.
"""

from harness.runner import Result, StepResult, run_scenario
from harness.scenario import ScenarioError, load_scenario
from harness.targets import TargetError

__all__ = ["Result", "ScenarioError", "StepResult", "TargetError", "load_scenario", "run_scenario"]

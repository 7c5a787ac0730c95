"""The failure-scenario library (issue #6): each scenario passes on the in-process fake and the served world.

A scenario passing means every expected refusal came with the expected status and code, and every expectation on
the state after it held. The served runs start their own world on a free port (and stop it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.runner import run_scenario
from harness.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
#: scenarios that are not failure-library entries (the seed workflow and the device path run in their own tests)
NOT_LIBRARY = {"enable-trust", "enable-trust-arm", "proof-mismatch", "auto-enroll", "fleet-rollout"}
#: every other scenario shipped in scenarios/ is a library entry: it must pass on both targets
LIBRARY = sorted(path.stem for path in SCENARIOS.glob("*.yaml") if path.stem not in NOT_LIBRARY)


@pytest.mark.fake_only
@pytest.mark.parametrize("target", ["fake", pytest.param("served", marks=pytest.mark.served)])
@pytest.mark.parametrize("name", LIBRARY)
def test_failure_scenario_passes(name: str, target: str, tmp_path: Path) -> None:
    result = run_scenario(name, target, workdir=tmp_path)
    assert result.passed, result.failed_step


@pytest.mark.parametrize("name", LIBRARY)
def test_failure_scenario_has_a_one_line_description(name: str) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    assert scenario.description and "\n" not in scenario.description.strip()


@pytest.mark.fake_only
def test_a_broken_expectation_fails_the_run(tmp_path: Path) -> None:
    """The library's expectations can fail: the same refusal expected with another code is a failed run."""
    text = (SCENARIOS / "wrong-verification-code.yaml").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("code: InvalidProofOfPossession", "code: SomethingElse"))
    result = run_scenario(broken, "fake", workdir=tmp_path)
    assert not result.passed

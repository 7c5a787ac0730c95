"""``run --step``: the runner's ``before`` event pauses each step and the values a learner looks for follow it."""

from __future__ import annotations

import io
from pathlib import Path

from harness.lab.stepper import StepThrough, looked_for
from harness.runner import run
from harness.scenario import find_scenario, load_scenario
from harness.targets import make_target


def test_step_through_pauses_before_every_step_and_shows_code_and_thumbprint(tmp_path: Path) -> None:
    out, pauses, heard = io.StringIO(), [], []

    def read() -> str:
        pauses.append(1)
        return "\n"

    listener = StepThrough(lambda event, payload: heard.append(event), read=read, out=out)
    scenario = load_scenario(find_scenario("enable-trust"))
    result = run(scenario, make_target("fake"), seed=7, workdir=tmp_path, listener=listener)
    assert result.passed
    assert len(pauses) == len(scenario.steps)  # one pause before each step
    assert heard == ["start", *["step"] * len(scenario.steps), "finish"]  # the inner listener never hears "before"
    text = out.getvalue()
    assert text.count("\nnext: step ") == len(scenario.steps)
    assert f"value: {result.variables['code']}" in text
    assert f"thumbprint: {result.variables['ca']['thumbprint']}" in text


def test_q_stops_pausing() -> None:
    answers = iter(["q\n"])
    listener = StepThrough(lambda *_: None, read=lambda: next(answers), out=io.StringIO())

    class Spec:
        index, name, kind, args = 0, "a step", "expect", {}

    listener("before", (Spec, None))
    listener("before", (Spec, None))  # would raise StopIteration if it asked again
    assert listener.pausing is False


def test_looked_for_picks_what_a_learner_needs() -> None:
    assert looked_for({"verified": True, "info": {"sha1Thumbprint": "AB"}, "etag": "x"}) == [
        ("verified", "True"),
        ("thumbprint", "AB"),
    ]
    assert looked_for("4F00") == [("value", "4F00")]
    assert looked_for(None) == []

"""``expect_error: {transport: true}``: a step whose request never got an HTTP answer.

A ``drop`` fault closes the connection before the service answers (in-process the client sees ``httpx.ReadError``).
The harness clients raise :class:`~harness.clients.errors.TransportFailure` for that, never a
:class:`~harness.clients.errors.ServiceError`, and the runner keeps the two kinds of failure apart: a step expected
to lose its connection fails if the service answers (or if it succeeds), and a step expected to get an answer fails
if the connection is lost instead. The runner cases run small scenarios on the in-process fake world.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import pytest

from harness.clients.base import RetryPolicy, WireClient
from harness.clients.errors import ServiceError, TransportFailure
from harness.runner import FAILED, PASSED, SKIPPED, Result, run
from harness.scenario import ScenarioError, parse_scenario
from harness.targets import FakeTarget

HEADER = """\
name: transport
seed: 3
given:
  apps: [{key: central}]
steps:
"""


def run_steps(steps: str, tmp_path: Path) -> Result:
    scenario = parse_scenario(HEADER + textwrap.indent(textwrap.dedent(steps), "  "), "transport.yaml")
    return run(scenario, FakeTarget(), workdir=tmp_path)


#: a group exists; the next PATCH of it loses its connection (PATCH is not idempotent: the client never resends it)
DROP_UPDATE = """\
- central.enrollment-group.create: {id: g1, display_name: G1}
- sim.fault.add:
    id: drop-update
    service: central
    operation: update_group
    count: 1
    effect: {kind: drop}
"""
UPDATE = "- central.enrollment-group.update: {id: g1, enabled: false}\n"


# -- the runner ------------------------------------------------------------------------------------------------


def test_an_expected_transport_failure_passes_and_saves_what_broke(tmp_path: Path) -> None:
    result = run_steps(
        DROP_UPDATE
        + UPDATE
        + """\
  expect_error: {transport: true}
  save_as: dropped
- central.enrollment-group.get: {id: g1}
  save_as: group
- expect: {actual: "{group.enabled}", equals: true}
  name: the dropped PATCH changed nothing
""",
        tmp_path,
    )
    assert result.passed, result.failed_step
    dropped = result.variables["dropped"]
    assert dropped["transport"] is True
    assert dropped["method"] == "PATCH"
    assert dropped["error"] == "ReadError"  # in-process, a drop is an httpx.ReadError
    assert "/enrollmentGroups/g1" in dropped["url"]
    assert "status" not in dropped


def test_expected_transport_failure_but_the_service_answered_fails_the_step(tmp_path: Path) -> None:
    result = run_steps(
        """\
- sim.fault.add:
    service: central
    operation: create_group
    effect: {kind: status, status: 409, code: Conflict}
- central.enrollment-group.create: {id: g1, display_name: G1}
  expect_error: {transport: true}
- expect: {actual: 1, equals: 1}
""",
        tmp_path,
    )
    assert not result.passed
    step = result.steps[1]
    assert step.outcome == FAILED
    assert step.error is not None
    assert "expected a transport failure" in step.error
    assert "the service answered 409 Conflict" in step.error
    assert result.steps[2].outcome == SKIPPED


def test_expected_transport_failure_but_it_succeeded_fails_the_step(tmp_path: Path) -> None:
    result = run_steps(
        """\
- central.enrollment-group.create: {id: g1, display_name: G1}
  expect_error: {transport: true}
""",
        tmp_path,
    )
    step = result.steps[0]
    assert step.outcome == FAILED
    assert step.error == "expected the step to fail with a transport failure (no HTTP answer), but it succeeded"


def test_an_expected_service_error_that_became_a_dropped_connection_fails_the_step(tmp_path: Path) -> None:
    result = run_steps(
        DROP_UPDATE
        + UPDATE
        + """\
  expect_error: {status: 409, code: Conflict}
""",
        tmp_path,
    )
    step = result.steps[2]
    assert step.outcome == FAILED
    assert step.error is not None
    assert step.error.startswith("expected the service to answer 409 Conflict, but the request got no answer at all")


def test_an_unexpected_transport_failure_fails_the_step_with_what_broke(tmp_path: Path) -> None:
    result = run_steps(DROP_UPDATE + UPDATE, tmp_path)
    step = result.steps[2]
    assert step.outcome == FAILED  # a finding about the service, not a crash of the harness
    assert step.error is not None
    assert "PATCH" in step.error and "failed before any response" in step.error


def test_message_contains_applies_to_the_transport_failure(tmp_path: Path) -> None:
    steps = (
        DROP_UPDATE
        + UPDATE
        + """\
  expect_error: {transport: true, message_contains: WORDS}
"""
    )
    assert run_steps(steps.replace("WORDS", "injected connection drop"), tmp_path / "a").passed
    result = run_steps(steps.replace("WORDS", "certificate"), tmp_path / "b")
    assert result.steps[2].outcome == FAILED
    assert "does not contain 'certificate'" in (result.steps[2].error or "")


def test_a_status_expectation_still_works_beside_the_transport_kind(tmp_path: Path) -> None:
    result = run_steps(
        """\
- central.enrollment-group.get: {id: missing}
  expect_error: {status: 404, code: NotFound}
""",
        tmp_path,
    )
    assert result.steps[0].outcome == PASSED


# -- validation at load time -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expect_error", "says"),
    [
        ("{transport: true, status: 503}", "cannot also name a `status` or `code`"),
        ("{transport: true, code: ServiceUnavailable}", "cannot also name a `status` or `code`"),
        ("{code: NotFound}", "give the expected `status`"),
        ("{transport: false}", "give the expected `status`"),
        ("{transport: yes please}", "transport"),
    ],
)
def test_an_impossible_expect_error_is_a_scenario_error_with_file_and_line(expect_error: str, says: str) -> None:
    text = HEADER + (
        "  - central.enrollment-group.list\n"
        "  - central.enrollment-group.create: {id: g1, display_name: G1}\n"
        f"    expect_error: {expect_error}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "bad.yaml")
    assert caught.value.source == "bad.yaml"
    assert caught.value.line == 8  # the `expect_error:` line of the second step
    assert says in caught.value.message
    assert str(caught.value).startswith("bad.yaml:8: ")


# -- the client: a dropped POST is not resent ------------------------------------------------------------------


def dropping_client(calls: list[str], *, drops: int) -> tuple[WireClient, list[float]]:
    """A client whose first ``drops`` requests lose their connection before any answer."""

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) <= drops:
            raise httpx.ReadError("connection dropped", request=request)
        return httpx.Response(200, json={"ok": True})

    slept: list[float] = []
    client = WireClient(
        "https://central.example", None, transport=httpx.MockTransport(handler), retry=RetryPolicy(sleep=slept.append)
    )
    return client, slept


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_dropped_non_idempotent_request_is_raised_at_once_not_resent(method: str) -> None:
    calls: list[str] = []
    client, slept = dropping_client(calls, drops=1)
    with client, pytest.raises(TransportFailure) as caught:
        client.request(method, "/verify", json={})
    assert calls == [method] and slept == []
    assert not isinstance(caught.value, ServiceError)
    assert isinstance(caught.value.cause, httpx.ReadError)
    assert caught.value.to_dict()["transport"] is True


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_dropped_idempotent_request_is_retried(method: str) -> None:
    calls: list[str] = []
    client, slept = dropping_client(calls, drops=1)
    with client:
        assert client.request(method, "/thing").json() == {"ok": True}
    assert calls == [method, method] and len(slept) == 1


def test_an_idempotent_request_that_keeps_dropping_ends_in_a_transport_failure() -> None:
    calls: list[str] = []
    client, slept = dropping_client(calls, drops=100)
    with client, pytest.raises(TransportFailure):
        client.request("GET", "/thing")
    assert len(calls) == client.retry.attempts and len(slept) == client.retry.attempts - 1

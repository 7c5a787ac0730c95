"""Running a scenario: open the target, run each step in order, keep what they save, report each outcome.

For each step the runner fills the ``{variables}`` into its arguments, validates them with the step's model, calls
it, and decides the outcome:

* ``passed`` — it returned (and, with ``expect_error``, it failed exactly as expected);
* ``failed`` — a service error, a broken expectation, an argument that became invalid once filled in, or an
  ``expect_error`` step that did not fail as expected; the remaining steps are ``skipped`` (after failure);
* ``error`` — the step crashed (a bug, not a finding); the remaining steps are skipped too;
* ``skipped`` — a fake-only step in a live run (with the reason), or a step after a failure.

``expect_error`` names either a service error (``{status, code}``) or a transport failure (``{transport: true}``:
the request got no HTTP answer, e.g. a dropped connection — :class:`~harness.clients.errors.TransportFailure`). A
step expected to fail one way fails if it fails the other way or succeeds. A transport failure that was *not*
expected fails the step like any client error.

``save_as`` stores the step's return value — or, for an ``expect_error`` step, the error
(``{status, code, message, request_id}``, or ``{transport: true, error, method, url, message}``). Times are
wall-clock seconds, for reporting only.
"""

from __future__ import annotations

import secrets
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.clients.errors import HarnessClientError, ServiceError, TransportFailure
from harness.live.interrupt import RunInterrupted
from harness.results import ERROR, FAILED, PASSED, SKIPPED, Result, StepResult
from harness.scenario import Scenario, ScenarioError, StepSpec, find_scenario, load_scenario, with_vars
from harness.session import Session
from harness.steps import StepContext, StepFailure, registry
from harness.targets import Target, TargetError, make_target
from harness.variables import VariableError, substitute

Listener = Callable[[str, Any], None]


def run(
    scenario: Scenario,
    target: Target,
    *,
    seed: int | None = None,
    workdir: str | Path | None = None,
    listener: Listener | None = None,
    capture_exchanges: bool = False,
) -> Result:
    """Run ``scenario`` on ``target``. ``listener(event, payload)`` hears ``start``, ``before`` (``(spec, result)``,
    just before a step runs), ``step`` and ``finish``. With ``capture_exchanges`` each step result carries its HTTP
    exchanges with their secrets redacted (:mod:`harness.step_exchanges`), for the reports.

    Raises :class:`TargetError` when the target cannot be used at all (nothing ran) — among others, a scenario
    that does not declare the target (``targets:``). A live run stopped by SIGINT/SIGTERM returns a result with
    ``interrupted`` set, once its cleanup has run.
    """
    refusal = scenario.refusal(target.name)
    if refusal is not None:
        raise TargetError(f"refused up front: {refusal}")
    seed = seed if seed is not None else scenario.seed if scenario.seed is not None else secrets.randbelow(2**31)
    folder = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix=f"sphere-harness-{scenario.name}-"))
    folder.mkdir(parents=True, exist_ok=True)
    folder = folder.resolve()
    result = Result(scenario.name, scenario.source, target.name, seed, folder)
    result.steps = [StepResult(s.index, s.kind, s.name, s.line, save_as=s.save_as) for s in scenario.steps]
    notify = listener or (lambda event, payload: None)
    notify("start", result)
    started = time.perf_counter()
    opened: list[Session] = []
    try:
        with target.session(scenario, seed=seed, workdir=folder) as session:
            collector = None
            if capture_exchanges:
                from harness.step_exchanges import StepExchanges

                collector = StepExchanges(session)
            opened.append(session)
            variables = session.builtin_variables()
            variables.update(scenario.vars)
            result.variables = variables
            stopped = False
            for spec, step_result in zip(scenario.steps, result.steps, strict=True):
                if stopped:
                    step_result.outcome, step_result.reason = SKIPPED, "after failure"
                elif session.live and spec.fake_only:
                    step_result.outcome = SKIPPED
                    step_result.reason = "fake-only step (simulator control); skipped on a live target"
                elif session.live and spec.irreversible and not session.allow_irreversible:
                    step_result.outcome = SKIPPED
                    step_result.reason = IRREVERSIBLE_SKIP
                else:
                    notify("before", (spec, step_result))  # a listener may pause here (run --step)
                    session.start_step(spec.index)
                    _run_step(spec, step_result, session, variables)
                    session.end_step(spec.index, step_result)
                    stopped = step_result.outcome in (FAILED, ERROR)
                notify("step", step_result)
            if collector is not None:
                _attach_exchanges(result, collector)
        result.cleanups = _cleanups(session)  # after the session closed: live cleanups have run
    except HarnessClientError as exc:  # given could not be set up
        result.error = f"setting up `given` failed: {exc}"
    except RunInterrupted as exc:  # SIGINT/SIGTERM on a live run: its cleanup has run on the way out
        _interrupted(result, exc, opened[0] if opened else None)
    result.seconds = time.perf_counter() - started
    notify("finish", result)
    return result


def _attach_exchanges(result: Result, collector: Any) -> None:
    """Give each step its exchanges; they, its inputs, value and error lose every secret (tokens, private keys)."""
    shown, redactor = collector.redacted()
    for step in result.steps:
        step.exchanges = shown.get(step.index, [])
        step.inputs = redactor.value(step.inputs)
        step.value = redactor.value(step.value)
        step.error = redactor.text(step.error) if step.error else step.error


IRREVERSIBLE_SKIP = (
    "irreversible on Azure (a claimed device stays in the tenant for good); pass --allow-irreversible to run it"
)


def _interrupted(result: Result, exc: RunInterrupted, session: Session | None) -> None:
    """Record a signal's end of a run: the step that was running errs, the rest are skipped, cleanups reported."""
    result.interrupted = exc.signum
    result.error = f"{exc}; the run stopped and cleaned up"
    running = session.step if session is not None else None
    for step in result.steps:
        if running is not None and step.index == running:
            step.outcome, step.error = ERROR, f"{exc} while this step was running"
        elif step.outcome == SKIPPED and step.reason is None:
            step.reason = f"after {exc.signal_name}"
    if session is not None:
        result.cleanups = _cleanups(session)


def _run_step(spec: StepSpec, outcome: StepResult, session: Session, variables: dict[str, Any]) -> None:
    step_type = registry()[spec.kind]
    started = time.perf_counter()
    outcome.started_at = datetime.now(UTC)
    where = f"{spec.kind} (line {spec.line})"
    try:
        try:
            raw = substitute(spec.args, variables)
            outcome.inputs = raw
            args = step_type.args.model_validate(raw)
        except (VariableError, ValidationError) as exc:
            raise StepFailure(f"invalid arguments for {where}: {_first_error(exc)}") from None
        ctx = StepContext(session=session, variables=variables)
        try:
            value = step_type.function(ctx, args)
        except ServiceError as exc:
            if spec.expect_error is None:
                raise
            value = _check_expected_error(spec, exc)
        except TransportFailure as exc:
            if spec.expect_error is None:
                raise
            value = _check_expected_transport(spec, exc)
        except KeyError as exc:  # an unknown tenant/app key and the like
            raise StepFailure(str(exc.args[0]) if exc.args else str(exc)) from None
        else:
            if spec.expect_error is not None:
                raise StepFailure(f"expected the step to fail with {spec.expect_error.describe()}, but it succeeded")
        outcome.outcome, outcome.value = PASSED, value
        if spec.save_as:
            variables[spec.save_as] = value
    except StepFailure as exc:
        outcome.outcome, outcome.error = FAILED, str(exc)
    except HarnessClientError as exc:
        outcome.outcome, outcome.error = FAILED, str(exc)
    except Exception as exc:  # a crash inside a step: report it, do not take the run down
        outcome.outcome = ERROR
        outcome.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
    finally:
        outcome.seconds = time.perf_counter() - started


def _check_expected_error(spec: StepSpec, exc: ServiceError) -> dict[str, Any]:
    """A service answered with an error: it must be the expected status/code (not a transport failure)."""
    wanted = spec.expect_error
    assert wanted is not None
    if wanted.transport:
        raise StepFailure(
            f"expected {wanted.describe()}, but the service answered {exc.status} {exc.code or '-'}", str(exc)
        )
    problems = []
    if exc.status != wanted.status:
        problems.append(f"status {exc.status}, expected {wanted.status}")
    if wanted.code is not None and exc.code != wanted.code:
        problems.append(f"code {exc.code!r}, expected {wanted.code!r}")
    if wanted.message_contains is not None and wanted.message_contains not in (exc.message or ""):
        problems.append(f"message {exc.message!r} does not contain {wanted.message_contains!r}")
    if problems:
        raise StepFailure(f"the step failed differently than expected: {'; '.join(problems)}", str(exc))
    return exc.to_dict()


def _check_expected_transport(spec: StepSpec, exc: TransportFailure) -> dict[str, Any]:
    """The request got no answer: that passes only with ``expect_error: {transport: true}``."""
    wanted = spec.expect_error
    assert wanted is not None
    if not wanted.transport:
        raise StepFailure(
            f"expected the service to answer {wanted.describe()}, but the request got no answer at all", str(exc)
        )
    if wanted.message_contains is not None and wanted.message_contains not in str(exc):
        raise StepFailure(
            f"the step failed differently than expected: transport failure {str(exc)!r} does not contain "
            f"{wanted.message_contains!r}"
        )
    return exc.to_dict()


def _cleanups(session: Session) -> list[dict[str, Any]]:
    return [{"description": c.description, "ok": c.ok, "error": c.error} for c in session.cleanups]


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        loc = ".".join(str(p) for p in error.get("loc", ())) or "arguments"
        return f"{loc}: {error.get('msg')}"
    return str(exc)


def run_scenario(
    name_or_path: str | Path | None,
    target: str | Target = "fake",
    seed: int | None = None,
    workdir: str | Path | None = None,
    console: bool = False,
    *,
    live_config: str | Path | None = None,
    opt_in: bool = False,
    variables: Mapping[str, Any] | None = None,
    recording: str | Path | None = None,
    record: str | Path | None = None,
) -> Result:
    """Load and run a scenario by name (``enable-trust``) or path; the Python API of the harness.

    ``target`` is ``"fake"`` (default), ``"served"``, ``"live"``, ``"replay"`` (with ``recording=`` a recording
    file; the scenario may then be ``None``: the recording's own) or a :class:`~harness.targets.Target`.
    ``record=`` writes the run's exchanges, sanitized, to that file (:mod:`harness.recording`). With
    ``console=True`` each step is printed as it finishes. ``variables`` overrides the scenario's ``vars:``
    (``{"group": "lab-1"}``; a name the scenario does not declare is a :class:`ScenarioError`); a replay uses the
    recorded ones unless told otherwise. Raises :class:`ScenarioError` for an invalid scenario and
    :class:`TargetError` for a target that cannot be used (e.g. live without the opt-in, a bad recording).
    """
    chosen = (
        make_target(target, live_config=live_config, opt_in=opt_in, recording=recording)
        if isinstance(target, str)
        else target
    )
    scenario = load_scenario(find_scenario(name_or_path)) if name_or_path is not None else None
    if chosen.name == "replay":
        scenario, recorded = _replayed(chosen, scenario)
        variables = {**recorded, **(variables or {})}
    if scenario is None:
        raise ScenarioError("<scenario>", None, "name a scenario to run")
    if variables:
        scenario = with_vars(scenario, variables)
    if record is not None:
        from harness.recording.recorder import RecordingTarget

        chosen = RecordingTarget(chosen, record)
    listener = None
    if console:
        from harness.report import ConsoleReporter

        listener = ConsoleReporter().listen
    return run(scenario, chosen, seed=seed, workdir=workdir, listener=listener)


def _replayed(target: Any, scenario: Scenario | None) -> tuple[Scenario, dict[str, Any]]:
    """The scenario to replay (the recording's own when none is named) and the ``vars`` it was recorded with."""
    from harness.recording.format import RecordingError
    from harness.recording.replay import recorded_vars

    try:
        chosen = scenario if scenario is not None else target.scenario()
        recorded = recorded_vars(target.cassette())
    except RecordingError as exc:
        raise TargetError(str(exc)) from None
    return chosen, {k: v for k, v in recorded.items() if k in chosen.vars}


__all__ = ["Result", "ScenarioError", "StepResult", "TargetError", "run", "run_scenario"]

"""What a scenario run produced: one :class:`StepResult` per step inside one :class:`Result` per scenario.

The runner fills these in (:mod:`harness.runner`); the reports read them (:mod:`harness.report`). Neither imports
the other: both import this module, which imports nothing of the harness.

A step keeps what a reader of a report needs to understand it without re-running it: its *inputs* (the arguments
with every ``{variable}`` filled in), its *value* (what ``save_as`` stores — the verification code, the thumbprint,
``verified``), and the HTTP *exchanges* it made (request and response, secrets redacted: no tokens or keys).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
OUTCOMES = (PASSED, FAILED, ERROR, SKIPPED)


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON types (dicts, lists, text, numbers): objects by their ``to_json()`` or text."""
    if depth > 20:
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return {"bytes": len(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        try:
            return jsonable(to_json(), depth + 1)
        except Exception:  # a broken to_json must not take the report down
            return str(value)
    return str(value)


@dataclass
class StepResult:
    """One step of one run: outcome, timing, and what it took and gave."""

    index: int
    kind: str
    name: str
    line: int
    outcome: str = SKIPPED
    seconds: float = 0.0
    error: str | None = None
    reason: str | None = None
    value: Any = None
    save_as: str | None = None
    #: the step's arguments with every placeholder filled in (None when it never ran)
    inputs: dict[str, Any] | None = None
    #: the HTTP exchanges the step made (JSON, secrets redacted; see :mod:`harness.step_exchanges`)
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    started_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index + 1,
            "kind": self.kind,
            "name": self.name,
            "line": self.line,
            "outcome": self.outcome,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "seconds": round(self.seconds, 6),
            "error": self.error,
            "reason": self.reason,
            "inputs": jsonable(self.inputs),
            "save_as": self.save_as,
            "value": jsonable(self.value),
            "exchanges": self.exchanges,
        }


@dataclass
class Result:
    """The outcome of one scenario run — or of a scenario file that could not be run at all (``error``)."""

    scenario: str
    source: str
    target: str
    seed: int | None
    workdir: Path | None
    steps: list[StepResult] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    cleanups: list[dict[str, Any]] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    hostname: str = field(default_factory=socket.gethostname)
    #: True when the scenario file itself did not validate (nothing ran; ``error`` says where and why)
    invalid: bool = False
    #: the signal (SIGINT 2, SIGTERM 15) that stopped a live run after its cleanup; ``None`` when none did
    interrupted: int | None = None

    @classmethod
    def of_invalid_file(cls, source: str, name: str, target: str, message: str) -> Result:
        """The result standing for a scenario file that does not validate: an errored scenario with no steps."""
        return cls(name, source, target, None, None, error=f"invalid scenario: {message}", invalid=True)

    @classmethod
    def of_refused(cls, source: str, name: str, target: str, message: str) -> Result:
        """The result standing for a scenario refused up front (a target it does not declare): nothing ran."""
        return cls(name, source, target, None, None, error=message, invalid=True)

    @property
    def passed(self) -> bool:
        """True when no step failed or crashed, the target opened, and every live cleanup worked."""
        return (
            self.error is None
            and all(step.outcome in (PASSED, SKIPPED) for step in self.steps)
            and all(c.get("ok") for c in self.cleanups)
        )

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.outcome in (FAILED, ERROR)), None)

    def counts(self) -> dict[str, int]:
        """How many steps ended each way (``passed``, ``failed``, ``error``, ``skipped``)."""
        return {outcome: sum(1 for s in self.steps if s.outcome == outcome) for outcome in OUTCOMES}

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "source": self.source,
            "target": self.target,
            "seed": self.seed,
            "workdir": str(self.workdir) if self.workdir is not None else None,
            "passed": self.passed,
            "invalid": self.invalid,
            "started_at": self.started_at.isoformat(),
            "hostname": self.hostname,
            "seconds": round(self.seconds, 6),
            "error": self.error,
            "steps": [s.to_json() for s in self.steps],
            "cleanups": self.cleanups,
            "interrupted": self.interrupted,
        }

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2)


__all__ = ["ERROR", "FAILED", "OUTCOMES", "PASSED", "SKIPPED", "Result", "StepResult", "jsonable"]

"""Parity: run a recording's scenario on the fake and compare, exchange by exchange, with what was recorded.

``sphere-harness parity recordings/enable-trust.json`` is how a live recording becomes evidence that the fakes still
match Azure. The scenario is the one the recording carries; it runs in-process on a fresh fake world with the
recorded seed, ``vars`` and run prefix, its exchanges are sanitized the way the recording was, and both runs are
reduced to what must agree (:mod:`harness.recording.normalize`): status, the headers that matter, body keys and
types at every depth, enum and error-code values, certificate facts and thumbprint relations — ignoring what is
random by nature (IDs, times, codes, signatures).

The two runs are aligned on method and URI template (:class:`difflib.SequenceMatcher`), so an exchange only one side
made shows as such instead of shifting every later comparison; an exchange the client retried (a 429 or 5xx it sent
again) is not compared. The result is a :class:`ParityReport`: a readable diff per exchange (:meth:`ParityReport.text`)
and JSON (:meth:`ParityReport.to_json`). ``parity`` exits 0 when the runs agree, 1 when they differ, 2 when the
recording cannot be used.
"""

from __future__ import annotations

import difflib
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.clients.exchange import Exchange
from harness.recording.cassette import Cassette, load
from harness.recording.normalize import Normaliser
from harness.recording.recorder import Recorder
from harness.recording.replay import ReplayTarget, recorded_vars


@dataclass
class Difference:
    path: str
    recorded: Any
    fake: Any

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "recorded": self.recorded, "fake": self.fake}


@dataclass
class ExchangeParity:
    """One aligned pair (or an exchange only one side made) and how they differ."""

    request: str
    recorded: int | None  # entry number in the recording (1-based)
    fake: int | None  # exchange number in the fake run (1-based)
    step: int | None
    differences: list[Difference] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "request": self.request,
            "recorded_entry": self.recorded,
            "fake_exchange": self.fake,
            "step": self.step,
            "equal": self.equal,
            "differences": [d.to_json() for d in self.differences],
        }


@dataclass
class ParityReport:
    recording: str
    scenario: str
    seed: int
    exchanges: list[ExchangeParity] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    fake_outcome: str = "passed"
    fake_failure: str | None = None

    @property
    def differences(self) -> list[ExchangeParity]:
        return [e for e in self.exchanges if not e.equal]

    @property
    def equal(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "recording": self.recording,
            "scenario": self.scenario,
            "seed": self.seed,
            "equal": self.equal,
            "compared": len(self.exchanges),
            "differing": len(self.differences),
            "fake_outcome": self.fake_outcome,
            "fake_failure": self.fake_failure,
            "skipped": self.skipped,
            "exchanges": [e.to_json() for e in self.exchanges],
        }

    def text(self) -> str:
        lines = [f"parity of {self.recording} ({self.scenario}, seed {self.seed}) against the fake"]
        if self.fake_failure:
            lines.append(f"  the fake run {self.fake_outcome}: {self.fake_failure}")
        for number, item in enumerate(self.exchanges, 1):
            if item.equal:
                continue
            step = f" (step {item.step + 1})" if item.step is not None else ""
            lines.append(f"  exchange {number}{step}: {item.request}")
            for difference in item.differences:
                lines.append(
                    f"    {difference.path}: recorded {_show(difference.recorded)}, fake {_show(difference.fake)}"
                )
        lines += [f"  not compared: {why}" for why in self.skipped]
        if self.equal:
            lines.append(f"EQUAL: {len(self.exchanges)} exchange(s) compared, no difference")
        else:
            lines.append(f"DIFFERENT: {len(self.differences)} of {len(self.exchanges)} exchange(s) compared differ")
        return "\n".join(lines)


def parity(recording: str | Path | Cassette, *, workdir: str | Path | None = None) -> ParityReport:
    """Run the recording's scenario on the fake and compare (see the module docstring)."""
    from harness.runner import run
    from harness.scenario import with_vars
    from harness.targets import FakeTarget

    cassette = recording if isinstance(recording, Cassette) else load(recording)
    replay = ReplayTarget(cassette)
    scenario = replay.scenario()
    variables = cassette.document.variables
    values = {k: v for k, v in recorded_vars(cassette).items() if k in scenario.vars}
    if values:
        scenario = with_vars(scenario, values)
    seed = int(variables.get("seed", "0") or 0)
    prefix = variables.get("run_prefix", "")
    recorder_target = _Observed(FakeTarget(), run_prefix=prefix)
    folder = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="sphere-harness-parity-"))
    result = run(scenario, recorder_target, seed=seed, workdir=folder)
    fake_entries = recorder_target.document().entries
    report = ParityReport(str(cassette.path or "<recording>"), scenario.name, seed)
    if not result.passed:
        failed = result.failed_step
        report.fake_outcome = "failed"
        first_line = (failed.error or "").splitlines()[0] if failed and failed.error else ""
        report.fake_failure = f"step {failed.index + 1} ({failed.kind}): {first_line}" if failed else result.error
    compare(cassette.entries, fake_entries, report, run_prefix=prefix)
    return report


def compare(recorded: list[Exchange], fake: list[Exchange], report: ParityReport, *, run_prefix: str = "") -> None:
    """Align and compare two runs' (sanitized) exchanges into ``report``."""
    left_numbers = [i + 1 for i, e in enumerate(recorded) if not e.retried]
    right_numbers = [i + 1 for i, e in enumerate(fake) if not e.retried]
    report.skipped += [f"recorded entry {i + 1}: retried by the client" for i, e in enumerate(recorded) if e.retried]
    report.skipped += [f"fake exchange {i + 1}: retried by the client" for i, e in enumerate(fake) if e.retried]
    left = [recorded[i - 1] for i in left_numbers]
    right = [fake[i - 1] for i in right_numbers]
    normal_left, normal_right = Normaliser(run_prefix=run_prefix), Normaliser(run_prefix=run_prefix)
    normal_left.learn(left)
    normal_right.learn(right)
    left_keys = [normal_left.key(e) for e in left]
    right_keys = [normal_right.key(e) for e in right]
    matcher = difflib.SequenceMatcher(None, left_keys, right_keys, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        pairs = list(zip(range(i1, i2), range(j1, j2), strict=False)) if tag in ("equal", "replace") else []
        for i, j in pairs:
            a, b = normal_left.exchange(left[i]), normal_right.exchange(right[j])
            item = ExchangeParity(a["request"], left_numbers[i], right_numbers[j], left[i].step)
            item.differences = list(_diff(a, b))
            report.exchanges.append(item)
        for i in range(i1 + len(pairs), i2):
            a = normal_left.exchange(left[i])
            item = ExchangeParity(a["request"], left_numbers[i], None, left[i].step)
            item.differences = [Difference("exchange", "made", "not made")]
            report.exchanges.append(item)
        for j in range(j1 + len(pairs), j2):
            b = normal_right.exchange(right[j])
            item = ExchangeParity(b["request"], None, right_numbers[j], right[j].step)
            item.differences = [Difference("exchange", "not made", "made")]
            report.exchanges.append(item)


def _diff(a: Any, b: Any, path: str = "") -> Iterator[Difference]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(dict.fromkeys([*a, *b])):
            where = f"{path}.{key}" if path else str(key)
            if key not in a:
                yield Difference(where, "missing", _summary(b[key]))
            elif key not in b:
                yield Difference(where, _summary(a[key]), "missing")
            else:
                yield from _diff(a[key], b[key], where)
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield Difference(f"{path}.length", len(a), len(b))
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from _diff(x, y, f"{path}[{index}]")
        return
    if a != b:
        yield Difference(path, _summary(a), _summary(b))


def _summary(value: Any) -> Any:
    """A value as a difference shows it: scalars as they are, containers by their shape."""
    if isinstance(value, dict):
        return "{" + ", ".join(list(value)[:6]) + ("…" if len(value) > 6 else "") + "}"
    if isinstance(value, list):
        return f"[{len(value)} items]"
    return value


def _show(value: Any) -> str:
    return value if isinstance(value, str) and value in ("missing", "made", "not made") else json.dumps(value)


class _Observed:
    """A target whose sessions carry a :class:`Recorder` (in memory) and a given run prefix."""

    def __init__(self, inner: Any, *, run_prefix: str = "") -> None:
        self.inner = inner
        self.name = inner.name
        self.live = False
        self.run_prefix = run_prefix
        self.recorder: Recorder | None = None

    @contextmanager
    def session(self, scenario: Any, *, seed: int, workdir: Path) -> Iterator[Any]:
        with self.inner.session(scenario, seed=seed, workdir=workdir) as session:
            session.run_prefix = self.run_prefix  # the recorded names, so URIs line up
            self.recorder = Recorder(scenario, target=self.inner.name)
            self.recorder.attach(session)
            yield session

    def document(self) -> Any:
        assert self.recorder is not None, "the run never opened a session"
        return self.recorder.document()


__all__ = ["Difference", "ExchangeParity", "ParityReport", "compare", "parity"]

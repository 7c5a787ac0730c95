"""Replay speed: the seed workflow played back offline from a recording, in-process (issue 14: < 5 ms per scenario).

A replay runs the scenario through the same wire clients as any target, but its transport answers from the
recording: no sockets, no fake world. The figure is the median time of one replay of ``recordings/enable-trust.json``
(11 steps, 8 HTTP exchanges, 2 certificate files written — to ``/dev/shm`` where there is one, so the figure is
the harness's and not the disk's) after a warm-up, in wall and in CPU time (the process's own; on a shared machine
wall time carries other processes' load). The baseline, measured in the same process
alternately, is the same scenario on the in-process fake (``run_scenario("enable-trust")``, a fresh world each run).

``python -m bench.replay`` prints the rows; ``--write`` puts them into the "Replay" section of ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.markdown import Row, table, write_section

ROOT = Path(__file__).resolve().parent.parent
RECORDING = ROOT / "recordings" / "enable-trust.json"
BEGIN, END = "<!-- bench:replay:begin -->", "<!-- bench:replay:end -->"


def _median_ms(action: Callable[[], object], runs: int, repetitions: int) -> tuple[float, float, str]:
    """Median wall and CPU milliseconds per call over ``repetitions`` batches of ``runs`` calls, and the spread."""
    walls, cpus = [], []
    for _ in range(repetitions):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(runs):
            action()
        walls.append((time.perf_counter() - wall) / runs * 1000)
        cpus.append((time.process_time() - cpu) / runs * 1000)
    median = statistics.median(walls)
    spread = (max(walls) - min(walls)) / 2 / median * 100 if median else 0.0
    return median, statistics.median(cpus), f"±{spread:.0f}% ({repetitions} batches of {runs})"


def rows(runs: int = 50, repetitions: int = 5) -> list[Row]:
    from harness.recording.replay import ReplayTarget
    from harness.runner import run, run_scenario

    replay = ReplayTarget(RECORDING)
    scenario = replay.scenario()
    memory = Path("/dev/shm")  # the scenario writes two certificate files: measure the harness, not the disk
    where = str(memory) if memory.is_dir() else None
    with tempfile.TemporaryDirectory(prefix="sphere-harness-bench-replay-", dir=where) as folder:
        work = Path(folder)

        def replayed() -> None:
            result = run(scenario, replay, workdir=work / "replay")
            assert result.passed, result.failed_step

        def faked() -> None:
            result = run_scenario("enable-trust", workdir=work / "fake", seed=7)
            assert result.passed, result.failed_step

        for action in (replayed, faked):  # warm-up: imports, caches, the parsed recording
            for _ in range(5):
                action()
        wall, cpu, spread = _median_ms(replayed, runs, repetitions)
        fake_wall, fake_cpu, fake_spread = _median_ms(faked, max(1, runs // 5), repetitions)
    return [
        (
            "8. seed workflow replayed from `recordings/enable-trust.json`, in-process",
            f"{wall:.2f} ms/scenario wall, {cpu:.2f} ms CPU ({spread})",
            f"in-process fake (`run_scenario('enable-trust')`): {fake_wall:.2f} ms wall, {fake_cpu:.2f} ms CPU "
            f"({fake_spread})",
            f"**{wall:.2f} ms** (goal < 5 ms per scenario); {wall / fake_wall:.2f}× the fake's time",
        )
    ]


def render(table_rows: list[Row]) -> str:
    import os
    import platform

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"Python {platform.python_version()}, {os.cpu_count()} cores, load average {load} at the end "
        "(`python -m bench.replay`).",
        "",
        table(table_rows),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="replays per batch")
    parser.add_argument("--repetitions", type=int, default=5, help="batches")
    parser.add_argument("--write", action="store_true", help="rewrite the Replay section of BENCHMARKS.md")
    options = parser.parse_args(argv)
    text = render(rows(options.runs, options.repetitions))
    print(text, end="")
    if options.write:
        write_section(ROOT / "BENCHMARKS.md", text, begin=BEGIN, end=END, heading="Replay (offline, from a recording)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

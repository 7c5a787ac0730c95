"""What installing sphere-harness costs when it is not used: pytest and CLI start-up (issue 17).

* **pytest with the plugin** — the package registers its pytest11 plugin in every pytest run of the environment. A
  project that never uses a fixture should not pay for it: this times ``pytest`` on a one-test project with the plugin
  loaded against the same run with ``-p no:sphere_harness`` (goal ≤ 1.05×).
* **the command line** — ``sphere-harness --help`` (goal < 150 ms) and ``sphere-harness list``, each against the
  bare interpreter (``python -c pass``) measured in the same run.

Each figure is the median of ``repetitions`` fresh processes, taken alternately so that the load of a shared
machine hits both sides alike. ``python -m bench.startup`` prints the rows; ``--write`` puts them into the
"Package start-up" section of ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.markdown import Row, table, write_section

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- bench:startup:begin -->", "<!-- bench:startup:end -->"


def _time(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, timeout=120, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.decode(errors='replace')[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def _alternate(
    commands: dict[str, list[str]], repetitions: int, cwd: Path, warm: bool
) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds per command, running them in turn ``repetitions`` times (after a warm-up round).

    CPU time is what the process itself spent; on a shared machine it moves far less than wall time."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for command in commands.values() if warm else ():
        _time(command, cwd)  # warm the page cache and the bytecode
    for _ in range(repetitions):
        for name, command in commands.items():
            samples[name].append(_time(command, cwd))
    return {
        name: (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
        for name, values in samples.items()
    }


def rows(repetitions: int = 11, *, warm: bool = True) -> list[Row]:
    """Table rows ``(figure, measured, baseline, ratio / goal)``."""
    python = sys.executable
    cli = str(Path(python).parent / "sphere-harness")
    cli_command = [cli] if Path(cli).exists() else [python, "-m", "harness.cli"]
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        project = Path(folder)
        (project / "test_plain.py").write_text("def test_nothing():\n    assert True\n", encoding="utf-8")
        pytest_base = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_plain.py"]
        times = _alternate(
            {
                "pass": [python, "-c", "pass"],
                "pytest": pytest_base,
                "pytest-no-plugin": [*pytest_base, "-p", "no:sphere_harness"],
                "help": [*cli_command, "--help"],
                "list": [*cli_command, "list"],
            },
            repetitions,
            project,
            warm,
        )
    wall = {name: value[0] * 1000 for name, value in times.items()}
    cpu = {name: value[1] * 1000 for name, value in times.items()}

    def both(name: str) -> str:
        return f"{wall[name]:.0f} ms wall, {cpu[name]:.0f} ms CPU"

    return [
        (
            "5. pytest start-up, one-test project, plugin installed",
            both("pytest"),
            f"`-p no:sphere_harness`: {both('pytest-no-plugin')}",
            f"**{wall['pytest'] / wall['pytest-no-plugin']:.3f}×** wall, "
            f"**{cpu['pytest'] / cpu['pytest-no-plugin']:.3f}×** CPU (goal ≤ 1.05×)",
        ),
        (
            "5. `sphere-harness --help`",
            both("help"),
            f"bare `python -c pass`: {both('pass')}",
            f"**{wall['help'] / wall['pass']:.1f}×** the interpreter's wall time, "
            f"{cpu['help'] / cpu['pass']:.1f}× its CPU (goal < 150 ms)",
        ),
        (
            "5. `sphere-harness list` (18 scenarios, YAML only)",
            both("list"),
            f"bare `python -c pass`: {both('pass')}",
            f"**{wall['list'] / wall['pass']:.1f}×** the interpreter's wall time, "
            f"{cpu['list'] / cpu['pass']:.1f}× its CPU",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=11)
    parser.add_argument("--write", action="store_true", help="write the rows into BENCHMARKS.md")
    args = parser.parse_args(argv)
    import os
    import platform

    found = rows(args.repetitions)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = (
        f"Python {platform.python_version()}, {os.cpu_count()} cores, load average {load} at the end; medians of "
        f"{args.repetitions} alternating runs (`python -m bench.startup`).\n\n" + table(found) + "\n"
    )
    print(text)
    if args.write:
        write_section(
            ROOT / "BENCHMARKS.md",
            text,
            begin=BEGIN,
            end=END,
            heading="Package start-up (what an unused install costs)",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How every figure is written down: the machine line, the four-column table and a section's block in BENCHMARKS.md.

A leaf module: the runner (``bench/run.py``) and each figure's own ``main`` (``python -m bench.portal`` …) print
through it, so a figure never needs the runner and the table looks the same wherever it is printed.
"""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path

Row = tuple[str, str, str, str]  # (figure, measured, baseline (same run), ratio / goal)


def machine() -> str:
    """The machine the figures were taken on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "load unknown"
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores ({load} at start), "
        f"Python {platform.python_version()}"
    )


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table (no trailing newline); a ``|`` inside a cell is escaped."""
    lines = ["| figure | measured | baseline (same run) | ratio / goal |", "| --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def render(rows: list[Row], *, command: str, seconds: float) -> str:
    """A whole run: the machine, the command and when it ran, then the table."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Machine: {machine()}\n\nRun: `{command}` at {when}, {seconds:.0f} s in all. Figures are medians of the "
        "repetitions; ± is half the min–max spread relative to the median (the noise of a shared machine).\n\n"
        + table(rows)
        + "\n"
    )


def write_section(path: Path, text: str, *, begin: str, end: str, heading: str) -> None:
    """Replace the block between ``begin`` and ``end`` in ``path``; append it under ``## heading`` when missing."""
    block = f"{begin}\n{text}{end}"
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        path.write_text(head + block + rest.split(end, 1)[1], encoding="utf-8")
    else:
        section = f"\n## {heading}\n\n" + block + "\n"
        path.write_text(current.rstrip("\n") + "\n" + section, encoding="utf-8")

"""Smoke test of the benchmark runner: ``python -m bench --quick`` runs every figure at tiny sizes.

No speed is asserted (the machine is shared); only that each figure is measured and the markdown table lands in
the output file, between its markers, with the rest of the file kept.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

#: the runner measures the fakes against moto (boto3 underneath): both come with the ``bench`` extra only
pytestmark = pytest.mark.skipif(
    find_spec("moto") is None or find_spec("boto3") is None,
    reason="the benchmark runner needs the 'bench' extra (moto, boto3): pip install -e '.[test,bench]'",
)


def test_the_runner_prints_and_writes_every_figure_at_tiny_sizes(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\nNotes that must survive.\n")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    written = out.read_text()
    assert "Notes that must survive." in written
    assert "| figure | measured | baseline (same run) | ratio / goal |" in done.stdout
    for figure in (
        "1. seed workflow",
        "per HTTP request into the fake",
        "1. a fresh world",
        "2. fleet enrollment",
        "3. served DPS registrations",
        "verify` latency",
        "4. `sphere-harness serve`",
        "4. `sphere-harness run`",
        "9. soak",
        "5. pytest start-up",
        "5. `sphere-harness --help`",
        "6. portal pages",
    ):
        assert figure in written, figure
    assert "moto" in written and "P-256 sign+verify" in written
    assert "Machine: " in written
    # counted, not assumed: the Azure workflow's own requests (8, or 10 when its given goes through /_sim), moto's 3
    assert re.search(r"\((8|10) requests per workflow, given set-up included\)", written), written
    assert "(3 requests per workflow)" in written


def test_only_runs_the_named_figures_and_writes_nothing_unasked(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "world"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1. a fresh world" in done.stdout and "1. seed workflow" not in done.stdout
    assert not (tmp_path / "BENCHMARKS.md").exists()

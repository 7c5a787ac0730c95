"""Without the ``bench`` extra the benchmark smoke test is skipped with a reason, not failed (issue 16, item 12)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SMOKE = Path(__file__).with_name("test_bench_smoke.py")


def test_the_bench_smoke_test_skips_when_boto3_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if only '.[test]' were installed
    spec = importlib.util.spec_from_file_location("bench_smoke_without_boto3", SMOKE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    marks = getattr(module, "pytestmark", None)
    marks = marks if isinstance(marks, list) else [marks]
    skips = [m for m in marks if m is not None and m.name == "skipif"]
    assert skips, "test_bench_smoke.py must declare a skipif for a missing bench extra"
    assert all(skip.args[0] for skip in skips)  # the condition holds without boto3
    assert "bench" in skips[0].kwargs["reason"]

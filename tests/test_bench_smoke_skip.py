"""Without the ``bench`` extra the benchmark smoke test is skipped with a reason, not failed (issue 16, item 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

SMOKE = Path(__file__).with_name("test_bench_smoke.py")


def test_the_bench_smoke_test_skips_when_boto3_is_missing(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("import sys\nsys.modules['boto3'] = None  # as if only '.[test]' were installed\n")
    pytester.makepyfile(test_bench_smoke=SMOKE.read_text())
    result = pytester.runpytest("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*bench*extra*"])

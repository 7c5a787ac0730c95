"""``docs/coverage.md`` is what ``python tests/contracts/coverage.py`` generates now, and it names real tests."""

from __future__ import annotations

from pathlib import Path

from contracts.coverage import BEHAVIOUR_TESTS, COVERAGE_MD, ROOT, implemented_operations, render


def test_coverage_md_is_current() -> None:
    assert COVERAGE_MD.read_text(encoding="utf-8") == render(), (
        "docs/coverage.md is out of date: run `python tests/contracts/coverage.py`"
    )


def test_every_named_test_module_exists() -> None:
    for table in BEHAVIOUR_TESTS.values():
        for module in table.values():
            assert (ROOT / module).is_file(), module
    assert Path(ROOT / "tests" / "test_contract_fuzz.py").is_file()


def test_the_workflows_operations_are_implemented() -> None:
    central = set(implemented_operations("central"))
    assert {"EnrollmentGroups_CreateX509", "EnrollmentGroups_GenerateVerificationCodeX509"} <= central
    assert len(implemented_operations("sphere-arm")) == 45 and len(implemented_operations("dps")) == 3

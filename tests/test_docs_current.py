"""The generated documents are current, the docs point nowhere outside the repository, the schema checks scenarios.

When one of these fails after you changed routes, steps, fault rules or settings: run ``python -m harness.docgen``
and commit what it rewrites.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from harness.docgen import OUTPUTS, REGENERATE, stale
from harness.docgen.fidelity import undocumented_settings

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def test_every_generated_document_is_current() -> None:
    found = stale(ROOT)
    assert not found, f"stale generated documents {found}: run `{REGENERATE}` and commit the result"


def test_every_setting_is_explained_in_fidelity() -> None:
    assert undocumented_settings() == [], "add a line to SETTING_NOTES in harness/docgen/fidelity.py"


def test_readme_and_docs_name_no_path_outside_the_repository() -> None:
    texts = {p: p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
    for path, text in texts.items():
        assert "../shared" not in text and "/work/" not in text, path
        assert not re.search(r"\bshared/reference\b", text), path
    for relative in OUTPUTS:  # generated pages explain choices in their own words, not by the developers' IDs
        text = (ROOT / relative).read_text(encoding="utf-8")
        assert "open-questions" not in text, relative
        assert not re.search(r"\b(?:SL|SA|C|D|K)-\d+\b", text), relative
    for relative in OUTPUTS:
        if relative.startswith("docs/"):
            assert f"({relative})" in texts[ROOT / "README.md"], f"README does not link {relative}"


def test_the_schema_accepts_every_shipped_scenario_and_each_names_it() -> None:
    schema = json.loads((ROOT / "scenarios" / "scenario.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in SCENARIOS:
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# yaml-language-server: $schema=scenario.schema.json\n"), path
        errors = sorted(validator.iter_errors(yaml.safe_load(text)), key=str)
        assert not errors, f"{path.name}: {errors[0].message}"


@pytest.mark.parametrize(
    "document",
    [
        {"steps": [{"sphere.login": None, "expect_eror": {"status": 400}}]},
        {"steps": [{"central.certificate.get": {"group": "g", "entri": "primary"}}]},
        {"steps": [{"central.certificate.get": {"group": "g", "entry": "tertiary"}}]},
        {"stepz": []},
        {"steps": ["no.such-step"]},
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(document: dict) -> None:
    schema = json.loads((ROOT / "scenarios" / "scenario.schema.json").read_text(encoding="utf-8"))
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(document))


def test_the_schema_command_prints_the_shipped_schema(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(
        (ROOT / "scenarios" / "scenario.schema.json").read_text(encoding="utf-8")
    )

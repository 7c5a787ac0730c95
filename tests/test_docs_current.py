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


def _table_cells(text: str, column: str) -> list[tuple[str, str]]:
    """(row, cell) for every row of every Markdown table in ``text`` whose header has ``column``."""
    found, index = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            index = None
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if index is None:
            index = cells.index(column) if column in cells else -1
        elif index >= 0 and not set(line) <= set("|-"):
            found.append((line[:100], cells[index]))
    return found


def test_every_route_says_what_it_does() -> None:
    text = (ROOT / "docs" / "http-api.md").read_text(encoding="utf-8")
    rows = _table_cells(text, "what it does")
    assert len(rows) > 100  # the parse found the tables
    silent = [row for row, cell in rows if not cell]
    assert not silent, f"routes without a description (a handler docstring or harness/docgen/route_notes.py): {silent}"


def test_every_step_argument_is_explained() -> None:
    from harness.steps import registry
    from harness.steps.notes import argument_note

    unexplained = [
        f"{kind}.{name}"
        for kind, step_type in registry().items()
        for name, info in step_type.args.model_fields.items()
        if not argument_note(kind, name, info)
    ]
    assert not unexplained, f"add a Field(description=…) or a line in harness/steps/notes.py: {unexplained}"
    text = (ROOT / "docs" / "steps.md").read_text(encoding="utf-8")
    assert all(cell for _, cell in _table_cells(text, "notes"))


def test_generated_pages_speak_markdown_not_sphinx() -> None:
    for relative in OUTPUTS:
        if relative.endswith(".md"):
            text = (ROOT / relative).read_text(encoding="utf-8")
            assert not re.search(r":(?:class|meth|func|mod|attr|data|exc):`", text), relative
            assert "``" not in text.replace("```", ""), relative

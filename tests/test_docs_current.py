"""The generated documents are current, no file points outside the repository, the schema checks scenarios.

When one of these fails after you changed routes, steps, fault rules or settings: run ``python -m harness.docgen``
and commit what it rewrites.
"""

from __future__ import annotations

import json
import re
import subprocess
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


def test_the_readme_links_every_generated_document() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for relative in OUTPUTS:
        if relative.startswith("docs/"):
            assert f"({relative})" in readme, f"README does not link {relative}"


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


# -- the repository stands alone --------------------------------------------------------------------------------

#: text files the scan reads (every tracked file with one of these suffixes, plus the CI script)
TEXT_SUFFIXES = frozenset({".py", ".md", ".yaml", ".yml", ".toml", ".json", ".html", ".txt", ".cfg", ".ini", ".sh"})
#: Azure's published documents, vendored byte for byte with their sources: upstream text, not this project's
VENDORED = ("tests/contracts/documents/",)


def _outside_references() -> re.Pattern[str]:
    """What only the developers' own notes could resolve: their question numbers (a series letter, a hyphen and a
    number), the names of their reference and design files, and paths outside the repository. Built from parts, so
    this file does not match its own pattern."""
    series = "|".join(["SL", "SA", "C", "D", "K", "G", "X"])
    notes = ["open" + "-questions", "central" + "-api", "dps" + "-protocol", "sphere-legacy" + "-api",
             "sphere-arm" + "-api", "sphere" + "-api", "certificates", "certificate" + "-profiles", "DES" + "IGN",
             "STY" + "LE", "NO" + "TES", "COM" + "MON"]  # fmt: skip
    names = "|".join(re.escape(name) + r"\.md" for name in notes)
    paths = "|".join(re.escape(p) for p in [".." + "/shared", "shared" + "/reference", "/" + "work/"])
    return re.compile(rf"\b(?:{series})-(?:\d+\b|\*)|(?<![\w-])(?:{names})\b|open" + r"-questions|" + paths)


def _tracked_text_files() -> list[Path]:
    try:
        listed = (
            subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60)
            .stdout.decode("utf-8")
            .split("\0")
        )
    except (OSError, subprocess.SubprocessError):  # not a git checkout (an unpacked sdist): every file under ROOT
        listed = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts]
    return [
        ROOT / name
        for name in sorted(filter(None, listed))
        if (Path(name).suffix in TEXT_SUFFIXES or name == ".ci/run") and not name.startswith(VENDORED)
    ]


def test_no_file_cites_the_developers_notes_or_a_path_outside_the_repository() -> None:
    """Users have the repository and nothing else: a fact the code relies on is stated in its own words (with a
    public source or the setting that changes it), never as a pointer into notes that are not shipped."""
    pattern = _outside_references()
    files = _tracked_text_files()
    assert len(files) > 100 and ROOT / "simulator" / "settings.py" in files  # the scan really reads the project
    found = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            continue  # deleted in the working tree, or not text after all
        for number, line in enumerate(text.splitlines(), 1):
            match = pattern.search(line)
            if match:
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r} in {line.strip()[:100]!r}")
    assert not found, "state these in the project's own words:\n" + "\n".join(found)


def test_the_scan_finds_what_it_is_for() -> None:
    pattern = _outside_references()
    cited = [
        "(open" + "-questions.md C" + "-7)",
        "see SL" + "-5",
        "the SA" + "-* defaults",
        "central" + "-api.md §3",
        "(K" + "-12)",
        "../" + "shared/x",
        "/" + "work/main",
        "dps" + "-protocol.md",
        "(DES" + "IGN.md principle 3)",
    ]
    for text in cited:
        assert pattern.search(text), text
    for text in ["X.509", "SHA-1", "P-256", "0ne00C-12", "C-style", "x-ms-request-id", "rsa-2048", "api-version",
                 "docs/certificates-and-keys.md", "certificates.mdx"]:  # fmt: skip
        assert not pattern.search(text), text

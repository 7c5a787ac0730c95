"""Scenario loading and variables: every problem names the file and line; arbitrary input never crashes the loader."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.scenario import ScenarioError, find_scenario, list_scenarios, load_scenario, parse_scenario
from harness.steps import OPTIONAL_FAMILIES, registry
from harness.variables import VariableError, escape, lookup, references, substitute

VALID = textwrap.dedent(
    """\
    name: tiny
    description: A small valid scenario.
    steps:
      - sphere.login
      - central.verification-code.generate: {group: g}
        save_as: code
      - expect: {actual: "{code}", not_equals: ""}
    """
)


def parse(text: str) -> object:
    return parse_scenario(textwrap.dedent(text), "case.yaml")


def error_of(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        parse(text)
    return caught.value


def test_a_valid_scenario_loads_with_step_lines() -> None:
    scenario = parse(VALID)
    assert [s.kind for s in scenario.steps] == ["sphere.login", "central.verification-code.generate", "expect"]
    assert [s.line for s in scenario.steps] == [4, 5, 7]
    assert scenario.steps[1].save_as == "code"
    assert [t.key for t in scenario.given.tenants] == ["default"]


def test_every_shipped_scenario_validates() -> None:
    names = [name for name, _ in list_scenarios()]
    assert "enable-trust" in names
    for _, path in list_scenarios():
        assert load_scenario(path).steps


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("steps:\n  - sphere.login\n  - [unclosed\n", 4, "invalid YAML"),
        ("steps:\n  - sphere.logn\n", 2, "did you mean sphere.login"),
        ("steps:\n  - sphere.login\n  - central.certificate.get:\n      group: g\n      entri: primary\n", 5, "entri"),
        ("steps:\n  - central.certificate.get: {entry: primary}\n", 2, "group"),
        ("steps:\n  - central.certificate.get:\n      group: g\n      entry: tertiary\n", 4, "entry"),
        ("steps:\n  - expect: {actual: 1}\n", 2, "comparison"),
        ("steps:\n  - sphere.login\n  - expect: {actual: '{code}', equals: 1}\n", 3, "{code}"),
        ("name: x\nname: y\nsteps: [sphere.login]\n", 2, "duplicate key"),
        ("steps:\n  - &a sphere.login\n  - *a\n", 3, "aliases"),
        ("stepz:\n  - sphere.login\n", 1, "stepz"),
        ("steps: []\n", 1, "steps"),
        ("given:\n  settings:\n    central: {no_such_setting: 1}\nsteps: [sphere.login]\n", 2, "no_such_setting"),
        ("given:\n  tenants:\n    - {key: a}\n    - {key: a}\nsteps: [sphere.login]\n", 2, "duplicate"),
        ("steps:\n  - sphere.login: {}\n    central.device.list: {}\n", 2, "exactly one step kind"),
        ("steps:\n  - sphere.login:\n    save_as: 3\n", 3, "variable name"),
        ("steps:\n  - sphere.login:\n    save_as: tenant\n", 3, "built-in"),
        ("steps:\n  - central.certificate.verify: {group: g}\n", 2, "exactly one of"),
        ("steps:\n  - sphere.login:\n    expect_error: {status: 999}\n", 3, "status"),
        ("- just\n- a list\n", 1, "expected a mapping"),
        ("steps:\n  - !!python/object:os.system x\n", 2, "invalid YAML"),
        ("", 1, "empty"),
    ],
)
def test_errors_name_the_line_and_what_was_expected(text: str, line: int, fragment: str) -> None:
    error = error_of(text)
    assert error.source == "case.yaml"
    assert error.line == line, str(error)
    assert fragment in str(error)
    assert str(error).startswith(f"case.yaml:{line}: ")


def test_placeholders_defer_type_checks_to_run_time_but_not_unknown_arguments() -> None:
    scenario = parse(
        """\
        steps:
          - sim.devices.create: {count: 1}
            save_as: n
          - sim.devices.create: {count: "{n}"}
        """
    )
    assert scenario.steps[1].args == {"count": "{n}"}
    error = error_of(
        "steps:\n  - sim.devices.create: {count: 1}\n    save_as: n\n  - sim.devices.create: {cnt: '{n}'}\n"
    )
    assert error.line == 4 and "cnt" in error.message


def test_load_scenario_reports_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00steps")
    with pytest.raises(ScenarioError, match="UTF-8"):
        load_scenario(binary)


def test_find_scenario_by_name_and_by_path(tmp_path: Path) -> None:
    assert find_scenario("enable-trust").name == "enable-trust.yaml"
    with pytest.raises(ScenarioError, match="known: "):
        find_scenario("no-such-scenario")
    with pytest.raises(ScenarioError, match="no such file"):
        find_scenario(tmp_path / "x.yaml")


def test_the_device_family_has_a_registration_point() -> None:
    assert "device" in OPTIONAL_FAMILIES
    kinds = registry()
    assert {"sphere.login", "central.certificate.verify", "expect", "sim.clock.advance"} <= set(kinds)
    assert kinds["sim.reset"].fake_only and not kinds["sphere.login"].fake_only


# -- property: malformed documents never crash the loader --------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12), st.floats(allow_nan=False))
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
step_kinds = st.sampled_from([*sorted(registry()), "sphere", "nope.step", ""])
steps = st.one_of(
    step_kinds,
    st.dictionaries(st.one_of(step_kinds, st.sampled_from(["name", "save_as", "expect_error"])), documents, max_size=3),
    documents,
)
shaped = st.fixed_dictionaries(
    {"steps": st.lists(steps, max_size=5)},
    optional={"name": documents, "given": documents, "seed": documents, "description": documents},
)


def assert_loads_or_names_a_line(text: str) -> None:
    try:
        parse_scenario(text, "fuzz.yaml")
    except ScenarioError as error:
        assert error.source == "fuzz.yaml"
        assert isinstance(error.line, int) and 1 <= error.line <= text.count("\n") + 2, str(error)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text_gives_a_scenario_or_a_located_error(text: str) -> None:
    assert_loads_or_names_a_line(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(shaped, documents))
def test_arbitrary_documents_give_a_scenario_or_a_located_error(document: object) -> None:
    assert_loads_or_names_a_line(yaml.safe_dump(document, sort_keys=False))


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=len(VALID) - 1), st.sampled_from([":", "-", "{", "[", "'", "\t", "&", "*"]))
def test_mutations_of_a_valid_scenario_give_a_located_error(position: int, char: str) -> None:
    assert_loads_or_names_a_line(VALID[:position] + char + VALID[position:])


def test_deep_nesting_is_a_located_error() -> None:
    assert_loads_or_names_a_line("steps:\n  - expect: {actual: " + "[" * 5000 + "]" * 5000 + ", equals: 1}\n")


# -- variables --------------------------------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(st.text(max_size=60))
def test_escaped_text_substitutes_to_itself(text: str) -> None:
    assert substitute(escape(text), {}) == text
    assert references(escape(text)) == set()


@given(names, json_values)
def test_a_whole_placeholder_keeps_the_value(name: str, value: object) -> None:
    assert substitute("{" + name + "}", {name: value}) == value
    assert substitute({"a": ["{" + name + "}"]}, {name: value}) == {"a": [value]}


@given(st.text(max_size=20), names, st.text(max_size=20), st.text(max_size=10))
def test_an_embedded_placeholder_becomes_text(prefix: str, name: str, suffix: str, value: str) -> None:
    template = escape(prefix) + "{" + name + "}" + escape(suffix)
    assert substitute(template, {name: value}) == prefix + value + suffix
    assert references(template) == {name}


def test_paths_into_values_and_their_errors() -> None:
    variables = {"entry": {"info": {"sha1Thumbprint": "AB"}, "list": [1, {"x": True}]}}
    assert lookup("entry.info.sha1Thumbprint", variables) == "AB"
    assert lookup("entry.list[1].x", variables) is True
    assert substitute("n={entry.list[0]} ok={entry.list[1].x}", variables) == "n=1 ok=true"
    with pytest.raises(VariableError, match=r"unknown variable \{code\}"):
        substitute("{code}", variables)
    with pytest.raises(VariableError, match=r"\{entry.info\} has no .missing"):
        substitute("{entry.info.missing}", variables)
    with pytest.raises(VariableError, match=r"has no \[5\]"):
        lookup("entry.list[5]", variables)


def test_braces_that_are_not_placeholders_stay_literal() -> None:
    assert substitute("{not a var} {} {1x}", {}) == "{not a var} {} {1x}"
    assert substitute('{"json": 1}', {}) == '{"json": 1}'


def test_the_seed_scenarios_are_shipped_and_listed_with_descriptions() -> None:
    listed = dict(list_scenarios())
    assert {"enable-trust", "enable-trust-arm", "proof-mismatch"} <= set(listed)
    for path in listed.values():
        description = load_scenario(path).description
        assert description.strip() and "\n" not in description.strip(), path

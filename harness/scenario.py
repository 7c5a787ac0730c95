"""Scenario files: YAML, validated on load, with errors that name the file, the line and what was expected.

A scenario is data::

    name: enable-trust
    description: The seed unit — enable trust between IoT Central and an Azure Sphere tenant.
    seed: 7                                  # optional; makes names, keys, IDs and codes repeatable
    given:                                   # what the world holds before the first step
      tenants: [{key: contoso, name: Contoso}]   # omit name → a faker company name from the seed
      apps: [{key: central}]                     # omit subdomain → a faker one
      settings: {central: {code_reuse: true}}    # settings of undocumented behaviour (fake-only)
    steps:
      - sphere.login
      - sphere.ca-certificate.download: {destination: CAcertificate.cer}
      - central.verification-code.generate: {group: azure-sphere}
        save_as: code                          # later strings may say "{code}"
      - central.certificate.verify: {group: azure-sphere, path: Bad.cer}
        expect_error: {status: 400, code: InvalidProofOfPossession}
      - expect: {actual: "{entry.verified}", equals: true}
        name: the primary certificate is verified

Each step is a mapping with exactly one *step kind* (from :mod:`harness.steps`) whose value holds the step's
arguments, plus optional ``name``, ``save_as`` and ``expect_error``; a bare string is a step without arguments.

``expect_error`` turns a failure into the expected outcome. It names one of two kinds of failure:

* ``{status: 400, code: InvalidProofOfPossession, message_contains: …}`` — the service *answered* with that HTTP
  status (and error code, and text in its message; both optional);
* ``{transport: true}`` — the request *never got an answer*: the connection was refused, reset or dropped before a
  response arrived (a ``drop`` fault, a server gone away). ``status`` and ``code`` cannot be given with it.

A step expected to fail one way that fails the other way — or succeeds — fails, saying what happened instead.

Validation happens entirely at load time: YAML syntax, the document's shape (pydantic), each step's kind and
arguments (the step's own pydantic model), world settings, and that every ``{variable}`` is saved by an earlier
step or provided by the harness. Every problem is a :class:`ScenarioError` carrying ``file:line``. Arguments that
contain placeholders are type-checked again once the values are known, when the step runs.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.scenario_files import (
    ScenarioError,
    expand_scenarios,
    find_scenario,
    list_scenarios,
    scenario_dirs,
)
from harness.variables import reference_paths, references

__all__ = [
    "ExpectedError",
    "Given",
    "Scenario",
    "ScenarioError",
    "StepSpec",
    "expand_scenarios",
    "find_scenario",
    "list_scenarios",
    "load_scenario",
    "parse_scenario",
    "scenario_dirs",
    "with_vars",
]

META_KEYS = frozenset({"name", "save_as", "expect_error"})
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
#: variables every run provides before the first step (see :mod:`harness.targets`)
BUILTIN_VARIABLES = frozenset({"tenant", "tenants", "app", "apps", "workdir", "run_prefix", "target", "seed"})
MAX_NODES = 100_000
#: where a scenario runs when it does not say (``live`` must be declared: it touches real resources)
DEFAULT_TARGETS: tuple[str, ...] = ("fake", "served")

Path_ = tuple[str | int, ...]


# -- YAML with line numbers ------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """The safe loader (plain YAML types only) without aliases; its nodes carry marks for line numbers.

    Aliases (``*name``) are refused: they could make a value contain itself, and scenarios do not need them.
    """

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not supported in scenario files", event.start_mark
            )
        return super().compose_node(parent, index)  # type: ignore[arg-type]


def _load_yaml(text: str, source: str) -> tuple[Any, dict[Path_, int]]:
    """Parse one YAML document into plain Python values plus a map from value path to its 1-based line."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError(source, 1, "the file is empty; expected a mapping with `steps:`")
        lines: dict[Path_, int] = {}
        value = _construct(loader, node, (), lines, source, [0])
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = " ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
        if exc.problem == "mapping values are not allowed here":
            problem += (
                " (a step with `name:`, `save_as:` or `expect_error:` needs a colon after its kind: `- sphere.login:`)"
            )
        raise ScenarioError(source, line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:  # reader errors (characters YAML forbids) carry a position
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else 1
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise ScenarioError(source, line, f"invalid YAML: {reason}") from None
    except RecursionError:
        line = loader.get_mark().line + 1 if loader is not None else 1
        raise ScenarioError(source, line, "the document nests too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
    return value, lines


def _construct(
    loader: _Loader, node: Node, path: Path_, lines: dict[Path_, int], source: str, counter: list[int]
) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise ScenarioError(source, node.start_mark.line + 1, f"the document has more than {MAX_NODES} values")
    line = node.start_mark.line + 1
    lines[path] = line
    if isinstance(node, MappingNode):
        if node.tag != "tag:yaml.org,2002:map":
            raise ScenarioError(source, line, f"unsupported tag {node.tag!r}; expected a plain mapping")
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise ScenarioError(source, key_node.start_mark.line + 1, "mapping keys must be plain scalars")
            key = loader.construct_object(key_node)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise ScenarioError(source, key_node.start_mark.line + 1, f"unsupported mapping key {key!r}")
            if key in result:
                raise ScenarioError(source, key_node.start_mark.line + 1, f"duplicate key {key!r}")
            key_path = (*path, key if isinstance(key, str | int) else str(key))
            result[key] = _construct(loader, value_node, key_path, lines, source, counter)
            lines[key_path] = key_node.start_mark.line + 1
        return result
    if isinstance(node, SequenceNode):
        if node.tag != "tag:yaml.org,2002:seq":
            raise ScenarioError(source, line, f"unsupported tag {node.tag!r}; expected a plain list")
        return [_construct(loader, item, (*path, i), lines, source, counter) for i, item in enumerate(node.value)]
    return loader.construct_object(node)


# -- the document's shape --------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TenantGiven(_Strict):
    """A Sphere tenant the world should hold (in live runs: bound to the configured tenant)."""

    key: str = Field(default="default", pattern=KEY_PATTERN)
    name: str | None = None
    tenant_id: str | None = None


class AppGiven(_Strict):
    """An IoT Central application the world should hold (in live runs: bound to the configured app)."""

    key: str = Field(default="default", pattern=KEY_PATTERN)
    subdomain: str | None = None
    name: str | None = None
    auto_approve: bool | None = None


class Given(_Strict):
    tenants: list[TenantGiven] = Field(default_factory=lambda: [TenantGiven()])
    apps: list[AppGiven] = Field(default_factory=lambda: [AppGiven()])
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("tenants", "apps")
    @classmethod
    def _unique_keys(cls, items: list[Any]) -> list[Any]:
        keys = [item.key for item in items]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"duplicate key(s) {', '.join(duplicates)}")
        return items


class ExpectedError(_Strict):
    """The error a step must end with — one of two kinds, never both:

    * a **service error**: the service answered with HTTP ``status`` and, optionally, its error ``code``;
    * a **transport failure** (``transport: true``): the request never got an HTTP answer — the connection was
      refused, reset or dropped half-way (what a ``drop`` fault does). There is no status or code to compare, so
      giving either with ``transport: true`` is a scenario error.

    ``message_contains`` applies to both (for a transport failure: the client's description of what broke).
    """

    status: int | None = Field(default=None, ge=100, le=599)
    code: str | None = None
    message_contains: str | None = None
    transport: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> ExpectedError:
        if self.transport and (self.status is not None or self.code is not None):
            raise ValueError(
                "`transport: true` expects a request that got no HTTP answer, so it cannot also name a "
                "`status` or `code`; expect one or the other"
            )
        if not self.transport and self.status is None:
            raise ValueError("give the expected `status` (e.g. {status: 400, code: BadRequest}) or `transport: true`")
        return self

    def describe(self) -> str:
        """How a report names the expected outcome: ``400 InvalidProofOfPossession`` or ``a transport failure``."""
        if self.transport:
            return "a transport failure (no HTTP answer)"
        return f"{self.status}{' ' + self.code if self.code else ''}"


class _Document(_Strict):
    name: str | None = None
    description: str = ""
    seed: int | None = None
    #: scenario variables with their defaults; ``--var name=value`` (or ``variables=``) overrides them
    vars: dict[str, Any] = Field(default_factory=dict)
    given: Given = Field(default_factory=Given)
    #: where the scenario may run; ``live`` only when every step speaks the wire contracts (see _check_targets)
    targets: list[Literal["fake", "served", "live"]] = Field(
        default_factory=lambda: list(DEFAULT_TARGETS), min_length=1
    )
    steps: list[Any] = Field(min_length=1)

    @field_validator("targets")
    @classmethod
    def _unique_targets(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("a target is listed twice")
        return values

    @field_validator("vars")
    @classmethod
    def _variable_names(cls, values: dict[str, Any]) -> dict[str, Any]:
        for name in values:
            if not isinstance(name, str) or not VARIABLE_NAME.match(name):
                raise ValueError(f"{name!r} is not a variable name (letters, digits and _)")
            if name in BUILTIN_VARIABLES:
                raise ValueError(f"`{name}` is a built-in variable")
        return values


# -- the loaded scenario ---------------------------------------------------------------------------------------


@dataclass
class StepSpec:
    """One step as written: its kind, raw arguments (placeholders unfilled), and where it is in the file."""

    index: int
    kind: str
    args: dict[str, Any]
    name: str
    line: int
    save_as: str | None = None
    expect_error: ExpectedError | None = None
    fake_only: bool = False
    arg_lines: dict[str, int] = field(default_factory=dict)
    #: Azure cannot undo it (a device claim): a live run skips it without ``--allow-irreversible``
    irreversible: bool = False


@dataclass
class Scenario:
    name: str
    description: str
    source: str
    seed: int | None
    given: Given
    steps: list[StepSpec]
    vars: dict[str, Any] = field(default_factory=dict)
    #: the targets the scenario declares (``targets:``; default fake and served)
    targets: tuple[str, ...] = DEFAULT_TARGETS

    @property
    def fake_only(self) -> bool:
        return all(step.fake_only for step in self.steps)

    def refusal(self, target: str) -> str | None:
        """Why the scenario cannot run on ``target`` (``None`` when it can): a target it does not declare, or a
        replay of steps that arrange a fake world."""
        if target == "replay":
            arranging = next((step for step in self.steps if step.fake_only), None)
            if arranging is None:
                return None
            return (
                f"a recording can only replay steps that speak the wire contracts; step {arranging.index + 1} "
                f"({arranging.kind}, line {arranging.line}) arranges the fake world"
            )
        if target in self.targets:
            return None
        why = _live_obstacle(self) if target == "live" else None
        return f"{self.name} declares targets [{', '.join(self.targets)}], not {target}" + (f": {why}" if why else "")


def with_vars(scenario: Scenario, overrides: Mapping[str, Any]) -> Scenario:
    """``scenario`` with some of its ``vars:`` given other values (``--var name=value``).

    Only declared variables can be set: a name the scenario does not declare is a :class:`ScenarioError` naming the
    close ones, so a typo on the command line cannot silently leave the default in place.
    """
    unknown = [name for name in overrides if name not in scenario.vars]
    if unknown:
        name = unknown[0]
        declared = ", ".join(sorted(scenario.vars)) or "none (add a `vars:` section)"
        hint = _close(name, scenario.vars)
        message = f"--var {name}: the scenario declares no variable {name!r}{hint}; declared: {declared}"
        raise ScenarioError(scenario.source, None, message)
    changed = copy.copy(scenario)
    changed.vars = {**scenario.vars, **overrides}
    return changed


def parse_scenario(text: str, source: str = "<scenario>", *, default_name: str | None = None) -> Scenario:
    """Validate a scenario document; raise :class:`ScenarioError` (with a line) on the first problem."""
    data, lines = _load_yaml(text, source)
    if not isinstance(data, dict):
        raise ScenarioError(source, lines.get((), 1), f"expected a mapping with `steps:`, got {_kind(data)}")
    try:
        document = _Document.model_validate(data)
    except ValidationError as exc:
        raise _from_validation(exc, (), lines, source, model=_Document) from None
    if document.given.settings:
        _check_settings(document.given.settings, lines, source)
    steps = [_parse_step(raw, i, lines, source) for i, raw in enumerate(document.steps)]
    _check_variables(steps, source, document.vars)
    _check_targets(document, steps, lines, source)
    return Scenario(
        name=document.name or default_name or Path(source).stem,
        description=document.description.strip(),
        source=source,
        seed=document.seed,
        given=document.given,
        steps=steps,
        vars=document.vars,
        targets=tuple(document.targets),
    )


def _live_obstacle(scenario: Scenario | _Document, steps: list[StepSpec] | None = None) -> str | None:
    """What keeps a scenario off real endpoints, in words (``None`` when nothing does)."""
    steps = steps if steps is not None else scenario.steps  # type: ignore[union-attr]
    arranging = next((step for step in steps if step.fake_only), None)
    if arranging is not None:
        return (
            f"step {arranging.index + 1} ({arranging.kind}, line {arranging.line}) arranges the fake world through "
            "the simulator control surface, which Azure does not have"
        )
    if scenario.given.settings:
        return "`given.settings` changes the fake world's behaviour, which Azure does not have"
    if len(scenario.given.tenants) > 1 or len(scenario.given.apps) > 1:
        return (
            f"it needs {len(scenario.given.tenants)} tenant(s) and {len(scenario.given.apps)} app(s); "
            "a live configuration provides one of each"
        )
    return None


def _check_targets(document: _Document, steps: list[StepSpec], lines: dict[Path_, int], source: str) -> None:
    """A scenario may declare ``live`` only when it could run there from the first step to the last."""
    if "live" not in document.targets:
        return
    why = _live_obstacle(document, steps)
    if why is not None:
        raise ScenarioError(
            source,
            lines.get(("targets",)),
            f"targets: `live` is declared, but {why}; remove `live` from `targets:` (it will be refused on live "
            "up front) or make the scenario wire-only",
        )


#: parsed scenarios by (path, text): a CI suite runs the same file many times, and parsing with line numbers
#: (the pure-Python YAML composer) costs more than an in-process run's whole trust workflow setup
_PARSED: dict[tuple[str, str], Scenario] = {}


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (each call returns its own copy; an edited file is parsed again)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(str(path), None, f"not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise ScenarioError(str(path), None, f"cannot read the file: {exc.strerror or exc}") from None
    key = (str(path), text)
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = parse_scenario(text, str(path), default_name=path.stem)
        if len(_PARSED) >= 128:
            _PARSED.clear()
        _PARSED[key] = parsed
    return copy.deepcopy(parsed)


# -- helpers ---------------------------------------------------------------------------------------------------


def _parse_step(raw: Any, index: int, lines: dict[Path_, int], source: str) -> StepSpec:
    from harness.steps import registry

    path: Path_ = ("steps", index)
    line = lines.get(path, 1)
    if isinstance(raw, str):
        kind, args, meta = raw, {}, {}
    elif isinstance(raw, dict):
        actions = [key for key in raw if key not in META_KEYS]
        if len(actions) > 1:  # one is the kind; another may be a misspelt `name`, `save_as` or `expect_error`
            from harness.steps import registry

            kinds = registry()
            for key in actions:
                hint = _close(str(key), META_KEYS)
                if hint and key not in kinds:
                    raise ScenarioError(
                        source, lines.get((*path, key), line), f"step {index + 1}: unknown step field {key!r}{hint}"
                    )
        if len(actions) != 1:
            found = ", ".join(map(str, actions)) or "none"
            raise ScenarioError(
                source,
                line,
                f"step {index + 1}: expected exactly one step kind (plus `name`, `save_as`, `expect_error`), "
                f"found {found}",
            )
        kind = actions[0]
        if not isinstance(kind, str):
            raise ScenarioError(source, line, f"step {index + 1}: the step kind must be a name, not {kind!r}")
        args = raw[kind]
        meta = {key: raw[key] for key in raw if key in META_KEYS}
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ScenarioError(
                source, lines.get((*path, kind), line), f"step {index + 1} ({kind}): arguments must be a mapping"
            )
    else:
        raise ScenarioError(source, line, f"step {index + 1}: expected a step (mapping or name), got {_kind(raw)}")
    steps = registry()
    step_type = steps.get(kind)
    if step_type is None:
        raise ScenarioError(source, line, f"step {index + 1}: unknown step kind {kind!r}{_suggest(kind, steps)}")
    name = meta.get("name", kind)
    if not isinstance(name, str):
        raise ScenarioError(source, lines.get((*path, "name"), line), "`name` must be text")
    save_as = meta.get("save_as")
    if save_as is not None and (not isinstance(save_as, str) or not VARIABLE_NAME.match(save_as)):
        raise ScenarioError(
            source, lines.get((*path, "save_as"), line), "`save_as` must be a variable name like `code` or `entry_1`"
        )
    if save_as in BUILTIN_VARIABLES:
        raise ScenarioError(source, lines.get((*path, "save_as"), line), f"`{save_as}` is a built-in variable")
    expect_error = None
    if "expect_error" in meta:
        try:
            expect_error = ExpectedError.model_validate(meta["expect_error"])
        except ValidationError as exc:
            raise _from_validation(
                exc,
                (*path, "expect_error"),
                lines,
                source,
                prefix=f"step {index + 1} ({kind}): ",
                model=ExpectedError,
                label="expect_error",
            ) from None
    args_path = (*path, kind)
    _check_args(step_type.args, args, args_path, lines, source, f"step {index + 1} ({kind})")
    return StepSpec(
        index=index,
        kind=kind,
        args=args,
        name=name,
        line=line,
        save_as=save_as,
        expect_error=expect_error,
        fake_only=step_type.fake_only,
        irreversible=step_type.irreversible,
        arg_lines={str(k): lines.get((*args_path, k), line) for k in args},
    )


def _nearest_line(lines: dict[Path_, int], path: Path_) -> int | None:
    """The line of ``path``, or of its closest enclosing node (a key YAML gave no mark of its own, e.g. null)."""
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return None


def _check_args(model: type[BaseModel], args: dict[str, Any], path: Path_, lines: dict[Path_, int], source, what):
    """Unknown and missing arguments always; full type validation when no argument holds a placeholder."""
    fields = model.model_fields
    aliases = {f.alias or name for name, f in fields.items()} | set(fields)
    for key in args:
        if key not in aliases:
            expected = ", ".join(sorted(fields)) or "no arguments"
            raise ScenarioError(
                source,
                _nearest_line(lines, (*path, key)),
                f"{what}: unknown argument {key!r}{_close(str(key), aliases)}; expected {expected}",
            )
    if references(args):
        for name, info in fields.items():
            if info.is_required() and name not in args and (info.alias or name) not in args:
                raise ScenarioError(source, _nearest_line(lines, path), f"{what}: missing required argument {name!r}")
        return
    try:
        model.model_validate(args)
    except ValidationError as exc:
        raise _from_validation(exc, path, lines, source, prefix=f"{what}: ", model=model) from None


def _check_settings(settings: dict[str, Any], lines: dict[Path_, int], source: str) -> None:
    from simulator.settings import Settings

    try:
        Settings.from_mapping(settings)
    except (ValueError, TypeError) as exc:
        raise ScenarioError(source, lines.get(("given", "settings")), f"given.settings: {exc}") from None


#: the keys of the built-in variables that are mappings (:meth:`harness.targets.TenantBinding.variable` …)
BUILTIN_KEYS: dict[str, frozenset[str]] = {
    "tenant": frozenset({"key", "id", "name", "user", "catalog", "subscription_id", "resource_group"}),
    "app": frozenset({"key", "subdomain", "name", "id_scope"}),
}
#: what an ``expect_error`` step saves: the service's error, or the transport failure
ERROR_KEYS = frozenset({"service", "status", "code", "message", "request_id", "transport", "error", "method", "url"})


def _check_variables(steps: list[StepSpec], source: str, declared: Mapping[str, Any] | None = None) -> None:
    """Every ``{name}`` is saved by an earlier step (or built in, or declared under ``vars:``), and every
    ``{name.key}`` names a key that value has, when the saving step declares its keys."""
    from harness.steps import registry

    kinds = registry()
    keys: dict[str, frozenset[str] | None] = {name: None for name in BUILTIN_VARIABLES}
    keys.update(BUILTIN_KEYS)
    keys.update({name: None for name in declared or ()})
    for step in steps:
        for name, first in reference_paths(step.args):
            line = next((ln for key, ln in step.arg_lines.items() if name in references(step.args[key])), step.line)
            if name not in keys:
                raise ScenarioError(
                    source,
                    line,
                    f"step {step.index + 1} ({step.kind}) uses {{{name}}}, but no earlier step saves it"
                    f"{_close(name, keys)} (add `save_as: {name}` to the step that produces it, or declare it "
                    f"under `vars:`)",
                )
            known = keys[name]
            if first is not None and known is not None and first not in known:
                raise ScenarioError(
                    source,
                    line,
                    f"step {step.index + 1} ({step.kind}) uses {{{name}.{first}}}, but {{{name}}} has no key "
                    f"{first!r}{_close(first, known)}; it has {', '.join(sorted(known))}",
                )
        if step.save_as:
            saves = kinds[step.kind].saves if step.kind in kinds else None
            if step.expect_error is not None:
                keys[step.save_as] = ERROR_KEYS
            else:
                keys[step.save_as] = frozenset(saves) if saves is not None else None


def _from_validation(
    exc: ValidationError,
    base: Path_,
    lines: dict[Path_, int],
    source: str,
    prefix: str = "",
    model: type[BaseModel] | None = None,
    label: str | None = None,
):
    """A :class:`ScenarioError` for pydantic's first complaint (an unknown field first: usually a typo), located at
    the value's line; ``label`` names the mapping the model read (``expect_error``) when the message should say so."""
    errors = exc.errors()
    # an unknown field is usually a typo of a missing one: name it first
    error = next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])
    loc = tuple(error.get("loc", ()))
    full = (*base, *loc)
    line = None
    for cut in range(len(full), -1, -1):
        if full[:cut] in lines:
            line = lines[full[:cut]]
            break
    parts = [label, *loc] if label else list(loc)
    where = ".".join(str(part) for part in parts) if parts else (str(base[-1]) if base else "document")
    message = error.get("msg", "invalid")
    if error.get("type") == "value_error":  # a model validator's own sentence: drop pydantic's "Value error, "
        message = str(message).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        known = _field_names(model, loc[:-1]) if model is not None and loc else set()
        message = f"unknown field{_close(str(loc[-1]), known) if loc else ''}"
        if known:
            message += f"; expected {', '.join(sorted(known))}"
    elif error.get("type") == "missing":
        message = "required field is missing"
    if not parts and prefix:  # a check of the whole mapping (a model validator): the prefix already says where
        return ScenarioError(source, line, f"{prefix}{message}")
    return ScenarioError(source, line, f"{prefix}{where}: {message}")


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


def _close(word: str, candidates: Any) -> str:
    """`` (did you mean x?)`` when ``word`` looks like a misspelling of one of ``candidates``, else empty."""
    from simulator.suggest import did_you_mean

    return did_you_mean(word, candidates)


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> set[str]:
    """The field names of the model found at ``loc`` inside ``model`` (through lists, dicts and optionals)."""
    import typing

    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return set()
            current = info.annotation
            continue
        args = [a for a in typing.get_args(current) if a is not type(None)]
        origin = typing.get_origin(current)
        if origin in (list, tuple) and args:
            current = args[0]
        elif origin is dict and len(args) == 2:
            current = args[1]
        elif args:
            current = args[0]
        else:
            return set()
    while not (isinstance(current, type) and issubclass(current, BaseModel)):
        args = [a for a in typing.get_args(current) if a is not type(None)]
        if not args:
            return set()
        current = args[0]
    return {info.alias or name for name, info in current.model_fields.items()}


def _suggest(kind: str, steps: dict[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(kind, list(steps), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else f" (known: {', '.join(sorted(steps))})"

"""``docs/steps.md``: every scenario step kind — arguments, defaults, saved values, an example — from the registry."""

from __future__ import annotations

import inspect
import json
import types
import typing
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined

from harness.docgen._markdown import banner, prose, table

ROOT = Path(__file__).resolve().parent.parent.parent


def type_name(annotation: Any) -> str:
    """A readable type: ``str``, ``int | None``, ``"legacy" | "arm"``, ``list[str]``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(f"`{a!r}`".replace("'", '"') for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join(type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def _default(info: Any) -> str:
    if info.is_required():
        return "**required**"
    default = info.default
    if default is PydanticUndefined:
        return "(computed)"
    return f"`{json.dumps(default)}`" if default is not None else "—"


def _shipped_steps() -> dict[str, list[tuple[str, Any]]]:
    """Every step of the shipped scenarios by kind, in file order: (file name, the step as written)."""
    import yaml

    found: dict[str, list[tuple[str, Any]]] = {}
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        for raw in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("steps", []):
            kind = raw if isinstance(raw, str) else next((k for k in raw if k not in META), None)
            if kind is not None:
                found.setdefault(kind, []).append((path.name, raw))
    return found


META = ("name", "save_as", "expect_error")


def _example(kind: str, step_type: Any, shipped: dict[str, list[tuple[str, Any]]]) -> str:
    """A real use of the step from a shipped scenario (the first that passes arguments), else its required
    arguments with their types."""
    import yaml

    uses = shipped.get(kind, [])
    with_args = [(name, raw) for name, raw in uses if isinstance(raw, dict) and raw.get(kind)]
    if with_args or uses:
        name, raw = (with_args or uses)[0]
        text = yaml.safe_dump([raw], sort_keys=False, allow_unicode=True, width=110, default_flow_style=None)
        return f"# scenarios/{name}\n{text.rstrip()}"
    required = [(name, info) for name, info in step_type.args.model_fields.items() if info.is_required()]
    if not required:
        return f"- {kind}"
    lines = [f"- {kind}:"]
    for name, info in required:
        lines.append(f"    {info.alias or name}: <{type_name(info.annotation)}>")
    return "\n".join(lines)


def render() -> str:
    from harness.steps import registry
    from harness.steps.notes import argument_note

    kinds = registry()
    shipped = _shipped_steps()
    families: dict[str, list[str]] = {}
    for kind in sorted(kinds):
        families.setdefault(kind.split(".")[0], []).append(kind)
    out = [banner("the step registry (harness/steps/)"), "# Scenario steps\n\n"]
    out.append(
        "A scenario's `steps:` run in order. Each step is one *kind* (below) with its arguments, plus optional "
        "`name` (how reports call it), `save_as` (store the step's value as a variable) and `expect_error` (the "
        "step must fail this way: `{status, code?, message_contains?}` or `{transport: true}`). Any argument may "
        "be a `{variable}` saved by an earlier step. Steps marked *fake-only* arrange or inspect the offline world "
        "through the simulator control surface; a live run skips them with a reason. `sphere-harness schema` "
        "prints the same information as a JSON Schema for editors.\n\n"
    )
    from harness.scenario import BUILTIN_KEYS, BUILTIN_VARIABLES, ERROR_KEYS

    out.append("## Variables\n\n")
    out.append(
        "A string that is exactly `{name}` becomes the value itself; inside longer text it becomes text. Paths reach "
        "inside values: `{entry.verified}`, `{devices[0].id}`; `{{` and `}}` are literal braces. `validate` checks "
        "that every variable is defined before it is used and, where the step that saved it says which keys its "
        "value has, that the key exists. Defined are: what earlier steps saved (`save_as`), the scenario's own "
        "`vars:` (defaults that `--var name=value` overrides), and these built-ins:\n\n"
    )
    builtins = [
        (f"`{{{name}}}`", ", ".join(f"`{key}`" for key in sorted(BUILTIN_KEYS.get(name, ()))))
        for name in sorted(BUILTIN_VARIABLES)
    ]
    out.append(table(["variable", "keys"], builtins))
    out.append(
        "\nA step with `expect_error` saves the error instead of a value: "
        + ", ".join(f"`{key}`" for key in sorted(ERROR_KEYS))
        + ".\n\n## Step kinds\n\n"
    )
    out.append(
        table(
            ["kind", "fake-only", "what it does"],
            [
                (f"[`{kind}`](#{kind.replace('.', '')})", "yes" if kinds[kind].fake_only else "", kinds[kind].summary)
                for kind in sorted(kinds)
            ],
        )
    )
    for family, members in families.items():
        out.append(f"\n### `{family}`\n")
        for kind in members:
            step_type = kinds[kind]
            out.append(f"\n#### {kind}\n\n")
            doc = inspect.getdoc(step_type.function) or ""
            out.append(prose(doc or step_type.summary) + "\n\n")
            if step_type.fake_only:
                out.append("*Fake-only* (simulator control surface): skipped on a live target.\n\n")
            fields = step_type.args.model_fields
            if fields:
                rows = []
                for name, info in fields.items():
                    rows.append(
                        (
                            f"`{info.alias or name}`",
                            type_name(info.annotation),
                            _default(info),
                            argument_note(kind, name, info),
                        )
                    )
                out.append(table(["argument", "type", "default", "notes"], rows))
            else:
                out.append("No arguments.\n")
            args_doc = inspect.getdoc(step_type.args)
            if (
                args_doc
                and step_type.args.__doc__
                and args_doc
                not in (
                    "Base of every step's argument model: unknown arguments are errors.",
                    "A step that takes no arguments.",
                )
            ):
                out.append(f"\n{prose(args_doc)}\n")
            if step_type.saves:
                out.append(
                    "\n`save_as` stores a mapping: "
                    + ", ".join(f"`{key}` ({text})" for key, text in step_type.saves.items())
                    + ".\n"
                )
            else:
                returned = inspect.signature(step_type.function).return_annotation
                shown = returned if isinstance(returned, str) else type_name(returned)
                out.append(f"\n`save_as` stores the step's value (`{shown}`).\n")
            out.append(f"\n```yaml\n{_example(kind, step_type, shipped)}\n```\n")
    return "".join(out)

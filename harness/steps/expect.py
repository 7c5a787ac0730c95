"""The ``expect`` step: compare a value with what it should be, and show a readable diff when it is not.

::

    - expect: {actual: "{entry.verified}", equals: true}
    - expect: {actual: "{group}", matches: {attestation: {type: x509}}}      # a subset of a mapping
    - expect: {actual: "{certificates}", length: 2}
    - expect: {actual: "{proof.common_name}", equals: "{code}"}
    - expect: {actual: "{tenant_ids}", contains: "{tenant.id}"}

Comparisons: ``equals``, ``not_equals``, ``matches`` (every key given must be present and match recursively;
lists match item by item), ``contains`` (an item of a list, a key of a mapping, or a substring), ``one_of`` and
``length``. Several comparisons in one step must all hold.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from pydantic import model_validator

from harness.steps.base import StepArgs, StepContext, StepFailure, step

COMPARISONS = ("equals", "not_equals", "matches", "contains", "one_of", "length")


class ExpectArgs(StepArgs):
    actual: Any
    equals: Any = None
    not_equals: Any = None
    matches: Any = None
    contains: Any = None
    one_of: list[Any] | None = None
    length: int | None = None

    @model_validator(mode="after")
    def _some_comparison(self) -> ExpectArgs:
        if "actual" not in self.model_fields_set:
            raise ValueError("`actual` is required")
        if not self.model_fields_set & set(COMPARISONS):
            raise ValueError(f"give at least one comparison: {', '.join(COMPARISONS)}")
        return self


@step("expect", ExpectArgs, effect="local")
def expect(ctx: StepContext, args: ExpectArgs) -> Any:
    """Check a value; fail with a diff when it is not what the scenario says."""
    given = args.model_fields_set
    actual = args.actual
    if "equals" in given and actual != args.equals:
        raise StepFailure("expected values to be equal", diff(args.equals, actual))
    if "not_equals" in given and actual == args.not_equals:
        raise StepFailure(f"expected a value other than {render(args.not_equals)}")
    if "matches" in given:
        problems = list(mismatches(args.matches, actual))
        if problems:
            raise StepFailure(
                "expected the value to match: " + "; ".join(problems),
                diff(args.matches, _projection(args.matches, actual)),
            )
    if "contains" in given and not _contains(actual, args.contains):
        raise StepFailure(f"expected {render(actual, 200)} to contain {render(args.contains)}")
    if "one_of" in given and actual not in (args.one_of or []):
        raise StepFailure(f"expected one of {render(args.one_of)}, got {render(actual)}")
    if "length" in given:
        try:
            size = len(actual)
        except TypeError:
            raise StepFailure(f"expected something with a length, got {render(actual)}") from None
        if size != args.length:
            raise StepFailure(f"expected length {args.length}, got {size}", diff(args.length, size))
    return actual


def mismatches(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Why ``actual`` does not match the ``expected`` pattern (empty when it does)."""
    label = where or "value"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{label} is {_type(actual)}, expected a mapping"]
        problems: list[str] = []
        for key, value in expected.items():
            path = f"{where}.{key}" if where else str(key)
            if key not in actual:
                problems.append(f"{path} is missing")
            else:
                problems.extend(mismatches(value, actual[key], path))
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{label} is {_type(actual)}, expected a list"]
        if len(expected) != len(actual):
            return [f"{label} has {len(actual)} items, expected {len(expected)}"]
        problems = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            problems.extend(mismatches(e, a, f"{where}[{i}]"))
        return problems
    if expected != actual:
        return [f"{label} is {render(actual)}, expected {render(expected)}"]
    return []


def diff(expected: Any, actual: Any) -> str:
    """A unified diff of the two values rendered as indented JSON (``-`` expected, ``+`` actual)."""
    lines = difflib.unified_diff(
        _pretty(expected).splitlines(), _pretty(actual).splitlines(), "expected", "actual", lineterm="", n=3
    )
    return "\n".join(lines)


def render(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pretty(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True, indent=2)


def _projection(pattern: Any, actual: Any) -> Any:
    """``actual`` cut down to the keys the pattern mentions, so the diff shows only what matters."""
    if isinstance(pattern, dict) and isinstance(actual, dict):
        return {k: _projection(v, actual[k]) for k, v in pattern.items() if k in actual}
    if isinstance(pattern, list) and isinstance(actual, list) and len(pattern) == len(actual):
        return [_projection(p, a) for p, a in zip(pattern, actual, strict=True)]
    return actual


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, dict | list | tuple | set):
        return item in container
    return False


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__

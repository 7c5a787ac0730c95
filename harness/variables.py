"""Scenario variables: ``{name}`` placeholders filled from values that earlier steps saved.

A step that says ``save_as: code`` stores its result under ``code``; any later string may use it::

    verification_code: "{code}"                 # the whole string is one placeholder → the value itself
    destination: "proof-{code}.cer"             # embedded → the value's text
    actual: "{entry.info.sha1Thumbprint}"       # dotted keys / attributes
    actual: "{devices[0].id}"                   # list indexes
    literal: "{{not a placeholder}}"            # doubled braces are literal braces

A string that is exactly one placeholder yields the value unchanged (a bool stays a bool, a dict stays a dict);
an embedded placeholder yields text (strings as they are, anything else as JSON). A brace that does not start a
well-formed placeholder is kept literally, so arbitrary text never fails to parse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_-]*"
_EXPRESSION = re.compile(rf"^({IDENTIFIER})((?:\.{IDENTIFIER}|\[-?\d+\])*)$")
_ACCESSOR = re.compile(rf"\.({IDENTIFIER})|\[(-?\d+)\]")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


class VariableError(Exception):
    """A placeholder that names no variable, or a path that does not exist in the variable's value."""


def _tokens(text: str) -> Iterator[tuple[str, str | None]]:
    """Split ``text`` into (literal, None) and (source, expression) pieces."""
    pos = 0
    for match in _TOKEN.finditer(text):
        if match.start() > pos:
            yield text[pos : match.start()], None
        token = match.group(0)
        if token == "{{":
            yield "{", None
        elif token == "}}":
            yield "}", None
        elif _EXPRESSION.match(match.group(1).strip()):
            yield token, match.group(1).strip()
        else:
            yield token, None
        pos = match.end()
    if pos < len(text):
        yield text[pos:], None


def references(value: Any) -> set[str]:
    """The root variable names used anywhere in ``value`` (strings, lists, dict values)."""
    found: set[str] = set()
    if isinstance(value, str):
        for _, expression in _tokens(value):
            if expression is not None:
                found.add(_EXPRESSION.match(expression).group(1))  # type: ignore[union-attr]
    elif isinstance(value, Mapping):
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= references(item)
    return found


def reference_paths(value: Any) -> list[tuple[str, str | None]]:
    """Each placeholder in ``value`` as ``(root, first key)``: ``{e2.verified}`` → ``("e2", "verified")``,
    ``{devices[0].id}`` and ``{code}`` → ``(root, None)`` (an index, or no accessor, names no key)."""
    found: list[tuple[str, str | None]] = []
    if isinstance(value, str):
        for _, expression in _tokens(value):
            if expression is None:
                continue
            match = _EXPRESSION.match(expression)
            assert match is not None
            first = _ACCESSOR.match(match.group(2))
            found.append((match.group(1), first.group(1) if first is not None else None))
    elif isinstance(value, Mapping):
        for item in value.values():
            found.extend(reference_paths(item))
    elif isinstance(value, list | tuple):
        for item in value:
            found.extend(reference_paths(item))
    return found


def escape(text: str) -> str:
    """``text`` with its braces doubled, so :func:`substitute` gives back ``text`` exactly."""
    return text.replace("{", "{{").replace("}", "}}")


def lookup(expression: str, variables: Mapping[str, Any]) -> Any:
    """The value of ``name(.key|[index])*``."""
    match = _EXPRESSION.match(expression.strip())
    if match is None:
        raise VariableError(f"{{{expression}}} is not a variable reference")
    name, rest = match.group(1), match.group(2)
    if name not in variables:
        known = ", ".join(sorted(variables)) or "none"
        raise VariableError(f"unknown variable {{{name}}} (known: {known})")
    value = variables[name]
    walked = name
    for accessor in _ACCESSOR.finditer(rest):
        key, index = accessor.group(1), accessor.group(2)
        try:
            if index is not None:
                value = value[int(index)]
            elif isinstance(value, Mapping):
                value = value[key]
            else:
                value = getattr(value, key)
        except (KeyError, IndexError, TypeError, AttributeError):
            what = f"[{index}]" if index is not None else f".{key}"
            raise VariableError(f"{{{walked}}} has no {what} (value: {_short(value)})") from None
        walked += accessor.group(0)
    return value


def substitute(value: Any, variables: Mapping[str, Any]) -> Any:
    """``value`` with every placeholder filled in (recursively through dicts and lists)."""
    if isinstance(value, str):
        pieces = list(_tokens(value))
        if len(pieces) == 1 and pieces[0][1] is not None:
            return lookup(pieces[0][1], variables)
        return "".join(source if expr is None else as_text(lookup(expr, variables)) for source, expr in pieces)
    if isinstance(value, Mapping):
        return {key: substitute(item, variables) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [substitute(item, variables) for item in value]
    return value


def as_text(value: Any) -> str:
    """How a value reads inside a longer string: text as is, everything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


def _short(value: Any) -> str:
    text = as_text(value)
    return text if len(text) <= 80 else text[:77] + "..."

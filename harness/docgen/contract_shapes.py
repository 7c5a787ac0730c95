"""Request and response shapes of a route, read from Azure's published OpenAPI (Swagger 2.0) documents vendored in
``tests/contracts/documents/`` — the same documents the contract tests judge every answer against.

A route is matched to a document operation the way a request would be: the operation's path template, every
parameter filled with a sample value, must be a full match of the route for that method. A service without a
vendored document (the legacy Sphere API, the simulator control API) has no shapes here; its section says what it
takes in prose.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from starlette.routing import Match

ROOT = Path(__file__).resolve().parent.parent.parent
DOCUMENTS = ROOT / "tests" / "contracts" / "documents"
#: service → the vendored document describing it
SERVICE_DOCUMENTS = {
    "sphere-arm": "azuresphere-2024-04-01.json",
    "central": "iotcentral-2022-07-31.json",
    "dps": "dps-device-2021-10-01.json",
}
_METHODS = ("get", "put", "post", "patch", "delete", "head")


@cache
def _document(service: str) -> dict[str, Any] | None:
    name = SERVICE_DOCUMENTS.get(service)
    path = DOCUMENTS / name if name else None
    if path is None or not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _ref_name(schema: dict[str, Any] | None) -> str:
    """A schema as a short name: its definition, ``array of X``, or its type."""
    if not schema:
        return ""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"array of {_ref_name(schema.get('items')) or 'values'}"
    return str(schema.get("type") or "object")


def _parameter(document: dict[str, Any], parameter: dict[str, Any]) -> dict[str, Any]:
    ref = parameter.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/parameters/"):
        return document.get("parameters", {}).get(ref.removeprefix("#/parameters/"), {})
    return parameter


def operations(service: str) -> list[tuple[str, str, dict[str, Any]]]:
    """``(METHOD, sample path, operation)`` for every operation of the service's document."""
    document = _document(service)
    if document is None:
        return []
    base = (document.get("basePath") or "").rstrip("/")
    found = []
    for template, item in document.get("paths", {}).items():
        sample = base + re.sub(r"\{[^}]+\}", "sample1", template.split("?")[0])
        for method, operation in item.items():
            if method in _METHODS and isinstance(operation, dict):
                found.append((method.upper(), sample, operation))
    return found


def shape(service: str, route: Any, method: str) -> str:
    """``body X → 200 Y, 202, default Error`` for the document operation ``route`` serves, or empty."""
    document = _document(service)
    if document is None:
        return ""
    for op_method, sample, operation in operations(service):
        if op_method != method:
            continue
        scope = {"type": "http", "path": sample, "method": method, "root_path": "", "query_string": b"", "headers": []}
        match, _ = route.matches(scope)
        if match is not Match.FULL:
            continue
        parameters = [_parameter(document, p) for p in operation.get("parameters", [])]
        body = next((p for p in parameters if p.get("in") == "body"), None)
        parts = []
        if body is not None:
            parts.append(f"body {_ref_name(body.get('schema'))}")
        responses = []
        for status, answer in operation.get("responses", {}).items():
            name = _ref_name(answer.get("schema")) if isinstance(answer, dict) else ""
            responses.append(f"{status} {name}".strip())
        text = ("; ".join(parts) + " → " if parts else "→ ") + ", ".join(responses)
        return f"`{operation.get('operationId', '')}`: {text}"
    return ""

"""Azure's OpenAPI 2.0 documents as compiled JSON Schema validators, one per operation, status and body.

Swagger 2.0 schemas are *almost* JSON Schema. What this module translates, and why it is hand-written rather than
taken from a library: the OpenAPI tools on PyPI (schemathesis, openapi-core, openapi-schema-validator) validate
plain OpenAPI, but Azure's documents lean on AutoRest's dialect, which none of them resolves the way Azure's own
clients do:

* **Polymorphism.** A definition with ``discriminator: type`` is a base; its subtypes are the definitions whose
  ``allOf`` names it, each identified by ``x-ms-discriminator-value`` (the definition's name when absent). Where a
  document refers to the base, the body must be *one of its subtypes*, chosen by the discriminator's value, and
  is validated against that subtype in full. An unknown value is a violation: the fake must never invent one.
* **allOf.** A definition's ``allOf`` parents are merged into one flat object schema (their ``properties`` and
  ``required`` united), so that a strict check of unknown members can see every member a type declares.
* **Strictness.** Every object schema that declares ``properties`` and says nothing about
  ``additionalProperties`` gets ``additionalProperties: false``: a member the document does not declare (the
  preview-only ``idScope`` in a GA enrollment group, say) is reported. Azure's clients would ignore it, which is
  exactly why it has to be caught here.
* **null.** ``x-nullable: true`` admits ``null``; everywhere else ``null`` is refused, as typed clients refuse it
  (``"description": null`` for a string is a violation, not an absent member).
* **External references.** The Sphere document refers to the common-types file by its upstream relative path;
  those definitions live here under ``common.<name>``.
* **Formats.** ``date-time`` (RFC 3339) and ``date-time-rfc1123`` are checked; integer sizes are not.

The compiled validators are ``jsonschema_rs`` ones (Rust, a dependency of schemathesis): each is built on first
use and kept for the process, because the contract layer validates every response of the whole test suite.
"""

from __future__ import annotations

import copy
import email.utils
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs

DOCUMENTS = Path(__file__).resolve().parent / "documents"
COMMON_PREFIX = "../../../../../common-types/resource-management/v3/types.json"
COMMON_FILE = DOCUMENTS / "common-types" / "resource-management" / "v3" / "types.json"

#: service name (as :mod:`simulator.inprocess` names them) → the document that describes it
SERVICE_DOCUMENTS = {
    "central": "iotcentral-2022-07-31.json",
    "sphere-arm": "azuresphere-2024-04-01.json",
    "dps": "dps-device-2021-10-01.json",
}

HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options")


def _rfc1123(value: str) -> bool:
    try:
        return email.utils.parsedate_to_datetime(value) is not None and value.rstrip().endswith("GMT")
    except (TypeError, ValueError, IndexError):
        return False


FORMATS = {"date-time-rfc1123": _rfc1123}


@dataclass
class Parameter:
    """One parameter of an operation, with its JSON Schema (for ``in: body`` the body's schema)."""

    name: str
    location: str  # path | query | header | body | formData
    required: bool
    schema: dict[str, Any]


@dataclass
class Operation:
    """One operation of a document: where it lives, what it takes, what each status answers."""

    document: Contract
    operation_id: str
    method: str  # upper case
    template: str  # the full path template, basePath included
    pattern: re.Pattern[str]
    literal_segments: int
    parameters: list[Parameter]
    #: status ("200", "default" …) → JSON Schema of the body, or None when that status carries no body
    responses: dict[str, dict[str, Any] | None]
    consumes: list[str]
    long_running: bool = False
    pageable: bool = False
    _validators: dict[str, Any] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"<{self.operation_id} {self.method} {self.template}>"

    def validator(self, key: str, schema: dict[str, Any]) -> Any:
        """The compiled validator for ``schema`` (built once, then cached under ``key``)."""
        found = self._validators.get(key)
        if found is None:
            root = {**schema, "definitions": self.document.definitions}
            found = jsonschema_rs.Draft7Validator(root, formats=FORMATS, validate_formats=True)
            self._validators[key] = found
        return found

    def response_schema(self, status: int) -> tuple[str | None, dict[str, Any] | None]:
        """The declared response for ``status``: (the key it is declared under, its body schema)."""
        if str(status) in self.responses:
            return str(status), self.responses[str(status)]
        if status >= 400 and "default" in self.responses:
            return "default", self.responses["default"]
        return None, None


class Contract:
    """One OpenAPI 2.0 document: its operations and its definitions translated to JSON Schema (draft 7)."""

    def __init__(self, name: str, document: dict[str, Any], common: dict[str, Any]) -> None:
        self.name = name
        self.document = document
        self.title = document["info"]["title"]
        self.version = document["info"]["version"]
        self.base_path = document.get("basePath", "").rstrip("/")
        self._sources = {"": document["definitions"], "common.": common.get("definitions", {})}
        self._common_parameters = common.get("parameters", {})
        self._subtypes = self._find_subtypes()
        self.definitions: dict[str, Any] = {}
        for prefix, defs in self._sources.items():
            for def_name in defs:
                self._define(prefix + def_name)
        self.operations = self._operations()

    # -- definitions -----------------------------------------------------------------------------------

    def _raw(self, key: str) -> dict[str, Any]:
        prefix, name = ("common.", key[7:]) if key.startswith("common.") else ("", key)
        return self._sources[prefix][name]

    def _ref_key(self, ref: str, *, in_common: bool = False) -> str:
        """The definitions key of a ``$ref`` string (local, or the common-types file)."""
        if ref.startswith(COMMON_PREFIX):
            return "common." + ref.rsplit("/", 1)[1]
        if ref.startswith("#/definitions/"):
            return ("common." if in_common else "") + ref.rsplit("/", 1)[1]
        raise ValueError(f"{self.name}: unsupported $ref {ref!r}")

    def _find_subtypes(self) -> dict[str, dict[str, str]]:
        """base key → {discriminator value: subtype key}, for every base with a ``discriminator``."""
        parents: dict[str, list[str]] = {}
        for prefix, defs in self._sources.items():
            for def_name, schema in defs.items():
                for part in schema.get("allOf", []):
                    if "$ref" in part:
                        parent = self._ref_key(part["$ref"], in_common=prefix == "common.")
                        parents.setdefault(parent, []).append(prefix + def_name)
        subtypes: dict[str, dict[str, str]] = {}
        for prefix, defs in self._sources.items():
            for def_name, schema in defs.items():
                if "discriminator" not in schema:
                    continue
                base, found, queue = prefix + def_name, {}, list(parents.get(prefix + def_name, []))
                while queue:  # subtypes of subtypes belong to the base as well
                    child = queue.pop(0)
                    child_schema = self._raw(child)
                    found[child_schema.get("x-ms-discriminator-value", child.removeprefix("common."))] = child
                    queue.extend(parents.get(child, []))
                subtypes[base] = found
        return subtypes

    def _define(self, key: str) -> None:
        in_common = key.startswith("common.")
        self.definitions[key] = self._flat(key, in_common)
        if key in self._subtypes:
            self.definitions[key + "~poly"] = self._dispatch(key)

    def _flat(self, key: str, in_common: bool, seen: tuple[str, ...] = ()) -> dict[str, Any]:
        """A definition with its ``allOf`` parents merged in (properties and required united)."""
        raw = self._raw(key)
        if key in seen:
            raise ValueError(f"{self.name}: allOf cycle through {key}")
        merged_props: dict[str, Any] = {}
        merged_required: list[str] = []
        extra: list[dict[str, Any]] = []
        additional: Any = None
        for part in raw.get("allOf", []):
            if "$ref" in part:
                parent_key = self._ref_key(part["$ref"], in_common=in_common)
                parent = self._flat(parent_key, parent_key.startswith("common."), (*seen, key))
            else:
                parent = self.convert(part, in_common)
            if set(parent) - {"type", "properties", "required", "additionalProperties"}:
                extra.append(parent)
                continue
            merged_props.update(parent.get("properties", {}))
            merged_required += [r for r in parent.get("required", []) if r not in merged_required]
            if "additionalProperties" in parent and parent["additionalProperties"] is not False:
                additional = parent["additionalProperties"]
        own = self.convert({k: v for k, v in raw.items() if k != "allOf"}, in_common)
        if not raw.get("allOf"):
            return own
        merged_props.update(own.pop("properties", {}))
        merged_required += [r for r in own.pop("required", []) if r not in merged_required]
        if "additionalProperties" in own and own["additionalProperties"] is not False:
            additional = own["additionalProperties"]
        own.pop("additionalProperties", None)
        result: dict[str, Any] = {"type": "object", **own, "properties": merged_props}
        if merged_required:
            result["required"] = merged_required
        result["additionalProperties"] = additional if additional is not None else False
        if extra:
            result = {"allOf": [result, *extra]}
        return result

    def _dispatch(self, base: str) -> dict[str, Any]:
        """A base type as a reference to it means: one of its subtypes, by the discriminator's value."""
        discriminator = self._raw(base)["discriminator"]
        choices = self._subtypes[base]
        schema: dict[str, Any] = {
            "type": "object",
            "required": [discriminator],
            "properties": {discriminator: {"enum": sorted(choices)}},
        }
        for value, subtype in sorted(choices.items(), reverse=True):
            schema = {
                "if": {"properties": {discriminator: {"const": value}}, "required": [discriminator]},
                "then": {"$ref": f"#/definitions/{subtype}"},
                "else": schema,
            }
        return schema

    def convert(self, node: Any, in_common: bool = False) -> Any:
        """One Swagger schema node as JSON Schema (draft 7), with the rules of the module docstring."""
        if not isinstance(node, dict):
            return node
        if node.get("x-location-monitor"):  # PROTOCOL_PATHS: a Location monitor's {} or an OperationStatusResult
            # open to further members: newer common-types versions add some (resourceId) that v3 lacks
            status = {
                k: v for k, v in self.definitions["common.OperationStatusResult"].items() if k != "additionalProperties"
            }
            return {"anyOf": [{"type": "object", "maxProperties": 0}, status]}
        if "$ref" in node:
            key = self._ref_key(node["$ref"], in_common=in_common)
            target = key + "~poly" if key in self._subtypes else key
            out: dict[str, Any] = {"$ref": f"#/definitions/{target}"}
            return {"anyOf": [{"type": "null"}, out]} if node.get("x-nullable") else out
        out = {}
        for key, value in node.items():
            if key in ("properties",):
                out[key] = {name: self.convert(sub, in_common) for name, sub in value.items()}
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                out[key] = self.convert(value, in_common)
            elif key == "allOf":
                out[key] = [self.convert(part, in_common) for part in value]
            elif (
                key in ("type", "required", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum")
                or key in ("minItems", "maxItems", "uniqueItems", "exclusiveMinimum", "exclusiveMaximum", "format")
                or key == "additionalProperties"
            ):
                out[key] = value
            # readOnly, default, x-ms-*, discriminator, title: annotations, not constraints
        if out.get("type") == "file":  # a binary body: nothing to say about its JSON
            return {}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
            pass  # a free-form object ({"type": "object"}): any members
        if node.get("x-nullable") and "type" in out:
            out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
        return out

    # -- operations ------------------------------------------------------------------------------------

    def _parameter(self, raw: dict[str, Any]) -> Parameter:
        if "$ref" in raw:
            ref = raw["$ref"]
            if ref.startswith(COMMON_PREFIX):
                raw = self._common_parameters[ref.rsplit("/", 1)[1]]
                return self._parameter_from(raw, in_common=True)
            raw = self.document["parameters"][ref.rsplit("/", 1)[1]]
        return self._parameter_from(raw, in_common=False)

    def _parameter_from(self, raw: dict[str, Any], *, in_common: bool) -> Parameter:
        if raw["in"] == "body":
            schema = self.convert(raw.get("schema", {}), in_common)
        else:
            keep = {k: v for k, v in raw.items() if k not in ("name", "in", "required", "schema")}
            schema = self.convert(keep, in_common)
        return Parameter(raw["name"], raw["in"], bool(raw.get("required")), schema)

    def _operations(self) -> list[Operation]:
        operations = []
        for template, item in self.document["paths"].items():
            shared = item.get("parameters", [])
            full = self.base_path + template
            pattern = _template_pattern(full)
            literal = sum(1 for seg in full.split("/") if seg and not seg.startswith("{"))
            for method in HTTP_METHODS:
                raw = item.get(method)
                if raw is None:
                    continue
                params = {(p.name, p.location): p for p in (self._parameter(x) for x in shared)}
                params.update(
                    {(p.name, p.location): p for p in (self._parameter(x) for x in raw.get("parameters", []))}
                )
                responses = {}
                for status, response in raw["responses"].items():
                    if "$ref" in response:
                        response = self.document["responses"][response["$ref"].rsplit("/", 1)[1]]
                    schema = response.get("schema")
                    responses[status] = self.convert(schema) if schema is not None else None
                operations.append(
                    Operation(
                        document=self,
                        operation_id=raw["operationId"],
                        method=method.upper(),
                        template=full,
                        pattern=pattern,
                        literal_segments=literal,
                        parameters=list(params.values()),
                        responses=responses,
                        consumes=raw.get("consumes", self.document.get("consumes", ["application/json"])),
                        long_running=bool(raw.get("x-ms-long-running-operation")),
                        pageable="x-ms-pageable" in raw,
                    )
                )
        # the most literal template wins when two match (…/certificates/{entry} before …/{x}/{y})
        operations.sort(key=lambda op: -op.literal_segments)
        return operations

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation serving ``method path`` (a decoded path), with its path parameters, or None.

        A ``GET`` on the path of a pageable ``POST`` list is that list's next page: AutoRest's pagers (the Azure
        SDKs) follow every ``nextLink`` with ``GET``, so its answer is held to the list's schema.
        """
        method = method.upper()
        found = self._match(method, path)
        if found is None and method == "GET":
            found = self._match("POST", path, pageable_only=True)
        return found

    @functools.cached_property
    def _by_shape(self) -> dict[tuple[str, int], list[tuple[Operation, dict[str, str]]]]:
        """Operations by (method, number of path segments), each with its path parameters' group names: matching
        runs for every answer of the test suite, so it looks only at templates of the right length."""
        index: dict[tuple[str, int], list[tuple[Operation, dict[str, str]]]] = {}
        for operation in self.operations:  # already most-literal first
            groups = {p.name: _group(p.name) for p in operation.parameters if p.location == "path"}
            index.setdefault((operation.method, operation.template.count("/")), []).append((operation, groups))
        return index

    def _match(self, method: str, path: str, pageable_only: bool = False) -> tuple[Operation, dict[str, str]] | None:
        for operation, groups in self._by_shape.get((method, path.count("/")), ()):
            if pageable_only and not operation.pageable:
                continue
            found = operation.pattern.match(path)
            if found:
                return operation, {name: found.group(group) for name, group in groups.items()}
        return None

    def paths_for(self, path: str) -> list[Operation]:
        """Every operation whose template matches ``path`` (any method): to tell 404 from 405."""
        return [op for op in self.operations if op.pattern.match(path)]


def _template_pattern(template: str) -> re.Pattern[str]:
    """``/a/{b}/c`` → ``^/a/(?P<p_b>[^/]+)/c$``."""
    parts = re.split(r"\{([^}]+)\}", template)
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{_group(part)}>[^/]+)" for i, part in enumerate(parts))
    return re.compile(f"^{regex}$")


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


_COMMON = COMMON_PREFIX + "#/definitions/"

#: Operations of the ARM protocol itself that every resource provider serves but no provider document lists: the
#: status monitor of a long-running operation (the ``Azure-AsyncOperation`` URL; Azure Resource Manager RPC,
#: "Asynchronous operations"), whose body is the common-types ``OperationStatusResult``; the same URL may serve as
#: the ``Location`` monitor, whose in-progress and success bodies are empty (``{}``). A fake's status answers are
#: held to one of those shapes; the operation is named ``ARM.OperationStatus`` in reports.
PROTOCOL_PATHS: dict[str, dict[str, Any]] = {
    "azuresphere-2024-04-01.json": {
        "/subscriptions/{subscriptionId}/providers/Microsoft.AzureSphere/locations/{location}/operationStatuses/"
        "{operationId}": {
            "get": {
                "operationId": "ARM.OperationStatus",
                "parameters": [
                    {"$ref": COMMON_PREFIX + "#/parameters/ApiVersionParameter"},
                    {"$ref": COMMON_PREFIX + "#/parameters/SubscriptionIdParameter"},
                    {"name": "location", "in": "path", "required": True, "type": "string"},
                    {"name": "operationId", "in": "path", "required": True, "type": "string"},
                ],
                "responses": {
                    "200": {"schema": {"x-location-monitor": True}},
                    "202": {"schema": {"x-location-monitor": True}},
                    "default": {"schema": {"$ref": _COMMON + "ErrorResponse"}},
                },
            }
        },
        # the Location monitor of the other long-running writes: 202 while running, then 200 (the final body, or
        # nothing) or 204; failures in the ARM error shape
        "/subscriptions/{subscriptionId}/providers/Microsoft.AzureSphere/locations/{location}/operationResults/"
        "{operationId}": {
            "get": {
                "operationId": "ARM.OperationResult",
                "parameters": [
                    {"$ref": COMMON_PREFIX + "#/parameters/ApiVersionParameter"},
                    {"$ref": COMMON_PREFIX + "#/parameters/SubscriptionIdParameter"},
                    {"name": "location", "in": "path", "required": True, "type": "string"},
                    {"name": "operationId", "in": "path", "required": True, "type": "string"},
                ],
                "responses": {
                    "200": {"schema": {"type": "object"}},
                    "202": {},
                    "204": {},
                    "default": {"schema": {"$ref": _COMMON + "ErrorResponse"}},
                },
            }
        },
    }
}


@functools.cache
def load(service: str) -> Contract:
    """The contract of one service of the world (``central``, ``sphere-arm``, ``dps``), loaded once per process."""
    name = SERVICE_DOCUMENTS[service]
    document = json.loads((DOCUMENTS / name).read_text(encoding="utf-8"))
    common = json.loads(COMMON_FILE.read_text(encoding="utf-8")) if "common-types" in json.dumps(document) else {}
    document["paths"].update(PROTOCOL_PATHS.get(name, {}))
    return Contract(name, document, copy.deepcopy(common))

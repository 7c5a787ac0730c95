"""The contract layer: every exchange with the fakes checked against Azure's published documents.

Two checks, at two seams:

* **Responses, server side.** :class:`ContractMiddleware` wraps each service's ASGI app (the seam is
  ``simulator.cloud.ADAPTER_WRAPPERS``), so it sees every answer the fakes give — in-process through respx or
  ``requests``, served through uvicorn, to the harness's clients, to azure-mgmt-sphere, to a test's raw httpx —
  faults included. The answer must be declared for its operation and status (an undeclared 2xx is a violation;
  a 4xx/5xx falls back to ``default``) and its JSON body must validate against that response's schema. An answer
  on a path the document does not have (a 404 for an unimplemented route, a 405) must still be the document's
  error shape.
* **Requests, client side.** :func:`check_client_request` is installed as an observer of the harness's wire
  clients (``harness.clients.base.REQUEST_OBSERVERS``): what the harness sends must be an operation of the
  document with valid path and query parameters and a body that validates against the request schema. Only the
  harness's own clients are held to this: tests send malformed requests on purpose, with raw httpx.

A violation never changes what the client receives; it is recorded in :data:`RECORDER` with the operation, the
status and the JSON path, and the pytest plugin (:mod:`contracts.plugin`) fails the test during which it
happened. The Sphere legacy v2 API has no published document and is not checked here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from contracts.schemas import SERVICE_DOCUMENTS, Contract, Operation, load

JSON_MEDIA_TYPES = ("application/json", "application/merge-patch+json")


@dataclass(frozen=True)
class Violation:
    """One mismatch between an exchange and the document: which side, which operation, where, what."""

    side: str  # "response" | "request"
    service: str
    operation: str  # operationId, or "METHOD path" when the document has no such operation
    status: int | None
    where: str  # a JSON path ($.error.code) or a parameter name
    message: str

    def __str__(self) -> str:
        status = f" → {self.status}" if self.status is not None else ""
        return f"[{self.service}] {self.operation}{status}: {self.side} {self.where}: {self.message}"


class Recorder:
    """Violations since the last :meth:`drain`, from any thread (served worlds answer on their own thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: list[Violation] = []
        self.checked = 0

    def add(self, violations: Iterable[Violation]) -> None:
        with self._lock:
            self.checked += 1
            self._found.extend(violations)

    def drain(self) -> list[Violation]:
        with self._lock:
            found, self._found = self._found, []
            return found


RECORDER = Recorder()


def json_path(parts: Iterable[Any]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _errors(operation: Operation, key: str, schema: dict[str, Any], instance: Any) -> list[tuple[str, str]]:
    validator = operation.validator(key, schema)
    return [(json_path(error.instance_path), error.message) for error in validator.iter_errors(instance)]


def _error_schema(contract: Contract, candidates: list[Operation]) -> tuple[Operation, dict[str, Any]] | None:
    """The document's error shape (a ``default`` response), preferring the operations at this path."""
    for operation in [*candidates, *contract.operations]:
        schema = operation.responses.get("default")
        if schema is not None:
            return operation, schema
    return None


def in_scope(contract: Contract, query: str) -> bool:
    """Whether a request is one the document describes: its ``api-version`` (if any) is the document's.

    IoT Central also answers preview versions (``2022-06-30-preview`` is what ``az iot central device list``
    sends), whose bodies legitimately differ (``idScope`` in enrollment groups); the GA document does not judge them.
    A request without ``api-version`` is in scope: the document then says it is missing.
    """
    versions = parse_qs(query).get("api-version")
    return not versions or contract.version in versions


def check_response(
    service: str, method: str, path: str, status: int, content_type: str, body: bytes, query: str = ""
) -> list[Violation]:
    """Every way the answer ``status``/``body`` to ``method path`` departs from the service's document."""
    contract = load(service)
    if not in_scope(contract, query):
        return []
    matched = contract.match(method, path)

    def violation(operation: str, where: str, message: str) -> Violation:
        return Violation("response", service, operation, status, where, message)

    if matched is None:
        label = f"{method} {path}"
        if status < 400:
            return [violation(label, "status", f"{status} answered for an operation {contract.name} does not have")]
        found = _error_schema(contract, contract.paths_for(path))
        if found is None:
            return []
        operation, schema = found
        key = "default"
    else:
        operation = matched[0]
        label = operation.operation_id
        key, schema = operation.response_schema(status)
        if key is None:
            declared = ", ".join(operation.responses)
            return [violation(label, "status", f"{status} is not a declared response (declared: {declared})")]
        if schema is None:
            if status == 204 and body:
                return [violation(label, "body", f"a 204 answer has a body ({len(body)} bytes)")]
            return []
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in JSON_MEDIA_TYPES:
        return [violation(label, "content-type", f"{media_type or '(none)'!r} where JSON is declared")]
    try:
        instance = json.loads(body)
    except ValueError as exc:
        return [violation(label, "body", f"not JSON: {exc}")]
    return [
        violation(label, where, message) for where, message in _errors(operation, f"response:{key}", schema, instance)
    ]


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    """A query or path parameter's text as the type its schema declares (so ``$top=3`` checks as an integer)."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def check_request(service: str, method: str, path: str, query: str, content_type: str, body: bytes) -> list[Violation]:
    """Every way a request the harness sends departs from the service's document."""
    if service not in SERVICE_DOCUMENTS:
        return []
    contract = load(service)
    if not in_scope(contract, query):
        return []
    matched = contract.match(method, path)
    if matched is None:
        return [
            Violation("request", service, f"{method} {path}", None, "path", f"{contract.name} has no such operation")
        ]
    operation, path_values = matched
    found: list[Violation] = []

    def violation(where: str, message: str) -> None:
        found.append(Violation("request", service, operation.operation_id, None, where, message))

    queries = parse_qs(query, keep_blank_values=True)
    body_parameter = None
    for parameter in operation.parameters:
        if parameter.location == "body":
            body_parameter = parameter
            continue
        if parameter.location == "path":
            values = [path_values[parameter.name]] if parameter.name in path_values else []
        elif parameter.location == "query":
            values = queries.get(parameter.name, [])
        else:
            continue  # headers: If-Match and friends are optional everywhere in these documents
        if not values:
            if parameter.required:
                violation(f"{parameter.location} parameter {parameter.name!r}", "required but not sent")
            continue
        for value in values:
            errors = _errors(operation, f"param:{parameter.name}", parameter.schema, _coerce(value, parameter.schema))
            for _, message in errors:
                violation(f"{parameter.location} parameter {parameter.name!r}", message)
    if body_parameter is None:
        if body.strip():
            violation("body", "a body was sent but the operation takes none")
        return found
    if not body.strip():
        if body_parameter.required:
            violation("body", "required but not sent")
        return found
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in [c.lower() for c in operation.consumes]:
        violation("content-type", f"{media_type!r} is not one of {operation.consumes}")
    try:
        instance = json.loads(body)
    except ValueError as exc:
        violation("body", f"not JSON: {exc}")
        return found
    for where, message in _errors(operation, "request", body_parameter.schema, instance):
        violation(where, message)
    return found


# -- the two seams -----------------------------------------------------------------------------------------


class ContractMiddleware:
    """ASGI middleware checking every HTTP answer of one service against its document (see the module doc)."""

    def __init__(self, app: Any, service: str, recorder: Recorder = RECORDER) -> None:
        self.app = app
        self.service = service
        self.recorder = recorder

    def __getattr__(self, name: str) -> Any:  # transparent to whoever looks through the layers (routes, state)
        return getattr(self.app, name)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        content_type = ""
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._check(scope, status, content_type, b"".join(chunks))
            await send(message)

        await self.app(scope, receive, capture)

    def _check(self, scope: dict[str, Any], status: int, content_type: str, body: bytes) -> None:
        path = scope.get("root_path", "") + scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        self.recorder.add(check_response(self.service, scope["method"], path, status, content_type, body, query))


def wrap_adapter(app: Any, service: str) -> Any:
    """``simulator.cloud.ADAPTER_WRAPPERS`` entry: wrap the services that have a published document."""
    return ContractMiddleware(app, service) if service in SERVICE_DOCUMENTS else app


def check_client_request(service: str, request: Any) -> None:
    """``harness.clients.base.REQUEST_OBSERVERS`` entry: check one request a harness client is about to send."""
    body = request.content if hasattr(request, "content") else b""
    RECORDER.add(
        check_request(
            service,
            request.method,
            request.url.path,
            request.url.query.decode("ascii") if isinstance(request.url.query, bytes) else str(request.url.query),
            request.headers.get("content-type", ""),
            body or b"",
        )
    )

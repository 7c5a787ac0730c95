"""The recording file: the Azure SDK test-proxy's recording format, plus one sibling section of our own.

A recording is one JSON document::

    {
      "Entries": [                                   # the test-proxy's RecordSession.Entries, in order
        {"RequestUri": "https://prod.core.sphere.azure.net/v2/tenants", "RequestMethod": "GET",
         "RequestHeaders": {"authorization": "Bearer Sanitized-1", …}, "RequestBody": null,
         "StatusCode": 200,
         "ResponseHeaders": {"content-type": "application/json; charset=utf-8"},
         "ResponseBody": "[{\\"Id\\":\\"00000000-0000-0000-0000-a00000000001\\", …}]"},
        …
      ],
      "Variables": {"scenario": "enable-trust", "seed": "7", "run_prefix": "sh-…-", …},   # strings only
      "SphereHarness": {                             # ours; the test-proxy ignores unknown top-level keys
        "FormatVersion": 1,
        "Entries": [{"Step": 0, "Service": "sphere-legacy", "Retried": false}, …],       # one per entry above
        "Steps": [{"Index": 0, "Kind": "sphere.login", "Name": "…", "Line": 9, "Outcome": "passed"}, …],
        "Scenario": {"Name": "enable-trust", "Source": "scenarios/enable-trust.yaml", "Text": "…"},
        "MqttEntries": [ … ],                        # the device path's MQTT packets (see below)
        "TransportFailures": [ … ]                   # requests that got no answer (they have no StatusCode)
      }
    }

**Bodies** follow the test-proxy's ``RecordEntry.Serialize`` exactly, so its own tooling reads them back byte for
byte: no body is ``null`` (an empty one ``[]`` in the test-proxy; we write ``null`` for both and read both as
empty); a body of a textual content type (``application/json``, ``text/*``, ``…+json``, ``…xml``, any
``charset=``) that parses as a JSON *object* is stored as that object; other text — a JSON array (the legacy Sphere
tenant list), a JSON string (its certificate bodies), plain text — is stored as a string, split after each newline
into an array of strings when it has any; anything else is base64. **Headers** are an object of name → value, a
list of values when a header repeats.

**MQTT** exchanges (a served world's device path: DPS registration and the IoT hub) go in
``SphereHarness.MqttEntries``, one object per packet in the order seen: ``{"Step", "Direction": "out"|"in",
"Packet": "CONNECT"|"CONNACK"|"SUBSCRIBE"|"SUBACK"|"PUBLISH"|"PUBACK"|…, "ClientId"?, "Username"?, "Topic"?,
"Payload"?, "ReturnCode"?, "PacketId"?}``; ``Payload`` is stored like an HTTP body (JSON object, text or base64).
Passwords and SAS tokens never appear (the device path authenticates with its certificate; a ``Password`` field,
if any, is replaced by a placeholder).

``FormatVersion`` changes when the sibling section changes incompatibly; :func:`read` refuses a version it does
not know with a clear message (a bad recording is exit status 2 everywhere).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from harness.clients.exchange import Exchange

FORMAT_VERSION = 1
SECTION = "SphereHarness"


class RecordingError(Exception):
    """A recording that cannot be read (missing, not JSON, wrong shape, unknown version): the message says why."""


@dataclass
class StepRecord:
    """One scenario step as the recording saw it."""

    index: int
    kind: str
    name: str
    line: int
    outcome: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"Index": self.index, "Kind": self.kind, "Name": self.name, "Line": self.line, "Outcome": self.outcome}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepRecord:
        return cls(int(data["Index"]), str(data["Kind"]), str(data.get("Name", "")), int(data.get("Line", 0)),
                   data.get("Outcome"))  # fmt: skip


@dataclass
class RecordingDocument:
    """Everything a recording file holds, in memory."""

    entries: list[Exchange] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    scenario: dict[str, str] = field(default_factory=dict)
    mqtt: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    version: int = FORMAT_VERSION


# -- writing -----------------------------------------------------------------------------------------------------


def to_json(document: RecordingDocument) -> dict[str, Any]:
    """The recording as the JSON object written to disk."""
    return {
        "Entries": [entry_to_json(e) for e in document.entries],
        "Variables": {str(k): str(v) for k, v in document.variables.items()},
        SECTION: {
            "FormatVersion": document.version,
            "Entries": [{"Step": e.step, "Service": e.service, "Retried": e.retried} for e in document.entries],
            "Steps": [s.to_json() for s in document.steps],
            "Scenario": dict(document.scenario),
            "MqttEntries": list(document.mqtt),
            "TransportFailures": list(document.failures),
        },
    }


def dumps(document: RecordingDocument) -> str:
    """The file's text: indented, keys in the order above, non-ASCII kept, a final newline."""
    return json.dumps(to_json(document), indent=2, ensure_ascii=False) + "\n"


def entry_to_json(exchange: Exchange) -> dict[str, Any]:
    """One ``Entries`` item, as the test-proxy's ``RecordEntry.Serialize`` writes it."""
    return {
        "RequestUri": exchange.url,
        "RequestMethod": exchange.method,
        "RequestHeaders": headers_to_json(exchange.request_headers),
        "RequestBody": body_to_json(exchange.request_body, exchange.request_headers),
        "StatusCode": exchange.status,
        "ResponseHeaders": headers_to_json(exchange.response_headers),
        "ResponseBody": body_to_json(exchange.response_body, exchange.response_headers),
    }


def headers_to_json(headers: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for name, value in headers:
        if name in out:
            previous = out[name]
            out[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[name] = value
    return out


def body_to_json(body: bytes, headers: list[tuple[str, str]]) -> Any:
    if not body:
        return None
    if not is_text(content_type(headers)):
        return base64.b64encode(body).decode("ascii")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii")
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        return document
    lines = text.splitlines(keepends=True)
    return text if len(lines) <= 1 else lines


# -- reading -----------------------------------------------------------------------------------------------------


def loads(text: str, source: str = "<recording>") -> RecordingDocument:
    """Parse a recording's text; :class:`RecordingError` says what is wrong and where."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RecordingError(f"{source}: not JSON: {exc}") from None
    return from_json(data, source)


def from_json(data: Any, source: str = "<recording>") -> RecordingDocument:
    if not isinstance(data, dict) or not isinstance(data.get("Entries"), list):
        raise RecordingError(f"{source}: expected a test-proxy recording: an object with an `Entries` list")
    section = data.get(SECTION) or {}
    if not isinstance(section, dict):
        raise RecordingError(f"{source}: `{SECTION}` must be an object")
    version = section.get("FormatVersion", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise RecordingError(
            f"{source}: {SECTION}.FormatVersion {version!r} is not one this harness reads ({FORMAT_VERSION}); "
            "record it again with this version"
        )
    variables = data.get("Variables") or {}
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise RecordingError(f"{source}: `Variables` must map names to strings")
    meta = section.get("Entries") or []
    entries = []
    for i, item in enumerate(data["Entries"]):
        where = f"{source}: Entries[{i}]"
        if not isinstance(item, dict):
            raise RecordingError(f"{where}: expected an object")
        missing = [k for k in ("RequestUri", "RequestMethod", "StatusCode") if k not in item]
        if missing:
            raise RecordingError(f"{where}: missing {', '.join(missing)}")
        if not isinstance(item["StatusCode"], int):
            raise RecordingError(f"{where}: StatusCode must be an integer")
        info = meta[i] if i < len(meta) and isinstance(meta[i], dict) else {}
        try:
            request_headers = headers_from_json(item.get("RequestHeaders") or {})
            response_headers = headers_from_json(item.get("ResponseHeaders") or {})
            entries.append(
                Exchange(
                    service=str(info.get("Service") or "service"),
                    method=str(item["RequestMethod"]).upper(),
                    url=str(item["RequestUri"]),
                    request_headers=request_headers,
                    request_body=body_from_json(item.get("RequestBody"), request_headers),
                    status=item["StatusCode"],
                    response_headers=response_headers,
                    response_body=body_from_json(item.get("ResponseBody"), response_headers),
                    retried=bool(info.get("Retried", False)),
                    step=info.get("Step") if isinstance(info.get("Step"), int) else None,
                )
            )
        except (TypeError, ValueError, binascii.Error) as exc:
            raise RecordingError(f"{where}: {exc}") from None
    try:
        steps = [StepRecord.from_json(s) for s in section.get("Steps") or []]
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordingError(f"{source}: {SECTION}.Steps: {exc}") from None
    return RecordingDocument(
        entries=entries,
        variables=dict(variables),
        steps=steps,
        scenario={str(k): str(v) for k, v in (section.get("Scenario") or {}).items()},
        mqtt=list(section.get("MqttEntries") or []),
        failures=list(section.get("TransportFailures") or []),
        version=version,
    )


def headers_from_json(data: Any) -> list[tuple[str, str]]:
    if not isinstance(data, dict):
        raise TypeError("headers must be an object")
    out: list[tuple[str, str]] = []
    for name, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            out.append((str(name), str(item)))
    return out


def body_from_json(value: Any, headers: list[tuple[str, str]]) -> bytes:
    """The body bytes of a stored body (the inverse of :func:`body_to_json`)."""
    if value is None:
        return b""
    if is_text(content_type(headers)):
        if isinstance(value, list):
            return "".join(str(v) for v in value).encode("utf-8")
        if isinstance(value, str):
            return value.encode("utf-8")
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if isinstance(value, list):
        return b""
    if not isinstance(value, str):
        raise TypeError("a body of a binary content type must be a base64 string")
    return base64.b64decode(value, validate=True)


def content_type(headers: list[tuple[str, str]]) -> str:
    return next((v for k, v in headers if k.lower() == "content-type"), "")


def is_text(media_type: str) -> bool:
    """The test-proxy's ``ContentTypeUtilities.TryGetTextEncoding``: a charset, ``text/*``, JSON or XML."""
    lower = media_type.lower()
    if not lower:
        return False
    return "charset=" in lower or lower.startswith("text/") or "json" in lower or "xml" in lower


__all__ = [
    "FORMAT_VERSION",
    "RecordingDocument",
    "RecordingError",
    "StepRecord",
    "dumps",
    "from_json",
    "loads",
    "to_json",
]

"""Device templates of an IoT Central application: the models devices are assigned to.

A device template (``DeviceTemplate`` in the 2022-07-31 document) is keyed by its DTMI (``@id``), carries
``@type`` (IoT Central writes ``["ModelDefinition", "DeviceModel"]``), ``displayName``, ``description`` and the
``capabilityModel`` — a DTDL interface whose ``contents`` may hold *components* (``@type`` ``Component``), which is
what ``GET /devices/{id}/components`` lists for a device of that template.

A device is *assigned* a template by naming its DTMI in ``template`` (``PUT``/``PATCH /devices/{id}``), or by
announcing that model ID when it provisions through DPS; a template that devices are assigned to cannot be removed
(409), as the portal refuses to delete a template in use.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from simulator.central.errors import CentralError
from simulator.central.etags import check_precondition, new_etag
from simulator.clock import Clock
from simulator.entropy import Entropy
from simulator.settings import Settings

TEMPLATE_PATTERN = re.compile(
    r"^dtmi:[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?(?::[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)*;[1-9][0-9]{0,8}$"
)
DEFAULT_TYPES = ["ModelDefinition", "DeviceModel"]
WRITABLE = ("@type", "displayName", "description", "capabilityModel", "etag")


@dataclass
class DeviceTemplate:
    """One published device template."""

    id: str
    etag: str
    types: list[str] = field(default_factory=lambda: list(DEFAULT_TYPES))
    display_name: str | None = None
    description: str | None = None
    capability_model: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"@id": self.id, "@type": list(self.types), "etag": self.etag}
        if self.display_name is not None:
            body["displayName"] = self.display_name
        if self.description is not None:
            body["description"] = self.description
        body["capabilityModel"] = copy.deepcopy(self.capability_model)
        return body

    def components(self) -> list[dict[str, Any]]:
        """The components the capability model declares (``@type`` ``Component``), as the API lists them."""
        found = []
        for item in self.capability_model.get("contents", []):
            kinds = item.get("@type")
            kinds = [kinds] if isinstance(kinds, str) else kinds or []
            if "Component" in kinds:
                component = {"@type": "Component", "name": item.get("name")}
                for key in ("displayName", "description", "schema"):
                    if key in item:
                        component[key] = copy.deepcopy(item[key])
                found.append(component)
        return found


def check_template_id(template_id: str, overrides: dict[str, str]) -> None:
    if not TEMPLATE_PATTERN.match(template_id):
        raise CentralError.of(
            "bad_request",
            f"device template ID {template_id!r} must be a DTMI such as 'dtmi:contoso:thermostat;1'",
            overrides,
        )


def _fields(body: dict[str, Any], overrides: dict[str, str], *, full: bool) -> dict[str, Any]:
    """Validate the members of a template body; ``full`` (PUT) requires ``@type`` and ``capabilityModel``."""

    def fail(message: str) -> CentralError:
        return CentralError.of("bad_request", message, overrides)

    unknown = set(body) - set(WRITABLE) - {"@id"}
    if unknown:
        raise fail(f"a device template has no member {sorted(unknown)[0]!r}")
    values: dict[str, Any] = {}
    if "@type" in body or full:
        types = body.get("@type")
        if not isinstance(types, list) or not types or not all(isinstance(t, str) and t for t in types):
            raise fail('\'@type\' must be a non-empty list of strings, e.g. ["ModelDefinition", "DeviceModel"]')
        if "ModelDefinition" not in types:
            raise fail("'@type' must include 'ModelDefinition'")
        values["types"] = list(types)
    if "capabilityModel" in body or full:
        model = body.get("capabilityModel")
        if not isinstance(model, dict):
            raise fail("'capabilityModel' must be a JSON object (a DTDL interface)")
        contents = model.get("contents", [])
        if not isinstance(contents, list) or not all(isinstance(c, dict) for c in contents):
            raise fail("'capabilityModel.contents' must be a list of objects")
        for item in contents:
            if not isinstance(item.get("name"), str) or not item["name"]:
                raise fail("every member of 'capabilityModel.contents' needs a 'name'")
        values["capability_model"] = copy.deepcopy(model)
    for member, attr in (("displayName", "display_name"), ("description", "description")):
        if member in body and body[member] is not None:
            if not isinstance(body[member], str):
                raise fail(f"'{member}' must be a string")
            values[attr] = body[member]
    return values


class TemplateBook:
    """The device templates of one application, keyed by DTMI (``in`` and ``[]`` work by DTMI)."""

    def __init__(self, clock: Clock, entropy: Entropy, settings: Settings) -> None:
        self.clock = clock
        self.entropy = entropy
        self.settings = settings
        self.templates: dict[str, DeviceTemplate] = {}

    @property
    def overrides(self) -> dict[str, str]:
        return self.settings.central.error_codes

    @property
    def body_etag_counts(self) -> bool:
        return self.settings.central.body_etag_is_precondition

    def _new_etag(self, previous: str | None) -> str:
        return new_etag(self.entropy, self.clock.now(), previous)

    def __contains__(self, template_id: object) -> bool:
        return template_id in self.templates

    def __iter__(self):
        return iter(self.templates)

    def get(self, template_id: str) -> DeviceTemplate:
        found = self.templates.get(template_id)
        if found is None:
            raise CentralError.of("not_found", f"device template {template_id!r} was not found", self.overrides)
        return found

    def list(self) -> list[DeviceTemplate]:
        return list(self.templates.values())

    def add(self, template_id: str, display_name: str | None = None) -> DeviceTemplate:
        """Publish a minimal template (no capabilities) under ``template_id``."""
        check_template_id(template_id, self.overrides)
        template = DeviceTemplate(
            id=template_id,
            etag=self._new_etag(None),
            display_name=display_name,
            capability_model={"@id": template_id, "@type": "Interface", "contents": []},
        )
        self.templates.setdefault(template_id, template)
        return self.templates[template_id]

    def put(self, template_id: str, body: Any, *, if_match: str | None = None) -> DeviceTemplate:
        check_template_id(template_id, self.overrides)
        if not isinstance(body, dict):
            raise CentralError.of("bad_request", "the device template must be a JSON object", self.overrides)
        existing = self.templates.get(template_id)
        check_precondition(
            existing.etag if existing else None,
            if_match=if_match,
            body_etag=body.get("etag"),
            body_etag_counts=self.body_etag_counts and existing is not None,
            what=f"device template {template_id!r}",
            overrides=self.overrides,
        )
        values = _fields(body, self.overrides, full=True)
        template = DeviceTemplate(id=template_id, etag=self._new_etag(existing.etag if existing else None), **values)
        self.templates[template_id] = template
        return template

    def patch(self, template_id: str, patch: Any, *, if_match: str | None = None) -> DeviceTemplate:
        template = self.get(template_id)
        if not isinstance(patch, dict):
            raise CentralError.of("bad_request", "a merge patch must be a JSON object", self.overrides)
        check_precondition(
            template.etag,
            if_match=if_match,
            body_etag=patch.get("etag"),
            body_etag_counts=self.body_etag_counts,
            what=f"device template {template_id!r}",
            overrides=self.overrides,
        )
        values = _fields(patch, self.overrides, full=False)
        for attr, value in values.items():
            setattr(template, attr, value)
        template.etag = self._new_etag(template.etag)
        return template

    def remove(self, template_id: str, in_use: bool) -> None:
        self.get(template_id)
        if in_use:
            raise CentralError.of(
                "conflict",
                f"device template {template_id!r} is assigned to devices; reassign them first",
                self.overrides,
            )
        del self.templates[template_id]

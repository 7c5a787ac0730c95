"""Device groups of an IoT Central application: saved queries over its devices.

A device group (``DeviceGroup`` in the 2022-07-31 document) has an ``id`` (letters, digits, ``_`` and ``-``, at
most 255), a ``displayName``, an optional ``description``, ``organizations`` and — the point of it — a ``filter``
in IoT Central's query language, e.g. ``SELECT * FROM devices WHERE $template = "dtmi:contoso:thermostat;1"``.
``GET /deviceGroups/{id}/devices`` lists the devices the filter selects *now*.

The fake evaluates the part of the language a device group's filter uses on device *attributes*::

    SELECT * FROM devices [WHERE <condition> [AND <condition>]…]
    <condition> :=  $id | $displayName | $template | $organizations  (= | !=)  "<text>"
                 |  $provisioned | $simulated | $enabled               (= | !=)  true | false

(keywords case-insensitive; ``$organizations = "x"`` means "belongs to x"). A filter outside that subset — ``OR``,
property or telemetry conditions — is refused with 400 and says so, rather than silently selecting the wrong
devices; that is the fake's limit, not IoT Central's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from simulator.central.devices import Device
from simulator.central.errors import CentralError
from simulator.central.etags import check_merge_patch, check_precondition, new_etag
from simulator.clock import Clock
from simulator.entropy import Entropy
from simulator.settings import Settings

GROUP_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")
_SELECT = re.compile(r"^\s*SELECT\s+\*\s+FROM\s+devices\s*(?:WHERE\s+(?P<where>.+?))?\s*$", re.IGNORECASE | re.DOTALL)
_CONDITION = re.compile(
    r'^\s*(?P<field>\$[A-Za-z]+)\s*(?P<op>!=|=)\s*(?:"(?P<text>[^"]*)"|(?P<bool>true|false))\s*$', re.IGNORECASE
)
TEXT_FIELDS = {"$id": "id", "$displayname": "display_name", "$template": "template", "$organizations": "organizations"}
BOOL_FIELDS = {"$provisioned": "provisioned", "$simulated": "simulated", "$enabled": "enabled"}


@dataclass(frozen=True)
class Condition:
    attribute: str
    negate: bool
    value: str | bool

    def holds(self, device: Device) -> bool:
        actual = getattr(device, self.attribute)
        if self.attribute == "organizations":
            result = self.value in actual
        elif self.attribute == "id":
            result = isinstance(self.value, str) and actual.lower() == self.value.lower()
        else:
            result = actual == self.value
        return result != self.negate


def parse_filter(text: Any, overrides: dict[str, str]) -> list[Condition]:
    """The conditions of a device-group filter (all must hold); 400 :class:`CentralError` outside the subset."""

    def fail(message: str) -> CentralError:
        return CentralError.of("bad_request", message, overrides)

    if not isinstance(text, str) or not text.strip():
        raise fail("'filter' must be a query such as 'SELECT * FROM devices WHERE $provisioned = true'")
    found = _SELECT.match(text)
    if found is None:
        raise fail(f"filter {text!r} must have the form 'SELECT * FROM devices [WHERE …]'")
    where = found.group("where")
    if where is None:
        return []
    conditions = []
    for part in re.split(r"\s+AND\s+", where, flags=re.IGNORECASE):
        match = _CONDITION.match(part)
        if match is None:
            raise fail(
                f"filter condition {part.strip()!r} is not supported by the fake (simulator/central/device_groups.py)"
            )
        name, negate = match.group("field").lower(), match.group("op") == "!="
        if name in TEXT_FIELDS and match.group("text") is not None:
            conditions.append(Condition(TEXT_FIELDS[name], negate, match.group("text")))
        elif name in BOOL_FIELDS and match.group("bool") is not None:
            conditions.append(Condition(BOOL_FIELDS[name], negate, match.group("bool").lower() == "true"))
        else:
            raise fail(f"filter condition {part.strip()!r}: {match.group('field')} cannot be compared with that value")
    return conditions


@dataclass
class DeviceGroup:
    id: str
    display_name: str
    filter: str
    etag: str
    description: str | None = None
    organizations: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "displayName": self.display_name, "filter": self.filter}
        if self.description is not None:
            body["description"] = self.description
        body["etag"] = self.etag
        if self.organizations:
            body["organizations"] = list(self.organizations)
        return body

    def selects(self, device: Device, overrides: dict[str, str]) -> bool:
        return all(condition.holds(device) for condition in parse_filter(self.filter, overrides))


class DeviceGroupBook:
    """The device groups of one application."""

    def __init__(self, clock: Clock, entropy: Entropy, settings: Settings, organizations: Any) -> None:
        self.clock = clock
        self.entropy = entropy
        self.settings = settings
        self.organizations = organizations
        self.groups: dict[str, DeviceGroup] = {}

    @property
    def overrides(self) -> dict[str, str]:
        return self.settings.central.error_codes

    def _error(self, situation: str, message: str) -> CentralError:
        return CentralError.of(situation, message, self.overrides)

    def get(self, group_id: str) -> DeviceGroup:
        found = self.groups.get(group_id)
        if found is None:
            raise self._error("not_found", f"device group {group_id!r} was not found")
        return found

    def list(self) -> list[DeviceGroup]:
        return list(self.groups.values())

    def _values(self, body: dict[str, Any], base: DeviceGroup | None) -> dict[str, Any]:
        unknown = set(body) - {"id", "displayName", "filter", "description", "etag", "organizations"}
        if unknown:
            raise self._error("bad_request", f"a device group has no member {sorted(unknown)[0]!r}")
        display_name = body.get("displayName", base.display_name if base else None)
        if not isinstance(display_name, str) or not display_name.strip():
            raise self._error("bad_request", "'displayName' must be a non-empty string")
        query = body.get("filter", base.filter if base else None)
        parse_filter(query, self.overrides)
        description = body.get("description", base.description if base else None)
        if description is not None and not isinstance(description, str):
            raise self._error("bad_request", "'description' must be a string")
        orgs = body.get("organizations", base.organizations if base else [])
        if orgs is None:
            orgs = []
        if not isinstance(orgs, list) or not all(isinstance(o, str) for o in orgs):
            raise self._error("bad_request", "'organizations' must be a list of organization IDs")
        unknown_orgs = [o for o in orgs if o not in self.organizations]
        if unknown_orgs:
            raise self._error("bad_request", f"the application has no organization {unknown_orgs[0]!r}")
        return {"display_name": display_name, "filter": query, "description": description, "organizations": orgs}

    def put(self, group_id: str, body: Any, *, if_match: str | None = None) -> DeviceGroup:
        if not GROUP_ID_PATTERN.match(group_id):
            raise self._error("bad_request", f"device group ID {group_id!r} must be 1-255 letters, digits, '_' or '-'")
        if not isinstance(body, dict):
            raise self._error("bad_request", "the device group must be a JSON object")
        existing = self.groups.get(group_id)
        check_precondition(
            existing.etag if existing else None,
            if_match=if_match,
            body_etag=body.get("etag"),
            body_etag_counts=self.settings.central.body_etag_is_precondition and existing is not None,
            what=f"device group {group_id!r}",
            overrides=self.overrides,
        )
        for required in ("displayName", "filter"):
            if required not in body:
                raise self._error("bad_request", f"a device group needs '{required}'")
        values = self._values(body, None)
        etag = new_etag(self.entropy, self.clock.now(), existing.etag if existing else None)
        group = DeviceGroup(id=group_id, etag=etag, **values)
        self.groups[group_id] = group
        return group

    def patch(self, group_id: str, patch: Any, *, if_match: str | None = None) -> DeviceGroup:
        group = self.get(group_id)
        check_merge_patch(
            group.etag,
            patch,
            if_match=if_match,
            body_etag_counts=self.settings.central.body_etag_is_precondition,
            what=f"device group {group_id!r}",
            overrides=self.overrides,
        )
        values = self._values({k: v for k, v in patch.items() if v is not None or k == "description"}, group)
        for attr, value in values.items():
            setattr(group, attr, value)
        group.etag = new_etag(self.entropy, self.clock.now(), group.etag)
        return group

    def remove(self, group_id: str) -> None:
        self.get(group_id)
        del self.groups[group_id]

    def devices(self, group_id: str, devices: list[Device]) -> list[Device]:
        group = self.get(group_id)
        conditions = parse_filter(group.filter, self.overrides)
        return [d for d in devices if all(c.holds(d) for c in conditions)]

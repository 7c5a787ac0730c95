"""Devices of an IoT Central application: how they appear, enroll, report and send telemetry.

A device record has the fields of the 2022-07-31 ``Device`` model (IoT Central REST API 2022-07-31): ``id``,
``displayName``, ``template`` (a DTMI, or absent when *unassigned*), ``enabled`` ("may it connect?"),
``provisioned`` ("have resources been allocated?"), ``simulated``, ``organizations`` and an ``etag``.

The portal's status is derived from those two booleans::

    Waiting for approval   enabled=false provisioned=false   (joined on its own while auto-approve was off)
    Registered             enabled=true  provisioned=false   (created through the API or UI, not yet connected)
    Provisioned            enabled=true  provisioned=true    (connected through DPS)
    Blocked                enabled=false provisioned=as-was  (an operator blocked it)

Devices join through DPS: a Sphere device whose certificate chain leads to a verified enrollment-group entry
is created (or updated) by :meth:`DeviceRegistry.provision` with ``id`` = the certificate CN, lower-cased by
default, ``template`` = the model ID it announced if the application knows that template, and
``enabled`` = the application's auto-approve switch. Once connected to the hub, its telemetry and
reported properties land here and are read back through the devices API.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator import wire
from simulator.central.attestation import generated_symmetric_key, x509_from_thumbprint
from simulator.central.errors import CentralError
from simulator.central.etags import check_merge_patch, new_etag
from simulator.clock import Clock
from simulator.entropy import Entropy
from simulator.settings import Settings

DEVICE_ID_MAX = 128
DEVICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]*[A-Za-z0-9-]$")
TEMPLATE_PATTERN = re.compile(
    r"^dtmi:[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?(?::[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)*;[1-9][0-9]{0,8}$"
)


def wire_time(instant: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, as IoT Central writes timestamps."""
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396 JSON merge patch: objects merge recursively, ``null`` removes a member."""
    result = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_patch(result[key], value)
        else:
            result[key] = copy.deepcopy(_strip_nulls(value))
    return result


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    return value


@dataclass
class TelemetryPoint:
    """The last value of one telemetry field, and when it arrived."""

    timestamp: datetime
    value: Any


@dataclass
class Device:
    """One device of an application, with its last telemetry and its twin."""

    id: str
    display_name: str
    etag: str
    template: str | None = None
    enabled: bool = True
    provisioned: bool = False
    simulated: bool = False
    organizations: list[str] = field(default_factory=list)
    awaiting_approval: bool = False
    #: the attestation as IoT Central answers it (:mod:`simulator.central.attestation`), or None once removed
    attestation: dict[str, Any] | None = None
    telemetry: dict[str, TelemetryPoint] = field(default_factory=dict)
    messages: int = 0
    reported: dict[str, Any] = field(default_factory=dict)
    reported_version: int = 1
    reported_updated: dict[str, datetime] = field(default_factory=dict)
    desired: dict[str, Any] = field(default_factory=dict)
    desired_version: int = 1

    @property
    def attestation_thumbprint(self) -> str | None:
        """The primary X.509 client certificate's SHA-1 thumbprint, for an X.509 attestation."""
        if self.attestation is None or self.attestation["type"] != "x509":
            return None
        return self.attestation["x509"]["clientCertificates"]["primary"]["info"]["sha1Thumbprint"]

    @property
    def status(self) -> str:
        """The portal's status column (IoT Central REST API 2022-07-31)."""
        if not self.enabled:
            return "Waiting for approval" if self.awaiting_approval else "Blocked"
        return "Provisioned" if self.provisioned else "Registered"

    @property
    def cli_status(self) -> str:
        """What ``az iot central device show`` derives: blocked → unassociated → registered → provisioned."""
        if not self.enabled:
            return "blocked"
        if not self.template:
            return "unassociated"
        return "provisioned" if self.provisioned else "registered"

    def as_dict(self) -> dict[str, Any]:
        """``Device`` as the API returns it; ``template`` is absent while the device is unassigned."""
        body: dict[str, Any] = {"id": self.id, "etag": self.etag, "displayName": self.display_name}
        if self.template:
            body["template"] = self.template
        body.update(simulated=self.simulated, provisioned=self.provisioned, enabled=self.enabled)
        if self.organizations:
            body["organizations"] = list(self.organizations)
        return body

    def twin(self) -> dict[str, Any]:
        """The twin the hub serves: ``{"desired": {…, "$version"}, "reported": {…, "$version"}}``."""
        return {
            "desired": {**copy.deepcopy(self.desired), "$version": self.desired_version},
            "reported": {**copy.deepcopy(self.reported), "$version": self.reported_version},
        }

    def properties(self) -> dict[str, Any]:
        """``GET /api/devices/{id}/properties``: reported values with ``$metadata.lastUpdateTime`` each."""
        body = copy.deepcopy(self.reported)
        body["$metadata"] = {
            name: {"lastUpdateTime": wire_time(self.reported_updated[name])}
            for name in self.reported
            if name in self.reported_updated
        }
        return body


class DeviceRegistry:
    """The devices of one application. IDs are looked up case-insensitively (``central.device_id_case``)."""

    def __init__(
        self, clock: Clock, entropy: Entropy, settings: Settings, templates: Any, organizations: Any = None
    ) -> None:
        self.clock = clock
        self.entropy = entropy
        self.settings = settings
        #: the application's device templates and organizations (anything answering ``in`` by ID)
        self.templates = templates
        self.organizations = organizations if organizations is not None else {}
        self.devices: dict[str, Device] = {}

    def _error(self, situation: str, message: str) -> CentralError:
        return CentralError.of(situation, message, self.settings.central.error_codes)

    def _etag(self, previous: str | None = None) -> str:
        return new_etag(self.entropy, self.clock.now(), previous)

    def check_device_id(self, device_id: str) -> None:
        if not device_id or len(device_id) > DEVICE_ID_MAX or not DEVICE_ID_PATTERN.match(device_id):
            raise self._error(
                "bad_request",
                f"device ID {device_id!r} must be 1..{DEVICE_ID_MAX} letters, digits, '-', '.', '_' or ':' "
                "ending in a letter, digit or '-'",
            )

    def find(self, device_id: str) -> Device | None:
        return self.devices.get(device_id.lower())

    def get(self, device_id: str) -> Device:
        found = self.find(device_id)
        if found is None:
            raise self._error("not_found", f"device {device_id!r} was not found")
        return found

    def list(self) -> list[Device]:
        return list(self.devices.values())

    # -- the devices API -------------------------------------------------------------------------------

    def _check_template(self, template: Any) -> str | None:
        if template is None:
            return None
        if not isinstance(template, str) or not TEMPLATE_PATTERN.match(template):
            raise self._error("bad_request", "'template' must be a DTMI such as 'dtmi:contoso:thermostat;1'")
        if template not in self.templates:
            raise self._error("bad_request", f"the application has no device template {template!r}")
        return template

    def _check_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate the writable members present in ``body``; return them in model terms."""
        values: dict[str, Any] = {}
        if "displayName" in body and body["displayName"] is not None:
            if not isinstance(body["displayName"], str) or not body["displayName"].strip():
                raise self._error("bad_request", "'displayName' must be a non-empty string")
            values["display_name"] = body["displayName"]
        for member, attr in (("enabled", "enabled"), ("simulated", "simulated")):
            if member in body and body[member] is not None:
                if not isinstance(body[member], bool):
                    raise self._error("bad_request", f"'{member}' must be true or false")
                values[attr] = body[member]
        if "template" in body:
            values["template"] = self._check_template(body["template"])
        if "organizations" in body and body["organizations"] is not None:
            orgs = body["organizations"]
            if not isinstance(orgs, list) or not all(isinstance(o, str) and o for o in orgs):
                raise self._error("bad_request", "'organizations' must be a list of organization IDs")
            unknown = [o for o in orgs if o not in self.organizations]
            if unknown:
                raise self._error("bad_request", f"the application has no organization {unknown[0]!r}")
            values["organizations"] = list(orgs)
        return values

    def put(self, device_id: str, body: Any) -> Device:
        """Create a device (Registered: enabled, not provisioned) or replace its writable members."""
        self.check_device_id(device_id)
        if not isinstance(body, dict):
            raise self._error("bad_request", "the device must be a JSON object")
        values = self._check_fields(body)
        existing = self.find(device_id)
        if existing is None:
            created = Device(
                id=device_id,
                display_name=values.get("display_name", device_id),
                etag=self._etag(),
                template=values.get("template"),
                enabled=values.get("enabled", True),
                simulated=values.get("simulated", False),
                organizations=values.get("organizations", []),
                attestation=generated_symmetric_key(self.entropy.bytes(64)),
            )
            self.devices[device_id.lower()] = created
            return created
        existing.display_name = values.get("display_name", existing.id)
        existing.template = values.get("template")
        existing.enabled = values.get("enabled", True)
        existing.simulated = values.get("simulated", existing.simulated)
        existing.organizations = values.get("organizations", [])
        if existing.enabled:
            existing.awaiting_approval = False
        existing.etag = self._etag(existing.etag)
        return existing

    def patch(self, device_id: str, patch: Any, *, if_match: str | None = None) -> Device:
        """Merge-patch a device; ``enabled: true`` approves a waiting device, ``false`` blocks it."""
        device = self.get(device_id)
        check_merge_patch(
            device.etag,
            patch,
            if_match=if_match,
            body_etag_counts=self.settings.central.body_etag_is_precondition,
            what=f"device {device_id!r}",
            overrides=self.settings.central.error_codes,
        )
        if "simulated" in patch and patch["simulated"] is not None and patch["simulated"] != device.simulated:
            raise self._error("bad_request", "'simulated' cannot be changed after the device is created")
        values = self._check_fields(patch)
        for attr, value in values.items():
            setattr(device, attr, value)
        if device.enabled:
            device.awaiting_approval = False
        device.etag = self._etag(device.etag)
        return device

    def delete(self, device_id: str) -> None:
        self.get(device_id)
        del self.devices[device_id.lower()]

    # -- DPS and hub entry points --------------------------------------------------------------------------

    def provision(
        self,
        device_id: str,
        *,
        auto_approve: bool,
        model_id: str | None = None,
        attestation_thumbprint: str | None = None,
    ) -> Device:
        """Create or update a device that registered through DPS."""
        if self.settings.central.device_id_case == "lower":
            device_id = device_id.lower()
        self.check_device_id(device_id)
        template = model_id if model_id in self.templates else None
        device = self.find(device_id)
        if device is None:
            device = Device(
                id=device_id,
                display_name=device_id,
                etag=self._etag(),
                template=template,
                enabled=auto_approve,
                provisioned=auto_approve,
                awaiting_approval=not auto_approve,
                attestation=x509_from_thumbprint(attestation_thumbprint) if attestation_thumbprint else None,
            )
            self.devices[device_id.lower()] = device
            return device
        if device.enabled:
            device.provisioned = True
        if template is not None:
            device.template = template
        if attestation_thumbprint is not None:
            device.attestation = x509_from_thumbprint(attestation_thumbprint)
        device.etag = self._etag(device.etag)
        return device

    def record_telemetry(self, device_id: str, body: bytes, properties: dict[str, str]) -> None:
        """Keep the last value of each member of a JSON telemetry message (other payloads are counted only)."""
        device = self.get(device_id)
        now = self.clock.now()
        device.messages += 1
        try:  # through the wire seam: no lone surrogate or NaN is kept (it could never be read back as JSON)
            message = wire.parse_json(body.decode(properties.get("$.ce", "utf-8") or "utf-8"))
        except (UnicodeDecodeError, LookupError, wire.WireError):
            return
        if isinstance(message, dict):
            for name, value in message.items():
                device.telemetry[name] = TelemetryPoint(now, copy.deepcopy(value))

    def telemetry(self, device_id: str, name: str) -> TelemetryPoint:
        device = self.get(device_id)
        point = device.telemetry.get(name)
        if point is None:
            raise self._error("not_found", f"device {device_id!r} has sent no telemetry named {name!r}")
        return point

    def record_reported(self, device_id: str, patch: dict[str, Any]) -> None:
        """Merge a reported-properties patch into the twin and bump its ``$version``."""
        device = self.get(device_id)
        if not isinstance(patch, dict):
            raise self._error("bad_request", "a reported-properties patch must be a JSON object")
        now = self.clock.now()
        device.reported = merge_patch(device.reported, patch)
        for name in patch:
            if patch[name] is None:
                device.reported_updated.pop(name, None)
            else:
                device.reported_updated[name] = now
        device.reported_version += 1

    # -- attestation -------------------------------------------------------------------------------------

    def get_attestation(self, device_id: str) -> dict[str, Any]:
        device = self.get(device_id)
        if device.attestation is None:
            raise self._error("not_found", f"device {device_id!r} has no attestation")
        return copy.deepcopy(device.attestation)

    def set_attestation(self, device_id: str, attestation: dict[str, Any]) -> dict[str, Any]:
        """Store an attestation already validated by :func:`~simulator.central.attestation.parse_attestation`."""
        device = self.get(device_id)
        device.attestation = attestation
        device.etag = self._etag(device.etag)
        return copy.deepcopy(attestation)

    def remove_attestation(self, device_id: str) -> None:
        device = self.get(device_id)
        if device.attestation is None:
            raise self._error("not_found", f"device {device_id!r} has no attestation")
        device.attestation = None
        device.etag = self._etag(device.etag)

    # -- properties ----------------------------------------------------------------------------------------

    def replace_desired(self, device_id: str, body: Any) -> Device:
        """``PUT …/properties``: the writable properties become exactly ``body``; bump the desired ``$version``."""
        device = self.get(device_id)
        if not isinstance(body, dict):
            raise self._error("bad_request", "the properties must be a JSON object")
        if any(name.startswith("$") for name in body):
            raise self._error("bad_request", "property names cannot start with '$'")
        device.desired = _strip_nulls(copy.deepcopy(body))
        device.desired_version += 1
        return device

    def update_desired(self, device_id: str, patch: Any) -> Device:
        """Merge writable (desired) properties set by an operator; bump the desired ``$version``."""
        device = self.get(device_id)
        if not isinstance(patch, dict):
            raise self._error("bad_request", "a properties patch must be a JSON object")
        if any(name.startswith("$") for name in patch):
            raise self._error("bad_request", "property names cannot start with '$'")
        device.desired = merge_patch(device.desired, patch)
        device.desired_version += 1
        return device

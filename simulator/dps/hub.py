"""The IoT hub device surface behind every IoT Central application: connect, telemetry, device twin.

After DPS assigns a device, the device opens a second MQTT connection, this time to the *assigned hub*, with
ClientId = device ID and username ``{hub}/{deviceId}/?api-version=…`` (Microsoft Learn, IoT Hub MQTT support).
The fake hub admits it only when:

* DPS assigned this device to this hub name (so an unregistered device cannot skip DPS);
* the leaf certificate's CN equals the device ID (case-insensitively) — the same CN that DPS checked;
* the chain still passes every DPS check (validity on the clock, a verified certificate of an enabled group);
* IoT Central has not blocked the device (``enabled`` false means "Blocked" or "Waiting for approval").

Then the device publishes telemetry on ``devices/{id}/messages/events/{property bag}`` — the bag URL-encoded, with
system properties spelled ``%24.ct`` for ``$.ct`` — and reads and patches its twin. Everything is recorded through
the IoT Central app, so the Central devices API shows it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from cryptography import x509

from simulator import wire
from simulator.dps.errors import DpsError
from simulator.dps.registration import Attestation, Registration


class HubError(Exception):
    """A refusal by the hub. ``status`` is the HTTP-style status of the twin reply (or 401 at CONNECT)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class HubSession:
    """An admitted hub connection: the device, its app and the registration that sent it here."""

    hub_host: str
    device_id: str
    app: Any
    registration: Registration
    attestation: Attestation


def parse_property_bag(bag: str) -> dict[str, str]:
    """Decode the URL-encoded property bag of a telemetry topic: ``%24.ct=application%2Fjson&k=v``.

    Keys and values are percent-decoded (``%24`` → ``$``); ``+`` stays a plus (the SDK quotes spaces as ``%20``).
    A key without ``=`` gets the empty string.
    """
    properties: dict[str, str] = {}
    for item in bag.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        properties[unquote(key)] = unquote(value)
    return properties


class Registrations(Protocol):
    """What the hub asks of DPS (:class:`simulator.dps.model.DpsService` provides it): the record that sent a device
    here, and the same X.509 checks DPS made."""

    def registration_for_hub(self, hub_host: str, device_id: str) -> Registration | None: ...

    def authenticate(
        self,
        id_scope: str,
        registration_id: str,
        chain: list[x509.Certificate],
        *,
        verified_chain: Sequence[x509.Certificate] = (),
    ) -> Attestation: ...


class IotHub:
    """Every app's IoT hub, addressed by the host name DPS handed out in ``assignedHub``."""

    def __init__(self, dps: Registrations) -> None:
        self.dps = dps

    def connect(
        self,
        hub_host: str,
        device_id: str,
        chain: list[x509.Certificate],
        *,
        verified_chain: Sequence[x509.Certificate] = (),
    ) -> HubSession:
        """Admit a device connection or raise :class:`HubError` (the adapter answers CONNACK 5).

        ``verified_chain``: the chain the TLS handshake verified, if any (:meth:`DpsService.authenticate`)."""
        registration = self.dps.registration_for_hub(hub_host, device_id)
        if registration is None:
            raise HubError(401, f"device {device_id!r} is not assigned to hub {hub_host!r}")
        try:
            attestation = self.dps.authenticate(registration.id_scope, device_id, chain, verified_chain=verified_chain)
        except DpsError as exc:
            raise HubError(401, exc.message) from None
        if attestation.device_id.lower() != registration.device_id.lower():
            raise HubError(401, "the certificate does not belong to the device assigned to this hub")
        device = _central_device(attestation.app, registration.device_id)
        if device is not None and not getattr(device, "enabled", True):
            raise HubError(401, f"device {registration.device_id!r} is blocked or waiting for approval")
        return HubSession(
            hub_host=hub_host,
            device_id=registration.device_id,
            app=attestation.app,
            registration=registration,
            attestation=attestation,
        )

    def telemetry(self, session: HubSession, topic: str, body: bytes) -> dict[str, str]:
        """Record one device-to-cloud message sent on ``devices/{id}/messages/events/{bag}``."""
        prefix = "devices/"
        marker = "/messages/events/"
        if not topic.startswith(prefix) or marker not in topic:
            raise HubError(400, f"not a telemetry topic: {topic!r}")
        topic_device, _, bag = topic[len(prefix) :].partition(marker)
        if unquote(topic_device).lower() != session.device_id.lower():
            raise HubError(403, f"device {session.device_id!r} cannot send as {topic_device!r}")
        properties = parse_property_bag(bag)
        with _central_refusal():
            session.app.record_telemetry(session.device_id, body, properties)
        return properties

    def twin_get(self, session: HubSession) -> dict[str, Any]:
        """The twin document the device sees: ``{"desired": {…, "$version"}, "reported": {…, "$version"}}``."""
        with _central_refusal():
            twin = session.app.device_twin(session.device_id)
        return {"desired": twin.get("desired", {"$version": 1}), "reported": twin.get("reported", {"$version": 1})}

    def twin_patch_reported(self, session: HubSession, body: bytes) -> int:
        """Apply a reported-properties patch (a JSON object); return the new reported ``$version``."""
        try:
            patch = wire.parse_json(body) if body.strip() else None
        except wire.WireError as exc:
            raise HubError(400, f"the reported-properties patch is not JSON: {exc.message}") from None
        if not isinstance(patch, dict):
            raise HubError(400, "the reported-properties patch must be a JSON object")
        if any(key.startswith("$") for key in patch):
            raise HubError(400, "reported properties cannot set '$' members")
        with _central_refusal():
            session.app.record_reported(session.device_id, patch)
            reported = session.app.device_twin(session.device_id).get("reported", {})
        return int(reported.get("$version", 1))


@contextmanager
def _central_refusal() -> Iterator[None]:
    """IoT Central refusing (e.g. the device was deleted meanwhile) becomes a hub refusal with its status."""
    try:
        yield
    except HubError:
        raise
    except Exception as exc:
        status = getattr(exc, "status", 500)
        raise HubError(status if isinstance(status, int) else 500, str(getattr(exc, "message", exc))) from exc


def _central_device(app: Any, device_id: str) -> Any:
    """The IoT Central device record (``app.devices`` is keyed by lower-cased ID), or None if unknown."""
    devices = getattr(app, "devices", None)
    if isinstance(devices, dict):
        return devices.get(device_id.lower())
    return None

"""The Device Provisioning Service: how a Sphere device auto-enrolls into IoT Central on first connection.

Every IoT Central application has a DPS *ID scope* (``0ne…``). A device registers with that scope and a
*registration ID*, presenting an X.509 certificate chain, leaf first. For an X.509 **enrollment group** DPS admits
the registration only when:

1. the leaf certificate's subject CN equals the registration ID (case-insensitively: registration IDs are);
2. every presented certificate is inside its validity window *on the world's clock* (TLS already checked real
   time; the fake clock may have travelled — ``dps.tls_validity_clock``);
3. walking the chain from the leaf upward, signature by signature, reaches a **verified** certificate of an
   enrollment group of that scope. The first (most specific) match wins, and if that group is **disabled** the
   device is blocked, even when a group higher up would admit it.

Admission yields a registration *operation* (ID ``5.<16 hex>.<uuid>``) that starts ``assigning`` and becomes
``assigned`` once ``assignment_delay_s`` has passed on the clock. Assignment creates or updates the
IoT Central device (``provisioned``, enabled per the app's auto-approve, template from the payload's ``modelId``)
and records which IoT hub the device must now connect to. Every refusal raises :class:`DpsError` with the HTTP
status and six-digit error code (``dps.error_codes``) and creates nothing.

A per-scope throttle (``registrations_per_second``) answers 429 with a retry-after when the budget is spent.
The IoT hub device surface (connect, telemetry, twin) lives in :mod:`simulator.dps.hub` and is reachable as
:attr:`DpsService.hub`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from simulator.clock import Clock
from simulator.dps.errors import DEFAULT_ERROR_CODES, DpsError, ErrorKind, dps_time
from simulator.dps.hub import IotHub
from simulator.dps.registration import Attestation, Registration
from simulator.entropy import Entropy
from simulator.pki import (
    get_common_name,
    is_issued_by,
    is_valid_at,
    issuer_string,
    proven_links,
    serial_hex,
    subject_string,
    walk_to_anchor,
)
from simulator.pki.encoding import to_der
from simulator.settings import Settings

__all__ = [
    "DEFAULT_ERROR_CODES",
    "Attestation",
    "DpsError",
    "DpsService",
    "ErrorKind",
    "Operation",
    "Registration",
    "dps_time",
]

# Registration IDs: alphanumerics plus - . _ : ; the last character alphanumeric or '-'; at most 128.
_REGISTRATION_ID = re.compile(r"^[A-Za-z0-9\-._:]*[A-Za-z0-9\-]$")
REGISTRATION_ID_MAX = 128
CN_BOUND = 64  # the X.509 bound DPS documents; enforced only with settings.dps.enforce_cn_64


@dataclass
class Operation:
    """One registration attempt: ``assigning`` → ``assigned`` (or ``failed``), polled by its operation ID."""

    operation_id: str
    id_scope: str
    registration_id: str
    created: datetime
    assign_at: datetime
    attestation: Attestation | None
    model_id: str | None = None
    served_host: str | None = None
    status: str = "assigning"
    registration: Registration | None = None
    error_code: int | None = None
    error_message: str | None = None
    failed_at: datetime | None = None
    retry_after: int = 3
    injected_failure: int | None = None

    def to_json(self) -> dict[str, Any]:
        """``RegistrationOperationStatus``: ``{operationId, status[, registrationState]}``."""
        body: dict[str, Any] = {"operationId": self.operation_id, "status": self.status}
        if self.status == "assigned" and self.registration is not None:
            body["registrationState"] = self.registration.state()
        elif self.status == "failed":
            moment = dps_time(self.failed_at or self.created)
            body["registrationState"] = {
                "registrationId": self.registration_id,
                "createdDateTimeUtc": dps_time(self.created),
                "status": "failed",
                "errorCode": self.error_code,
                "errorMessage": self.error_message,
                "lastUpdatedDateTimeUtc": moment,
                "etag": _etag_of(self.operation_id),
            }
        return body

    @property
    def finished(self) -> bool:
        return self.status != "assigning"


def _etag_of(text: str) -> str:
    return base64.b64encode(json.dumps(text).encode()).decode()


def certificate_info(cert: x509.Certificate, *, issuer_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """``X509CertificateInfo`` of the DPS device API: names, thumbprints, serial, validity.

    ``issuer_info`` is the info of the CA that *verifiably* issued ``cert`` (its name matched and its signature
    checked, :func:`~simulator.pki.is_issued_by`): its ``subjectName`` is then this certificate's ``issuerName``,
    the same text without parsing the name again, and stored once for a whole fleet.
    """
    der = to_der(cert)
    issuer_name = issuer_info["subjectName"] if issuer_info is not None else issuer_string(cert)
    return {
        "subjectName": subject_string(cert),
        "sha1Thumbprint": hashlib.sha1(der, usedforsecurity=False).hexdigest().upper(),
        "sha256Thumbprint": hashlib.sha256(der).hexdigest().upper(),
        "issuerName": issuer_name,
        "notBeforeUtc": dps_time(cert.not_valid_before_utc),
        "notAfterUtc": dps_time(cert.not_valid_after_utc),
        "serialNumber": serial_hex(cert),
        "version": cert.version.value + 1,
    }


@functools.lru_cache(maxsize=64)
def _ca_certificate_info(cert: x509.Certificate) -> dict[str, Any]:
    """:func:`certificate_info` of a CA certificate, computed once per tenant CA generation.

    Shared by every registration the CA signed: treat it as read-only (status bodies only serialize it)."""
    return certificate_info(cert)


@dataclass
class _Bucket:
    tokens: float
    updated: datetime


@dataclass
class DpsService:
    """The DPS of the offline world: every IoT Central app's ID scope, its registrations and operations."""

    clock: Clock
    entropy: Entropy
    settings: Settings
    central: Any
    sphere: Any = None
    registrations: dict[tuple[str, str], Registration] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    #: the operations still ``assigning`` (a subset of ``operations``): :meth:`settle` walks only these, so the
    #: 10⁵th registration of a rollout costs what the first did
    _assigning: dict[str, Operation] = field(default_factory=dict)
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.hub: IotHub = IotHub(self)

    @staticmethod
    def tracking_id() -> str:
        """A ``trackingId`` for one reply (error bodies, MQTT replies).

        Per-reply noise, like IoT Central's request IDs, so it is drawn from :func:`uuid.uuid4` and not from the
        world's entropy: a reply — a refusal above all — must not shift the IDs a seeded world draws next, nor
        change the world's state at all.
        """
        return str(uuid.uuid4())

    # -- errors ------------------------------------------------------------------------------------------

    def error(self, kind: ErrorKind, message: str, *, retry_after: int | None = None) -> DpsError:
        code = self.settings.dps.error_codes.get(kind, DEFAULT_ERROR_CODES[kind])
        return DpsError(kind, message, error_code=int(code), retry_after=retry_after)

    # -- authentication (what is checked at CONNECT / on every HTTPS request) ------------------------------------------

    def authenticate(
        self,
        id_scope: str,
        registration_id: str,
        chain: list[x509.Certificate],
        *,
        verified_chain: Sequence[x509.Certificate] = (),
    ) -> Attestation:
        """Check an X.509 registration attempt; return what it proved or raise :class:`DpsError` (401002).

        Changes nothing. The MQTT adapter calls this at CONNECT, the HTTPS adapter on every request.

        ``verified_chain`` is the chain OpenSSL built and verified in the TLS handshake of a served connection
        (leaf first, up to the CA of the world it trusted): the signatures on it are not checked a second time
        (:func:`~simulator.pki.proven_links`). Everything else still is — the CN, every date on the world's clock,
        that the path ends at a verified certificate of an enabled group of this scope, revocation — and without
        it (the in-process device, the HTTPS adapter's in-process header) every signature is verified here.
        """
        self.check_registration_id(registration_id)
        app = self.central.app_by_scope(id_scope) if id_scope else None
        if app is None:
            raise self.error("unauthorized", f"ID scope {id_scope!r} does not belong to any application")
        if not chain:
            raise self.error("unauthorized", "no client certificate was presented")
        leaf = chain[0]
        common_name = get_common_name(leaf) or ""
        if common_name.lower() != registration_id.lower():
            raise self.error(
                "unauthorized",
                f"the certificate's common name {common_name!r} does not match registration ID {registration_id!r}",
            )
        if self.settings.dps.enforce_cn_64 and len(common_name) > CN_BOUND:
            raise self.error("unauthorized", f"the certificate's common name is longer than {CN_BOUND} characters")
        now = self.clock.now()
        for cert in chain:
            if not is_valid_at(cert, now):
                which = "device certificate" if cert is leaf else f"certificate {subject_string(cert)!r}"
                raise self.error("unauthorized", f"the {which} is not valid at {dps_time(now)}")
        anchors = list(app.trust_anchors_for(chain))  # indexed: only the entries this chain could reach
        proven = proven_links(verified_chain) if verified_chain else ()
        reached, direct = walk_to_anchor(list(chain), [a.certificate for a in anchors], now, proven=proven)
        if reached is None:
            raise self.error(
                "unauthorized", "the certificate chain does not lead to a verified certificate of an enrollment group"
            )
        anchor = next(a for a in anchors if a.certificate is reached or to_der(a.certificate) == to_der(reached))
        if not anchor.group_enabled:
            raise self.error("unauthorized", "the enrollment group that matches this device is disabled")
        self._check_not_revoked([*chain[1:], anchor.certificate], now)
        return Attestation(
            leaf_issued_by_anchor=direct,
            app=app,
            id_scope=app.id_scope,
            registration_id=registration_id,
            device_id=self.device_id_for(common_name),
            anchor=anchor,
            leaf=leaf,
            chain=tuple(chain),
        )

    def _check_not_revoked(self, certificates: list[x509.Certificate], now: datetime) -> None:
        """With ``dps.revoked_tenant_ca = "refuse"`` (the default), a chain through a tenant CA generation the Sphere
        security service has revoked is refused like an expired certificate (401002 / CONNACK 5), even while IoT
        Central still holds that CA verified. ``"accept"`` leaves the decision to the enrollment groups alone."""
        if self.settings.dps.revoked_tenant_ca != "refuse" or self.sphere is None:
            return
        for certificate in certificates:
            generation = self.sphere.generation_for(certificate)
            if generation is not None and generation.revoked_at is not None and generation.revoked_at <= now:
                raise self.error(
                    "unauthorized",
                    f"the tenant CA {generation.serial} of tenant {generation.tenant.id} was revoked by the Azure "
                    "Sphere security service",
                )

    def check_registration_id(self, registration_id: str) -> None:
        if (
            not registration_id
            or len(registration_id) > REGISTRATION_ID_MAX
            or not _REGISTRATION_ID.match(registration_id)
        ):
            raise self.error("bad_request", f"registration ID {registration_id!r} is not valid")

    def device_id_for(self, common_name: str) -> str:
        """The device ID auto-enrollment creates: the CN lower-cased by default (``central.device_id_case``)."""
        return common_name.lower() if self.settings.central.device_id_case == "lower" else common_name

    # -- registration ------------------------------------------------------------------------------------

    def register(
        self,
        id_scope: str,
        registration_id: str,
        chain: list[x509.Certificate],
        payload: dict[str, Any] | None = None,
        *,
        served_host: str | None = None,
        injected_failure: int | None = None,
        verified_chain: Sequence[x509.Certificate] = (),
    ) -> Operation:
        """Start a registration; the returned operation is ``assigning``.

        ``served_host`` is the host name the request reached when served over sockets (for
        ``dps.assigned_hub_host = "served"``).
        The chain is checked again even on an MQTT connection admitted at CONNECT: the clock may have moved
        past the certificate's expiry or the group may have been disabled since. ``injected_failure`` (a six-digit
        code from a fault rule) makes the operation end ``failed`` instead of assigning the device.
        ``verified_chain``: what TLS verified, as in :meth:`authenticate`.
        """
        self.settle()
        if payload is not None and not isinstance(payload, dict):
            raise self.error("bad_request", "payload must be a JSON object")
        model_id = payload.get("modelId") if payload else None
        if model_id is not None and not isinstance(model_id, str):
            raise self.error("bad_request", "payload.modelId must be a string")
        attestation = self.authenticate(id_scope, registration_id, chain, verified_chain=verified_chain)
        self._check_budget(attestation.id_scope)
        now = self.clock.now()
        delay = timedelta(seconds=self.settings.dps.assignment_delay_s)
        operation = Operation(
            operation_id=self._new_operation_id(),
            id_scope=attestation.id_scope,
            registration_id=attestation.device_id,
            created=now,
            assign_at=now + delay,
            attestation=attestation,
            model_id=model_id,
            served_host=served_host,
            retry_after=self.settings.dps.retry_after_s,
            injected_failure=injected_failure,
        )
        self._spend_budget(attestation.id_scope)
        self.operations[operation.operation_id] = operation
        self._assigning[operation.operation_id] = operation
        return operation

    def operation_status(self, id_scope: str, registration_id: str, operation_id: str) -> Operation:
        """Look an operation up (the device's poll). Completes it first if its assignment time has come."""
        self.settle()
        operation = self.operations.get(operation_id)
        if (
            operation is None
            or operation.id_scope.lower() != id_scope.lower()
            or operation.registration_id.lower() != registration_id.lower()
        ):
            raise self.error("not_found", f"operation {operation_id!r} was not found for {registration_id!r}")
        return operation

    def registration_status(self, id_scope: str, registration_id: str) -> Registration:
        """DeviceRegistrationStatusLookup: the current registration record of this device."""
        self.settle()
        registration = self.registrations.get((id_scope.lower(), registration_id.lower()))
        if registration is None:
            raise self.error("not_found", f"registration {registration_id!r} was not found")
        return registration

    def registration_for_hub(self, hub_host: str, device_id: str) -> Registration | None:
        """The newest registration that assigned ``device_id`` to ``hub_host`` (IoT hub admission)."""
        self.settle()
        matches = [
            r
            for r in self._hub_index.get((hub_host.lower(), device_id.lower()), {}).values()
            if self.registrations.get((r.id_scope.lower(), r.registration_id.lower())) is r
        ]
        return max(matches, key=lambda r: r.last_updated) if matches else None

    @functools.cached_property
    def _hub_index(self) -> dict[tuple[str, str], dict[tuple[str, str], Registration]]:
        """(hub host, device ID), lower-cased → the registrations that assigned it there, by registration key.
        Derived from :attr:`registrations` (rebuilt after a load); a hub CONNECT reads it instead of every one."""
        index: dict[tuple[str, str], dict[tuple[str, str], Registration]] = {}
        for key, registration in self.registrations.items():
            self._index_registration(index, key, registration)
        return index

    @staticmethod
    def _index_registration(
        index: dict[tuple[str, str], dict[tuple[str, str], Registration]],
        key: tuple[str, str],
        registration: Registration,
    ) -> None:
        hub_key = (registration.assigned_hub.lower(), registration.device_id.lower())
        index.setdefault(hub_key, {})[key] = registration

    def settle(self) -> None:
        """Complete every operation whose assignment time has come (assigning → assigned or failed)."""
        if not self._assigning:
            return
        now = self.clock.now()
        for operation in list(self._assigning.values()):
            if operation.assign_at <= now:
                del self._assigning[operation.operation_id]
                if operation.status == "assigning":
                    self._assign(operation, now)

    # -- internals ---------------------------------------------------------------------------------------

    @staticmethod
    def _leaf_issued_by_anchor(attestation: Attestation) -> bool:
        """Whether the anchor signed the leaf directly, as :meth:`authenticate` found (checked again if unknown)."""
        if attestation.leaf_issued_by_anchor is not None:
            return attestation.leaf_issued_by_anchor
        return is_issued_by(attestation.leaf, attestation.anchor.certificate)

    def _assign(self, operation: Operation, now: datetime) -> None:
        attestation = operation.attestation
        assert attestation is not None
        # a finished operation keeps only what its status body shows: the presented chain (and the Name objects
        # cryptography caches on it, ~3 KB a device) is released, which is what lets a 10⁵-device rollout fit
        operation.attestation = None
        app = self.central.app_by_scope(operation.id_scope)
        if operation.injected_failure is not None:
            operation.status, operation.failed_at = "failed", now
            operation.error_code = operation.injected_failure
            operation.error_message = "Injected fault: the registration failed"
            return
        # one read-only info dict per CA generation, shared by every registration it signed
        signing_info = _ca_certificate_info(attestation.anchor.certificate)
        leaf_info = certificate_info(
            attestation.leaf,
            issuer_info=signing_info if self._leaf_issued_by_anchor(attestation) else None,
        )
        try:
            if app is None:
                raise LookupError("the application of this ID scope no longer exists")
            app.provision_device(
                attestation.device_id,
                model_id=operation.model_id,
                attestation_thumbprint=leaf_info["sha1Thumbprint"],  # == thumbprint(leaf), DER hashed once
            )
        except Exception as exc:  # the allocation (IoT Central) refused: the operation fails, DPS state stays
            error = self.error("assignment_failed", f"Custom allocation failed: {exc}")
            operation.status, operation.failed_at = "failed", now
            operation.error_code, operation.error_message = error.error_code, error.message
            return
        key = (operation.id_scope.lower(), attestation.device_id.lower())
        existing = self.registrations.get(key)
        registration = Registration(
            id_scope=operation.id_scope,
            registration_id=attestation.device_id,
            device_id=attestation.device_id,
            assigned_hub=self.hub_host_for(app, operation.served_host),
            enrollment_group_id=attestation.enrollment_group_id,
            created=existing.created if existing else now,
            last_updated=now,
            etag=_etag_of(self.entropy.uuid()),
            certificate_info=leaf_info,
            signing_certificate_info=signing_info,
        )
        self.registrations[key] = registration
        if existing is not None:
            old_key = (existing.assigned_hub.lower(), existing.device_id.lower())
            self._hub_index.get(old_key, {}).pop(key, None)
        self._index_registration(self._hub_index, key, registration)
        operation.registration = registration
        operation.status = "assigned"

    def hub_host_for(self, app: Any, served_host: str | None) -> str:
        """``assignedHub`` per ``dps.assigned_hub_host``: the app's hub name, the served host or an explicit one."""
        mode = self.settings.dps.assigned_hub_host
        if mode == "model":
            return app.hub_host
        if mode == "served":
            return served_host or app.hub_host
        return mode

    def _new_operation_id(self) -> str:
        """``5.<16 lower-case hex>.<uuid4>`` from the world's random source."""
        return f"5.{self.entropy.hex(8)}.{self.entropy.uuid()}"

    def _bucket(self, id_scope: str) -> _Bucket | None:
        rate = self.settings.dps.registrations_per_second
        if rate is None:
            return None
        now = self.clock.now()
        capacity = max(1.0, float(rate))
        bucket = self._buckets.get(id_scope.lower())
        if bucket is None:
            return _Bucket(capacity, now)
        elapsed = max(0.0, (now - bucket.updated).total_seconds())
        return _Bucket(min(capacity, bucket.tokens + elapsed * rate), now)

    def _check_budget(self, id_scope: str) -> None:
        bucket = self._bucket(id_scope)
        if bucket is not None and bucket.tokens < 1:
            raise self.error(
                "throttled",
                "too many registrations for this ID scope; retry later",
                retry_after=self.settings.dps.throttle_retry_after_s,
            )

    def _spend_budget(self, id_scope: str) -> None:
        bucket = self._bucket(id_scope)
        if bucket is not None:
            bucket.tokens -= 1
            self._buckets[id_scope.lower()] = bucket

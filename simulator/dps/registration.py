"""What DPS records about a device: the proof a registration attempt gave (:class:`Attestation`) and the assignment
it led to (:class:`Registration`). Shared by the DPS model and the IoT hub, which admits a device by its record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from simulator.dps.errors import dps_time


@dataclass(frozen=True)
class Attestation:
    """What a successful X.509 check established: which app, which device, via which enrollment group."""

    app: Any
    id_scope: str
    registration_id: str  # as the device spelled it
    device_id: str  # the IoT Central / hub device ID (``central.device_id_case``)
    anchor: Any  # the central TrustAnchor the chain reached
    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    #: whether the leaf was issued (name and signature) by the anchor itself, not through an intermediate: then the
    #: registration's ``certificateInfo.issuerName`` is the anchor's subject (None: not known, checked at assignment)
    leaf_issued_by_anchor: bool | None = None

    @property
    def enrollment_group_id(self) -> str:
        group = self.anchor.group
        return str(getattr(group, "id", group))


@dataclass
class Registration:
    """DPS's record of a device it has assigned (one per ID scope and registration ID)."""

    id_scope: str
    registration_id: str
    device_id: str
    assigned_hub: str
    enrollment_group_id: str
    created: datetime
    last_updated: datetime
    etag: str
    certificate_info: dict[str, Any]
    signing_certificate_info: dict[str, Any]
    status: str = "assigned"
    substatus: str = "initialAssignment"

    def state(self) -> dict[str, Any]:
        """``registrationState`` (DeviceRegistrationResult) with every field the SDK reads."""
        return {
            "x509": {
                "certificateInfo": self.certificate_info,
                "enrollmentGroupId": self.enrollment_group_id,
                "signingCertificateInfo": self.signing_certificate_info,
            },
            "registrationId": self.registration_id,
            "createdDateTimeUtc": dps_time(self.created),
            "assignedHub": self.assigned_hub,
            "deviceId": self.device_id,
            "status": self.status,
            "substatus": self.substatus,
            "lastUpdatedDateTimeUtc": dps_time(self.last_updated),
            "etag": self.etag,
        }

"""Device capability images: the signed file that unlocks a capability (app development, field servicing) on one chip.

``az sphere device capability download`` asks the service for a *capability image* for one claimed device; the
device accepts it only if it names its own device ID and carries the service's signature. The legacy API
(``POST /v2/tenants/{t}/deviceCapabilityImage``) names capabilities by number, ARM (``generateCapabilityImage``) by
name; both answer the image as base64.

Layout. The first part follows a real capability image recorded from the service (Az.Sphere PowerShell test
recording, 2024): a 12-byte header — magic ``FD 5C FD 5C``, version ``1`` and the length of what follows, both
little-endian 32-bit — then the 64 raw bytes of the device ID and 32 little-endian 32-bit capability slots, unused
slots zero. In that recording an ``ApplicationDevelopment`` request put ``11`` in the first slot, which fixes that
number; ``FieldServicing`` = ``13`` is **fake-defined**. The real image then carries metadata and a Microsoft
signature this fake cannot reproduce; in their place the fake appends ``b"SIMS"``, a 2-byte big-endian length and
a DER ECDSA signature over everything before it, made with the key of the catalog's Active tenant CA, so a test can
check integrity with the public key of ``retrieveCertChain``. No real device would accept it; nothing but tests reads
it.
"""

from __future__ import annotations

import struct
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from simulator.sphere.errors import SphereError, bad_request
from simulator.sphere.records import SphereCore

__all__ = ["CAPABILITIES", "CapabilityImages", "parse_capability_image"]

CAPABILITIES: dict[str, int] = {"ApplicationDevelopment": 11, "FieldServicing": 13}
MAGIC = bytes.fromhex("fd5cfd5c")
SLOTS = 32
TRAILER = b"SIMS"


def build_image(device_id: str, numbers: list[int], key: ec.EllipticCurvePrivateKey) -> bytes:
    slots = [*numbers, *([0] * (SLOTS - len(numbers)))]
    payload = bytes.fromhex(device_id) + struct.pack(f"<{SLOTS}I", *slots)
    body = MAGIC + struct.pack("<II", 1, len(payload)) + payload
    signature = key.sign(body, ec.ECDSA(hashes.SHA256()))
    return body + TRAILER + struct.pack(">H", len(signature)) + signature


def parse_capability_image(data: bytes) -> tuple[str, list[int], bytes, bytes]:
    """``(device_id, capability numbers, signed bytes, DER signature)`` of an image this module built (tests)."""
    if data[:4] != MAGIC:
        raise ValueError("not a capability image")
    _, length = struct.unpack("<II", data[4:12])
    signed_end = 12 + length
    device_id = data[12:76].hex()
    slots = struct.unpack(f"<{SLOTS}I", data[76:signed_end])
    if data[signed_end : signed_end + 4] != TRAILER:
        raise ValueError("no signature trailer")
    (size,) = struct.unpack(">H", data[signed_end + 4 : signed_end + 6])
    return device_id, [s for s in slots if s], data[:signed_end], data[signed_end + 6 : signed_end + 6 + size]


class CapabilityImages:
    """Capability images: the part of :class:`~simulator.sphere.model.SphereService` that signs them."""

    def capability_image(self: SphereCore, tenant_id: str, device_id: str, capabilities: Any) -> bytes:
        """A capability image for a device claimed into this tenant. ``capabilities``: a non-empty list of names
        (``ApplicationDevelopment``, ``FieldServicing``) or of their numbers, none twice."""
        tenant = self.get_tenant(tenant_id)
        record = self.get_device(device_id)
        if record.tenant_id != tenant.id:
            raise SphereError(404, "ResourceNotFound", "The requested device was not found", target=str(device_id))
        if not isinstance(capabilities, list) or not capabilities or len(capabilities) > SLOTS:
            raise bad_request("At least one capability is required.", target="capabilities")
        numbers: list[int] = []
        for capability in capabilities:
            number = CAPABILITIES.get(capability) if isinstance(capability, str) else capability
            if isinstance(number, bool) or number not in CAPABILITIES.values():
                raise bad_request(
                    f"'{capability}' is not a capability; expected one of {list(CAPABILITIES)} "
                    f"({list(CAPABILITIES.values())}).",
                    target="capabilities",
                )
            if number in numbers:
                raise bad_request(f"The capability '{capability}' is named twice.", target="capabilities")
            numbers.append(number)
        generation = tenant.active_generation()
        if generation is None:
            raise SphereError(409, "NoActiveCertificate", f"Tenant '{tenant.id}' has no active CA certificate.")
        return build_image(record.id, numbers, generation.issuer.private_key)

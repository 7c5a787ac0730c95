"""How a device proves who it is to an IoT Central application: its *attestation*.

IoT Central's 2022-07-31 API knows three attestation kinds, told apart by ``type`` (the ``Attestation``
discriminator of the published document):

* ``symmetricKey`` — ``{"type": "symmetricKey", "symmetricKey": {"primaryKey", "secondaryKey"}}``: two
  base64 keys from which the device derives its DPS SAS tokens. A device created through the API
  (``PUT /devices/{id}``) gets one at once, with keys IoT Central generates, so
  ``GET …/attestation`` and ``GET …/credentials`` answer for it immediately (the documented examples show such a
  device's keys in both).
* ``x509`` — ``{"type": "x509", "x509": {"clientCertificates": {"primary": {…}, "secondary"?: {…}}}}``: an
  individual X.509 enrollment. A client uploads ``certificate`` (base64 of DER, base64 of PEM, or PEM text, as
  for enrollment groups); IoT Central keeps its SHA-1 thumbprint and answers
  ``{"info": {"sha1Thumbprint": …}}``, never the certificate itself. A Sphere device that joined through an
  enrollment group shows its leaf's thumbprint here.
* ``tpm`` — ``{"type": "tpm", "tpm": {"endorsementKey": <base64>}}``.

:func:`parse_attestation` validates a request body completely and returns the attestation *as it is stored and
answered*, so a rejected body changes nothing. The rules the fake applies beyond the document's schema — a
symmetric key must be base64 of 16 to 64 bytes (what DPS accepts), a TPM endorsement key base64 — are its own
documented strictness (``docs/contracts.md``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from simulator.central.errors import CentralError

KINDS = ("symmetricKey", "x509", "tpm")
KEY_BYTES = (16, 64)


def _fail(message: str, overrides: dict[str, str]) -> CentralError:
    return CentralError.of("bad_request", message, overrides)


def _b64(value: Any, what: str, overrides: dict[str, str]) -> bytes:
    if not isinstance(value, str) or not value:
        raise _fail(f"'{what}' must be a non-empty base64 string", overrides)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(f"'{what}' is not valid base64", overrides) from None


def generated_symmetric_key(key_bytes: bytes) -> dict[str, Any]:
    """A default symmetric-key attestation from 64 random bytes (two 32-byte keys, base64 as IoT Central writes)."""
    primary, secondary = key_bytes[:32], key_bytes[32:64]
    return {
        "type": "symmetricKey",
        "symmetricKey": {
            "primaryKey": base64.b64encode(primary).decode("ascii"),
            "secondaryKey": base64.b64encode(secondary).decode("ascii"),
        },
    }


def x509_from_thumbprint(thumbprint: str) -> dict[str, Any]:
    """The attestation of a device that enrolled with an X.509 leaf of this SHA-1 thumbprint."""
    return {"type": "x509", "x509": {"clientCertificates": {"primary": {"info": {"sha1Thumbprint": thumbprint}}}}}


def parse_attestation(body: Any, thumbprint_of: Any, overrides: dict[str, str]) -> dict[str, Any]:
    """The stored form of an attestation request body; raise 400 :class:`CentralError` on anything invalid.

    ``thumbprint_of(text)`` turns an uploaded certificate string into its upper-case SHA-1 thumbprint, raising
    :class:`CentralError` for a string that is not a certificate.
    """
    if not isinstance(body, dict):
        raise _fail("the attestation must be a JSON object", overrides)
    kind = body.get("type")
    if kind not in KINDS:
        raise _fail(f"'type' must be one of {', '.join(KINDS)}", overrides)
    unknown = set(body) - {"type", kind}
    if unknown:
        raise _fail(f"a {kind} attestation has no member {sorted(unknown)[0]!r}", overrides)
    detail = body.get(kind)
    if not isinstance(detail, dict):
        raise _fail(f"a {kind} attestation needs a '{kind}' object", overrides)
    if kind == "symmetricKey":
        keys = {}
        for name in ("primaryKey", "secondaryKey"):
            raw = _b64(detail.get(name), f"symmetricKey.{name}", overrides)
            if not KEY_BYTES[0] <= len(raw) <= KEY_BYTES[1]:
                raise _fail(f"'symmetricKey.{name}' must encode {KEY_BYTES[0]} to {KEY_BYTES[1]} bytes", overrides)
            keys[name] = detail[name]
        return {"type": kind, "symmetricKey": keys}
    if kind == "tpm":
        _b64(detail.get("endorsementKey"), "tpm.endorsementKey", overrides)
        return {"type": kind, "tpm": {"endorsementKey": detail["endorsementKey"]}}
    certificates = detail.get("clientCertificates")
    if not isinstance(certificates, dict) or "primary" not in certificates:
        raise _fail("an x509 attestation needs 'x509.clientCertificates.primary'", overrides)
    stored: dict[str, Any] = {}
    for slot in ("primary", "secondary"):
        if slot not in certificates:
            continue
        entry = certificates[slot]
        if not isinstance(entry, dict) or not isinstance(entry.get("certificate"), str):
            raise _fail(f"'x509.clientCertificates.{slot}.certificate' must be a certificate string", overrides)
        stored[slot] = {"info": {"sha1Thumbprint": thumbprint_of(entry["certificate"])}}
    extra = set(certificates) - {"primary", "secondary"}
    if extra:
        raise _fail(f"'x509.clientCertificates' has no member {sorted(extra)[0]!r}", overrides)
    return {"type": kind, "x509": {"clientCertificates": stored}}


def credentials(attestation: dict[str, Any] | None, id_scope: str) -> dict[str, Any]:
    """``GET /devices/{id}/credentials``: the ID scope plus the attestation's material."""
    body: dict[str, Any] = {"idScope": id_scope}
    if attestation is not None:
        kind = attestation["type"]
        body[kind] = attestation[kind]
    return body

"""Enrollment groups, their certificate entries, and proof of possession — the trust half of IoT Central.

An **enrollment group** tells the application which devices may join on their own. An X.509 group holds up
to two **certificate entries**, ``primary`` and ``secondary`` (two, so that a CA can be rotated: the Sphere
tenant CA successor goes into the second slot). Devices whose certificate chain leads to a *verified* entry
of an *enabled* group are enrolled automatically by DPS.

An uploaded CA certificate starts **unverified**. To verify it, the owner proves possession of the CA's
private key (IoT Central REST API 2022-07-31):

1. ``generateVerificationCode`` — the entry gets a fresh code (48 upper-case hex characters); a new
   code replaces the previous one (``central.code_reuse``);
2. the CA owner signs a **proof certificate** whose subject CN is that code — for Sphere,
   ``azsphere ca-certificate download-proof`` has the security service do it with the tenant CA key;
3. ``verify`` with that certificate. It passes only if the CN equals the current code, the issuer name is
   the entry certificate's subject, the signature verifies under the entry certificate's public key (a
   self-made CA with a copied name fails here) and the proof is inside its validity window. Then
   the entry is ``verified`` and the code is consumed.

Alternatively the uploader may *self-attest* with ``"verified": true`` (``central.allow_self_attestation``).

Every rejected request leaves every group, entry, code and etag exactly as it was: each operation validates
everything first and mutates last.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from simulator.central.errors import CentralError
from simulator.central.etags import check_merge_patch, check_precondition, new_etag
from simulator.clock import Clock
from simulator.entropy import Entropy
from simulator.pki import (
    CertificateFormatError,
    get_common_name,
    is_signed_by,
    is_valid_at,
    issuer_der,
    issuer_string,
    load_certificate_string,
    subject_der,
    subject_string,
    thumbprint,
)
from simulator.settings import Settings

GROUP_ID_PATTERN = re.compile(r"^[a-zA-Z0-9-]*$")
GROUP_ID_MAX = 255
ENTRIES = ("primary", "secondary")
GROUP_TYPES = ("iot", "iotEdge")
ATTESTATION_TYPES = ("x509", "symmetricKey")
SYMMETRIC_KEY_BYTES = 64  # generated keys (DPS-style 512-bit keys)
SYMMETRIC_KEY_MIN, SYMMETRIC_KEY_MAX = 16, 64  # accepted decoded lengths for client-given keys


@dataclass
class CertificateEntry:
    """One ``primary``/``secondary`` slot of an X.509 group: a CA certificate, its state and its code.

    The certificate itself is kept (DPS needs it) but never rendered: IoT Central does not echo it back.
    """

    name: str
    certificate: x509.Certificate
    thumbprint: str
    verified: bool
    etag: str
    code: str | None = None
    code_issued: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """``SigningX509Certificate`` as the API returns it: no ``certificate`` member."""
        return {"verified": self.verified, "info": {"sha1Thumbprint": self.thumbprint}, "etag": self.etag}


@dataclass
class EnrollmentGroup:
    """An enrollment group: identity, switches, attestation kind, and its entries or symmetric keys."""

    id: str
    display_name: str
    enabled: bool
    type: str
    attestation_type: str
    etag: str
    entries: dict[str, CertificateEntry] = field(default_factory=dict)
    primary_key: str | None = None
    secondary_key: str | None = None

    def as_dict(self, *, id_scope: str | None, embed_entries: bool) -> dict[str, Any]:
        """``EnrollmentGroup`` as the API returns it (entries embedded, ``idScope`` per ``central.id_scope_in_ga``)."""
        attestation: dict[str, Any] = {"type": self.attestation_type}
        if self.attestation_type == "x509":
            certs = {name: self.entries[name].as_dict() for name in ENTRIES if name in self.entries}
            attestation["x509"] = {"signingCertificates": certs if embed_entries else {}}
        else:
            attestation["symmetricKey"] = {"primaryKey": self.primary_key, "secondaryKey": self.secondary_key}
        body: dict[str, Any] = {
            "id": self.id,
            "displayName": self.display_name,
            "enabled": self.enabled,
            "type": self.type,
            "attestation": attestation,
            "etag": self.etag,
        }
        if id_scope is not None:
            body["idScope"] = id_scope
        return body


@dataclass(frozen=True)
class TrustAnchor:
    """A verified certificate entry as DPS sees it: the CA a device chain may lead to, and its group."""

    group: EnrollmentGroup
    entry: CertificateEntry
    certificate: x509.Certificate
    group_enabled: bool


@dataclass(frozen=True)
class _GroupSpec:
    """A validated ``EnrollmentGroup`` request body."""

    display_name: str
    enabled: bool
    type: str
    attestation_type: str
    keys: tuple[str, str] | None
    etag: object


class EnrollmentBook:
    """The enrollment groups of one application and every rule about them.

    Two indexes keep the cost of a request independent of how many groups the application has: certificates by
    thumbprint (the one-certificate-one-group rule) and verified entries by subject (what DPS walks a device's
    chain to). Both are derived from :attr:`groups` — rebuilt after a load, kept up to date where entries change —
    and checked against it when read, so a stale row can only be skipped, never trusted.
    """

    #: the world's journal of uploaded CAs (:attr:`CentralService.ca_journal`) once someone follows it; runtime only
    __codec_transient__ = ("journal",)
    journal: list[x509.Certificate] | None = None

    def __init__(self, clock: Clock, entropy: Entropy, settings: Settings) -> None:
        self.clock = clock
        self.entropy = entropy
        self.settings = settings
        self.groups: dict[str, EnrollmentGroup] = {}

    # -- indexes ---------------------------------------------------------------------------------------

    @functools.cached_property
    def _by_thumbprint(self) -> dict[str, tuple[str, str]]:
        """thumbprint → (group ID, entry name) of every uploaded certificate."""
        groups = self.groups.values()
        return {found.thumbprint: (group.id, name) for group in groups for name, found in group.entries.items()}

    @functools.cached_property
    def _anchors_by_subject(self) -> dict[bytes, dict[tuple[str, str], None]]:
        """subject (DER) → (group ID, entry name) of every verified entry whose certificate has that subject."""
        index: dict[bytes, dict[tuple[str, str], None]] = {}
        for group in self.groups.values():
            for name in ENTRIES:
                found = group.entries.get(name)
                if found is not None and found.verified:
                    index.setdefault(subject_der(found.certificate), {})[(group.id, name)] = None
        return index

    def _indexed(self, group: EnrollmentGroup, name: str, found: CertificateEntry) -> None:
        self._by_thumbprint[found.thumbprint] = (group.id, name)
        if found.verified:
            self._anchors_by_subject.setdefault(subject_der(found.certificate), {})[(group.id, name)] = None

    def _unindexed(self, group: EnrollmentGroup, name: str, found: CertificateEntry) -> None:
        if self._by_thumbprint.get(found.thumbprint) == (group.id, name):
            del self._by_thumbprint[found.thumbprint]
        self._anchors_by_subject.get(subject_der(found.certificate), {}).pop((group.id, name), None)

    def _current(self, group_id: str, name: str) -> tuple[EnrollmentGroup, CertificateEntry] | None:
        group = self.groups.get(group_id)
        found = group.entries.get(name) if group is not None else None
        return (group, found) if group is not None and found is not None else None

    # -- helpers ---------------------------------------------------------------------------------------

    @property
    def _codes(self) -> dict[str, str]:
        return self.settings.central.error_codes

    def _error(self, situation: str, message: str) -> CentralError:
        return CentralError.of(situation, message, self._codes)

    def _etag(self, previous: str | None = None) -> str:
        return new_etag(self.entropy, self.clock.now(), previous)

    def check_group_id(self, group_id: str) -> None:
        """``enrollmentGroupId``: non-empty, at most 255 characters, ``^[a-zA-Z0-9-]*$``."""
        if not group_id:
            raise self._error("bad_request", "the enrollment group ID cannot be empty")
        if len(group_id) > GROUP_ID_MAX:
            raise self._error("bad_request", f"the enrollment group ID is longer than {GROUP_ID_MAX} characters")
        if not GROUP_ID_PATTERN.match(group_id):
            raise self._error(
                "bad_request",
                f"the enrollment group ID {group_id!r} may contain only letters, digits and '-'",
            )

    def check_entry_name(self, entry: str) -> None:
        """``entry`` is the enum ``primary`` | ``secondary`` (anything else, e.g. ``None``, is a 400)."""
        if entry not in ENTRIES:
            raise self._error("bad_request", f"the certificate entry must be 'primary' or 'secondary', not {entry!r}")

    def get_group(self, group_id: str) -> EnrollmentGroup:
        self.check_group_id(group_id)
        group = self.groups.get(group_id)
        if group is None:
            raise self._error("not_found", f"enrollment group {group_id!r} was not found")
        return group

    def _x509_group(self, group_id: str, entry: str) -> EnrollmentGroup:
        self.check_group_id(group_id)
        self.check_entry_name(entry)
        group = self.get_group(group_id)
        if group.attestation_type != "x509":
            raise self._error(
                "bad_request", f"enrollment group {group_id!r} uses symmetric-key attestation: it has no certificates"
            )
        return group

    def get_entry(self, group_id: str, entry: str) -> CertificateEntry:
        group = self._x509_group(group_id, entry)
        found = group.entries.get(entry)
        if found is None:
            raise self._error("not_found", f"enrollment group {group_id!r} has no {entry} certificate")
        return found

    def list_groups(self) -> list[EnrollmentGroup]:
        return list(self.groups.values())

    # -- request bodies ----------------------------------------------------------------------------------

    def _parse_group(self, body: Any) -> _GroupSpec:
        if not isinstance(body, dict):
            raise self._error("bad_request", "the enrollment group must be a JSON object")
        for required in ("displayName", "type", "attestation"):
            if body.get(required) is None:
                raise self._error("bad_request", f"the enrollment group needs '{required}'")
        display_name = body["displayName"]
        if not isinstance(display_name, str) or not display_name.strip():
            raise self._error("bad_request", "'displayName' must be a non-empty string")
        group_type = body["type"]
        if group_type not in GROUP_TYPES:
            raise self._error("bad_request", f"'type' must be one of {', '.join(GROUP_TYPES)}, not {group_type!r}")
        enabled = body.get("enabled", True)
        if enabled is None:
            enabled = True
        if not isinstance(enabled, bool):
            raise self._error("bad_request", "'enabled' must be true or false")
        attestation_type, keys = self._parse_attestation(body["attestation"])
        return _GroupSpec(display_name, enabled, group_type, attestation_type, keys, body.get("etag"))

    def _parse_attestation(self, attestation: Any) -> tuple[str, tuple[str, str] | None]:
        if not isinstance(attestation, dict):
            raise self._error("bad_request", "'attestation' must be a JSON object")
        kind = attestation.get("type")
        if kind not in ATTESTATION_TYPES:
            raise self._error(
                "bad_request", f"'attestation.type' must be one of {', '.join(ATTESTATION_TYPES)}, not {kind!r}"
            )
        other = "symmetricKey" if kind == "x509" else "x509"
        if attestation.get(other) is not None:
            raise self._error("bad_request", f"an attestation of type {kind!r} cannot carry '{other}'")
        if kind == "x509":
            x509_part = attestation.get("x509")
            if x509_part is not None:
                if not isinstance(x509_part, dict):
                    raise self._error("bad_request", "'attestation.x509' must be a JSON object")
                signing = x509_part.get("signingCertificates") or {}
                if not isinstance(signing, dict):
                    raise self._error("bad_request", "'signingCertificates' must be a JSON object")
                for name, value in signing.items():
                    if isinstance(value, dict) and value.get("certificate") is not None:
                        raise self._error(
                            "bad_request",
                            f"certificates are set through /certificates/{name}, not inside the enrollment group",
                        )
            return kind, None
        symmetric = attestation.get("symmetricKey")
        if symmetric is None:
            return kind, None
        if not isinstance(symmetric, dict):
            raise self._error("bad_request", "'attestation.symmetricKey' must be a JSON object")
        keys = tuple(self._parse_key(symmetric.get(name), name) for name in ("primaryKey", "secondaryKey"))
        return kind, (keys[0], keys[1])

    def _parse_key(self, value: Any, name: str) -> str:
        if not isinstance(value, str):
            raise self._error("bad_request", f"'symmetricKey.{name}' must be a base64 string")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise self._error("bad_request", f"'symmetricKey.{name}' is not valid base64") from None
        if not SYMMETRIC_KEY_MIN <= len(raw) <= SYMMETRIC_KEY_MAX:
            raise self._error(
                "bad_request",
                f"'symmetricKey.{name}' must decode to {SYMMETRIC_KEY_MIN}..{SYMMETRIC_KEY_MAX} bytes",
            )
        return value

    def _new_key(self) -> str:
        return base64.b64encode(self.entropy.bytes(SYMMETRIC_KEY_BYTES)).decode("ascii")

    # -- groups --------------------------------------------------------------------------------------------

    def put_group(self, group_id: str, body: Any, *, if_match: str | None = None) -> EnrollmentGroup:
        """Create a group, or replace an existing one: name, switch and type change, entries stay."""
        self.check_group_id(group_id)
        spec = self._parse_group(body)
        existing = self.groups.get(group_id)
        check_precondition(
            existing.etag if existing else None,
            if_match=if_match,
            body_etag=spec.etag,
            body_etag_counts=self.settings.central.body_etag_is_precondition,
            what=f"enrollment group {group_id!r}",
            overrides=self._codes,
        )
        if existing is not None and existing.attestation_type != spec.attestation_type:
            raise self._error(
                "bad_request",
                f"enrollment group {group_id!r} uses {existing.attestation_type!r} attestation; "
                f"it cannot be changed to {spec.attestation_type!r}",
            )
        if existing is None:
            keys = spec.keys
            if spec.attestation_type == "symmetricKey" and keys is None:
                keys = (self._new_key(), self._new_key())
            group = EnrollmentGroup(
                id=group_id,
                display_name=spec.display_name,
                enabled=spec.enabled,
                type=spec.type,
                attestation_type=spec.attestation_type,
                etag=self._etag(),
                primary_key=keys[0] if keys else None,
                secondary_key=keys[1] if keys else None,
            )
            self.groups[group_id] = group
            return group
        existing.display_name, existing.enabled, existing.type = spec.display_name, spec.enabled, spec.type
        if spec.keys is not None:
            existing.primary_key, existing.secondary_key = spec.keys
        existing.etag = self._etag(existing.etag)
        return existing

    def patch_group(self, group_id: str, patch: Any, *, if_match: str | None = None) -> EnrollmentGroup:
        """Merge-patch ``displayName``, ``enabled`` and ``type``; read-only members are ignored."""
        group = self.get_group(group_id)
        check_merge_patch(
            group.etag,
            patch,
            if_match=if_match,
            body_etag_counts=self.settings.central.body_etag_is_precondition,
            what=f"enrollment group {group_id!r}",
            overrides=self._codes,
        )
        display_name, enabled, group_type = group.display_name, group.enabled, group.type
        if "displayName" in patch:
            value = patch["displayName"]
            if not isinstance(value, str) or not value.strip():
                raise self._error("bad_request", "'displayName' must be a non-empty string")
            display_name = value
        if "enabled" in patch:
            value = patch["enabled"]
            if value is None:
                value = True  # RFC 7396: null removes the member, which falls back to its default
            if not isinstance(value, bool):
                raise self._error("bad_request", "'enabled' must be true or false")
            enabled = value
        if "type" in patch:
            value = patch["type"]
            if value not in GROUP_TYPES:
                raise self._error("bad_request", f"'type' must be one of {', '.join(GROUP_TYPES)}, not {value!r}")
            group_type = value
        if "attestation" in patch:
            self._check_attestation_unchanged(group, patch["attestation"])
        group.display_name, group.enabled, group.type = display_name, enabled, group_type
        group.etag = self._etag(group.etag)
        return group

    def _check_attestation_unchanged(self, group: EnrollmentGroup, attestation: Any) -> None:
        current = group.as_dict(id_scope=None, embed_entries=True)["attestation"]
        if not isinstance(attestation, dict) or any(current.get(k) != v for k, v in attestation.items()):
            raise self._error(
                "bad_request",
                "the attestation of an enrollment group cannot be changed by PATCH; "
                "use the certificate endpoints, or delete and re-create the group",
            )

    def delete_group(self, group_id: str, *, if_match: str | None = None) -> None:
        """Remove a group; its certificates are released (``central.unique_certificates``)."""
        group = self.get_group(group_id)
        check_precondition(
            group.etag,
            if_match=if_match,
            body_etag=None,
            body_etag_counts=False,
            what=f"enrollment group {group_id!r}",
            overrides=self._codes,
        )
        for name, found in group.entries.items():
            self._unindexed(group, name, found)
        del self.groups[group_id]

    # -- certificate entries ---------------------------------------------------------------------------

    def set_entry(self, group_id: str, entry: str, body: Any, *, if_match: str | None = None) -> CertificateEntry:
        """Upload (or replace) the CA certificate of an entry; a replaced entry is unverified, its code gone."""
        group = self._x509_group(group_id, entry)
        if not isinstance(body, dict):
            raise self._error("bad_request", "the certificate entry must be a JSON object")
        text = body.get("certificate")
        if text is None:
            raise self._error("bad_request", "the certificate entry needs 'certificate'")
        if not isinstance(text, str):
            raise self._error("bad_request", "'certificate' must be a string")
        verified = body.get("verified", False)
        if verified is None:
            verified = False
        if not isinstance(verified, bool):
            raise self._error("bad_request", "'verified' must be true or false")
        existing = group.entries.get(entry)
        check_precondition(
            existing.etag if existing else None,
            if_match=if_match,
            body_etag=body.get("etag"),
            body_etag_counts=self.settings.central.body_etag_is_precondition,
            what=f"{entry} certificate of enrollment group {group_id!r}",
            overrides=self._codes,
        )
        certificate = self._load(text)
        if verified and not self.settings.central.allow_self_attestation:
            raise self._error(
                "bad_request", "self-attestation ('verified': true) is disabled; verify with a proof certificate"
            )
        print_ = thumbprint(certificate)
        self._check_unique(group, entry, print_)
        replacement = CertificateEntry(
            name=entry,
            certificate=certificate,
            thumbprint=print_,
            verified=verified,
            etag=self._etag(existing.etag if existing else None),
        )
        if existing is not None:
            self._unindexed(group, entry, existing)
        group.entries[entry] = replacement
        self._indexed(group, entry, replacement)
        if self.journal is not None:
            self.journal.append(certificate)
        group.etag = self._etag(group.etag)
        return replacement

    def _load(self, text: str) -> x509.Certificate:
        try:
            return load_certificate_string(text)
        except CertificateFormatError as exc:
            raise self._error(
                "invalid_certificate",
                f"the certificate must be one X.509 certificate as base64(PEM), base64(DER) or PEM text: {exc}",
            ) from None

    def _check_unique(self, group: EnrollmentGroup, entry: str, print_: str) -> None:
        """A certificate may sit in one entry of one group of the application (looked up by thumbprint)."""
        if not self.settings.central.unique_certificates:
            return
        holder = self._by_thumbprint.get(print_)
        current = self._current(*holder) if holder is not None else None
        if current is None or current[1].thumbprint != print_:
            return
        other, name = current[0], holder[1]  # type: ignore[index]
        if other is group and name == entry:
            return
        where = "the other entry of this group" if other is group else f"enrollment group {other.id!r}"
        raise self._error(
            "conflict",
            f"the certificate {print_} is already used by {where} ({name}); "
            "each enrollment group needs a unique X.509 certificate",
        )

    def remove_entry(self, group_id: str, entry: str, *, if_match: str | None = None) -> None:
        group = self._x509_group(group_id, entry)
        existing = self.get_entry(group_id, entry)
        check_precondition(
            existing.etag,
            if_match=if_match,
            body_etag=None,
            body_etag_counts=False,
            what=f"{entry} certificate of enrollment group {group_id!r}",
            overrides=self._codes,
        )
        self._unindexed(group, entry, existing)
        del group.entries[entry]
        group.etag = self._etag(group.etag)

    # -- proof of possession ------------------------------------------------------------------------------

    def _current_code(self, found: CertificateEntry) -> str | None:
        """The entry's code if it has one that has not expired (``central.code_ttl_s``)."""
        if found.code is None:
            return None
        ttl = self.settings.central.code_ttl_s
        expired = (
            ttl is not None
            and found.code_issued is not None
            and self.clock.now() > found.code_issued + timedelta(seconds=ttl)
        )
        if expired:
            return None
        return found.code

    def generate_code(self, group_id: str, entry: str) -> str:
        """Issue a verification code for an entry (``central.code_bytes``); it replaces any previous code
        (``central.code_reuse``)."""
        found = self.get_entry(group_id, entry)
        current = self._current_code(found)
        if self.settings.central.code_reuse and current is not None:
            return current
        central = self.settings.central
        code = self.entropy.hex(central.code_bytes, upper=central.code_case == "upper")
        while code == found.code:  # a new code must differ from the one it invalidates
            code = self.entropy.hex(central.code_bytes, upper=central.code_case == "upper")
        group = self.groups[group_id]
        found.code, found.code_issued = code, self.clock.now()
        found.etag = self._etag(found.etag)
        group.etag = self._etag(group.etag)
        return code

    def verify(self, group_id: str, entry: str, body: Any) -> CertificateEntry:
        """Check a proof-of-possession certificate; on success the entry is verified and the code consumed."""
        found = self.get_entry(group_id, entry)
        if not isinstance(body, dict):
            raise self._error("bad_request", "the verification body must be a JSON object")
        text = body.get("certificate")
        if text is None:
            raise self._error("bad_request", "the verification body needs 'certificate'")
        if not isinstance(text, str):
            raise self._error("bad_request", "'certificate' must be a string")
        code = self._current_code(found)
        if code is None:
            reason = "has expired" if found.code is not None else "does not exist (generate one first)"
            raise self._error(
                "code_not_found", f"the verification code of the {entry} certificate of {group_id!r} {reason}"
            )
        proof = self._load(text)
        self._check_proof(found, proof, code)
        group = self.groups[group_id]
        found.verified, found.code, found.code_issued = True, None, None
        self._indexed(group, entry, found)
        found.etag = self._etag(found.etag)
        group.etag = self._etag(group.etag)
        return found

    def _check_proof(self, found: CertificateEntry, proof: x509.Certificate, code: str) -> None:
        """The checks of proof of possession: CN = code, issuer name, signature, validity
        (``central.proof_check_validity``)."""
        common_name = get_common_name(proof)
        if common_name != code:
            raise self._error(
                "invalid_proof",
                f"the proof certificate's subject CN {common_name!r} is not the current verification code",
            )
        ca = found.certificate
        if proof.issuer != ca.subject:
            raise self._error(
                "invalid_proof",
                f"the proof certificate was issued by {issuer_string(proof)!r}, "
                f"not by the uploaded certificate {subject_string(ca)!r}",
            )
        if not is_signed_by(proof, ca.public_key()):
            raise self._error(
                "invalid_proof",
                "the proof certificate's signature does not verify under the uploaded certificate's public key",
            )
        central = self.settings.central
        if central.proof_check_validity:
            now = self.clock.now()
            if not is_valid_at(proof, now, skew=timedelta(seconds=central.proof_clock_skew_s)):
                raise self._error(
                    "invalid_proof",
                    f"the proof certificate is valid from {proof.not_valid_before_utc.isoformat()} "
                    f"to {proof.not_valid_after_utc.isoformat()}, not at {now.isoformat()}",
                )

    # -- what DPS reads ----------------------------------------------------------------------------------

    def trust_anchors(self) -> list[TrustAnchor]:
        """Every verified entry of every X.509 group (enabled or not: DPS refuses disabled matches)."""
        return [
            TrustAnchor(group, found, found.certificate, group.enabled)
            for group in self.groups.values()
            for name in ENTRIES
            if (found := group.entries.get(name)) is not None and found.verified
        ]

    def trust_anchors_for(self, chain: list[x509.Certificate]) -> list[TrustAnchor]:
        """The verified entries a device's ``chain`` could reach: those whose certificate's subject is the issuer of a
        certificate in the chain (no other anchor can issue one of them). Same order as :meth:`trust_anchors`."""
        keys: dict[tuple[str, str], None] = {}
        for cert in chain:
            keys.update(self._anchors_by_subject.get(issuer_der(cert), {}))
        anchors = []
        for group_id, name in keys:
            current = self._current(group_id, name)
            if current is not None and current[1].verified:
                group, found = current
                anchors.append(TrustAnchor(group, found, found.certificate, group.enabled))
        if len(anchors) > 1:  # rare (one subject in two groups): keep the book's order, as trust_anchors() gives it
            order = {group_id: index for index, group_id in enumerate(self.groups)}
            anchors.sort(key=lambda a: (order[a.group.id], ENTRIES.index(a.entry.name)))
        return anchors

    def known_cas(self) -> list[x509.Certificate]:
        """Every uploaded certificate, verified or not."""
        return [found.certificate for group in self.groups.values() for found in group.entries.values()]

"""Issue many leaf certificates from one CA by filling in a pre-encoded template.

A fleet rollout asks one tenant CA generation for 10⁵ device certificates that differ only in five fields:
serial number, validity dates, ``CN``, public key, and the subject key identifier derived from that key.
Everything else in the to-be-signed part (``TBSCertificate``, RFC 5280 §4.1) is the same bytes every time:
version, signature algorithm, issuer name, basic constraints, key usage, extended key usage and the authority
key identifier.

``cryptography``'s :class:`~cryptography.x509.CertificateBuilder` re-validates and re-encodes all of it for
every certificate, which costs about three ECDSA signatures' worth of time per leaf. No well-kept library offers
"sign this TBS template with these fields replaced", so this module writes the few DER elements that change
(an INTEGER, two times, a one-attribute Name, three extensions around them) and signs the result with the CA's
key. It is deliberately narrow: only the end-entity profile of :mod:`simulator.pki.profiles` (subject ``CN``
only, the same extensions in the same order). ``tests/test_pki_leaf_template.py`` pins it **byte for byte** to
the ``CertificateBuilder`` path: with deterministic ECDSA (RFC 6979) the same inputs give the same signature, so
the two paths must produce identical DER — any drift fails the test, not a customer.

The DER elements themselves are written by :mod:`simulator.pki.der`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from simulator.pki import der
from simulator.pki.signing import hash_for, key_usage


class TemplateIssuer(Protocol):
    """What a template needs of its issuer (a :class:`simulator.pki.profiles.Issuer` is one)."""

    certificate: x509.Certificate
    private_key: Any

    @property
    def authority_key_identifier(self) -> x509.AuthorityKeyIdentifier: ...


def _extension(ext: x509.ExtensionType, *, critical: bool) -> bytes:
    content = der.oid(ext.oid.dotted_string)
    if critical:
        content += der.BOOLEAN_TRUE
    return der.tlv(der.SEQUENCE, content + der.tlv(der.OCTET_STRING, ext.public_bytes()))


_CN_PREFIX = der.oid(NameOID.COMMON_NAME.dotted_string)
_SKI_PREFIX = der.oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER.dotted_string)


class LeafTemplate:
    """End-entity certificates under one issuer: only serial, dates, ``CN`` and key change per certificate.

    ``issuer`` is a :class:`~simulator.pki.profiles.Issuer` (any :class:`TemplateIssuer`). The extensions are those of
    :func:`simulator.pki.profiles._build` for an end entity: BasicConstraints(CA=false, critical),
    SubjectKeyIdentifier, KeyUsage(digitalSignature, critical), ExtendedKeyUsage(clientAuth) when
    ``client_auth``, and the issuer's AuthorityKeyIdentifier.
    """

    def __init__(self, issuer: TemplateIssuer, *, client_auth: bool) -> None:
        key = issuer.private_key
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError("the leaf template signs with EC issuer keys only")
        self._key = key
        self._hash = hash_for(key)
        self._algorithm = ec.ECDSA(self._hash, deterministic_signing=True)
        self.not_valid_after_cap = issuer.certificate.not_valid_after_utc
        self._head = b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT version v3
        self._signature_algorithm = _signature_algorithm_der(self._hash)
        self._issuer_name = issuer.certificate.subject.public_bytes()
        self._basic_constraints = _extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        tail = _extension(key_usage(digital_signature=True), critical=True)
        if client_auth:
            tail += _extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        tail += _extension(issuer.authority_key_identifier, critical=False)
        self._extensions_tail = tail

    def sign(
        self,
        *,
        common_name: str,
        public_key: ec.EllipticCurvePublicKey,
        not_before: datetime,
        not_after: datetime,
        serial: int,
    ) -> x509.Certificate:
        """One certificate ``CN=<common_name>`` for ``public_key``; ``not_after`` is capped at the issuer's expiry."""
        if not common_name:
            raise ValueError("a common name cannot be empty")
        not_after = min(not_after, self.not_valid_after_cap)
        if not_after < not_before:
            raise ValueError("The not valid after date must be after the not valid before date.")
        spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        # SPKI ends with BIT STRING { 0x00, uncompressed point }; the SKI is the SHA-1 of that point (RFC 5280
        # §4.2.1.2 method 1, what cryptography's SubjectKeyIdentifier.from_public_key computes)
        point = spki[-(1 + 2 * ((public_key.curve.key_size + 7) // 8)) :]
        key_id = hashlib.sha1(point, usedforsecurity=False).digest()
        attribute = der.tlv(der.SEQUENCE, _CN_PREFIX + der.tlv(der.UTF8_STRING, common_name.encode("utf-8")))
        subject = der.tlv(der.SEQUENCE, der.tlv(der.SET, attribute))
        ski = der.tlv(der.SEQUENCE, _SKI_PREFIX + der.tlv(der.OCTET_STRING, der.tlv(der.OCTET_STRING, key_id)))
        extensions = der.tlv(0xA3, der.tlv(der.SEQUENCE, self._basic_constraints + ski + self._extensions_tail))
        tbs = der.tlv(
            der.SEQUENCE,
            self._head
            + der.serial_integer(serial)
            + self._signature_algorithm
            + self._issuer_name
            + der.tlv(der.SEQUENCE, der.time(not_before) + der.time(not_after))
            + subject
            + spki
            + extensions,
        )
        signature = self._key.sign(tbs, self._algorithm)
        encoded = der.tlv(der.SEQUENCE, tbs + self._signature_algorithm + der.tlv(der.BIT_STRING, b"\x00" + signature))
        return x509.load_der_x509_certificate(encoded)


def _signature_algorithm_der(algorithm: hashes.HashAlgorithm) -> bytes:
    """``AlgorithmIdentifier`` for ecdsa-with-SHA256/384: ``SEQUENCE { OID }`` (RFC 5758 §3.2, no parameters)."""
    oid = "1.2.840.10045.4.3.2" if isinstance(algorithm, hashes.SHA256) else "1.2.840.10045.4.3.3"
    return der.tlv(der.SEQUENCE, der.oid(oid))

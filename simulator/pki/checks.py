"""The cryptographic checks the services apply: signatures, validity windows, chains, thumbprints.

IoT Central's verify and DPS's registration both come down to these questions:

* was this certificate signed by *that* key? (:func:`is_signed_by`) — a forged CA with the same subject
  name fails here, because the signature does not verify under the real CA's public key;
* is now inside its validity window? (:func:`is_valid_at`);
* does a presented chain lead, signature by signature, to a trusted certificate? (:func:`chain_to_anchor`).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from simulator.pki.der import tbs_names
from simulator.pki.encoding import to_der


def thumbprint(cert: x509.Certificate) -> str:
    """SHA-1 over the DER encoding, 40 uppercase hex characters."""
    return hashlib.sha1(to_der(cert), usedforsecurity=False).hexdigest().upper()


def serial_hex(cert: x509.Certificate) -> str:
    """The serial number as uppercase hex without leading zeros."""
    return format(cert.serial_number, "X")


def is_signed_by(cert: x509.Certificate, issuer_public_key) -> bool:
    """True when ``cert``'s signature verifies under ``issuer_public_key`` (EC or RSA)."""
    algorithm = cert.signature_hash_algorithm
    if algorithm is None:
        return False
    try:
        if isinstance(issuer_public_key, ec.EllipticCurvePublicKey):
            issuer_public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))
        elif isinstance(issuer_public_key, rsa.RSAPublicKey):
            issuer_public_key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@functools.lru_cache(maxsize=1024)
def is_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Issuer name matches the issuer's subject **and** the signature verifies under its key.

    The chain walk of every DPS registration goes through here, so it avoids what it can: the names are compared
    as the DER inside the two certificates (:func:`~simulator.pki.der.tbs_names`, no Python ``Name`` objects) and
    an EC signature is checked with the issuer's public key object, which ``cryptography`` parses once per
    certificate (``verify_directly_issued_by`` decodes the issuer's key again on every call: a third of the time of
    a P-256 check). Other key types go through ``verify_directly_issued_by`` (RSA PKCS#1 v1.5 and PSS).

    The answer depends only on the two certificates' bytes (certificates hash and compare by their DER), so it is
    remembered: a device that connects over MQTT is checked at CONNECT and again at its registration. The cache is
    small on purpose: it holds the certificates (and the names ``cryptography`` parses on them), and those two
    checks come moments apart.
    """
    try:
        tbs = cert.tbs_certificate_bytes
        if tbs_names(tbs)[0] != _subject_der(issuer):
            return False
        public_key = issuer.public_key()
        algorithm = cert.signature_hash_algorithm
        if isinstance(public_key, ec.EllipticCurvePublicKey) and algorithm is not None:
            public_key.verify(cert.signature, tbs, ec.ECDSA(algorithm))
        else:
            cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


@functools.lru_cache(maxsize=256)
def _subject_der(cert: x509.Certificate) -> bytes:
    """A CA certificate's encoded subject name (CAs are few and issue many: computed once each)."""
    return tbs_names(cert.tbs_certificate_bytes)[1]


def subject_der(cert: x509.Certificate) -> bytes:
    """The certificate's subject name as encoded inside it (a dictionary key: equal names, equal bytes)."""
    return tbs_names(cert.tbs_certificate_bytes)[1]


def issuer_der(cert: x509.Certificate) -> bytes:
    """The certificate's issuer name as encoded inside it (equals :func:`subject_der` of its issuer)."""
    return tbs_names(cert.tbs_certificate_bytes)[0]


def is_valid_at(cert: x509.Certificate, now: datetime, *, skew: timedelta = timedelta(0)) -> bool:
    """notBefore − skew ≤ now ≤ notAfter + skew."""
    return cert.not_valid_before_utc - skew <= now <= cert.not_valid_after_utc + skew


#: links ``(certificate, issuer)`` whose signature a TLS layer has already verified (:func:`proven_links`)
ProvenLinks = Collection[tuple[x509.Certificate, x509.Certificate]]


def proven_links(verified_chain: Sequence[x509.Certificate]) -> frozenset[tuple[x509.Certificate, x509.Certificate]]:
    """The links of a chain OpenSSL verified in a TLS handshake (leaf first, up to the trust anchor it found):
    each certificate with the one after it, whose signature OpenSSL checked under that one's key.

    Only a chain taken from a *completed* handshake qualifies (``SSLObject.get_verified_chain``), never one a
    client sent as data. The links hold certificates, which compare by their DER: a forged certificate (the right
    issuer name, a signature by another key) is a different certificate and proves nothing here.
    """
    return frozenset(itertools.pairwise(verified_chain))


def issued_by(cert: x509.Certificate, issuer: x509.Certificate, proven: ProvenLinks = ()) -> bool:
    """:func:`is_issued_by`, except that the signature of a link in ``proven`` is not checked a second time.

    The names are still compared as their DER (:func:`is_issued_by`'s rule, stricter than OpenSSL's canonical
    comparison), so a link TLS proved answers exactly as the full check would.
    """
    if proven and (cert, issuer) in proven:
        try:
            return tbs_names(cert.tbs_certificate_bytes)[0] == _subject_der(issuer)
        except ValueError:
            return False
    return is_issued_by(cert, issuer)


def chain_to_anchor(
    chain: list[x509.Certificate],
    anchors: list[x509.Certificate],
    now: datetime,
    *,
    proven: ProvenLinks = (),
) -> x509.Certificate | None:
    """Walk ``chain`` (leaf first) and return the first anchor it reaches, or None.

    Every certificate on the way must be valid at ``now`` and issued (name + signature) by the next one.
    The walk stops at the first certificate issued by an anchor — the anchor itself may or may not be
    included in ``chain`` (``dps.present_chain``). Anchors are matched by DER equality or by issuance.

    ``proven`` holds links whose signatures the TLS handshake already verified (:func:`proven_links` of
    OpenSSL's verified chain): their names are compared, their signatures not checked again. Every other link —
    all of them on a path without TLS — is verified here.
    """
    return walk_to_anchor(chain, anchors, now, proven=proven)[0]


def walk_to_anchor(
    chain: list[x509.Certificate],
    anchors: list[x509.Certificate],
    now: datetime,
    *,
    proven: ProvenLinks = (),
) -> tuple[x509.Certificate | None, bool]:
    """:func:`chain_to_anchor`, and whether the anchor reached issued the leaf itself (name and signature).

    The walk tries the anchors on the leaf first, so it reaches an anchor at the leaf exactly when that anchor
    issued it: DPS then knows the leaf's issuer without a second check.
    """
    if not chain:
        return None, False
    anchor_ders: dict[bytes, x509.Certificate] | None = None  # built only if the walk gets past the leaf
    for index, cert in enumerate(chain):
        if not is_valid_at(cert, now):
            return None, False
        if index > 0:
            if anchor_ders is None:
                anchor_ders = {to_der(a): a for a in anchors}
            der = to_der(cert)
            if der in anchor_ders:
                return anchor_ders[der], False
        for anchor in anchors:
            if issued_by(cert, anchor, proven):
                return (anchor, index == 0) if is_valid_at(anchor, now) else (None, False)
        if index + 1 < len(chain) and not issued_by(cert, chain[index + 1], proven):
            return None, False
    return None, False
    return None

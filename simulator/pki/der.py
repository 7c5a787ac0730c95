"""The few DER elements the PKI reads and writes by hand (everything else goes through ``cryptography``).

DER in one paragraph: every element is ``tag, length, content``. Lengths under 128 are one byte; longer ones are
``0x80 | n`` followed by ``n`` big-endian length bytes. A SEQUENCE (0x30) or SET (0x31) just concatenates its
elements. An INTEGER (0x02) is minimal two's complement, so a positive number whose top bit is set gets a
leading zero byte. An OBJECT IDENTIFIER (0x06) packs its first two arcs into one byte and the rest base-128.
Times before 2050 are UTCTime (0x17, ``YYMMDDHHMMSSZ``), later ones GeneralizedTime (0x18, ``YYYYMMDDHHMMSSZ``).

Two hot paths need this: issuing a fleet's leaf certificates from a template (:mod:`simulator.pki.leaf_template`)
and comparing a certificate's issuer name with its CA's subject without building Python ``Name`` objects
(:func:`tbs_names`, used by :func:`simulator.pki.checks.is_issued_by`).
"""

from __future__ import annotations

from datetime import UTC, datetime

SEQUENCE, SET, INTEGER, BIT_STRING, OCTET_STRING, OID, UTF8_STRING = 0x30, 0x31, 0x02, 0x03, 0x04, 0x06, 0x0C
UTC_TIME, GENERALIZED_TIME = 0x17, 0x18
BOOLEAN_TRUE = b"\x01\x01\xff"


class DerError(ValueError):
    """Bytes that are not the DER element they were expected to be."""


def length(n: int) -> bytes:
    """The DER length octets for ``n`` content bytes."""
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    """One element: tag, length, content."""
    return bytes((tag,)) + length(len(content)) + content


def serial_integer(value: int) -> bytes:
    """A certificate serial number as an INTEGER; RFC 5280 §4.1.2.2 bounds it as ``CertificateBuilder`` does."""
    if value <= 0 or value.bit_length() >= 160:
        raise ValueError("a certificate serial number is positive and at most 159 bits")
    return tlv(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def time(moment: datetime) -> bytes:
    """A certificate validity time (seconds precision, UTC): UTCTime until 2049, GeneralizedTime from 2050."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    if 1950 <= moment.year < 2050:
        return tlv(UTC_TIME, moment.strftime("%y%m%d%H%M%SZ").encode())
    return tlv(GENERALIZED_TIME, f"{moment.year:04d}{moment:%m%d%H%M%S}Z".encode())


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER element from its dotted form, e.g. ``"2.5.4.3"`` (commonName)."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray((40 * arcs[0] + arcs[1],))
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(OID, bytes(out))


def element_end(data: bytes, offset: int) -> tuple[int, int]:
    """Where the content of the element at ``offset`` starts and where the element ends."""
    try:
        first = data[offset + 1]
        start = offset + 2
        if first & 0x80:
            count = first & 0x7F
            size = int.from_bytes(data[start : start + count], "big")
            start += count
        else:
            size = first
    except IndexError:
        raise DerError("truncated DER element") from None
    end = start + size
    if end > len(data):
        raise DerError("truncated DER element")
    return start, end


def tbs_names(tbs: bytes) -> tuple[bytes, bytes]:
    """The encoded issuer and subject names of a ``TBSCertificate`` (RFC 5280 §4.1): ``(issuer, subject)``."""
    if not tbs or tbs[0] != SEQUENCE:
        raise DerError("a TBSCertificate is a SEQUENCE")
    offset, _ = element_end(tbs, 0)
    if tbs[offset] == 0xA0:  # [0] EXPLICIT version, absent for v1
        offset = element_end(tbs, offset)[1]
    offset = element_end(tbs, offset)[1]  # serialNumber
    offset = element_end(tbs, offset)[1]  # signature AlgorithmIdentifier
    issuer_end = element_end(tbs, offset)[1]
    issuer = tbs[offset:issuer_end]
    subject_start = element_end(tbs, issuer_end)[1]  # past validity
    subject = tbs[subject_start : element_end(tbs, subject_start)[1]]
    return issuer, subject

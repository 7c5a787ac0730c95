"""Reading and writing certificates in the encodings the workflow uses.

The same X.509 certificate travels in several wrappers:

* **DER** — the raw ASN.1 bytes. ``azsphere ca-certificate download`` writes ``.cer`` files in DER.
* **PEM** — DER in base64 between ``-----BEGIN CERTIFICATE-----`` lines; what devices keep on disk.
* **PKCS#7 (.p7b)** — a certificates-only SignedData holding a chain; ``download-chain`` writes it as DER.
* **base64 strings** — the Sphere APIs return base64(DER); IoT Central accepts base64(PEM), base64(DER) or
  raw PEM text (IoT Central REST API 2022-07-31).

Every reader here raises :class:`CertificateFormatError` (a :class:`PKIError`) for malformed input — never
a bare ``ValueError`` from deep inside a parser — so services can turn it into their own error shape.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from simulator.pki.names import long_cn_quiet


class PKIError(Exception):
    """Base class of every error raised by :mod:`simulator.pki`."""


class CertificateFormatError(PKIError, ValueError):
    """The bytes or text given are not what was expected (not a certificate, truncated, several, …)."""


_PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.S)
_ANY_PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
_B64_RE = re.compile(rb"^[A-Za-z0-9+/=\s]+$")


def _quiet() -> contextlib.AbstractContextManager:
    """An entered :func:`~simulator.pki.names.long_cn_quiet` block (the caller exits it).

    cryptography warns when it parses a name attribute longer than RFC 5280 allows. Sphere device certificates
    carry a 128-character CN, so every parse here silences exactly that warning."""
    ctx = long_cn_quiet()
    ctx.__enter__()
    return ctx


def load_der(data: bytes) -> x509.Certificate:
    """Parse exactly one DER certificate (trailing bytes are an error)."""
    if not data:
        raise CertificateFormatError("empty certificate")
    ctx = _quiet()
    try:
        cert = x509.load_der_x509_certificate(bytes(data))
        # Touch the fields services read, so lazily parsed garbage fails here and not in a route.
        cert.subject  # noqa: B018
        cert.issuer  # noqa: B018
        cert.public_key()
        _ = cert.signature_hash_algorithm
    except (ValueError, TypeError) as exc:
        raise CertificateFormatError(f"not a DER X.509 certificate: {exc}") from None
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm and friends for odd keys
        raise CertificateFormatError(f"unusable X.509 certificate: {exc}") from None
    finally:
        ctx.__exit__(None, None, None)
    if cert.public_bytes(Encoding.DER) != bytes(data):
        raise CertificateFormatError("trailing bytes after the DER certificate")
    return cert


def load_pem_chain(data: bytes | str) -> list[x509.Certificate]:
    """Parse every ``CERTIFICATE`` block in PEM text, in order; other PEM blocks (keys) are an error."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    labels = {m.group(1).decode() for m in _ANY_PEM_RE.finditer(raw)}
    if labels - {"CERTIFICATE"}:
        raise CertificateFormatError(f"PEM holds something other than certificates: {sorted(labels)}")
    blocks = _PEM_RE.findall(raw)
    if not blocks:
        raise CertificateFormatError("no PEM CERTIFICATE block found")
    certs = []
    for block in blocks:
        try:
            der = base64.b64decode(re.sub(rb"\s+", b"", block), validate=True)
        except binascii.Error:
            raise CertificateFormatError("a PEM block is not valid base64") from None
        certs.append(load_der(der))
    return certs


def load_pem(data: bytes | str) -> x509.Certificate:
    """Parse PEM text holding exactly one certificate."""
    certs = load_pem_chain(data)
    if len(certs) != 1:
        raise CertificateFormatError(f"expected one certificate, found {len(certs)}")
    return certs[0]


def load_certificate(data: bytes | str) -> x509.Certificate:
    """Parse one certificate from DER bytes or PEM text (what a ``.cer`` file may hold)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if raw.lstrip().startswith(b"-----BEGIN"):
        return load_pem(raw)
    return load_der(raw)


def load_certificate_string(text: str) -> x509.Certificate:
    """Parse the ``certificate`` string of an IoT Central request.

    Accepted: raw PEM text, base64 of PEM text, base64 of DER. Whitespace inside base64 is ignored. The
    decoded content must hold exactly one certificate.
    """
    if not isinstance(text, str):
        raise CertificateFormatError("the certificate must be a string")
    raw = text.strip().encode("utf-8", "surrogatepass")
    if not raw:
        raise CertificateFormatError("the certificate string is empty")
    if raw.startswith(b"-----BEGIN"):
        return load_pem(raw)
    if not _B64_RE.match(raw):
        raise CertificateFormatError("the certificate string is neither PEM nor base64")
    try:
        decoded = base64.b64decode(re.sub(rb"\s+", b"", raw), validate=True)
    except binascii.Error:
        raise CertificateFormatError("the certificate string is not valid base64") from None
    if decoded.lstrip().startswith(b"-----BEGIN"):
        return load_pem(decoded)
    return load_der(decoded)


def b64_to_certificate(text: str) -> x509.Certificate:
    """Parse base64(DER) — the body of the Sphere ``/cert`` and ``/verification`` endpoints."""
    try:
        raw = base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateFormatError("not valid base64") from None
    return load_der(raw)


def to_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.PEM)


def chain_to_pem(chain: list[x509.Certificate]) -> bytes:
    """Concatenate PEM blocks, leaf first — the form a device passes to ``load_cert_chain``."""
    return b"".join(to_pem(c) for c in chain)


def to_b64(cert: x509.Certificate) -> str:
    """base64 of the DER encoding: the Sphere APIs' ``Certificate`` / ``certificate`` string."""
    return base64.b64encode(to_der(cert)).decode("ascii")


def chain_to_p7b(chain: list[x509.Certificate]) -> bytes:
    """A DER PKCS#7 certificates-only bundle (a ``.p7b`` file)."""
    if not chain:
        raise CertificateFormatError("a PKCS#7 bundle needs at least one certificate")
    return pkcs7.serialize_certificates(list(chain), Encoding.DER)


def p7b_to_chain(data: bytes) -> list[x509.Certificate]:
    """Read the certificates from a DER (or PEM) PKCS#7 bundle, in stored order."""
    raw = bytes(data)
    if not raw:
        raise CertificateFormatError("empty PKCS#7 bundle")
    ctx = _quiet()
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            certs = pkcs7.load_pem_pkcs7_certificates(raw)
        else:
            certs = pkcs7.load_der_pkcs7_certificates(raw)
    except (ValueError, TypeError) as exc:
        raise CertificateFormatError(f"not a PKCS#7 certificate bundle: {exc}") from None
    except Exception as exc:
        raise CertificateFormatError(f"unusable PKCS#7 bundle: {exc}") from None
    finally:
        ctx.__exit__(None, None, None)
    if not certs:
        raise CertificateFormatError("the PKCS#7 bundle holds no certificates")
    return [load_der(c.public_bytes(Encoding.DER)) for c in certs]


def b64_to_p7b_chain(text: str) -> list[x509.Certificate]:
    """Parse base64(PKCS#7) — the body of the Sphere ``/certchain`` endpoint."""
    try:
        raw = base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateFormatError("not valid base64") from None
    return p7b_to_chain(raw)

"""Helpers shared by the recording tests: certificates that carry a tenant ID, and a leak finder."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID


def tenant_ca(tenant_id: str, organization: str = "Microsoft Corporation") -> x509.Certificate:
    """A self-signed stand-in for a tenant CA: ``CN=Microsoft Azure Sphere <tenant_id>``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Microsoft Azure Sphere {tenant_id}"),
        ]
    )
    now = datetime(2026, 11, 30, tzinfo=UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=730))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(Encoding.DER)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


_BLOB = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")


def leaks(text: str, secrets: list[str]) -> list[str]:
    """Every secret found in ``text`` — as written, any case, percent-decoded, inside JSON strings, or inside any
    base64 blob (a certificate's DER, a base64 PEM) — as ``"<secret> in <where>"``."""
    found = []
    haystacks: dict[str, str] = {"text": text.lower(), "percent-decoded": unquote(text).lower()}
    try:
        strings = list(_walk(json.loads(text)))
    except ValueError:
        strings = []
    haystacks["json strings"] = "\n".join(strings).lower()
    decoded = []
    for blob in _BLOB.findall(text + "\n" + "\n".join(strings)):
        try:
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4))
        except (binascii.Error, ValueError):
            continue
        decoded.append(raw.decode("latin-1").lower())
        inner = raw.decode("latin-1")
        for sub in _BLOB.findall(inner):  # base64 of PEM: one level deeper
            try:
                decoded.append(base64.b64decode(sub + "=" * (-len(sub) % 4)).decode("latin-1").lower())
            except (binascii.Error, ValueError):
                continue
    haystacks["base64 blobs"] = "\n".join(decoded)
    for secret in secrets:
        for where, haystack in haystacks.items():
            if secret.lower() in haystack:
                found.append(f"{secret!r} in {where}")
    return found


def _walk(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _walk(v)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)

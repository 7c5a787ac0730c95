"""Leaf values of the world codec: how one immutable, non-JSON value is written as JSON and read back, strictly.

A world holds more than JSON can say: instants and durations, raw bytes, X.509 certificates, private keys, tuples.
Each is written as a one-member object whose key names the kind (a *tag*), and read back only if it is exactly
that shape::

    {"$datetime": "2026-11-30T09:26:00.123456+00:00"}     aware (or naive) datetime, microseconds kept
    {"$timedelta": [days, seconds, microseconds]}         exact, no float rounding
    {"$bytes": "<base64>"}                                bytes (and the world's identity secret)
    {"$x509": "<base64 of the DER>"}                      a certificate, byte for byte
    {"$private_key": "<base64 of PKCS#8 DER>"}            an EC or RSA private key, unencrypted
    {"$public_key": "<base64 of SubjectPublicKeyInfo DER>"}
    {"$float": "nan" | "inf" | "-inf"}                    the floats JSON has no literal for

Certificates are kept as DER, not PEM, because DER is what a thumbprint hashes: the bytes read back are the bytes
that were signed. Keys are PKCS#8 DER without encryption — a world file is a test fixture, never a secret store
(the README says so next to ``state export``).

Containers, references and model objects are the graph codec's business (:mod:`simulator.state.codec`); this module
knows nothing about them. Every decoder here raises :class:`CodecError` with what was wrong, never a bare
``ValueError`` from deep inside :mod:`base64` or :mod:`cryptography`.
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import date, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

__all__ = ["LEAF_TAGS", "CodecError", "decode_leaf", "encode_leaf", "is_leaf"]

PRIVATE_KEY_TYPES = (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)
PUBLIC_KEY_TYPES = (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)


class CodecError(ValueError):
    """A world (or a piece of one) that cannot be encoded, or a document that is not a valid world."""


def is_leaf(value: Any) -> bool:
    """True for the values this module encodes (everything the graph codec need not look inside)."""
    return isinstance(
        value, (bytes, datetime, date, timedelta, x509.Certificate, *PRIVATE_KEY_TYPES, *PUBLIC_KEY_TYPES)
    )


def encode_leaf(value: Any) -> Any:
    """The JSON form of one leaf value (a tag object), or a float that JSON can carry as is."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, bytes):
        return {"$bytes": _b64(value)}
    if isinstance(value, datetime):  # before date: a datetime is a date
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$timedelta": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, x509.Certificate):
        return {"$x509": _b64(value.public_bytes(serialization.Encoding.DER))}
    if isinstance(value, PRIVATE_KEY_TYPES):
        der = value.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return {"$private_key": _b64(der)}
    if isinstance(value, PUBLIC_KEY_TYPES):
        der = value.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return {"$public_key": _b64(der)}
    raise CodecError(f"not a leaf value: {type(value).__qualname__}")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(tag: str, text: Any) -> bytes:
    if not isinstance(text, str):
        raise CodecError(f"{tag} needs a base64 string, not {type(text).__name__}")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise CodecError(f"{tag} is not valid base64") from None


def _float(payload: Any) -> float:
    if payload not in ("nan", "inf", "-inf"):
        raise CodecError(f'$float is "nan", "inf" or "-inf", not {payload!r}')
    return float(payload)


def _datetime(payload: Any) -> datetime:
    if not isinstance(payload, str):
        raise CodecError("$datetime needs an ISO 8601 string")
    try:
        return datetime.fromisoformat(payload)
    except ValueError:
        raise CodecError(f"$datetime {payload!r} is not an ISO 8601 instant") from None


def _date(payload: Any) -> date:
    if not isinstance(payload, str):
        raise CodecError("$date needs an ISO 8601 string")
    try:
        return date.fromisoformat(payload)
    except ValueError:
        raise CodecError(f"$date {payload!r} is not an ISO 8601 date") from None


def _timedelta(payload: Any) -> timedelta:
    if (
        not isinstance(payload, list)
        or len(payload) != 3
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in payload)
    ):
        raise CodecError("$timedelta needs [days, seconds, microseconds] as integers")
    try:
        return timedelta(days=payload[0], seconds=payload[1], microseconds=payload[2])
    except OverflowError:
        raise CodecError(f"$timedelta {payload!r} is out of range") from None


def _certificate(payload: Any) -> x509.Certificate:
    der = _unb64("$x509", payload)
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CodecError(f"$x509 is not a DER certificate: {exc}") from None


def _private_key(payload: Any) -> Any:
    der = _unb64("$private_key", payload)
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError) as exc:
        raise CodecError(f"$private_key is not an unencrypted PKCS#8 DER key: {exc}") from None
    if not isinstance(key, PRIVATE_KEY_TYPES):
        raise CodecError(f"$private_key holds an unsupported key type {type(key).__name__}")
    return key


def _public_key(payload: Any) -> Any:
    der = _unb64("$public_key", payload)
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError) as exc:
        raise CodecError(f"$public_key is not a SubjectPublicKeyInfo DER key: {exc}") from None
    if not isinstance(key, PUBLIC_KEY_TYPES):
        raise CodecError(f"$public_key holds an unsupported key type {type(key).__name__}")
    return key


LEAF_TAGS = {
    "$float": _float,
    "$bytes": lambda payload: _unb64("$bytes", payload),
    "$datetime": _datetime,
    "$date": _date,
    "$timedelta": _timedelta,
    "$x509": _certificate,
    "$private_key": _private_key,
    "$public_key": _public_key,
}


def decode_leaf(tag: str, payload: Any) -> Any:
    """The value of one leaf tag object ``{tag: payload}``; :class:`CodecError` if ``tag`` is not a leaf tag."""
    decoder = LEAF_TAGS.get(tag)
    if decoder is None:
        raise CodecError(f"unknown tag {tag!r}")
    return decoder(payload)

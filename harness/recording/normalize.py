"""What parity compares: an exchange reduced to the fields that must agree between Azure and the fakes.

Two runs of one scenario never send the same IDs, times, codes or signatures — those are random by nature — but
they must agree on everything else. :class:`Normaliser` turns a (sanitized) exchange into a plain tree where the
random parts are replaced by what they *mean*:

* **request**: the method and the URI *template* — scheme, host and path with every sanitized value replaced by
  ``{id}`` (the path says which it is; two values that happened to be equal in one run share a placeholder, so
  placeholders themselves are not comparable), other IDs by ``{guid#n}`` / ``{hex#n}`` numbered by first
  appearance (so "the code asked for is the code issued" still shows), the run prefix by ``{prefix}``, query
  parameters by name with ``api-version`` kept. Request *bodies* are not compared: the harness builds them from
  the scenario and from earlier answers, so a difference there is the echo of one already reported in an answer;
* **status** — the value;
* **headers** — ``Content-Type`` (the media type), ``Location`` (its URI template), ``x-ms-error-code`` (the value),
  and whether ``Retry-After`` and ``ETag`` are present;
* **body** — JSON keys at every depth with each value's *type*; the *values* of booleans, of enum fields
  (:data:`ENUM_KEYS`: ``status``, ``provisioningState``, ``type``, ``State``, ``OperationType``) and of error codes
  (:data:`CODE_KEYS`); a certificate (base64 DER, PEM, base64 of PEM, PKCS#7) becomes its *facts*: subject CN and
  issuer CN (identifiers replaced as above), key type, validity span, whether it is a CA, and which certificate of
  the run it is (``#n`` by first appearance) — so a thumbprint anywhere (``info.sha1Thumbprint``, ``Thumbprint``)
  becomes "the thumbprint of certificate #n";
* ignored: identifiers, names and free text (their type is compared), times (``<datetime>``), verification codes
  (interned like any hex), signatures, ETag and request-ID values, ``Date``/``Server`` and the like.

A Normaliser keeps its numbering (certificates, GUIDs, hex) across the exchanges of one run, so normalise both runs'
exchanges in order, each with its own Normaliser.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import warnings
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from harness.clients.exchange import Exchange
from harness.recording.sanitize import KINDS

ENUM_KEYS = frozenset({"status", "provisioningstate", "type", "state", "operationtype", "entry"})
CODE_KEYS = frozenset({"code", "errorcode"})
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]{16,}$")
_THUMBPRINT = re.compile(r"^[0-9a-fA-F]{40}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_HTTP_DATE = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$")


def _kind_pattern(shape: str) -> re.Pattern[str]:
    """A placeholder shape of :data:`~harness.recording.sanitize.KINDS` (``tenant-name-{n}``) as a regex."""
    pattern = re.escape(shape)
    pattern = re.sub(r"\\\{n:0(\d+)d\\\}", lambda m: r"\d{" + m.group(1) + "}", pattern)
    return re.compile("^" + pattern.replace(r"\{n\}", r"\d+") + "$")


#: placeholder → the kind it stands for (``00000000-…-a…`` → ``tenant``)
_PLACEHOLDER_KIND = [(_kind_pattern(shape), kind) for kind, shape in KINDS.items()]


def _placeholder_kind(text: str) -> str | None:
    for pattern, kind in _PLACEHOLDER_KIND:
        if pattern.match(text):
            return kind
    if re.match(r"^user-\d+@sanitized\.example$", text):
        return "user"
    return None


class Normaliser:
    """Turns one run's exchanges, in order, into comparable trees (see the module docstring)."""

    def __init__(self, *, run_prefix: str = "") -> None:
        self.run_prefix = run_prefix
        self.certificates: dict[str, int] = {}  # sha1 of DER → ordinal
        self.interned: dict[str, str] = {}

    # -- exchanges ---------------------------------------------------------------------------------------------

    def learn(self, exchanges: list[Exchange]) -> None:
        """Number every certificate of the run first, so a thumbprint seen before its certificate is known."""
        for exchange in exchanges:
            for raw in (exchange.request_body, exchange.response_body):
                for text in _strings(raw):
                    for der in _certificates(text):
                        self.certificates.setdefault(_sha1(der), len(self.certificates) + 1)

    def exchange(self, exchange: Exchange) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in exchange.response_headers}
        shown: dict[str, Any] = {
            "request": f"{exchange.method.upper()} {self.uri(exchange.url)}",
            "status": exchange.status,
            "headers": {
                "content-type": (headers.get("content-type") or "").split(";")[0].strip().lower() or None,
                "location": self.uri(headers["location"]) if "location" in headers else None,
                "x-ms-error-code": headers.get("x-ms-error-code"),
                "retry-after": "retry-after" in headers,
                "etag": "etag" in headers,
            },
            "body": self.body(exchange.response_body),
        }
        return shown

    def key(self, exchange: Exchange) -> str:
        """What aligns two runs' exchanges: the method and the URI template."""
        return f"{exchange.method.upper()} {self.uri(exchange.url, intern=False)}"

    # -- parts -------------------------------------------------------------------------------------------------

    def uri(self, url: str, *, intern: bool = True) -> str:
        parts = urlsplit(url)
        host = ".".join(self._token(label, intern) for label in (parts.hostname or "").lower().split("."))
        path = "/".join(self._token(unquote(segment), intern) for segment in parts.path.split("/"))
        query = []
        for name, value in sorted(parse_qsl(parts.query, keep_blank_values=True)):
            query.append(f"{name}={value}" if name == "api-version" else f"{name}={self._token(value, intern)}")
        return f"{parts.scheme}://{host}{path}" + (f"?{'&'.join(query)}" if query else "")

    def body(self, raw: bytes) -> Any:
        if not raw:
            return None
        try:
            document = json.loads(raw)
        except ValueError:
            try:
                return self.value(raw.decode("utf-8"))
            except UnicodeDecodeError:
                return "<binary>"
        return self.value(document)

    def value(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {str(k): self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, bool):
            return value
        lower = (key or "").lower()
        if isinstance(value, int | float):
            return value if lower in ENUM_KEYS | CODE_KEYS else f"<{type(value).__name__}>"
        if value is None:
            return None
        text = str(value)
        facts = self.certificate(text)
        if facts is not None:
            return facts
        if lower in CODE_KEYS or (lower in ENUM_KEYS and not self._random(text)):
            return text
        if _THUMBPRINT.match(text):
            return self._thumbprint(text)
        if _DATETIME.match(text) or _HTTP_DATE.match(text):
            return "<datetime>"
        token = self._token(text, True)
        return token if token != text else "<string>"

    def certificate(self, text: str) -> dict[str, Any] | None:
        """The facts of the certificate(s) in ``text`` (``None`` when it holds none)."""
        if len(text) < 200:
            return None
        ders = _certificates(text)
        if not ders:
            return None
        facts = [self._facts(der) for der in ders]
        return {"certificate": facts[0]} if len(facts) == 1 else {"certificates": facts}

    def _facts(self, der: bytes) -> dict[str, Any]:
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.x509.oid import NameOID

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
        if isinstance(key, ec.EllipticCurvePublicKey):
            key_type = f"EC {key.curve.name}"
        elif isinstance(key, rsa.RSAPublicKey):
            key_type = f"RSA {key.key_size}"
        else:
            key_type = type(key).__name__

        def cn(name: Any) -> str | None:
            values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
            return self._words(str(values[0].value)) if values else None

        try:
            ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            ca = False
        ordinal = self.certificates.setdefault(_sha1(der), len(self.certificates) + 1)
        span = cert.not_valid_after_utc - cert.not_valid_before_utc
        return {
            "n": ordinal,
            "subject_cn": cn(cert.subject),
            "issuer_cn": cn(cert.issuer),
            "key": key_type,
            "validity_seconds": int(span.total_seconds()),
            "ca": ca,
        }

    # -- tokens ------------------------------------------------------------------------------------------------

    def _random(self, text: str) -> bool:
        return bool(_GUID.match(text) or _HEX.match(text) or _placeholder_kind(text))

    def _thumbprint(self, text: str) -> str:
        ordinal = self.certificates.get(text.upper())
        return f"<thumbprint of certificate #{ordinal}>" if ordinal else self._intern(text)

    def _token(self, text: str, intern: bool) -> str:
        """A URI segment, host label or string with identifiers replaced by their kind."""
        if self.run_prefix and text.startswith(self.run_prefix):
            text = "{prefix}" + text[len(self.run_prefix) :]
        if _placeholder_kind(text) is not None:  # a sanitized value: which one is not comparable (see above)
            return "{id}"
        if _THUMBPRINT.match(text) and text.upper() in self.certificates:
            return "{thumbprint of certificate #" + str(self.certificates[text.upper()]) + "}"
        if _GUID.match(text) or _HEX.match(text):
            return self._intern(text) if intern else "{id}"
        return text

    def _intern(self, text: str) -> str:
        key = text.lower()
        if key not in self.interned:
            kind = "guid" if _GUID.match(text) else "hex"
            self.interned[key] = "{" + f"{kind}#{sum(1 for v in self.interned.values() if kind in v) + 1}" + "}"
        return self.interned[key]

    def _words(self, text: str) -> str:
        """Free text (a CN) with its identifiers replaced: ``Microsoft Azure Sphere {tenant}``."""
        return " ".join(self._token(word, True) for word in text.split(" "))


def _strings(raw: bytes) -> list[str]:
    if not raw:
        return []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return []
    try:
        document = json.loads(text)
    except ValueError:
        return [text]
    out, stack = [], [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


_PEM = re.compile(r"-----BEGIN (?:CERTIFICATE|PKCS7)-----(.*?)-----END (?:CERTIFICATE|PKCS7)-----", re.S)


def _certificates(text: str) -> list[bytes]:
    """The DER of every certificate a body string holds (none when it is not a certificate blob)."""
    from harness.recording.sanitize import _certificates_in

    stripped = text.strip()
    if len(stripped) < 200:
        return []
    if stripped.startswith("LS0tLS1CRUdJTi"):
        try:
            stripped = base64.b64decode(stripped, validate=True).decode("ascii")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return []
    blobs: list[bytes] = []
    if stripped.startswith("-----BEGIN"):
        for match in _PEM.finditer(stripped):
            try:
                blobs.append(base64.b64decode("".join(match.group(1).split()), validate=True))
            except (binascii.Error, ValueError):
                return []
    elif stripped.startswith("MII"):
        try:
            blobs.append(base64.b64decode("".join(stripped.split()), validate=True))
        except (binascii.Error, ValueError):
            return []
    out: list[bytes] = []
    for blob in blobs:
        out.extend(_certificates_in(blob))
    return out


def _sha1(der: bytes) -> str:
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


__all__ = ["CODE_KEYS", "ENUM_KEYS", "Normaliser"]

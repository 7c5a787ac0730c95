"""Sanitizers: take every secret and every identifying value out of an HTTP exchange, keeping what parity needs.

A recording, a report or a log line must never carry a token, and should not carry the tenant, subscription or app
it came from either. :class:`Sanitizer` runs a fixed pipeline of small sanitizers, each typed by what it touches
(the URI, one header, one body key, any text, certificates) and each with a stable ID, like the Azure SDK
test-proxy's ``AZSDK…`` defaults::

    sanitizer = Sanitizer.for_session(session, extra=["my-secret"])
    clean = sanitizer.sanitize_all(exchanges)         # learn every certificate first, then sanitize each exchange

=========  ===============  ======================================================================================
ID         touches          replaces
=========  ===============  ======================================================================================
``SH001``  URI              the loopback host of a served world by the ``Host`` the client named (an IoT Central
                            app's ``<subdomain>.azureiotcentral.com``); the ``Host`` header is then dropped
``SH002``  any text         a served world's or a URL-overridden base URL by the real service's
                            (``https://prod.core.sphere.azure.net/v2``, ``https://management.azure.com``)
``SH010``  header           ``Authorization`` → ``<scheme> Sanitized-N`` (bearer, ``SharedAccessSignature``, any)
``SH011``  header           ``Cookie``, ``Set-Cookie`` → ``Sanitized-N``
``SH012``  header           request and correlation IDs (``x-ms-request-id`` and friends) → a placeholder GUID
``SH013``  header           drops ``Host``, ``Date``, ``Server`` and ``Content-Length`` (recomputed when written)
``SH020``  body key         ``requestId``, ``RequestId``, ``traceId``, ``correlationId`` → a placeholder GUID
``SH030``  any text         every *known value* — tenant IDs and names, subscription IDs, resource groups,
                            catalogs, user names, app subdomains, ID scopes, tokens (also seen in
                            ``Authorization``), the configuration's ``sanitize:`` list — wherever it appears,
                            case-insensitively, raw and percent-encoded
``SH031``  certificates     known values inside certificates (base64 DER, PEM, base64 of PEM, PKCS#7): the tenant
                            CA's subject names the tenant (``CN=Microsoft Azure Sphere <tenantId>``). The value is
                            replaced by a placeholder *of the same length*, so the DER stays well-formed (its
                            signature no longer verifies, which nothing downstream checks); the certificate's SHA-1
                            thumbprint changes with it and SH050 carries the change everywhere
``SH032``  response         identities the service names that the run did not know: every tenant of the legacy
                            tenant list (the user's other tenants too — IDs and names), a catalog's ``tenantId``
``SH033``  DPS, MQTT        the IoT hub a device is assigned to: its host name (``iotc-<guid>.azure-devices.net`` on
                            Azure, which names the app) is learnt from every ``assignedHub`` of a DPS answer (HTTP
                            body or MQTT payload), from a hub CONNECT's username (``<hub>/<deviceId>/?api-version=…``)
                            and from a served world's DPS host when it is not loopback, and becomes
                            ``iotc-sanitized-N.azure-devices.net`` in URIs, headers, bodies, usernames, topics and
                            payloads
``SH040``  any text         token shapes wherever they are: JWTs (``eyJ….eyJ….…``), ``SharedAccessSignature …``,
                            ``sig=…`` query values
``SH050``  any text         each rewritten certificate's old thumbprint (40 hex, either case) by its new one, so
                            ``info.sha1Thumbprint`` still names the certificate the recording holds
=========  ===============  ======================================================================================

**Placeholders are stable**: the same secret gets the same placeholder within one :class:`Placeholders` (one
recording), so relations survive — the tenant in a URL is the tenant in a body. Their shapes keep values valid
where they go: GUIDs stay GUIDs (``00000000-0000-0000-0000-a00000000001`` for tenant 1), subdomains stay host labels
(``app-sanitized-1``), ID scopes stay ``0ne`` + 8 characters (``0neSANI0001``: ``S``, ``N`` and ``I`` are not hex
digits, so no real ID scope — ``0ne`` + 8 hex digits — can look like one), hub host names stay host names
(``iotc-sanitized-1.azure-devices.net``). Certificates and verification codes are *kept*: they are what parity
compares. Private keys never travel in an exchange of the trust workflow; a PEM private key block that shows up
anyway is replaced whole.

**Idempotent**: sanitizing a sanitized exchange changes nothing, which is what lets a replay sanitize the request it
is about to match (placeholders are never taken for secrets).

Known values shorter than :data:`MIN_SUBSTRING` characters are replaced only where they stand alone (a whole JSON
string, URL path segment, host label or header value): a tenant called ``t`` must not turn every ``t`` of a
recording into a placeholder. Hand-written on purpose: the test-proxy's sanitizers are .NET inside a server, and
vcrpy's filters only drop headers and query parameters; neither rewrites certificates consistently.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from harness.clients.exchange import Exchange

#: a known value at least this long is replaced wherever it occurs; shorter ones only where they stand alone
MIN_SUBSTRING = 6

#: what each kind of known value becomes; ``{n}`` counts per kind within one recording
KINDS: dict[str, str] = {
    "tenant": "00000000-0000-0000-0000-a{n:011d}",
    "subscription": "00000000-0000-0000-0000-b{n:011d}",
    "request": "00000000-0000-0000-0000-c{n:011d}",
    "guid": "00000000-0000-0000-0000-d{n:011d}",
    "tenant-name": "tenant-name-{n}",
    "app-name": "app-name-{n}",
    "resource-group": "rg-sanitized-{n}",
    "catalog": "catalog-sanitized-{n}",
    "user": "user-{n}",
    "app": "app-sanitized-{n}",
    "id-scope": "0neSANI{n:04d}",
    "hub": "iotc-sanitized-{n}.azure-devices.net",
    "token": "Sanitized-{n}",
    "value": "sanitized-{n}",
}
PLACEHOLDER = re.compile(
    r"00000000-0000-0000-0000-[a-d]\d{11}|tenant-name-\d+|app-name-\d+|rg-sanitized-\d+|catalog-sanitized-\d+"
    r"|user-\d+(?:@sanitized\.example)?|app-sanitized-\d+|0neSANI\d{4,}|iotc-sanitized-\d+\.azure-devices\.net"
    r"|Sanitized(?:-\d+)?|sanitized-\d+"
)
_PLACEHOLDER_ONLY = re.compile(rf"^(?:{PLACEHOLDER.pattern})$")

REQUEST_ID_HEADERS = frozenset(
    {
        "x-ms-request-id",
        "x-ms-client-request-id",
        "x-ms-correlation-request-id",
        "x-ms-routing-request-id",
        "x-ms-arm-service-request-id",
        "x-request-id",
        "request-id",
        "apim-request-id",
        "traceparent",
    }
)
COOKIE_HEADERS = frozenset({"cookie", "set-cookie"})
#: headers the harness's own clients fill in, which never carry a run's values
OWN_HEADERS = frozenset({"user-agent", "accept", "accept-encoding", "connection", "content-type"})
_SCHEMES = frozenset({"bearer", "sharedaccesssignature", "sharedaccesstoken", "basic"})
DROPPED_HEADERS = frozenset({"host", "date", "server", "content-length"})
REQUEST_ID_KEYS = frozenset({"requestid", "traceid", "correlationid", "clientrequestid"})

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_SAS = re.compile(r"(SharedAccess(?:Signature|Token))\s+([^\s\"',;]+)")
_SIG = re.compile(r"([?&]sig=)([^&\s\"']+)")
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)
_PEM_CERT = re.compile(r"(-----BEGIN (CERTIFICATE|PKCS7)-----)(.*?)(-----END \2-----)", re.S)
_BASE64 = re.compile(r"^[A-Za-z0-9+/\r\n]+={0,2}\s*$")
_THUMBPRINT = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{40}(?![0-9A-Fa-f])")


class Placeholders:
    """The secret → placeholder table of one recording: the same secret always gets the same placeholder."""

    def __init__(self) -> None:
        self.by_secret: dict[str, str] = {}
        self._counts: dict[str, int] = defaultdict(int)

    def get(self, kind: str, secret: str) -> str:
        """The placeholder of ``secret`` (a new one of ``kind`` the first time it is seen)."""
        if is_placeholder(secret):
            return secret
        key = secret.lower()
        found = self.by_secret.get(key)
        if found is None:
            self._counts[kind] += 1
            found = KINDS[kind].format(n=self._counts[kind])
            if kind == "user" and "@" in secret:
                found += "@sanitized.example"
            self.by_secret[key] = found
        return found

    def fitted(self, secret: str) -> str:
        """The placeholder of a known ``secret`` made exactly as long (ASCII letters, digits, hyphens), for
        places where the length is part of the structure (a name inside DER)."""
        base = self.by_secret.get(secret.lower()) or "sanitized"
        base = re.sub(r"[^A-Za-z0-9-]", "-", base)
        fitted = (base + "-" + "0" * len(secret))[: len(secret)] if len(base) < len(secret) else base[-len(secret) :]
        if fitted.lower() == secret.lower():  # never give the secret back
            fitted = ("x" * len(secret)) if secret.lower() != "x" * len(secret) else ("y" * len(secret))
        return fitted


def is_placeholder(text: str) -> bool:
    """True when ``text`` is one of the placeholders this module issues (such text is never taken for a secret)."""
    return bool(_PLACEHOLDER_ONLY.match(text))


@dataclass(frozen=True)
class KnownValue:
    """A value the run carries that must not reach a file: ``kind`` picks its placeholder's shape."""

    value: str
    kind: str


class Sanitizer:
    """The sanitizer pipeline of one recording (or one report): known values, rebased URLs, placeholders.

    ``rebase`` maps base URLs the run really used (a served world's ``https://127.0.0.1:PORT/v2``) to the real
    service's; ``known`` lists values to replace (see :meth:`for_session`); ``placeholders`` may be shared so
    several sanitizers agree.
    """

    def __init__(
        self,
        *,
        rebase: Iterable[tuple[str, str]] = (),
        known: Iterable[KnownValue] = (),
        placeholders: Placeholders | None = None,
    ) -> None:
        self.placeholders = placeholders or Placeholders()
        self.rebase = sorted({(a.rstrip("/"), b.rstrip("/")) for a, b in rebase if a and b}, key=lambda p: -len(p[0]))
        self.known: dict[str, KnownValue] = {}
        self.thumbprints: dict[str, str] = {}
        self._certificates: dict[str, str] = {}
        self._long: list[tuple[re.Pattern[str], str]] = []
        self._short: dict[str, str] = {}
        for item in known:
            self.add(item.value, item.kind)

    # -- what to replace ---------------------------------------------------------------------------------------

    def add(self, value: str | None, kind: str = "value") -> None:
        """Treat ``value`` as a secret of ``kind`` from now on (``None``, empty and placeholder values are ignored)."""
        if not value or not isinstance(value, str) or is_placeholder(value.strip()):
            return
        value = value.strip()
        if kind == "token":  # the credential, not its scheme: ``Bearer x`` and ``x`` are one secret
            scheme, _, rest = value.partition(" ")
            if rest and scheme.lower() in _SCHEMES:
                value = rest.strip()
        if value.lower() in self.known or is_placeholder(value):
            return
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
        self.known[value.lower()] = KnownValue(value, kind)
        placeholder = self.placeholders.get(kind, value)
        if len(value) >= MIN_SUBSTRING:
            forms = {value: placeholder}  # as written, and percent-encoded the two ways URLs carry it
            for safe in ("", "/:@"):
                forms.setdefault(quote(value, safe=safe), quote(placeholder, safe=safe))
            for form, replacement in forms.items():
                self._long.append((re.compile(re.escape(form), re.IGNORECASE), replacement))
            self._long.sort(key=lambda item: -len(item[0].pattern))
            self._certificates.clear()  # a certificate sanitized before must be looked at again
        self._short[value.lower()] = placeholder

    @classmethod
    def for_session(cls, session: Any, *, extra: Iterable[str] = (), placeholders: Placeholders | None = None):
        """A sanitizer that knows everything ``session`` (a :class:`harness.session.Session`) carries.

        Call :meth:`learn_session` again after a step may have changed the bindings (a fresh token).
        """
        sanitizer = cls(rebase=rebase_for(session), placeholders=placeholders)
        sanitizer.learn_session(session)
        for value in [*getattr(session, "sanitize", []), *extra]:
            sanitizer.add(value, "value")
        return sanitizer

    def learn_session(self, session: Any) -> None:
        """Add the tenants', apps' and credentials' values of ``session`` to the known values."""
        for tenant in session.tenants.values():
            self.add(tenant.tenant_id, "tenant")
            self.add(tenant.name, "tenant-name")
            self.add(tenant.user, "user")
            self.add(tenant.token, "token")
            self.add(tenant.arm_token, "token")
            self.add(tenant.subscription_id, "subscription")
            self.add(tenant.resource_group, "resource-group")
            self.add(tenant.catalog, "catalog")
        for app in session.apps.values():
            self.add(app.subdomain, "app")
            self.add(app.api_token, "token")
            self.add(app.id_scope, "id-scope")
            self.add(app.name, "app-name")
        dps = (getattr(session, "endpoints", None) or {}).get("dps") or {}
        self.add_hub(dps.get("host"))  # a served world's DPS names its own host as the assigned hub

    def add_hub(self, host: Any) -> None:
        """SH033: treat an IoT hub host name as a secret (a loopback or unspecified address names nothing)."""
        if not isinstance(host, str):
            return
        host = host.strip().rstrip(".")
        if host and not _is_local_host(host):
            self.add(host, "hub")

    def learn_packet(self, packet: Any) -> None:
        """SH033 for one MQTT packet: the hub a CONNECT's username names (``<hub>/<deviceId>/?api-version=…``; DPS's
        ``<idScope>/registrations/…`` names none) and every ``assignedHub`` of a payload."""
        username = getattr(packet, "username", None)
        if isinstance(username, str) and "/" in username:
            first = username.split("/", 1)[0]
            if "." in first:
                self.add_hub(first)
        payload = getattr(packet, "payload", None)
        if isinstance(payload, bytes | bytearray) and payload:
            text = _text(bytes(payload))
            if text is not None:
                self._learn_hubs(text)

    # -- sanitizing --------------------------------------------------------------------------------------------

    def learn(self, exchanges: Iterable[Exchange]) -> None:
        """Look at every certificate in ``exchanges`` first, so a thumbprint met *before* its certificate (a list,
        then a download) is rewritten too. Also learns the tokens of ``Authorization`` headers."""
        for exchange in exchanges:
            for name, value in exchange.request_headers:
                if name.lower() == "authorization":
                    _, _, token = value.strip().partition(" ")
                    self.add(token or value, "token")
            self._learn_identities(exchange)
            for body in (exchange.request_body, exchange.response_body):
                text = _text(body)
                if text is not None:
                    self._learn_hubs(text)
                    for string in _strings(text):
                        self._certificate(string)

    def _learn_identities(self, exchange: Exchange) -> None:
        """SH032: identities the *service* names that the run did not know — every tenant the legacy tenant list
        shows (other tenants of the same user included: their IDs and names), an ARM catalog's ``tenantId``."""
        path = urlsplit(exchange.url).path.rstrip("/").lower()
        if not (path.endswith("/v2/tenants") or "/v2/tenants/" in path or "/catalogs" in path):
            return
        text = _text(exchange.response_body)
        if text is None:
            return
        try:
            document = json.loads(text)
        except ValueError:
            return
        items = document if isinstance(document, list) else [document]
        for item in items:
            if not isinstance(item, dict):
                continue
            if "Id" in item and "Roles" in item:  # a Tenant of the legacy API
                self.add(str(item.get("Id") or ""), "tenant")
                self.add(str(item.get("Name") or ""), "tenant-name")
            properties = item.get("properties")
            if isinstance(properties, dict) and isinstance(properties.get("tenantId"), str):
                self.add(properties["tenantId"], "tenant")

    def _learn_hubs(self, text: str) -> None:
        """SH033: every ``assignedHub`` of a DPS answer (a registration result or an operation status)."""
        if "assignedhub" not in text.lower():
            return
        try:
            stack = [json.loads(text)]
        except ValueError:
            return
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                for key, value in item.items():
                    if key.lower() == "assignedhub":
                        self.add_hub(value)
                    else:
                        stack.append(value)
            elif isinstance(item, list):
                stack.extend(item)

    def sanitize(self, exchange: Exchange) -> Exchange:
        """A sanitized copy of ``exchange`` (learns from it first)."""
        self.learn([exchange])
        url, headers = self._host_from_header(exchange.url, exchange.request_headers)
        return replace(
            exchange,
            url=self.text(url, url=True),
            request_headers=self._headers(headers),
            request_body=self.body(exchange.request_body),
            response_headers=self._headers(exchange.response_headers),
            response_body=self.body(exchange.response_body),
            error=self.text(exchange.error) if exchange.error else None,
        )

    def sanitize_all(self, exchanges: Iterable[Exchange]) -> list[Exchange]:
        """Every exchange sanitized, after learning all of them (the way a recording is saved)."""
        exchanges = list(exchanges)
        self.learn(exchanges)
        return [self.sanitize(exchange) for exchange in exchanges]

    def variables(self, values: Mapping[str, str]) -> dict[str, str]:
        """Recording variables with every known value replaced."""
        return {key: self.text(str(value)) for key, value in values.items()}

    def text(self, text: str, *, url: bool = False) -> str:
        """``text`` with base URLs rebased (SH002), known values (SH030), token shapes (SH040), private keys and
        rewritten thumbprints (SH050) replaced. Certificates inside it are rewritten (SH031)."""
        if not text:
            return text
        certificate = self._certificate(text)
        if certificate is not None:
            return certificate
        if text.startswith("MI") and len(text) >= 100 and _is_private_key(text):
            return "Sanitized-private-key"
        if "-----BEGIN" in text:
            text = _PRIVATE_KEY.sub("-----BEGIN PRIVATE KEY-----Sanitized-----END PRIVATE KEY-----", text)
            text = _PEM_CERT.sub(lambda m: self._certificate(m.group(0)) or m.group(0), text)
        for source, target in self.rebase:
            if source in text:
                text = text.replace(source, target)
        whole = self._short.get(text.strip().lower())
        if whole is not None:
            return whole
        for pattern, placeholder in self._long:
            text = pattern.sub(placeholder, text)
        if url and self._short:
            text = self._url_segments(text)
        text = _JWT.sub(lambda m: self.placeholders.get("token", m.group(0)), text)
        text = _SAS.sub(lambda m: f"{m.group(1)} {self._token(m.group(2))}", text)
        text = _SIG.sub(lambda m: m.group(1) + self._token(m.group(2)), text)
        if self.thumbprints:
            text = _THUMBPRINT.sub(self._thumbprint, text)
        return text

    def body(self, body: bytes) -> bytes:
        """A body with every string in it sanitized (JSON is walked, text replaced, binary left alone)."""
        if not body:
            return body
        text = _text(body)
        if text is None:
            return body
        try:
            document = json.loads(text)
        except ValueError:
            return self.text(text).encode("utf-8")
        clean = self.value(document)
        if clean == document:
            return body
        return json.dumps(clean, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def value(self, value: Any, key: str | None = None) -> Any:
        """A JSON value with every string (and key) sanitized; request-ID keys get placeholder GUIDs (SH020)."""
        if isinstance(value, str):
            if key is not None and key.lower() in REQUEST_ID_KEYS and not is_placeholder(value):
                return self.placeholders.get("request", value)
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value

    # -- internals ---------------------------------------------------------------------------------------------

    def _host_from_header(self, url: str, headers: list[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
        """SH001: the URL as the client meant it (the ``Host`` it sent), and the headers without ``Host``."""
        host = next((v for k, v in headers if k.lower() == "host"), None)
        parts = urlsplit(url)
        if host and host != parts.netloc and not host.startswith(("127.0.0.1", "localhost", "[::1]")):
            url = urlunsplit(("https", host, parts.path, parts.query, parts.fragment))
        return url, [(k, v) for k, v in headers if k.lower() != "host"]

    def _headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        clean: list[tuple[str, str]] = []
        for name, value in headers:
            lower = name.lower()
            if lower in DROPPED_HEADERS:
                continue  # SH013
            if lower == "authorization":  # SH010
                scheme, _, token = value.strip().partition(" ")
                value = f"{scheme} {self._token(token)}" if token else self._token(scheme)
            elif lower in COOKIE_HEADERS:  # SH011
                value = self._token(value)
            elif lower in REQUEST_ID_HEADERS:  # SH012
                value = value if is_placeholder(value) else self.placeholders.get("request", value)
            elif lower not in OWN_HEADERS:
                value = self.text(value, url=lower in ("location", "azure-asyncoperation", "operation-location"))
            clean.append((name, value))
        return clean

    def _token(self, token: str) -> str:
        token = token.strip()
        if is_placeholder(token):
            return token
        self.add(token, "token")
        return self.placeholders.get("token", token)

    def _thumbprint(self, match: re.Match[str]) -> str:
        found = match.group(0)
        new = self.thumbprints.get(found.upper())
        if new is None:
            return found
        return new if found.isupper() or found.isdigit() else new.lower()

    def _url_segments(self, url: str) -> str:
        """Short known values in a URL: whole path segments and host labels only."""
        parts = urlsplit(url)
        labels = [self._short.get(label.lower(), label) for label in parts.netloc.split(".")]
        segments = [self._short.get(seg.lower(), seg) for seg in parts.path.split("/")]
        return urlunsplit((parts.scheme, ".".join(labels), "/".join(segments), parts.query, parts.fragment))

    def _certificate(self, text: str) -> str | None:
        """SH031: ``text`` rewritten when it is a certificate blob (else ``None``); learns thumbprints."""
        if len(text) < 200:
            return None
        cached = self._certificates.get(text)
        if cached is not None:
            return cached
        binary = [(k.value, self.placeholders.fitted(k.value)) for k in self.known.values() if len(k.value) >= 6]
        if not binary:  # nothing could be rewritten (a replay's sanitizer): a certificate stays as it is
            return text if _is_certificate_blob(text) else None
        blob = _CertificateBlob.parse(text)
        if blob is None or not any(_certificates_in(der) for der in blob.ders):
            return None
        rewritten = blob.rewrite(binary)
        for old, new in blob.thumbprint_pairs(rewritten):
            if old != new:
                self.thumbprints[old] = new
        result = blob.encode(rewritten)
        self._certificates[text] = result
        self._certificates[result] = result
        return result


def _is_local_host(host: str) -> bool:
    """A loopback or unspecified address (or ``localhost``): what a served world on this machine calls itself."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def rebase_for(session: Any) -> list[tuple[str, str]]:
    """SH002 pairs for a session whose URLs are not the real services' (a served world, URL overrides)."""
    from harness.clients.central import app_url
    from harness.clients.sphere_arm import DEFAULT_URL as ARM_URL
    from harness.clients.sphere_legacy import DEFAULT_URL as LEGACY_URL

    pairs = [(session.legacy_url, LEGACY_URL), (session.arm_url, ARM_URL)]
    for app in session.apps.values():
        if app.base_url and not app.host_header and app.subdomain:
            pairs.append((app.base_url, app_url(app.subdomain, app.dns_suffix)))
    return [(a, b) for a, b in pairs if a and a.rstrip("/") != b.rstrip("/")]


# -- certificates inside text --------------------------------------------------------------------------------


@dataclass
class _CertificateBlob:
    """A certificate (or PKCS#7 bundle) as it appears in a body: base64 DER, PEM, or base64 of PEM."""

    form: str  # "der-base64" | "pem" | "pem-base64"
    ders: list[bytes]
    pem_text: str = ""

    @classmethod
    def parse(cls, text: str) -> _CertificateBlob | None:
        stripped = text.strip()
        if stripped.startswith("LS0tLS1CRUdJTi"):
            decoded = _b64(stripped)
            if decoded is None:
                return None
            inner = cls.parse(decoded.decode("ascii", "replace"))
            return cls("pem-base64", inner.ders, inner.pem_text) if inner and inner.form == "pem" else None
        if stripped.startswith("-----BEGIN"):
            blocks = list(_PEM_CERT.finditer(stripped))
            if not blocks or "PRIVATE KEY" in stripped:
                return None
            ders = [_b64(m.group(3)) for m in blocks]
            if any(d is None for d in ders):
                return None
            return cls("pem", [d for d in ders if d is not None], text)
        if stripped.startswith("MII") and _BASE64.match(stripped):
            der = _b64(stripped)
            if der is None or der[:1] != b"\x30":
                return None
            return cls("der-base64", [der])
        return None

    def rewrite(self, values: list[tuple[str, str]]) -> list[bytes]:
        """Each DER with every known value replaced by its same-length placeholder (ASCII, any case)."""
        out = []
        for der in self.ders:
            for secret, fitted in values:
                if len(fitted) == len(secret):
                    der = re.sub(re.escape(secret.encode("utf-8")), fitted.encode("ascii"), der, flags=re.IGNORECASE)
            out.append(der)
        return out

    def thumbprint_pairs(self, rewritten: list[bytes]) -> list[tuple[str, str]]:
        pairs = []
        for old, new in zip(self.ders, rewritten, strict=True):
            for old_cert, new_cert in zip(_certificates_in(old), _certificates_in(new), strict=False):
                pairs.append((_sha1(old_cert), _sha1(new_cert)))
        return pairs

    def encode(self, ders: list[bytes]) -> str:
        if self.form == "der-base64":
            return base64.b64encode(ders[0]).decode("ascii")
        pem = self.pem_text
        blocks = iter(ders)

        def block(match: re.Match[str]) -> str:
            der = next(blocks)
            newline = "\r\n" if "\r\n" in match.group(3) else "\n"
            body = base64.b64encode(der).decode("ascii")
            lines = newline.join(body[i : i + 64] for i in range(0, len(body), 64))
            return f"{match.group(1)}{newline}{lines}{newline}{match.group(4)}"

        pem = _PEM_CERT.sub(block, pem)
        if self.form == "pem-base64":
            return base64.b64encode(pem.encode("ascii")).decode("ascii")
        return pem


_BLOB_KINDS: dict[str, bool] = {}


def _is_certificate_blob(text: str) -> bool:
    """Whether ``text`` is a certificate (or PKCS#7 bundle) in one of the body forms — remembered per text, since a
    replay meets the same certificates on every run."""
    known = _BLOB_KINDS.get(text)
    if known is None:
        blob = _CertificateBlob.parse(text)
        known = blob is not None and any(_certificates_in(der) for der in blob.ders)
        if len(_BLOB_KINDS) >= 4096:
            _BLOB_KINDS.clear()
        _BLOB_KINDS[text] = known
    return known


def _is_private_key(text: str) -> bool:
    """Whether ``text`` is a private key as base64 DER (PKCS#8 or SEC1/PKCS#1), which must never be kept."""
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    der = _b64(text)
    if der is None or der[:1] != b"\x30":
        return False
    try:
        load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        return False
    return True


def _certificates_in(der: bytes) -> list[bytes]:
    """The DER of each certificate in ``der`` (one certificate, or the certificates of a PKCS#7 bundle)."""
    import warnings

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    with warnings.catch_warnings():  # long CNs (device IDs) warn in cryptography
        warnings.simplefilter("ignore")
        try:
            x509.load_der_x509_certificate(der)
            return [der]
        except ValueError:
            pass
        try:
            return [c.public_bytes(Encoding.DER) for c in pkcs7.load_der_pkcs7_certificates(der)]
        except ValueError:
            return []


def _sha1(der: bytes) -> str:
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _text(body: bytes) -> str | None:
    if not body:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _strings(text: str) -> Iterable[str]:
    """Every string of a JSON document (or the text itself when it is not JSON)."""
    try:
        document = json.loads(text)
    except ValueError:
        yield text
        return
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


__all__ = ["KINDS", "KnownValue", "Placeholders", "Sanitizer", "is_placeholder", "rebase_for"]

"""What the Sphere APIs were asked, per tenant: the part of a learner's progress that no model state records.

Downloading the tenant CA or a proof certificate changes nothing in the Sphere service, yet the checklist must know
whether it happened (and with which verification code). :class:`Journal` wraps the served world's Sphere ASGI apps
(:meth:`Journal.wrap`) and notes every *successful* call that matters:

=============================================================  ==============================================
legacy ``GET /v2/tenants`` (any answer 200) and any tenant call  the token's user signed in (for each of its tenants)
legacy ``GET /v2/tenants/{t}/cert``, ARM ``GET …/certificates/{s}``  the tenant CA was downloaded
legacy ``GET /v2/tenants/{t}/verification/{code}``, ARM          a proof for ``code`` was downloaded (and when)
``POST …/retrieveProofOfPossessionNonce``
=============================================================  ==============================================

It observes only; it never changes an answer.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

_LEGACY_TENANTS = re.compile(r"^/v2/tenants/?$", re.I)
_LEGACY_TENANT = re.compile(r"^/v2/tenants/(?P<tenant>[^/]+)(?P<rest>/.*)?$", re.I)
_LEGACY_CERT = re.compile(r"^/cert/?$", re.I)
_LEGACY_PROOF = re.compile(r"^/verification/(?P<code>[^/]+)/?$", re.I)
_ARM_CATALOG = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.AzureSphere/catalogs/"
    r"(?P<catalog>[^/]+)(?P<rest>/.*)?$",
    re.I,
)
_ARM_CERT = re.compile(r"^/certificates/[^/]+/?$", re.I)
_ARM_PROOF = re.compile(r"^/certificates/[^/]+/retrieveProofOfPossessionNonce/?$", re.I)


@dataclass(frozen=True)
class ProofDownload:
    """A proof certificate the Sphere service signed for a tenant: its verification code (the CN) and when."""

    code: str
    at: datetime


@dataclass
class TenantJournal:
    """The noted calls of one tenant."""

    signed_in: datetime | None = None
    ca_downloaded: datetime | None = None
    proofs: list[ProofDownload] = field(default_factory=list)


class Journal:
    """Notes per tenant, filled by :meth:`wrap`; read by the checklist. Thread-safe."""

    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self._lock = threading.Lock()
        self._tenants: dict[str, TenantJournal] = {}

    def of(self, tenant_id: str) -> TenantJournal:
        with self._lock:
            return self._tenants.setdefault(tenant_id.lower(), TenantJournal())

    def clear(self) -> None:
        with self._lock:
            self._tenants.clear()

    # -- noting -----------------------------------------------------------------------------------------------

    def note(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        """Note one successful request (called after a 2xx answer)."""
        now = self.cloud.clock.now()
        path = unquote(path)
        if _LEGACY_TENANTS.match(path):
            for tenant_id in self._tenants_of(headers.get("authorization"), "sphere"):
                self._sign_in(tenant_id, now)
            return
        legacy = _LEGACY_TENANT.match(path)
        if legacy:
            tenant_id, rest = legacy["tenant"], legacy["rest"] or ""
            self._sign_in(tenant_id, now)
            if _LEGACY_CERT.match(rest):
                self.of(tenant_id).ca_downloaded = now
            elif proof := _LEGACY_PROOF.match(rest):
                self._proof(tenant_id, proof["code"], now)
            return
        arm = _ARM_CATALOG.match(path)
        if arm:
            tenant_id = self._catalog_tenant(arm["sub"], arm["rg"], arm["catalog"])
            if tenant_id is None:
                return
            self._sign_in(tenant_id, now)
            rest = arm["rest"] or ""
            if method == "GET" and _ARM_CERT.match(rest):
                self.of(tenant_id).ca_downloaded = now
            elif method == "POST" and _ARM_PROOF.match(rest):
                try:
                    code = json.loads(body or b"{}").get("proofOfPossessionNonce")
                except (ValueError, AttributeError):
                    code = None
                if isinstance(code, str):
                    self._proof(tenant_id, code, now)

    def _sign_in(self, tenant_id: str, now: datetime) -> None:
        entry = self.of(tenant_id)
        if entry.signed_in is None:
            entry.signed_in = now

    def _proof(self, tenant_id: str, code: str, now: datetime) -> None:
        self.of(tenant_id).proofs.append(ProofDownload(code, now))

    def _tenants_of(self, authorization: str | None, audience: str) -> list[str]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return []
        with self.cloud.lock:
            try:
                principal = self.cloud.sphere.authenticate(token.strip(), audience)
            except Exception:  # a refused token signed no one in
                return []
            return [t.id for t in self.cloud.sphere.tenants.values() if principal.roles_in(t.id)]

    def _catalog_tenant(self, subscription: str, resource_group: str, catalog: str) -> str | None:
        with self.cloud.lock:
            try:
                return self.cloud.sphere.catalog(subscription, resource_group, catalog).id
            except Exception:
                return None

    # -- the ASGI wrapper ---------------------------------------------------------------------------------------

    def wrap(self, app: Callable[..., Any]) -> Callable[..., Any]:
        """``app`` with every successful request noted (the request body is kept only for ARM POSTs)."""

        async def journaled(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            chunks: list[bytes] = []
            status = 0
            keep_body = scope["method"] == "POST"

            async def receive_noted() -> dict[str, Any]:
                message = await receive()
                if keep_body and message.get("type") == "http.request":
                    chunks.append(message.get("body", b""))
                return message

            async def send_noted(message: dict[str, Any]) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await app(scope, receive_noted, send_noted)
            if 200 <= status < 300:
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
                self.note(scope["method"], scope["path"], headers, b"".join(chunks))

        return journaled

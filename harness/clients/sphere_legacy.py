"""A client of the Azure Sphere security service's legacy public API (v2), as ``azsphere`` uses it.

Everything is relative to ``https://prod.core.sphere.azure.net/v2`` and authenticated with an Azure AD bearer
token (the Azure Sphere public API reference). The calls of the trust workflow::

    sphere = SphereLegacyClient(auth_from(None, scope=SPHERE_USER_SCOPE))
    tenant = sphere.list_tenants()[0]                                  # GET /v2/tenants
    active = sphere.active_certificate(tenant["Id"])                   # GET …/certificates, IsActive
    ca_der = sphere.get_certificate(tenant["Id"])                      # GET …/cert   → CAcertificate.cer
    proof_der = sphere.get_proof(tenant["Id"], code)                   # GET …/verification/{code}

**String bodies.** ``/cert``, ``/certchain`` and ``/verification/{code}`` answer a base64 ``string`` whose wire
form is not documented (``sphere.legacy_string_body``): a JSON string literal (``"MIIB…"``) or raw text. The client
accepts both, and a PEM text too, and always returns DER bytes. A JSON ``null`` (an expired generation,
``sphere.expired_body``) is reported as a 404-like :class:`SphereLegacyError` with code ``NotFound``.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from harness.clients.auth import AuthProvider
from harness.clients.base import WireClient
from harness.clients.errors import OperationFailed, SphereLegacyError, UnexpectedResponse

DEFAULT_URL = "https://prod.core.sphere.azure.net/v2"

#: Operation.State (Azure Sphere public API v2)
STATE_NAMES = {0: "NotStarted", 1: "InProgress", 2: "Complete", 3: "Failed", 4: "CompleteWithErrors"}
FINISHED_STATES = frozenset({2, 3, 4})


class SphereLegacyClient(WireClient):
    """The legacy v2 API of one Sphere account (all tenants the token's user can reach)."""

    error_type = SphereLegacyError
    service = "sphere-legacy"

    def __init__(self, auth: AuthProvider | None, base_url: str = DEFAULT_URL, **kwargs: Any) -> None:
        super().__init__(base_url, auth, **kwargs)

    # -- tenants ------------------------------------------------------------------------------------------

    def list_tenants(self) -> list[dict[str, Any]]:
        """``GET /v2/tenants`` → ``[{"Id", "Name", "Roles"}]`` (a bare array)."""
        body = self.request("GET", "/tenants").json()
        if not isinstance(body, list):
            raise UnexpectedResponse(f"GET /v2/tenants returned {type(body).__name__}, not an array")
        return body

    def get_tenant(self, tenant_id: str) -> dict[str, Any]:
        return self.request("GET", f"/tenants/{_seg(tenant_id)}").json()

    # -- tenant CA certificates ---------------------------------------------------------------------------

    def list_certificates(self, tenant_id: str) -> list[dict[str, Any]]:
        """``GET …/certificates`` → ``TenantCertificateStatus`` list (bare array, or ``Items`` envelope)."""
        body = self.request("GET", f"/tenants/{_seg(tenant_id)}/certificates").json()
        if isinstance(body, dict) and isinstance(body.get("Items"), list):
            return body["Items"]
        if not isinstance(body, list):
            raise UnexpectedResponse("the certificate list is neither an array nor an Items envelope")
        return body

    def active_certificate(self, tenant_id: str) -> dict[str, Any]:
        """The ``IsActive`` entry of the certificate list."""
        for entry in self.list_certificates(tenant_id):
            if entry.get("IsActive"):
                return entry
        raise UnexpectedResponse(f"tenant {tenant_id} lists no active CA certificate")

    def get_certificate(self, tenant_id: str, thumbprint: str | None = None) -> bytes:
        """``GET …/cert[?thumbprint=]`` → the tenant CA certificate as DER (what ``download`` writes to .cer)."""
        return self._string_body(f"/tenants/{_seg(tenant_id)}/cert", thumbprint, pem_label="CERTIFICATE")

    def get_certificate_chain(self, tenant_id: str, thumbprint: str | None = None) -> bytes:
        """``GET …/certchain[?thumbprint=]`` → the PKCS#7 chain as DER (what ``download-chain`` writes to .p7b)."""
        return self._string_body(f"/tenants/{_seg(tenant_id)}/certchain", thumbprint, pem_label="PKCS7")

    def get_proof(self, tenant_id: str, verification_code: str, thumbprint: str | None = None) -> bytes:
        """``GET …/verification/{code}[?thumbprint=]`` → the proof-of-possession certificate (CN = code) as DER."""
        path = f"/tenants/{_seg(tenant_id)}/verification/{_seg(verification_code)}"
        return self._string_body(path, thumbprint, pem_label="CERTIFICATE")

    def _string_body(self, path: str, thumbprint: str | None, *, pem_label: str) -> bytes:
        params = {"thumbprint": thumbprint} if thumbprint else None
        response = self.request("GET", path, params=params)
        text = decode_string_body(response)
        if text is None:  # "null" form for an expired generation
            raise SphereLegacyError(
                404, "NotFound", "the service answered null (no such certificate body)",
                method="GET", url=str(response.request.url), body=None,
            )  # fmt: skip
        return base64_or_pem_to_der(text, pem_label)

    # -- devices ------------------------------------------------------------------------------------------

    def claim_device(self, tenant_id: str, device_id: str) -> dict[str, Any]:
        """``PUT …/devices/{deviceId}/claim`` (no body) → 202 and an ``Operation``."""
        return self.request("PUT", f"/tenants/{_seg(tenant_id)}/devices/{_seg(device_id)}/claim", ok=(202, 200)).json()

    def get_operation(self, tenant_id: str, operation_id: str) -> dict[str, Any]:
        return self.request("GET", f"/tenants/{_seg(tenant_id)}/operations/{_seg(operation_id)}").json()

    def wait_operation(
        self,
        tenant_id: str,
        operation: dict[str, Any],
        *,
        interval_s: float = 1.0,
        max_polls: int = 120,
        sleep: Callable[[float], None] = time.sleep,
    ) -> dict[str, Any]:
        """Poll ``GET …/operations/{id}`` until ``State`` is Complete, Failed or CompleteWithErrors.

        Raises :class:`OperationFailed` (carrying the operation's ``ErrorResponse``) unless it ends Complete.
        """
        polls = 0
        while operation.get("State") not in FINISHED_STATES:
            if polls >= max_polls:
                raise UnexpectedResponse(f"operation {operation.get('OperationId')} still not finished")
            if polls:
                sleep(interval_s)
            operation = self.get_operation(tenant_id, str(operation["OperationId"]))
            polls += 1
        if operation.get("State") != 2:
            error = operation.get("Error") or {}
            code, message, _ = SphereLegacyError.parse(error)
            state = STATE_NAMES.get(operation.get("State"), operation.get("State"))
            raise OperationFailed(409 if code == "Conflict" else 400, code, f"operation {state}: {message}",
                                  body=operation)  # fmt: skip
        return operation

    def claim_device_and_wait(self, tenant_id: str, device_id: str, **poll: Any) -> dict[str, Any]:
        """Claim and poll the operation to its end, as ``azsphere device claim`` does."""
        return self.wait_operation(tenant_id, self.claim_device(tenant_id, device_id), **poll)

    def list_devices(self, tenant_id: str, *, page_size: int | None = None) -> list[dict[str, Any]]:
        """Every ``DeviceV2`` of the tenant, following ``ContinuationToken`` via the ``Sphere-Continuation`` header."""
        devices: list[dict[str, Any]] = []
        token: str | None = None
        params = {"maxPageSize": page_size} if page_size else None
        while True:
            headers = {"Sphere-Continuation": token} if token else None
            body = self.request("GET", f"/tenants/{_seg(tenant_id)}/devices", params=params, headers=headers).json()
            devices.extend(body.get("Items") or [])
            token = body.get("ContinuationToken")
            if not token:
                return devices


def decode_string_body(response: httpx.Response) -> str | None:
    """The text of a ``string`` body in either wire form: a JSON string literal, or raw text.

    A JSON ``null`` gives None. Anything else JSON (an object, a number) is not a string body.
    """
    raw = response.text.strip()
    if raw.startswith('"') or raw == "null":
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise UnexpectedResponse(f"a quoted string body that is not valid JSON: {exc}") from None
        if value is None or isinstance(value, str):
            return value
    if raw.startswith(("{", "[")):
        raise UnexpectedResponse("expected a string body (base64), got a JSON object or array")
    return raw


def base64_or_pem_to_der(text: str, pem_label: str = "CERTIFICATE") -> bytes:
    """DER bytes from base64 text (whitespace ignored) or from a PEM block of ``pem_label``."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        lines = [line for line in text.splitlines() if line and not line.startswith("-----")]
        text = "".join(lines)
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UnexpectedResponse(f"the body is not base64 ({exc})") from None
    if not der:
        raise UnexpectedResponse("the body is empty")
    return der


def _seg(value: str) -> str:
    """One path segment, percent-encoded (a verification code or ID never contains '/', but be safe)."""
    return quote(str(value), safe="")

"""A client of one IoT Central application's data-plane API (api-version 2022-07-31).

``https://{subdomain}.azureiotcentral.com/api/…`` with ``Authorization: SharedAccessSignature …`` (an API token
made in the app) or ``Bearer …`` (Azure AD, scope ``https://apps.azureiotcentral.com/.default``) —
the IoT Central REST API 2022-07-31. The IoT Central half of the trust workflow::

    central = CentralClient(StaticToken(api_token), subdomain="contoso")
    central.create_group("azure-sphere", display_name="Azure Sphere", attestation="x509")   # PUT, 200
    central.set_certificate("azure-sphere", "primary", certificate=b64_der)                 # PUT …/primary
    code = central.generate_verification_code("azure-sphere", "primary")                    # POST, 200
    central.verify_certificate("azure-sphere", "primary", certificate=b64_proof)            # POST …/verify, 204
    central.get_certificate("azure-sphere", "primary")["verified"]                          # True

Certificate strings are sent as the caller encodes them (base64 of DER, base64 of PEM, or raw PEM are what the
real clients send); :func:`certificate_string` makes each form from DER bytes.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Literal
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from harness.clients.auth import AuthProvider
from harness.clients.base import WireClient
from harness.clients.errors import CentralApiError, UnexpectedResponse

API_VERSION = "2022-07-31"
DNS_SUFFIX = "azureiotcentral.com"
CertificateEncoding = Literal["der-base64", "pem-base64", "pem"]


def app_url(subdomain: str, dns_suffix: str = DNS_SUFFIX) -> str:
    return f"https://{subdomain}.{dns_suffix}"


class CentralClient(WireClient):
    """One IoT Central application. Give ``subdomain`` (real host name) or ``base_url`` (e.g. a served fake)."""

    error_type = CentralApiError
    service = "central"

    def __init__(
        self,
        auth: AuthProvider | None,
        *,
        subdomain: str | None = None,
        base_url: str | None = None,
        dns_suffix: str = DNS_SUFFIX,
        api_version: str = API_VERSION,
        **kwargs: Any,
    ) -> None:
        if base_url is None:
            if not subdomain:
                raise ValueError("give the application's subdomain or a base_url")
            base_url = app_url(subdomain, dns_suffix)
        super().__init__(base_url.rstrip("/") + "/api", auth, **kwargs)
        self.subdomain = subdomain
        self.api_version = api_version

    def _call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        response = self.request(method, path, params={"api-version": self.api_version}, ok=ok, **kwargs)
        return None if response.status_code == 204 else response.json()

    def _pages(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        body = self._call("GET", path)
        while True:
            items.extend(body.get("value") or [])
            next_link = body.get("nextLink")
            if not next_link:
                return items
            body = self.request("GET", next_link).json()

    # -- enrollment groups --------------------------------------------------------------------------------

    def list_groups(self) -> list[dict[str, Any]]:
        return self._pages("/enrollmentGroups")

    def get_group(self, group_id: str) -> dict[str, Any]:
        return self._call("GET", f"/enrollmentGroups/{_seg(group_id)}")

    def create_group(
        self,
        group_id: str,
        *,
        display_name: str,
        attestation: Literal["x509", "symmetricKey"] = "x509",
        type: Literal["iot", "iotEdge"] = "iot",
        enabled: bool = True,
        etag: str | None = None,
    ) -> dict[str, Any]:
        """``PUT /enrollmentGroups/{id}`` with ``{"displayName", "enabled", "type", "attestation": {"type"}}``."""
        body: dict[str, Any] = {
            "displayName": display_name,
            "enabled": enabled,
            "type": type,
            "attestation": {"type": attestation},
        }
        if etag:
            body["etag"] = etag
        return self._call("PUT", f"/enrollmentGroups/{_seg(group_id)}", json=body)

    def update_group(self, group_id: str, patch: dict[str, Any], *, if_match: str | None = None) -> dict[str, Any]:
        """``PATCH`` as a JSON merge patch (``application/merge-patch+json``)."""
        headers = {"Content-Type": "application/merge-patch+json"}
        if if_match:
            headers["If-Match"] = if_match
        return self._call(
            "PATCH", f"/enrollmentGroups/{_seg(group_id)}", content=json.dumps(patch).encode(), headers=headers
        )

    def delete_group(self, group_id: str) -> None:
        self._call("DELETE", f"/enrollmentGroups/{_seg(group_id)}", ok=(204, 200))

    # -- certificate entries ------------------------------------------------------------------------------

    def get_certificate(self, group_id: str, entry: str = "primary") -> dict[str, Any]:
        return self._call("GET", f"/enrollmentGroups/{_seg(group_id)}/certificates/{_seg(entry)}")

    def set_certificate(
        self,
        group_id: str,
        entry: str = "primary",
        *,
        certificate: str,
        verified: bool | None = False,
        etag: str | None = None,
    ) -> dict[str, Any]:
        """``PUT …/certificates/{entry}`` with ``{"verified", "certificate"}`` (``verified=None`` omits it, like
        ``az iot central``)."""
        body: dict[str, Any] = {"certificate": certificate}
        if verified is not None:
            body["verified"] = verified
        if etag:
            body["etag"] = etag
        return self._call("PUT", f"/enrollmentGroups/{_seg(group_id)}/certificates/{_seg(entry)}", json=body)

    def remove_certificate(self, group_id: str, entry: str = "primary") -> None:
        self._call("DELETE", f"/enrollmentGroups/{_seg(group_id)}/certificates/{_seg(entry)}", ok=(204, 200))

    def generate_verification_code(self, group_id: str, entry: str = "primary") -> str:
        path = f"/enrollmentGroups/{_seg(group_id)}/certificates/{_seg(entry)}/generateVerificationCode"
        body = self._call("POST", path)
        code = body.get("verificationCode") if isinstance(body, dict) else None
        if not isinstance(code, str) or not code:
            raise UnexpectedResponse("generateVerificationCode answered without a verificationCode")
        return code

    def verify_certificate(self, group_id: str, entry: str = "primary", *, certificate: str) -> None:
        """``POST …/verify`` with ``{"certificate"}`` → 204 No Content.

        Not retried when the connection drops before the answer (a :class:`~harness.clients.errors.TransportFailure`
        is raised at once): the service may already have verified the entry and consumed the code, so the caller
        must read the entry (:meth:`get_certificate`) before verifying again — see :class:`~harness.clients.base.
        RetryPolicy` for why, and why azure-core does the same. 429 and 5xx answers are retried as for any call.
        """
        path = f"/enrollmentGroups/{_seg(group_id)}/certificates/{_seg(entry)}/verify"
        self._call("POST", path, json={"certificate": certificate}, ok=(204, 200))

    # -- devices ------------------------------------------------------------------------------------------

    def list_devices(self) -> list[dict[str, Any]]:
        return self._pages("/devices")

    def get_device(self, device_id: str) -> dict[str, Any]:
        return self._call("GET", f"/devices/{_seg(device_id)}")

    def get_device_attestation(self, device_id: str) -> dict[str, Any]:
        return self._call("GET", f"/devices/{_seg(device_id)}/attestation")


def certificate_string(der: bytes, encoding: CertificateEncoding = "der-base64") -> str:
    """The ``certificate`` string of a set or verify body, made from DER bytes in one of the three known forms."""
    if encoding == "der-base64":
        return base64.b64encode(der).decode("ascii")
    pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode("ascii")
    if encoding == "pem":
        return pem
    if encoding == "pem-base64":
        return base64.b64encode(pem.encode("ascii")).decode("ascii")
    raise ValueError(f"unknown certificate encoding {encoding!r}")


def _seg(value: str) -> str:
    return quote(str(value), safe="")

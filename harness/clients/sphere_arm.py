"""A client of the Azure Sphere ARM API (``Microsoft.AzureSphere``, api-version 2024-04-01) for one catalog.

A legacy tenant becomes an ARM *catalog* when integrated; the catalog keeps the tenant ID. Every path is under
``/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.AzureSphere/catalogs/{catalog}`` on
``https://management.azure.com`` with ``?api-version=2024-04-01`` and a bearer token for
``https://management.azure.com/.default`` (ARM API Microsoft.AzureSphere 2024-04-01)::

    arm = SphereArmClient(auth, subscription_id=sub, resource_group="rg", catalog="cat")
    cert = arm.get_certificate(".default")                       # GET  …/certificates/.default
    der = arm.certificate_der(".default")                        # properties.certificate, base64-decoded
    proof = arm.retrieve_proof(".default", code)                 # POST …/retrieveProofOfPossessionNonce
    arm.claim_devices([device_id])                               # POST …/claimDevices → 202, poll Location

``.default``, ``default`` and ``active`` name the Active certificate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from harness.clients.auth import AuthProvider
from harness.clients.base import WireClient, parse_retry_after
from harness.clients.errors import ArmError, UnexpectedResponse
from harness.clients.sphere_legacy import base64_or_pem_to_der

DEFAULT_URL = "https://management.azure.com"
API_VERSION = "2024-04-01"
CATALOG_PATH = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.AzureSphere/catalogs/{catalog}"


class SphereArmClient(WireClient):
    """``Microsoft.AzureSphere`` for one catalog of one subscription and resource group."""

    error_type = ArmError
    service = "sphere-arm"

    def __init__(
        self,
        auth: AuthProvider | None,
        *,
        subscription_id: str,
        resource_group: str,
        catalog: str,
        base_url: str = DEFAULT_URL,
        api_version: str = API_VERSION,
        **kwargs: Any,
    ) -> None:
        super().__init__(base_url, auth, **kwargs)
        self.api_version = api_version
        self.catalog_path = CATALOG_PATH.format(
            sub=_seg(subscription_id), rg=_seg(resource_group), catalog=_seg(catalog)
        )

    def _call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        response = self.request(
            method, self.catalog_path + path, params={"api-version": self.api_version}, ok=ok, **kwargs
        )
        return response

    # -- catalog and certificates -------------------------------------------------------------------------

    def get_catalog(self) -> dict[str, Any]:
        return self._call("GET", "").json()

    def list_certificates(self) -> list[dict[str, Any]]:
        """``GET …/certificates`` following ``nextLink`` → every ``Certificate`` resource."""
        return self._all_pages(self._call("GET", "/certificates"))

    def get_certificate(self, serial: str = ".default") -> dict[str, Any]:
        return self._call("GET", f"/certificates/{_seg(serial)}").json()

    def certificate_der(self, serial: str = ".default") -> bytes:
        """The certificate of ``serial`` as DER (``properties.certificate`` is base64 of DER)."""
        body = self.get_certificate(serial)
        text = (body.get("properties") or {}).get("certificate")
        if not isinstance(text, str):
            raise UnexpectedResponse("the Certificate resource has no properties.certificate")
        return base64_or_pem_to_der(text)

    def retrieve_cert_chain(self, serial: str = ".default") -> bytes:
        """``POST …/retrieveCertChain`` (no body) → the chain as DER PKCS#7 (base64 PKCS#7, or PEM)."""
        body = self._call("POST", f"/certificates/{_seg(serial)}/retrieveCertChain").json()
        text = body.get("certificateChain")
        if not isinstance(text, str):
            raise UnexpectedResponse("CertificateChainResponse has no certificateChain string")
        if "-----BEGIN CERTIFICATE-----" in text:
            from cryptography import x509

            certificates = x509.load_pem_x509_certificates(text.encode("ascii"))
            return pkcs7.serialize_certificates(certificates, Encoding.DER)
        return base64_or_pem_to_der(text, "PKCS7")

    def retrieve_proof(self, serial: str, verification_code: str) -> dict[str, Any]:
        """``POST …/retrieveProofOfPossessionNonce`` → the flat ``ProofOfPossessionNonceResponse``."""
        path = f"/certificates/{_seg(serial)}/retrieveProofOfPossessionNonce"
        return self._call("POST", path, json={"proofOfPossessionNonce": verification_code}).json()

    def proof_der(self, serial: str, verification_code: str) -> bytes:
        body = self.retrieve_proof(serial, verification_code)
        if not isinstance(body.get("certificate"), str):
            raise UnexpectedResponse("ProofOfPossessionNonceResponse has no certificate")
        return base64_or_pem_to_der(body["certificate"])

    # -- devices ------------------------------------------------------------------------------------------

    def claim_devices(
        self,
        device_ids: list[str],
        *,
        product: str = ".default",
        device_group: str = ".default",
        max_polls: int = 120,
        default_interval_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``POST …/claimDevices`` → 202, then GET the absolute ``Location`` until it stops answering 202."""
        path = f"/products/{_seg(product)}/deviceGroups/{_seg(device_group)}/claimDevices"
        response = self._call("POST", path, json={"deviceIdentifiers": list(device_ids)}, ok=(202, 200))
        polls = 0
        while response.status_code == 202:
            location = response.headers.get("location")
            if not location:
                raise UnexpectedResponse("claimDevices answered 202 without a Location header")
            if polls >= max_polls:
                raise UnexpectedResponse(f"claim still running after {polls} polls of {location}")
            wait = parse_retry_after(response.headers.get("retry-after"))
            sleep(wait if wait else (default_interval_s if polls else 0.0))
            response = self.request("GET", location, ok=(200, 202, 204))
            polls += 1

    def list_devices(self) -> list[dict[str, Any]]:
        """``POST …/listDevices`` following ``nextLink``."""
        return self._all_pages(self._call("POST", "/listDevices"))

    def _all_pages(self, response: httpx.Response) -> list[dict[str, Any]]:
        """The ``value`` items of an ARM pageable list, following ``nextLink`` to the last page."""
        items: list[dict[str, Any]] = []
        while True:
            body = response.json()
            items.extend(body.get("value") or [])
            next_link = body.get("nextLink")
            if not next_link:
                return items
            response = self.request("GET", next_link)


def _seg(value: str) -> str:
    return quote(str(value), safe="")

"""The Azure Sphere ARM API, ``Microsoft.AzureSphere`` 2024-04-01 on ``management.azure.com``, over the Sphere model.

A legacy tenant is an ARM catalog here (sphere-arm-api.md §1). This adapter only translates: it checks the
``api-version`` (SA-5) and the bearer token (audience ``"arm"``), validates names against the swagger patterns,
calls :class:`~simulator.sphere.model.SphereService` inside ``with cloud.lock:`` and answers with the ARM shapes:

* resources ``{"id", "name", "type", "properties": {...}}`` with the SA-1 types; certificate ``name`` = serial (K-8);
* pageable lists ``{"value": [...], "nextLink": <absolute URL or absent>}``;
* ``retrieveProofOfPossessionNonce`` answers the proof's ``CertificateProperties`` **flat** (SA-4);
* ``claimDevices`` answers 202 with an absolute ``Location`` built from the request's scheme and ``Host`` and
  ``Retry-After`` (SA-6); that URL answers 202 while pending, 200 ``{}`` when done, the ARM error when failed;
* errors ``{"error": {"code", "message", "target", "details", "additionalInfo"}}``; 401s carry
  ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from cryptography import x509
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator import pki
from simulator.sphere.errors import SphereError, bad_request, not_found
from simulator.sphere.model import (
    CATALOG_NAME_PATTERN,
    DEVICE_GROUP_NAME_PATTERN,
    DEVICE_ID_PATTERN,
    PRODUCT_NAME_PATTERN,
    CAGeneration,
    ClaimOperation,
    DeviceGroup,
    DeviceRecord,
    Principal,
    Product,
    SphereService,
    Tenant,
)
from simulator.sphere.routing import case_insensitive_routes

API_VERSION = "2024-04-01"
PROVIDER = "Microsoft.AzureSphere"
DEFAULT_PAGE_SIZE = 100
CATALOG = (
    "/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
    "/providers/Microsoft.AzureSphere/catalogs/{catalog}"
)
OPERATION_STATUS = (
    "/subscriptions/{subscription_id}/providers/Microsoft.AzureSphere/locations/global/operationStatuses/{operation_id}"
)

TYPES = {  # SA-1
    "catalog": f"{PROVIDER}/catalogs",
    "certificate": f"{PROVIDER}/catalogs/certificates",
    "product": f"{PROVIDER}/catalogs/products",
    "device_group": f"{PROVIDER}/catalogs/products/deviceGroups",
    "device": f"{PROVIDER}/catalogs/products/deviceGroups/devices",
}


def arm_time(value: datetime) -> str:
    """ARM ``date-time``: ISO 8601 UTC with ``Z`` (SL-12)."""
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{value.microsecond:06d}".rstrip("0") if value.microsecond else "") + "Z"


# -- bodies ----------------------------------------------------------------------------------------------------


def catalog_id(tenant: Tenant) -> str:
    return (
        f"/subscriptions/{tenant.subscription_id}/resourceGroups/{tenant.resource_group}"
        f"/providers/{PROVIDER}/catalogs/{tenant.catalog}"
    )


def catalog_body(tenant: Tenant) -> dict[str, Any]:
    """``Catalog``: a tracked resource in ``global`` whose ``tenantId`` is the legacy tenant's GUID."""
    return {
        "id": catalog_id(tenant),
        "name": tenant.catalog,
        "type": TYPES["catalog"],
        "location": "global",
        "tags": {},
        "properties": {"tenantId": tenant.id, "provisioningState": "Succeeded"},
    }


def certificate_properties(certificate: x509.Certificate, status: str) -> dict[str, Any]:
    """``CertificateProperties``; ``subject`` CN first, comma-space separated (SA-7)."""
    return {
        "certificate": pki.to_b64(certificate),
        "status": status,
        "subject": pki.subject_string(certificate),
        "thumbprint": pki.thumbprint(certificate),
        "expiryUtc": arm_time(certificate.not_valid_after_utc),
        "notBeforeUtc": arm_time(certificate.not_valid_before_utc),
        "provisioningState": "Succeeded",
    }


def certificate_body(tenant: Tenant, generation: CAGeneration, now: datetime) -> dict[str, Any]:
    return {
        "id": f"{catalog_id(tenant)}/certificates/{generation.serial}",
        "name": generation.serial,
        "type": TYPES["certificate"],
        "properties": certificate_properties(generation.certificate, generation.status(now)),
    }


def product_body(tenant: Tenant, product: Product) -> dict[str, Any]:
    return {
        "id": f"{catalog_id(tenant)}/products/{product.name}",
        "name": product.name,
        "type": TYPES["product"],
        "properties": {"description": None, "provisioningState": "Succeeded"},
    }


def device_group_body(tenant: Tenant, group: DeviceGroup) -> dict[str, Any]:
    return {
        "id": f"{catalog_id(tenant)}/products/{group.product.name}/deviceGroups/{group.name}",
        "name": group.name,
        "type": TYPES["device_group"],
        "properties": {
            "description": None,
            "osFeedType": "Retail",
            "updatePolicy": "UpdateAll",
            "allowCrashDumpsCollection": "Disabled",
            "regionalDataBoundary": "None",
            "hasDeployment": False,
            "provisioningState": "Succeeded",
        },
    }


def device_body(tenant: Tenant, record: DeviceRecord) -> dict[str, Any]:
    """``Device``; ``chipSku`` is a string here (the legacy API's integer 0 is ``MT3620AN``)."""
    product, group = ".unassigned", ".unassigned"
    if record.device_group_id is not None:
        found = tenant.device_group_by_id(record.device_group_id)
        product, group = found.product.name, found.name
    return {
        "id": f"{catalog_id(tenant)}/products/{product}/deviceGroups/{group}/devices/{record.id}",
        "name": record.id,
        "type": TYPES["device"],
        "properties": {
            "deviceId": record.id,
            "chipSku": "MT3620AN",
            "lastAvailableOsVersion": None,
            "lastInstalledOsVersion": None,
            "lastOsUpdateUtc": None,
            "lastUpdateRequestUtc": None,
            "provisioningState": "Succeeded",
        },
    }


def error_body(code: str, message: str, target: str | None = None) -> dict[str, Any]:
    """ARM common-types v3 ``ErrorResponse``."""
    return {"error": {"code": code, "message": message, "target": target, "details": [], "additionalInfo": []}}


def error_response(request: Request, status: int, code: str, message: str, *, target: str | None = None) -> Response:
    """The ARM error shape; 401 answers carry ``WWW-Authenticate: Bearer``. Also what injected faults answer with."""
    headers = {"x-ms-failure-cause": "service"}
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(error_body(code, message, target), status, headers=headers)


# -- the adapter -----------------------------------------------------------------------------------------------


class ArmApi:
    """Request translation for one world; route names are the swagger operationIds (fault rules match them)."""

    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        c, dg = CATALOG, CATALOG + "/products/{product}/deviceGroups/{device_group}"
        subscription = "/subscriptions/{subscription_id}"
        self.table: list[tuple[str, str, str, Callable[..., Response]]] = [
            (
                "GET",
                subscription + f"/providers/{PROVIDER}/catalogs",
                "Catalogs_ListBySubscription",
                self.list_catalogs,
            ),
            (
                "GET",
                subscription + "/resourceGroups/{resource_group}/providers/" + PROVIDER + "/catalogs",
                "Catalogs_ListByResourceGroup",
                self.list_catalogs,
            ),
            ("GET", c, "Catalogs_Get", self.get_catalog),
            ("GET", c + "/certificates", "Certificates_ListByCatalog", self.list_certificates),
            ("GET", c + "/certificates/{serial}", "Certificates_Get", self.get_certificate),
            ("POST", c + "/certificates/{serial}/retrieveCertChain", "Certificates_RetrieveCertChain", self.chain),
            (
                "POST",
                c + "/certificates/{serial}/retrieveProofOfPossessionNonce",
                "Certificates_RetrieveProofOfPossessionNonce",
                self.proof,
            ),
            ("POST", c + "/listDevices", "Catalogs_ListDevices", self.list_catalog_devices),
            ("GET", c + "/products", "Products_ListByCatalog", self.list_products),
            ("GET", c + "/products/{product}", "Products_Get", self.get_product),
            ("GET", c + "/products/{product}/deviceGroups", "DeviceGroups_ListByProduct", self.list_device_groups),
            ("GET", dg, "DeviceGroups_Get", self.get_device_group),
            ("POST", dg + "/claimDevices", "DeviceGroups_ClaimDevices", self.claim_devices),
            ("GET", dg + "/devices", "Devices_ListByDeviceGroup", self.list_group_devices),
            ("GET", dg + "/devices/{device}", "Devices_Get", self.get_device),
            ("GET", OPERATION_STATUS, "OperationStatuses_Get", self.operation_status),
        ]

    @property
    def sphere(self) -> SphereService:
        return self.cloud.sphere

    @property
    def settings(self) -> Any:
        return self.cloud.settings.sphere

    def routes(self) -> list[Route]:
        """One Starlette route per operation; ARM paths match case-insensitively."""
        return case_insensitive_routes(self.table, self._endpoint)

    def _endpoint(self, handler: Callable[..., Response]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            body = await request.body() if request.method in ("PUT", "POST", "PATCH") else b""
            try:
                with self.cloud.lock:
                    principal = self._principal(request)
                    self._check_api_version(request)
                    return handler(request, principal, body, **request.path_params)
            except SphereError as exc:
                return error_response(request, exc.status, exc.code, exc.message, target=exc.target)

        return endpoint

    # -- front door --------------------------------------------------------------------------------------------

    def _principal(self, request: Request) -> Principal:
        header = request.headers.get("authorization")
        if header is None:
            return self.sphere.authenticate(None, "arm")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise SphereError(401, "InvalidAuthenticationToken", "The access token is missing or malformed.")
        return self.sphere.authenticate(token.strip(), "arm")

    def _check_api_version(self, request: Request) -> None:
        version = request.query_params.get("api-version")
        if version is None:
            raise SphereError(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
        accepted = self.settings.arm_accepted_api_versions
        if version not in accepted:
            raise SphereError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. The supported versions are '{', '.join(accepted)}'.",
            )

    def _catalog(
        self, principal: Principal, subscription_id: str, resource_group: str, catalog: str, *, claim: bool = False
    ) -> Tenant:
        if not CATALOG_NAME_PATTERN.match(catalog):
            raise bad_request(f"The catalog name '{catalog}' is invalid.", target=catalog, code="InvalidResourceName")
        tenant = self.sphere.catalog(subscription_id, resource_group, catalog)
        self.sphere.authorize(principal, tenant, claim=claim)
        return tenant

    @staticmethod
    def _names(product: str | None = None, device_group: str | None = None, device: str | None = None) -> None:
        if product is not None and not PRODUCT_NAME_PATTERN.match(product):
            raise bad_request(f"The product name '{product}' is invalid.", target=product, code="InvalidResourceName")
        if device_group is not None and not DEVICE_GROUP_NAME_PATTERN.match(device_group):
            raise bad_request(
                f"The device group name '{device_group}' is invalid.", target=device_group, code="InvalidResourceName"
            )
        if device is not None and not DEVICE_ID_PATTERN.match(device):
            raise bad_request(f"The device name '{device}' is invalid.", target=device, code="InvalidResourceName")

    @staticmethod
    def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return JSONResponse(data, status, headers=headers)

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Response:
        """``{"value", "nextLink"}`` honouring ``$top``, ``$skip`` and ``$maxpagesize``; nextLink absolute."""
        params = request.query_params
        if params.get("$filter"):
            raise bad_request("$filter is not supported on this collection.", target="$filter")
        numbers = {}
        for name, default in (("$skip", 0), ("$top", None), ("$maxpagesize", DEFAULT_PAGE_SIZE)):
            raw = params.get(name)
            if raw is None:
                numbers[name] = default
            elif raw.isdigit() and (int(raw) > 0 or name == "$skip"):
                numbers[name] = int(raw)
            else:
                raise bad_request(f"{name} must be a positive integer.", target=name)
        skip, top, size = numbers["$skip"], numbers["$top"], numbers["$maxpagesize"]
        end = len(items) if top is None else min(len(items), top)
        page = items[skip : min(end, skip + size)]
        body: dict[str, Any] = {"value": page}
        following = skip + size
        if following < end:
            query = {k: v for k, v in params.items() if k != "$skip"}
            query["$skip"] = str(following)
            body["nextLink"] = str(request.url.replace(query=urlencode(query)))
        return self._json(body)

    # -- catalogs and certificates -----------------------------------------------------------------------------

    def list_catalogs(
        self,
        request: Request,
        principal: Principal,
        body: bytes,
        subscription_id: str,
        resource_group: str | None = None,
    ) -> Response:
        tenants = [t for t in self.sphere.catalogs(subscription_id, resource_group) if principal.roles_in(t.id)]
        return self._page(request, [catalog_body(t) for t in tenants])

    def get_catalog(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        return self._json(catalog_body(self._catalog(principal, **path)))

    def list_certificates(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        tenant = self._catalog(principal, **path)
        now = self.sphere.clock.now()
        return self._page(request, [certificate_body(tenant, g, now) for g in tenant.generations])

    def get_certificate(
        self, request: Request, principal: Principal, body: bytes, serial: str, **path: str
    ) -> Response:
        tenant = self._catalog(principal, **path)
        generation = self.sphere.usable_generation(tenant, serial)
        return self._json(certificate_body(tenant, generation, self.sphere.clock.now()))

    def chain(self, request: Request, principal: Principal, body: bytes, serial: str, **path: str) -> Response:
        """``{"certificateChain"}``: tenant CA, policy CA, root as base64 PKCS#7 (or PEM, SA-2)."""
        tenant = self._catalog(principal, **path)
        generation = self.sphere.usable_generation(tenant, serial)
        chain = [generation.certificate, self.sphere.policy.certificate, self.sphere.root.certificate]
        if self.settings.arm_chain_encoding == "pem":
            text = pki.chain_to_pem(chain).decode("ascii")
        else:
            text = base64.b64encode(pki.chain_to_p7b(chain)).decode("ascii")
        return self._json({"certificateChain": text})

    def proof(self, request: Request, principal: Principal, body: bytes, serial: str, **path: str) -> Response:
        """The proof certificate for ``proofOfPossessionNonce``, its properties flat (SA-4)."""
        tenant = self._catalog(principal, **path)
        request_body = _json_object(body)
        code = request_body.get("proofOfPossessionNonce")
        if not isinstance(code, str):
            raise bad_request("proofOfPossessionNonce (a string) is required.", target="proofOfPossessionNonce")
        certificate = self.sphere.issue_proof(tenant.id, code, serial)
        return self._json(certificate_properties(certificate, "Active"))

    # -- products, device groups, devices ----------------------------------------------------------------------

    def list_products(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        tenant = self._catalog(principal, **path)
        return self._page(request, [product_body(tenant, p) for p in tenant.products.values()])

    def get_product(self, request: Request, principal: Principal, body: bytes, product: str, **path: str) -> Response:
        tenant = self._catalog(principal, **path)
        self._names(product)
        return self._json(product_body(tenant, tenant.product(product)))

    def list_device_groups(
        self, request: Request, principal: Principal, body: bytes, product: str, **path: str
    ) -> Response:
        tenant = self._catalog(principal, **path)
        self._names(product)
        groups = tenant.product(product).device_groups.values()
        return self._page(request, [device_group_body(tenant, g) for g in groups])

    def get_device_group(
        self, request: Request, principal: Principal, body: bytes, product: str, device_group: str, **path: str
    ) -> Response:
        tenant = self._catalog(principal, **path)
        self._names(product, device_group)
        return self._json(device_group_body(tenant, tenant.product(product).device_group(device_group)))

    def list_catalog_devices(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        tenant = self._catalog(principal, **path)
        return self._page(request, [device_body(tenant, r) for r in self.sphere.list_devices(tenant.id)])

    def list_group_devices(
        self, request: Request, principal: Principal, body: bytes, product: str, device_group: str, **path: str
    ) -> Response:
        tenant = self._catalog(principal, **path)
        self._names(product, device_group)
        records = self.sphere.devices_in_group(tenant.id, product, device_group)
        return self._page(request, [device_body(tenant, r) for r in records])

    def get_device(
        self,
        request: Request,
        principal: Principal,
        body: bytes,
        product: str,
        device_group: str,
        device: str,
        **path: str,
    ) -> Response:
        tenant = self._catalog(principal, **path)
        self._names(product, device_group, device)
        for record in self.sphere.devices_in_group(tenant.id, product, device_group):
            if record.id == device.lower():
                return self._json(device_body(tenant, record))
        raise not_found("device", device)

    def claim_devices(
        self, request: Request, principal: Principal, body: bytes, product: str, device_group: str, **path: str
    ) -> Response:
        """202 + ``Location`` (absolute, this host) + ``Retry-After`` (SA-6); conflicts per SL-5."""
        tenant = self._catalog(principal, claim=True, **path)
        self._names(product, device_group)
        request_body = _json_object(body)
        device_ids = request_body.get("deviceIdentifiers")
        if not isinstance(device_ids, list) or not all(isinstance(d, str) for d in device_ids):
            raise bad_request("deviceIdentifiers (an array of device IDs) is required.", target="deviceIdentifiers")
        operation = self.sphere.claim_devices(tenant.id, device_ids, product=product, device_group=device_group)
        return Response(status_code=202, headers=self._operation_headers(request, tenant, operation))

    def _operation_headers(self, request: Request, tenant: Tenant, operation: ClaimOperation) -> dict[str, str]:
        path = OPERATION_STATUS.format(subscription_id=tenant.subscription_id, operation_id=operation.id)
        host = request.headers.get("host") or request.url.netloc
        location = f"{request.url.scheme}://{host}{path}?api-version={API_VERSION}"
        headers = {"Location": location, "Retry-After": str(self.settings.arm_claim_retry_after_s)}
        if self.settings.arm_send_azure_async_operation:
            headers["Azure-AsyncOperation"] = location
        return headers

    def operation_status(
        self, request: Request, principal: Principal, body: bytes, subscription_id: str, operation_id: str
    ) -> Response:
        """202 while the claim is pending, 200 ``{}`` when done, the ARM error of the first failure (SA-6)."""
        operation = self.sphere.operations.get(operation_id.lower())
        tenant = self.sphere.tenants.get(operation.tenant_id) if operation else None
        if operation is None or tenant is None or tenant.subscription_id.lower() != subscription_id.lower():
            raise not_found("operation", operation_id)
        self.sphere.authorize(principal, tenant)
        operation = self.sphere.get_operation(tenant.id, operation.id)
        now = self.sphere.clock.now()
        async_body = self.settings.arm_send_azure_async_operation
        if not operation.done(now):
            headers = self._operation_headers(request, tenant, operation)
            return self._json({"status": "InProgress"} if async_body else {}, 202, headers)
        failure = operation.error
        if failure is None:
            return self._json({"status": "Succeeded"} if async_body else {})
        if async_body:
            return self._json({"status": "Failed", **error_body(failure.code, failure.message, failure.target)})
        return error_response(request, failure.status, failure.code, failure.message, target=failure.target)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise bad_request("The request body must be a JSON object.")
    return value


def build_app(cloud: Any) -> Starlette:
    """The ARM API of ``cloud`` as a Starlette app (mount it at ``https://management.azure.com``)."""
    api = ArmApi(cloud)

    async def unrouted(request: Request, exc: Exception) -> Response:
        if getattr(exc, "status_code", 404) == 405:
            return error_response(request, 405, "MethodNotAllowed", f"{request.method} is not allowed here.")
        return error_response(request, 404, "ResourceNotFound", f"No resource at '{request.url.path}'.")

    app = Starlette(routes=api.routes(), exception_handlers={404: unrouted, 405: unrouted})
    app.state.cloud = cloud
    return app

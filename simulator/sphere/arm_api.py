"""The Azure Sphere ARM API, ``Microsoft.AzureSphere`` 2024-04-01 on ``management.azure.com``, over the Sphere model.

A legacy tenant is an ARM catalog here. This adapter only translates: it checks the
``api-version`` and the bearer token (audience ``"arm"``), validates path names against the swagger
patterns, calls :class:`~simulator.sphere.model.SphereService` inside ``with cloud.lock:`` and answers with the ARM
shapes of :mod:`simulator.sphere.arm_bodies`:

* every one of the document's 45 operations is routed; route names are the swagger operationIds (fault rules match
  them); reads live here, writes and their long-running answers in :mod:`simulator.sphere.arm_writes`;
* every list honours ``$filter``/``$top``/``$skip``/``$maxpagesize`` and pages with an absolute ``nextLink``
  (:mod:`simulator.sphere.arm_query`); the POST lists also answer GET, which is how clients follow ``nextLink``;
* ``retrieveProofOfPossessionNonce`` answers the proof's ``CertificateProperties`` **flat**;
* ``claimDevices`` answers 202 with an absolute ``Location`` built from the request's scheme and ``Host`` and
  ``Retry-After``; that URL answers 202 while pending, 200 ``{}`` when done, the ARM error when failed;
* errors ``{"error": {"code", "message", "target"?}}`` with ``x-ms-failure-cause: service``; 401s carry
  ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator import pki, wire
from simulator.sphere import arm_bodies as bodies
from simulator.sphere.arm_bodies import PROVIDER, error_body
from simulator.sphere.arm_query import list_query
from simulator.sphere.arm_writes import ArmWrites, json_object
from simulator.sphere.errors import SphereError, bad_request, not_found
from simulator.sphere.model import (
    CATALOG_NAME_PATTERN,
    DEVICE_ID_PATTERN,
    DeviceRecord,
    Principal,
    SphereService,
    Tenant,
)
from simulator.sphere.products import check_device_group_name, check_product_name
from simulator.sphere.routing import allowed_methods, bearer_principal, case_insensitive_routes

API_VERSION = "2024-04-01"
SUBSCRIPTION = "/subscriptions/{subscription_id}"
CATALOG = SUBSCRIPTION + "/resourceGroups/{resource_group}/providers/Microsoft.AzureSphere/catalogs/{catalog}"
PRODUCT = CATALOG + "/products/{product}"
DEVICE_GROUP = PRODUCT + "/deviceGroups/{device_group}"
DEVICE = DEVICE_GROUP + "/devices/{device}"
LOCATION = SUBSCRIPTION + "/providers/Microsoft.AzureSphere/locations/global"
OPERATION_STATUS = LOCATION + "/operationStatuses/{operation_id}"  # Azure-AsyncOperation (and a claim's Location)
OPERATION_RESULT = LOCATION + "/operationResults/{operation_id}"  # Location of the other long-running writes

# kept importable from here (earlier home of these names)
TYPES = bodies.TYPES
arm_time = bodies.arm_time
catalog_body = bodies.catalog_body
certificate_body = bodies.certificate_body
certificate_properties = bodies.certificate_properties

Handler = Callable[..., Response]


def error_response(request: Request, status: int, code: str, message: str, *, target: str | None = None) -> Response:
    """The ARM error shape; 401 answers carry ``WWW-Authenticate: Bearer``. Also what injected faults answer with."""
    headers = {"x-ms-failure-cause": "service"}
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(error_body(code, message, target), status, headers=headers)


# -- the adapter -----------------------------------------------------------------------------------------------


class ArmApi(ArmWrites):
    """Request translation for one world; route names are the swagger operationIds (fault rules match them)."""

    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        c, p, dg, dev = CATALOG, PRODUCT, DEVICE_GROUP, DEVICE
        self.table: list[tuple[str, str, str, Handler]] = [
            ("GET", f"/providers/{PROVIDER}/operations", "Operations_List", self.list_operations),
            (
                "GET",
                SUBSCRIPTION + f"/providers/{PROVIDER}/catalogs",
                "Catalogs_ListBySubscription",
                self.list_catalogs,
            ),
            (
                "GET",
                SUBSCRIPTION + "/resourceGroups/{resource_group}/providers/" + PROVIDER + "/catalogs",
                "Catalogs_ListByResourceGroup",
                self.list_catalogs,
            ),
            ("GET", c, "Catalogs_Get", self.get_catalog),
            ("PUT", c, "Catalogs_CreateOrUpdate", self.put_catalog),
            ("PATCH", c, "Catalogs_Update", self.patch_catalog),
            ("DELETE", c, "Catalogs_Delete", self.delete_catalog),
            ("GET", c + "/certificates", "Certificates_ListByCatalog", self.list_certificates),
            ("GET", c + "/certificates/{serial}", "Certificates_Get", self.get_certificate),
            ("POST", c + "/certificates/{serial}/retrieveCertChain", "Certificates_RetrieveCertChain", self.chain),
            (
                "POST",
                c + "/certificates/{serial}/retrieveProofOfPossessionNonce",
                "Certificates_RetrieveProofOfPossessionNonce",
                self.proof,
            ),
            ("POST", c + "/countDevices", "Catalogs_CountDevices", self.count_catalog_devices),
            ("GET", c + "/images", "Images_ListByCatalog", self.list_images),
            ("GET", c + "/images/{image}", "Images_Get", self.get_image),
            ("PUT", c + "/images/{image}", "Images_CreateOrUpdate", self.put_image),
            ("DELETE", c + "/images/{image}", "Images_Delete", self.delete_image),
            ("POST", c + "/uploadImage", "Catalogs_UploadImage", self.upload_image),
            *self._post_list(c + "/listDeployments", "Catalogs_ListDeployments", self.list_catalog_deployments),
            *self._post_list(c + "/listDeviceGroups", "Catalogs_ListDeviceGroups", self.list_catalog_device_groups),
            *self._post_list(c + "/listDeviceInsights", "Catalogs_ListDeviceInsights", self.list_device_insights),
            *self._post_list(c + "/listDevices", "Catalogs_ListDevices", self.list_catalog_devices),
            ("GET", c + "/products", "Products_ListByCatalog", self.list_products),
            ("GET", p, "Products_Get", self.get_product),
            ("PUT", p, "Products_CreateOrUpdate", self.put_product),
            ("PATCH", p, "Products_Update", self.patch_product),
            ("DELETE", p, "Products_Delete", self.delete_product),
            ("POST", p + "/countDevices", "Products_CountDevices", self.count_product_devices),
            *self._post_list(
                p + "/generateDefaultDeviceGroups", "Products_GenerateDefaultDeviceGroups", self.generate_default_groups
            ),
            ("GET", p + "/deviceGroups", "DeviceGroups_ListByProduct", self.list_device_groups),
            ("GET", dg, "DeviceGroups_Get", self.get_device_group),
            ("PUT", dg, "DeviceGroups_CreateOrUpdate", self.put_device_group),
            ("PATCH", dg, "DeviceGroups_Update", self.patch_device_group),
            ("DELETE", dg, "DeviceGroups_Delete", self.delete_device_group),
            ("POST", dg + "/claimDevices", "DeviceGroups_ClaimDevices", self.claim_devices),
            ("POST", dg + "/countDevices", "DeviceGroups_CountDevices", self.count_group_devices),
            ("GET", dg + "/deployments", "Deployments_ListByDeviceGroup", self.list_deployments),
            ("GET", dg + "/deployments/{deployment}", "Deployments_Get", self.get_deployment),
            ("PUT", dg + "/deployments/{deployment}", "Deployments_CreateOrUpdate", self.put_deployment),
            ("DELETE", dg + "/deployments/{deployment}", "Deployments_Delete", self.delete_deployment),
            ("GET", dg + "/devices", "Devices_ListByDeviceGroup", self.list_group_devices),
            ("GET", dev, "Devices_Get", self.get_device),
            ("PUT", dev, "Devices_CreateOrUpdate", self.put_device),
            ("PATCH", dev, "Devices_Update", self.patch_device),
            ("DELETE", dev, "Devices_Delete", self.delete_device),
            ("POST", dev + "/generateCapabilityImage", "Devices_GenerateCapabilityImage", self.capability_image),
            ("GET", OPERATION_STATUS, "OperationStatuses_Get", self.operation_status),
            ("GET", OPERATION_RESULT, "OperationResults_Get", self.operation_result),
        ]

    @staticmethod
    def _post_list(path: str, name: str, handler: Handler) -> list[tuple[str, str, str, Handler]]:
        """A POST list also answers GET: azure-mgmt-core follows every ``nextLink`` with GET."""
        return [("POST", path, name, handler), ("GET", path, name, handler)]

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
        """Read the request through the wire seam (:mod:`simulator.wire`): the query string's text and at most
        :data:`simulator.wire.DEFAULT_MAX_BYTES` of a PUT/POST/PATCH body (413 beyond), then call
        ``handler(request, principal, body, **path)`` under the world's lock; the handler parses ``body`` with
        :func:`simulator.sphere.arm_writes.json_object`, which parses through the seam as well."""

        async def endpoint(request: Request) -> Response:
            try:
                wire.check_query(request)
                limit = self._body_limit(handler)
                body = (
                    await wire.read_body(request, max_bytes=limit)
                    if request.method in ("PUT", "POST", "PATCH")
                    else b""
                )
                with self.cloud.lock:
                    principal = self._principal(request)
                    self._check_api_version(request)
                    return handler(request, principal, body, **request.path_params)
            except SphereError as exc:
                return error_response(request, exc.status, exc.code, exc.message, target=exc.target)
            except wire.WireError as exc:
                code = "RequestEntityTooLarge" if exc.status == 413 else "InvalidRequestContent"
                return error_response(request, exc.status, code, exc.message, target=exc.target)

        return endpoint

    def _body_limit(self, handler: Callable[..., Response]) -> int:
        """The largest body a route reads: the wire default, or for an image upload room for the base64 of
        ``sphere.max_image_bytes`` (so the model's own size rule is what refuses a large image)."""
        if handler in (self.put_image, self.upload_image):
            encoded = 4 * -(-self.settings.max_image_bytes // 3)
            return max(wire.DEFAULT_MAX_BYTES, encoded + 64 * 1024)
        return wire.DEFAULT_MAX_BYTES

    # -- front door --------------------------------------------------------------------------------------------

    def _principal(self, request: Request) -> Principal:
        return bearer_principal(self.sphere, request, "arm", "The access token is missing or malformed.")

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
        self,
        principal: Principal,
        subscription_id: str,
        resource_group: str,
        catalog: str,
        *,
        claim: bool = False,
        write: bool = False,
    ) -> Tenant:
        if not CATALOG_NAME_PATTERN.match(catalog):
            raise bad_request(f"The catalog name '{catalog}' is invalid.", target=catalog, code="InvalidResourceName")
        tenant = self.sphere.catalog(subscription_id, resource_group, catalog)
        self.sphere.authorize(principal, tenant, claim=claim, write=write)
        return tenant

    def _device(
        self, principal: Principal, product: str, device_group: str, device: str, *, write: bool = False, **path: str
    ) -> tuple[Tenant, DeviceRecord]:
        """The catalog (authorized for ``write`` if asked) and the device a device path names."""
        tenant = self._catalog(principal, write=write, **path)
        self._names(product, device_group, device, placeholders=True)
        return tenant, self.sphere.device_in_group(tenant.id, product, device_group, device)

    @staticmethod
    def _names(
        product: str | None = None,
        device_group: str | None = None,
        device: str | None = None,
        *,
        placeholders: bool = False,
    ) -> None:
        """Path names against the swagger patterns (400 ``InvalidResourceName``); ``.default``/``.unassigned`` only
        where the operation allows them."""
        if product is not None:
            check_product_name(product, allow_placeholder=placeholders)
        if device_group is not None:
            check_device_group_name(device_group, allow_placeholder=placeholders)
        if device is not None and not DEVICE_ID_PATTERN.match(device):
            raise bad_request(f"The device name '{device}' is invalid.", target=device, code="InvalidResourceName")

    @staticmethod
    def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return JSONResponse(data, status, headers=headers)

    def _list(
        self, request: Request, kind: str | tuple[str, ...], items: list[dict[str, Any]], state: Any = None
    ) -> Response:
        """A page of ``items`` under the list query options; ``kind`` names the schema ``$filter`` may use."""
        paths = bodies.filter_paths(kind) if isinstance(kind, str) else kind
        return self._json(list_query(request.url, request.query_params, paths).page(items, state))

    def _now(self) -> Any:
        return self.sphere.clock.now()

    # -- provider operations, catalogs and certificates --------------------------------------------------------

    def list_operations(self, request: Request, principal: Principal, body: bytes) -> Response:
        """``Operations_List``: every operation this provider serves, named as in RBAC."""
        operations = bodies.provider_operations(self.table)
        return self._list(request, ("name", "display/resource", "display/operation"), operations)

    def list_catalogs(
        self,
        request: Request,
        principal: Principal,
        body: bytes,
        subscription_id: str,
        resource_group: str | None = None,
    ) -> Response:
        tenants = [t for t in self.sphere.catalogs(subscription_id, resource_group) if principal.roles_in(t.id)]
        return self._list(request, "catalog", [catalog_body(t) for t in tenants])

    def get_catalog(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        return self._json(catalog_body(self._catalog(principal, **path)))

    def list_certificates(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        tenant = self._catalog(principal, **path)
        now = self._now()
        return self._list(request, "certificate", [certificate_body(tenant, g, now) for g in tenant.generations])

    def get_certificate(
        self, request: Request, principal: Principal, body: bytes, serial: str, **path: str
    ) -> Response:
        tenant = self._catalog(principal, **path)
        generation = self.sphere.usable_generation(tenant, serial)
        return self._json(certificate_body(tenant, generation, self._now()))

    def chain(self, request: Request, principal: Principal, body: bytes, serial: str, **path: str) -> Response:
        """``{"certificateChain"}``: tenant CA, policy CA, root as base64 PKCS#7 (or PEM)."""
        tenant = self._catalog(principal, **path)
        generation = self.sphere.usable_generation(tenant, serial)
        chain = [generation.certificate, self.sphere.policy.certificate, self.sphere.root.certificate]
        if self.settings.arm_chain_encoding == "pem":
            text = pki.chain_to_pem(chain).decode("ascii")
        else:
            text = base64.b64encode(pki.chain_to_p7b(chain)).decode("ascii")
        return self._json({"certificateChain": text})

    def proof(self, request: Request, principal: Principal, body: bytes, serial: str, **path: str) -> Response:
        """The proof certificate for ``proofOfPossessionNonce``, its properties flat."""
        tenant = self._catalog(principal, **path)
        request_body = json_object(body)
        code = request_body.get("proofOfPossessionNonce")
        if not isinstance(code, str):
            raise bad_request("proofOfPossessionNonce (a string) is required.", target="proofOfPossessionNonce")
        certificate = self.sphere.issue_proof(tenant.id, code, serial)
        return self._json(certificate_properties(certificate, "Active"))

    def count_catalog_devices(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        tenant = self._catalog(principal, **path)
        return self._json({"value": self.sphere.count_devices(tenant.id)})

    # -- images and deployments --------------------------------------------------------------------------------

    def list_images(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        tenant = self._catalog(principal, **path)
        now = self._now()
        return self._list(
            request, "image", [bodies.image_body(tenant, i, now) for i in self.sphere.list_images(tenant.id)]
        )

    def get_image(self, request: Request, principal: Principal, body: bytes, image: str, **path: str) -> Response:
        tenant = self._catalog(principal, **path)
        return self._json(bodies.image_body(tenant, self.sphere.get_image(tenant.id, image), self._now()))

    def list_catalog_deployments(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        tenant = self._catalog(principal, **path)
        now = self._now()
        deployments = self.sphere.list_deployments(tenant.id)
        return self._list(request, "deployment", [bodies.deployment_body(tenant, d, now) for d in deployments])

    def list_deployments(
        self, request: Request, principal: Principal, body: bytes, product: str, device_group: str, **path: str
    ) -> Response:
        tenant = self._catalog(principal, **path)
        self._names(product, device_group)
        now = self._now()
        deployments = self.sphere.list_deployments(tenant.id, product, device_group)
        return self._list(request, "deployment", [bodies.deployment_body(tenant, d, now) for d in deployments])

    def get_deployment(
        self,
        request: Request,
        principal: Principal,
        body: bytes,
        product: str,
        device_group: str,
        deployment: str,
        **path: str,
    ) -> Response:
        tenant = self._catalog(principal, **path)
        self._names(product, device_group)
        found = self.sphere.get_deployment(tenant.id, product, device_group, deployment)
        return self._json(bodies.deployment_body(tenant, found, self._now()))

    # -- products, device groups, devices ----------------------------------------------------------------------

    def list_products(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        tenant = self._catalog(principal, **path)
        now = self._now()
        products = self.sphere.real_products(tenant.id)
        return self._list(request, "product", [bodies.product_body(tenant, p, now) for p in products])

    def get_product(self, request: Request, principal: Principal, body: bytes, product: str, **path: str) -> Response:
        tenant = self._catalog(principal, **path)
        self._names(product)
        return self._json(bodies.product_body(tenant, tenant.product(product), self._now()))

    def count_product_devices(
        self, request: Request, principal: Principal, body: bytes, product: str, **path: str
    ) -> Response:
        tenant = self._catalog(principal, **path)
        self._names(product)
        return self._json({"value": self.sphere.count_devices(tenant.id, product)})

    def list_device_groups(
        self, request: Request, principal: Principal, body: bytes, product: str, **path: str
    ) -> Response:
        tenant = self._catalog(principal, **path)
        self._names(product)
        now = self._now()
        groups = tenant.product(product).real_groups()
        return self._list(request, "device_group", [bodies.device_group_body(tenant, g, now) for g in groups])

    def list_catalog_device_groups(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        """``listDeviceGroups``: every group of the catalog, narrowed by the body's ``deviceGroupName`` (which a
        continuation carries in its token)."""
        tenant = self._catalog(principal, **path)
        query = list_query(request.url, request.query_params, bodies.filter_paths("device_group"))
        if request.method == "POST" and "$skipToken" not in request.query_params:
            request_body = json_object(body, allow_empty=True)
            name = request_body.get("deviceGroupName")
            if name is not None and not isinstance(name, str):
                raise bad_request("deviceGroupName is a string.", target="deviceGroupName")
        else:
            name = query.state.get("deviceGroupName")
        now = self._now()
        groups = self.sphere.device_groups_of(tenant.id, name)
        items = [bodies.device_group_body(tenant, g, now) for g in groups]
        return self._json(query.page(items, {"deviceGroupName": name} if name is not None else None))

    def get_device_group(
        self, request: Request, principal: Principal, body: bytes, product: str, device_group: str, **path: str
    ) -> Response:
        tenant = self._catalog(principal, **path)
        self._names(product, device_group)
        group = tenant.product(product).device_group(device_group)
        return self._json(bodies.device_group_body(tenant, group, self._now()))

    def count_group_devices(
        self, request: Request, principal: Principal, body: bytes, product: str, device_group: str, **path: str
    ) -> Response:
        tenant = self._catalog(principal, **path)
        self._names(product, device_group)
        return self._json({"value": self.sphere.count_devices(tenant.id, product, device_group)})

    def list_catalog_devices(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        tenant = self._catalog(principal, **path)
        records = self.sphere.list_devices(tenant.id)
        return self._list(request, "device", [bodies.device_body(tenant, r) for r in records])

    def list_device_insights(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        tenant = self._catalog(principal, **path)
        items = [bodies.insight_body(i) for i in self.sphere.device_insights(tenant.id)]
        return self._list(request, bodies.INSIGHT_FILTER_PATHS, items)

    def list_group_devices(
        self, request: Request, principal: Principal, body: bytes, product: str, device_group: str, **path: str
    ) -> Response:
        tenant = self._catalog(principal, **path)
        self._names(product, device_group, placeholders=True)
        records = self.sphere.devices_in_group(tenant.id, product, device_group)
        return self._list(request, "device", [bodies.device_body(tenant, r) for r in records])

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
        tenant, record = self._device(principal, product, device_group, device, **path)
        return self._json(bodies.device_body(tenant, record))


def build_app(cloud: Any) -> Starlette:
    """The ARM API of ``cloud`` as a Starlette app (mount it at ``https://management.azure.com``)."""
    api = ArmApi(cloud)

    routes = api.routes()

    async def unrouted(request: Request, exc: Exception) -> Response:
        if getattr(exc, "status_code", 404) == 405:
            response = error_response(request, 405, "MethodNotAllowed", f"{request.method} is not allowed here.")
            response.headers["Allow"] = allowed_methods(routes, request.url.path)
            return response
        return error_response(request, 404, "ResourceNotFound", f"No resource at '{request.url.path}'.")

    async def server_error(request: Request, exc: Exception) -> Response:
        """A bug: 500 in the ARM error shape (Starlette re-raises it afterwards, so the server still logs it)."""
        return error_response(request, 500, "InternalServerError", "The service failed to process the request.")

    app = Starlette(routes=routes, exception_handlers={404: unrouted, 405: unrouted, Exception: server_error})
    app.router.redirect_slashes = False  # a trailing slash is a path no route serves: 404 in this shape, no 307
    app.state.cloud = cloud
    return app


__all__ = ["API_VERSION", "ArmApi", "build_app", "error_response", "not_found"]

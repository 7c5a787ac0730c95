"""The legacy Azure Sphere public API v2 (``https://prod.core.sphere.azure.net/v2/…``) over the Sphere model.

This adapter only translates (docs/architecture.md): it matches the path, reads the bearer token, calls
:class:`~simulator.sphere.model.SphereService` inside ``with cloud.lock:`` and shapes the answer the way
the public API's reference (learn.microsoft.com/rest/api/azure-sphere) describes it:

* PascalCase JSON, integer enums, ``…UTC`` timestamps with seven fractional digits;
* certificate bodies as a JSON string literal of base64 (``sphere.legacy_string_body``);
* errors as an array of ``PublicApiErrorDetails`` (``sphere.legacy_error_body``), 401 with
  ``WWW-Authenticate: Bearer``;
* fixed path segments matched case-insensitively (``/v2/Tenants`` works);
* device lists paged with ``?maxPageSize`` and the ``Sphere-Continuation`` header.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator import pki, wire
from simulator.sphere.errors import SphereError, bad_request
from simulator.sphere.legacy_catalog import LegacyCatalog, json_body
from simulator.sphere.model import CAGeneration, ClaimOperation, DeviceRecord, Principal, SphereService, Tenant
from simulator.sphere.routing import allowed_methods, bearer_principal, case_insensitive_routes

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
CONTINUATION_HEADER = "Sphere-Continuation"


def utc(value: datetime | None) -> str | None:
    """``2026-11-29T10:00:00.0000000Z`` — ISO 8601 UTC with seven fractional digits."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"


# -- bodies ----------------------------------------------------------------------------------------------------


def tenant_body(tenant: Tenant, principal: Principal) -> dict[str, Any]:
    """``TenantIdentity``."""
    return {"Id": tenant.id, "Name": tenant.name, "Roles": principal.roles_in(tenant.id)}


def certificate_status_body(generation: CAGeneration, now: datetime) -> dict[str, Any]:
    """``TenantCertificateStatus``: metadata of every generation, expired and revoked ones included."""
    status = generation.status(now)
    return {
        "Certificate": pki.to_b64(generation.certificate),
        "IsActive": status == "Active",
        "IsRevoked": status == "Revoked",
        "Thumbprint": generation.thumbprint,
    }


def operation_body(operation: ClaimOperation, now: datetime, *, fresh: bool = False) -> dict[str, Any]:
    """``Operation``. ``fresh`` is the 202 answer to the claim itself: State 0, NotStarted."""
    state = 0 if fresh else operation.state(now)
    error = operation.error if state in (3, 4) else None
    return {
        "OperationId": operation.id,
        "OperationType": operation.operation_type,
        "State": state,
        "TenantId": operation.tenant_id,
        "CreatedDateUTC": utc(operation.created_at),
        "StartedDateUTC": None if state == 0 else utc(operation.created_at),
        "CompletedDateUTC": utc(operation.completes_at) if state in (2, 3, 4) else None,
        "ResourceLocation": None,
        "DetailsLocation": None,
        "Error": None if error is None else {"Code": error.operation_code, "Message": error.message},
    }


def device_body(record: DeviceRecord) -> dict[str, Any]:
    """``DeviceV2``."""
    return {
        "DeviceId": record.id,
        "TenantId": record.tenant_id,
        "ProductId": record.product_id,
        "DeviceGroupId": record.device_group_id,
        "ChipSku": record.chip_sku,
        "LastAvailableOSVersion": record.last_available_os,
        "LastInstalledOSVersion": record.last_installed_os,
        "LastOSUpdateUTC": utc(record.last_os_update),
        "LastUpdateRequestUTC": utc(record.last_update_request),
    }


# -- the adapter -----------------------------------------------------------------------------------------------


class LegacyApi(LegacyCatalog):
    """Request translation for one world: each route reads the request, calls the model under the world's lock and
    shapes the answer. Route names are the operation names fault rules match (:mod:`simulator.fault_middleware`).
    Products, device groups, single devices, roles and capability images: :mod:`simulator.sphere.legacy_catalog`."""

    utc = staticmethod(utc)

    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        t = "/v2/tenants/{tenant_id}"
        self.table: list[tuple[str, str, str, Callable[..., Response]]] = [
            ("GET", "/v2/tenants", "list_tenants", self.list_tenants),
            ("GET", t, "get_tenant", self.get_tenant),
            ("GET", t + "/certificates", "list_certificates", self.list_certificates),
            ("GET", t + "/cert", "get_certificate", self.get_certificate),
            ("GET", t + "/certchain", "get_certificate_chain", self.get_certificate_chain),
            ("GET", t + "/verification/{code}", "get_proof", self.get_proof),
            ("GET", t + "/certs", "list_certs", self.list_certs_deprecated),
            ("GET", t + "/certchains", "list_certchains", self.list_certchains_deprecated),
            ("PUT", t + "/devices/{device_id}/claim", "claim_device", self.claim),
            ("PUT", t + "/devices", "bulk_claim", self.bulk_claim),
            ("GET", t + "/operations/{operation_id}", "get_operation", self.get_operation),
            ("GET", t + "/devices", "list_devices", self.list_devices),
            ("GET", t + "/products/{product_id}/devices", "list_product_devices", self.list_product_devices),
            ("GET", t + "/devicegroups/{group_id}/devices", "list_group_devices", self.list_group_devices),
            *self.catalog_routes(t),
        ]

    def routes(self) -> list[Route]:
        """One Starlette route per operation; paths match case-insensitively."""
        return case_insensitive_routes(self.table, self._endpoint)

    def _endpoint(self, handler: Callable[..., Response]) -> Callable[[Request], Awaitable[Response]]:
        """Read the request through the wire seam (:mod:`simulator.wire`): the query string's text and at most
        :data:`simulator.wire.DEFAULT_MAX_BYTES` of a PUT/POST/PATCH body (413 beyond), then call
        ``handler(request, body, **path)`` under the world's lock with the raw ``body``, which a handler parses
        with :func:`json_body` (the seam's strict JSON, as a legacy 400)."""

        async def endpoint(request: Request) -> Response:
            try:
                wire.check_query(request)
                body = await wire.read_body(request) if request.method in ("PUT", "POST", "PATCH") else b""
                with self.cloud.lock:
                    self._check_retired()
                    return handler(request, body, **request.path_params)
            except SphereError as exc:
                return self.error(request, exc)
            except wire.WireError as exc:
                return self.error(request, SphereError(exc.status, "InvalidRequestContent", exc.message))

        return endpoint

    @property
    def sphere(self) -> SphereService:
        return self.cloud.sphere

    @property
    def settings(self) -> Any:
        return self.cloud.settings.sphere

    def _check_retired(self) -> None:
        retire_at = self.settings.legacy_retire_at
        if retire_at and self.sphere.clock.now() >= datetime.fromisoformat(retire_at):
            raise SphereError(410, "Gone", "The Azure Sphere legacy public API has been retired.")

    def _principal(self, request: Request) -> Principal:
        return bearer_principal(self.sphere, request, "sphere", "The Authorization header must be 'Bearer <token>'.")

    def _tenant(self, request: Request, tenant_id: str, *, claim: bool = False) -> tuple[Principal, Tenant]:
        principal = self._principal(request)
        tenant = self.sphere.get_tenant(tenant_id)
        self.sphere.authorize(principal, tenant, claim=claim)
        return principal, tenant

    # -- responses ---------------------------------------------------------------------------------------------

    def json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(
            json.dumps(data, separators=(",", ":")),
            status_code=status,
            media_type="application/json; charset=utf-8",
            headers=headers,
        )

    def string(self, text: str) -> Response:
        """A ``string`` body: a quoted JSON literal (``json``) or raw text (``text``), each with its content type."""
        if self.settings.legacy_string_body == "text":
            return Response(text, media_type="text/plain; charset=utf-8")
        return self.json(text)

    def error(self, request: Request, exc: SphereError) -> Response:
        return error_response(request, exc.status, exc.legacy_code, exc.message, settings=self.settings)

    def _download(self, request: Request, tenant_id: str, make: Callable[[Tenant, str | None], str]) -> Response:
        _, tenant = self._tenant(request, tenant_id)
        thumbprint = request.query_params.get("thumbprint")
        try:
            return self.string(make(tenant, thumbprint))
        except SphereError as exc:
            if exc.status == 404 and self.settings.expired_body == "null" and thumbprint is not None:
                generation = tenant.find_generation(thumbprint)  # unknown thumbprints stay 404
                if generation.status() in ("Expired", "Revoked"):
                    return self.json(None)
            raise

    # -- tenants and certificates ------------------------------------------------------------------------------

    def list_tenants(self, request: Request, body: bytes) -> Response:
        principal = self._principal(request)
        return self.json([tenant_body(t, principal) for t in self.sphere.visible_tenants(principal)])

    def get_tenant(self, request: Request, body: bytes, tenant_id: str) -> Response:
        principal, found = self._tenant(request, tenant_id)
        return self.json(tenant_body(found, principal))

    def list_certificates(self, request: Request, body: bytes, tenant_id: str) -> Response:
        _, found = self._tenant(request, tenant_id)
        now = self.sphere.clock.now()
        items = [certificate_status_body(g, now) for g in found.generations]
        if self.settings.cert_list_envelope:
            return self.json({"Items": items, "ContinuationToken": None})
        return self.json(items)

    def get_certificate(self, request: Request, body: bytes, tenant_id: str) -> Response:
        def make(found: Tenant, thumbprint: str | None) -> str:
            return pki.to_b64(self.sphere.usable_generation(found, thumbprint).certificate)

        return self._download(request, tenant_id, make)

    def get_certificate_chain(self, request: Request, body: bytes, tenant_id: str) -> Response:
        def make(found: Tenant, thumbprint: str | None) -> str:
            generation = self.sphere.usable_generation(found, thumbprint)
            chain = [generation.certificate, self.sphere.policy.certificate, self.sphere.root.certificate]
            return base64.b64encode(pki.chain_to_p7b(chain)).decode("ascii")

        return self._download(request, tenant_id, make)

    def get_proof(self, request: Request, body: bytes, tenant_id: str, code: str) -> Response:
        def make(found: Tenant, thumbprint: str | None) -> str:
            return pki.to_b64(self.sphere.issue_proof(found.id, code, thumbprint))

        return self._download(request, tenant_id, make)

    def list_certs_deprecated(self, request: Request, body: bytes, tenant_id: str) -> Response:
        """(Deprecated) every downloadable tenant CA certificate, as one base64 PKCS#7 blob."""
        _, found = self._tenant(request, tenant_id)
        certificates = [g.certificate for g in found.generations if g.usable()]
        return self.string(base64.b64encode(pki.chain_to_p7b(certificates)).decode("ascii"))

    def list_certchains_deprecated(self, request: Request, body: bytes, tenant_id: str) -> Response:
        """(Deprecated) the downloadable tenant CAs plus the chain "up to and including the root CA"."""
        _, found = self._tenant(request, tenant_id)
        certificates = [g.certificate for g in found.generations if g.usable()]
        certificates += [self.sphere.policy.certificate, self.sphere.root.certificate]
        return self.string(base64.b64encode(pki.chain_to_p7b(certificates)).decode("ascii"))

    # -- devices and claims ------------------------------------------------------------------------------------

    def claim(self, request: Request, body: bytes, tenant_id: str, device_id: str) -> Response:
        _, found = self._tenant(request, tenant_id, claim=True)
        operation = self.sphere.claim_device(found.id, device_id)
        return self.json(operation_body(operation, self.sphere.clock.now(), fresh=True), 202)

    def bulk_claim(self, request: Request, body: bytes, tenant_id: str) -> Response:
        _, found = self._tenant(request, tenant_id, claim=True)
        device_ids = json_body(body, "The request body must be a JSON array of device IDs.")
        if not isinstance(device_ids, list) or not all(isinstance(d, str) for d in device_ids):
            raise bad_request("The request body must be a JSON array of device IDs.")
        operation = self.sphere.claim_devices(found.id, device_ids, operation_type=11)
        return self.json(operation_body(operation, self.sphere.clock.now(), fresh=True), 202)

    def get_operation(self, request: Request, body: bytes, tenant_id: str, operation_id: str) -> Response:
        _, found = self._tenant(request, tenant_id)
        return self.json(operation_body(self.sphere.get_operation(found.id, operation_id), self.sphere.clock.now()))

    def list_devices(self, request: Request, body: bytes, tenant_id: str) -> Response:
        _, found = self._tenant(request, tenant_id)
        return self._page(request, self.sphere.list_devices(found.id))

    def list_product_devices(self, request: Request, body: bytes, tenant_id: str, product_id: str) -> Response:
        _, found = self._tenant(request, tenant_id)
        product_id = found.product_by_id(product_id).id
        return self._page(request, self.sphere.list_devices(found.id, product_id=product_id))

    def list_group_devices(self, request: Request, body: bytes, tenant_id: str, group_id: str) -> Response:
        _, found = self._tenant(request, tenant_id)
        group_id = found.device_group_by_id(group_id).id
        return self._page(request, self.sphere.list_devices(found.id, device_group_id=group_id))

    def device(self, record: DeviceRecord) -> dict[str, Any]:
        return device_body(record)

    def _operation(self, operation: ClaimOperation, *, fresh: bool = False) -> dict[str, Any]:
        return operation_body(operation, self.sphere.clock.now(), fresh=fresh)

    def _page(self, request: Request, records: list[DeviceRecord]) -> Response:
        return self._page_items(request, [device_body(r) for r in records])

    def _page_items(self, request: Request, records: list[dict[str, Any]]) -> Response:
        """``{"Items", "ContinuationToken"}``: ``?maxPageSize`` items from the offset the header's token names."""
        try:
            size = wire.parse_count(
                request.query_params.get("maxPageSize"),
                "maxPageSize",
                default=DEFAULT_PAGE_SIZE,
                minimum=1,
                maximum=MAX_PAGE_SIZE,
            )
        except wire.WireError:
            raise bad_request(
                f"maxPageSize must be an integer from 1 to {MAX_PAGE_SIZE}.", target="maxPageSize"
            ) from None
        assert size is not None
        offset = decode_continuation(request.headers.get(CONTINUATION_HEADER), len(records))
        items = records[offset : offset + size]
        following = offset + size
        token = encode_continuation(following) if following < len(records) else None
        return self.json({"Items": items, "ContinuationToken": token})


def error_response(request: Request, status: int, code: str, message: str, *, settings: Any | None = None) -> Response:
    """``PublicApiErrorDetails``: one object in an array (default), or alone as ``application/problem+json``.

    401 answers carry ``WWW-Authenticate: Bearer``. Also what injected faults answer with.
    """
    if settings is None:
        cloud = getattr(getattr(request.scope.get("app"), "state", None), "cloud", None)
        settings = cloud.settings.sphere if cloud is not None else None
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    detail = {
        "Type": "about:blank",
        "Title": title,
        "Status": status,
        "Detail": message,
        "Instance": request.url.path,
        "ErrorCode": code,
        "Extensions": {},
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if settings is not None and settings.legacy_error_body == "object":
        return JSONResponse(detail, status, headers=headers, media_type="application/problem+json")
    return JSONResponse([detail], status, headers=headers)


def encode_continuation(offset: int) -> str:
    """An opaque continuation token (its content is the fake's business; clients echo it back)."""
    return base64.urlsafe_b64encode(f"sphere-harness:{offset}".encode()).decode("ascii")


def decode_continuation(token: str | None, total: int) -> int:
    if token is None:
        return 0
    try:
        prefix, _, number = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii").partition(":")
        offset = int(number)
    except (ValueError, UnicodeError, binascii.Error):
        offset = -1
        prefix = ""
    if prefix != "sphere-harness" or not 0 <= offset <= total:
        raise bad_request("The Sphere-Continuation token is not valid.", target=CONTINUATION_HEADER)
    return offset


def build_app(cloud: Any) -> Starlette:
    """The legacy v2 API of ``cloud`` as a Starlette app (mount it at ``https://prod.core.sphere.azure.net``)."""
    api = LegacyApi(cloud)

    routes = api.routes()

    async def unrouted(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405:
            response = api.error(
                request, SphereError(405, "MethodNotAllowed", f"{request.method} is not allowed here.")
            )
            response.headers["Allow"] = allowed_methods(routes, request.url.path)
            return response
        return api.error(request, SphereError(404, "ResourceNotFound", f"No resource at '{request.url.path}'."))

    async def server_error(request: Request, exc: Exception) -> Response:
        """A bug: 500 as ``PublicApiErrorDetails`` (Starlette re-raises it afterwards, so the server still logs it)."""
        return api.error(request, SphereError(500, "InternalServerError", "The service failed to process the request."))

    app = Starlette(routes=routes, exception_handlers={404: unrouted, 405: unrouted, Exception: server_error})
    app.router.redirect_slashes = False  # a trailing slash is a path no route serves: 404 in this shape, no 307
    app.state.cloud = cloud
    return app

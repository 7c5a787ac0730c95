"""The writes of the Sphere ARM API — create, update, delete and the POST actions — and their long-running answers.

The 2024-04-01 document marks every create, update and delete (and ``claimDevices``, ``uploadImage``,
``generateCapabilityImage``) as long-running. With ``sphere.arm_long_running = "async"`` (default) the fake answers
them the way Azure Resource Manager's async contract and azure-mgmt-core's pollers expect:

=================  ===============================================================================================
write              first answer
=================  ===============================================================================================
``PUT``            ``201`` (created) or ``200`` (replaced) with the resource, its ``provisioningState``
                   ``Accepted``/``Updating`` while the operation runs; ``Azure-AsyncOperation`` + ``Retry-After``
``PATCH``          ``202``, no body; ``Location``, ``Azure-AsyncOperation``, ``Retry-After`` (catalog ``PATCH``:
                   ``200`` with the catalog — the document gives it no long-running form)
``DELETE``         ``202``, no body; ``Location`` + ``Retry-After``
``POST`` action    ``202``; ``Location`` + ``Retry-After`` (``claimDevices`` keeps its own form, below)
=================  ===============================================================================================

``Azure-AsyncOperation`` is ``…/locations/global/operationStatuses/{id}``: ``200`` with
``{"status": "InProgress" | "Succeeded" | "Failed", …}``. ``Location`` is ``…/operationResults/{id}``: ``202``
while the operation runs, then ``200`` with the result (the changed resource, the uploaded image, the capability
image) or ``204``. Both are absolute URLs built from the request's scheme and ``Host``, so they work in-process and
served. ``"sync"`` answers ``200`` with the result at once (``204`` for a delete), as the recorded real service did
for products and device groups; ``uploadImage`` stays ``202`` (its only documented answer).

Request bodies are read here and handed to the model as plain values; read-only properties a client echoes back
(``provisioningState``, ``hasDeployment`` …) are ignored, unknown enumeration values are 400.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from simulator import wire
from simulator.sphere import arm_bodies as bodies
from simulator.sphere.errors import SphereError, bad_request, not_found
from simulator.sphere.images import DEFAULT_DEPLOYMENT, check_guid

if TYPE_CHECKING:
    from simulator.sphere.model import Principal, Tenant
    from simulator.sphere.operations import ArmOperation

API_VERSION = "2024-04-01"
LOCATION_PATH = "/subscriptions/{subscription_id}/providers/Microsoft.AzureSphere/locations/global"
STATUS_PATH = LOCATION_PATH + "/operationStatuses/{operation_id}"
RESULT_PATH = LOCATION_PATH + "/operationResults/{operation_id}"

#: ARM property names of a device group → model setting names
GROUP_PROPERTIES = {
    "description": "description",
    "osFeedType": "os_feed_type",
    "updatePolicy": "update_policy",
    "allowCrashDumpsCollection": "allow_crash_dumps",
    "regionalDataBoundary": "regional_data_boundary",
}
GROUP_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<resource_group>[^/]+)/providers/"
    r"Microsoft\.AzureSphere/catalogs/(?P<catalog>[^/]+)/products/(?P<product>[^/]+)/deviceGroups/(?P<group>[^/]+)/?$",
    re.IGNORECASE,
)
IMAGE_ID = re.compile(r"/images/(?P<image>[^/]+)/?$", re.IGNORECASE)


def json_object(body: bytes, *, allow_empty: bool = False) -> dict[str, Any]:
    """The request body as a JSON object (400 ``InvalidRequestContent`` otherwise); ``allow_empty``: no body = {}."""
    if allow_empty and not body.strip():
        return {}
    if not body.strip():
        raise bad_request("The request body must be a JSON object.")
    try:
        value = wire.parse_json(body)  # the wire seam: UTF-8, no lone surrogates, bounded depth
    except wire.WireError as exc:
        raise bad_request(exc.message) from None
    if not isinstance(value, dict):
        raise bad_request("The request body must be a JSON object.")
    return value


def properties_of(body: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    """``body["properties"]`` as an object (absent = ``{}`` unless ``required``)."""
    properties = body.get("properties")
    if properties is None and not required:
        return {}
    if not isinstance(properties, dict):
        raise bad_request("properties must be a JSON object.", target="properties")
    return properties


class ArmWrites:
    """Write handlers of :class:`~simulator.sphere.arm_api.ArmApi` (a mixin: it supplies ``sphere``, ``settings``,
    ``_catalog``, ``_device``, ``_names``, ``_json``, ``_now`` and ``_list``)."""

    sphere: Any
    settings: Any

    # -- long-running answers ----------------------------------------------------------------------------------

    def _url(self, request: Request, template: str, operation: ArmOperation) -> str:
        path = template.format(subscription_id=operation.subscription_id, operation_id=operation.id)
        host = request.headers.get("host") or request.url.netloc
        return f"{request.url.scheme}://{host}{path}?api-version={API_VERSION}"

    @property
    def _async(self) -> bool:
        return self.settings.arm_long_running == "async"

    def _retry_after(self) -> dict[str, str]:
        return {"Retry-After": str(self.settings.arm_retry_after_s)}

    def _answer_put(
        self,
        request: Request,
        tenant: Tenant,
        action: str,
        resource: Any,
        created: bool,
        render: Any,
    ) -> Response:
        """The answer to a create-or-replace: the resource, and while async the status URL to poll."""
        if not self._async:
            return self._json(render())
        resource_id = render()["id"]
        operation = self.sphere.start_arm_operation(
            tenant, action, resource_id, changing=resource, transitional="Accepted" if created else "Updating"
        )
        headers = {"Azure-AsyncOperation": self._url(request, STATUS_PATH, operation), **self._retry_after()}
        return self._json(render(), 201 if created else 200, headers)

    def _answer_later(
        self,
        request: Request,
        tenant: Tenant,
        action: str,
        resource_id: str,
        result: dict[str, Any] | None,
        *,
        status_url: bool = False,
        changing: Any = None,
        sync: Any = None,
    ) -> Response:
        """``202`` + ``Location`` (+ ``Azure-AsyncOperation`` with ``status_url``) while async; else ``sync()`` (a
        response) at once."""
        if not self._async and sync is not None:
            return sync()
        operation = self.sphere.start_arm_operation(
            tenant, action, resource_id, result=result, changing=changing, transitional="Updating"
        )
        headers = {"Location": self._url(request, RESULT_PATH, operation), **self._retry_after()}
        if status_url:
            headers["Azure-AsyncOperation"] = self._url(request, STATUS_PATH, operation)
        return Response(status_code=202, headers=headers)

    @staticmethod
    def _no_content() -> Response:
        return Response(status_code=204)

    # -- catalogs ----------------------------------------------------------------------------------------------

    def put_catalog(
        self,
        request: Request,
        principal: Principal,
        body: bytes,
        subscription_id: str,
        resource_group: str,
        catalog: str,
    ) -> Response:
        """Create a catalog (the caller becomes its Administrator) or replace its tags."""
        existing = None
        try:
            existing = self.sphere.catalog(subscription_id, resource_group, catalog)
        except SphereError:
            pass
        if existing is not None:
            self.sphere.authorize(principal, existing, write=True)
        request_body = json_object(body)
        location = request_body.get("location")
        if location is None:
            raise bad_request("location is required; a catalog's location is 'global'.", target="location")
        creator = principal.user.email if principal.user is not None else None
        tenant, created = self.sphere.put_catalog(
            subscription_id, resource_group, catalog, location=location, tags=request_body.get("tags"), creator=creator
        )
        return self._answer_put(
            request, tenant, "Catalogs_CreateOrUpdate", tenant, created, lambda: bodies.catalog_body(tenant)
        )

    def patch_catalog(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        tenant = self._catalog(principal, write=True, **path)
        request_body = json_object(body)
        if "tags" in request_body:
            tenant = self.sphere.update_catalog(tenant.id, tags=request_body["tags"])
        return self._json(bodies.catalog_body(tenant))

    def delete_catalog(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        tenant = self._catalog(principal, write=True, **path)
        resource_id = bodies.catalog_id(tenant)
        self.sphere.delete_catalog(tenant.id)
        return self._answer_later(request, tenant, "Catalogs_Delete", resource_id, None, sync=self._no_content)

    # -- images ------------------------------------------------------------------------------------------------

    def put_image(self, request: Request, principal: Principal, body: bytes, image: str, **path: str) -> Response:
        tenant = self._catalog(principal, write=True, **path)
        properties = properties_of(json_object(body), required=True)
        given = properties.get("imageId")
        if given is not None and (not isinstance(given, str) or given.lower() != image.lower()):
            raise bad_request("properties.imageId must equal the image name in the path.", target="imageId")
        stored, created = self.sphere.upload_image(
            tenant.id,
            properties.get("image"),
            image_id=image,
            regional_data_boundary=properties.get("regionalDataBoundary"),
        )
        return self._answer_put(
            request,
            tenant,
            "Images_CreateOrUpdate",
            stored,
            created,
            lambda: bodies.image_body(tenant, stored, self._now()),
        )

    def upload_image(self, request: Request, principal: Principal, body: bytes, **path: str) -> Response:
        """``uploadImage``: the service names the image ("Use this action when the image ID is unknown")."""
        tenant = self._catalog(principal, write=True, **path)
        properties = properties_of(json_object(body), required=True)
        stored, _ = self.sphere.upload_image(
            tenant.id,
            properties.get("image"),
            image_id=properties.get("imageId"),
            regional_data_boundary=properties.get("regionalDataBoundary"),
        )
        resource_id = bodies.image_body(tenant, stored, self._now())["id"]
        result = {"resource": "image", "image": stored.id}
        return self._answer_later(request, tenant, "Catalogs_UploadImage", resource_id, result, changing=stored)

    def delete_image(self, request: Request, principal: Principal, body: bytes, image: str, **path: str) -> Response:
        tenant = self._catalog(principal, write=True, **path)
        removed = self.sphere.delete_image(tenant.id, image)
        resource_id = f"{bodies.catalog_id(tenant)}/images/{removed.id}"
        return self._answer_later(request, tenant, "Images_Delete", resource_id, None, sync=self._no_content)

    # -- products ----------------------------------------------------------------------------------------------

    def put_product(self, request: Request, principal: Principal, body: bytes, product: str, **path: str) -> Response:
        tenant = self._catalog(principal, write=True, **path)
        self._names(product)
        properties = properties_of(json_object(body, allow_empty=True))
        found, created = self.sphere.put_product(tenant.id, product, properties.get("description"))
        return self._answer_put(
            request,
            tenant,
            "Products_CreateOrUpdate",
            found,
            created,
            lambda: bodies.product_body(tenant, found, self._now()),
        )

    def patch_product(self, request: Request, principal: Principal, body: bytes, product: str, **path: str) -> Response:
        tenant = self._catalog(principal, write=True, **path)
        self._names(product)
        properties = properties_of(json_object(body))
        changes = {"description": properties["description"]} if "description" in properties else {}
        found = self.sphere.update_product(tenant.id, product, **changes)
        render = lambda: bodies.product_body(tenant, found, self._now())  # noqa: E731
        result = {"resource": "product", "product": found.name}
        return self._answer_later(
            request,
            tenant,
            "Products_Update",
            render()["id"],
            result,
            status_url=True,
            changing=found,
            sync=lambda: self._json(render()),
        )

    def delete_product(
        self, request: Request, principal: Principal, body: bytes, product: str, **path: str
    ) -> Response:
        tenant = self._catalog(principal, write=True, **path)
        self._names(product)
        removed = self.sphere.delete_product(tenant.id, product)
        resource_id = bodies.product_id(tenant, removed)
        return self._answer_later(request, tenant, "Products_Delete", resource_id, None, sync=self._no_content)

    def generate_default_groups(
        self, request: Request, principal: Principal, body: bytes, product: str, **path: str
    ) -> Response:
        """The five default device groups (created where missing), as a device-group list."""
        tenant = self._catalog(principal, write=True, **path)
        self._names(product)
        now = self._now()
        groups = self.sphere.generate_default_device_groups(tenant.id, product)
        return self._list(request, "device_group", [bodies.device_group_body(tenant, g, now) for g in groups])

    # -- device groups -----------------------------------------------------------------------------------------

    @staticmethod
    def _group_settings(properties: dict[str, Any]) -> dict[str, Any]:
        return {model: properties[arm] for arm, model in GROUP_PROPERTIES.items() if arm in properties}

    def put_device_group(
        self, request: Request, principal: Principal, body: bytes, product: str, device_group: str, **path: str
    ) -> Response:
        tenant = self._catalog(principal, write=True, **path)
        self._names(product, device_group)
        properties = properties_of(json_object(body, allow_empty=True))
        group, created = self.sphere.put_device_group(
            tenant.id, product, device_group, **self._group_settings(properties)
        )
        return self._answer_put(
            request,
            tenant,
            "DeviceGroups_CreateOrUpdate",
            group,
            created,
            lambda: bodies.device_group_body(tenant, group, self._now()),
        )

    def patch_device_group(
        self, request: Request, principal: Principal, body: bytes, product: str, device_group: str, **path: str
    ) -> Response:
        tenant = self._catalog(principal, write=True, **path)
        self._names(product, device_group)
        properties = properties_of(json_object(body))
        group = self.sphere.update_device_group(tenant.id, product, device_group, **self._group_settings(properties))
        render = lambda: bodies.device_group_body(tenant, group, self._now())  # noqa: E731
        result = {"resource": "device_group", "product": group.product.name, "device_group": group.name}
        return self._answer_later(
            request,
            tenant,
            "DeviceGroups_Update",
            render()["id"],
            result,
            status_url=True,
            changing=group,
            sync=lambda: self._json(render()),
        )

    def delete_device_group(
        self, request: Request, principal: Principal, body: bytes, product: str, device_group: str, **path: str
    ) -> Response:
        tenant = self._catalog(principal, write=True, **path)
        self._names(product, device_group)
        removed = self.sphere.delete_device_group(tenant.id, product, device_group)
        resource_id = bodies.device_group_id(tenant, removed)
        return self._answer_later(request, tenant, "DeviceGroups_Delete", resource_id, None, sync=self._no_content)

    def claim_devices(
        self, request: Request, principal: Principal, body: bytes, product: str, device_group: str, **path: str
    ) -> Response:
        """202 + ``Location`` (absolute, this host) + ``Retry-After``; conflicts per ``sphere.claim_conflict_mode``."""
        tenant = self._catalog(principal, claim=True, **path)
        self._names(product, device_group, placeholders=True)
        request_body = json_object(body)
        device_ids = request_body.get("deviceIdentifiers")
        if not isinstance(device_ids, list) or not all(isinstance(d, str) for d in device_ids):
            raise bad_request("deviceIdentifiers (an array of device IDs) is required.", target="deviceIdentifiers")
        operation = self.sphere.claim_devices(tenant.id, device_ids, product=product, device_group=device_group)
        return Response(status_code=202, headers=self._claim_headers(request, tenant, operation))

    def _claim_headers(self, request: Request, tenant: Tenant, operation: Any) -> dict[str, str]:
        path = STATUS_PATH.format(subscription_id=tenant.subscription_id, operation_id=operation.id)
        host = request.headers.get("host") or request.url.netloc
        location = f"{request.url.scheme}://{host}{path}?api-version={API_VERSION}"
        headers = {"Location": location, "Retry-After": str(self.settings.arm_claim_retry_after_s)}
        if self.settings.arm_send_azure_async_operation:
            headers["Azure-AsyncOperation"] = location
        return headers

    # -- deployments -------------------------------------------------------------------------------------------

    def put_deployment(
        self,
        request: Request,
        principal: Principal,
        body: bytes,
        product: str,
        device_group: str,
        deployment: str,
        **path: str,
    ) -> Response:
        """A new deployment: ``.default`` (or the body's ``deploymentId``) names a fresh one, a GUID that one."""
        tenant = self._catalog(principal, write=True, **path)
        self._names(product, device_group)
        properties = properties_of(json_object(body), required=True)
        given = properties.get("deploymentId")
        if given is not None:
            given = check_guid(given, "deploymentId", code="InvalidRequestContent")
        if deployment.lower() != DEFAULT_DEPLOYMENT:
            if given is not None and (not isinstance(given, str) or given.lower() != deployment.lower()):
                raise bad_request("properties.deploymentId must equal the deployment name.", target="deploymentId")
            given = deployment
        images = properties.get("deployedImages")
        if not isinstance(images, list):
            raise bad_request("properties.deployedImages (an array of images) is required.", target="deployedImages")
        created = self.sphere.create_deployment(
            tenant.id, product, device_group, [_image_reference(i) for i in images], deployment_id=given
        )
        return self._answer_put(
            request,
            tenant,
            "Deployments_CreateOrUpdate",
            created,
            True,
            lambda: bodies.deployment_body(tenant, created, self._now()),
        )

    def delete_deployment(
        self,
        request: Request,
        principal: Principal,
        body: bytes,
        product: str,
        device_group: str,
        deployment: str,
        **path: str,
    ) -> Response:
        tenant = self._catalog(principal, write=True, **path)
        self._names(product, device_group)
        removed = self.sphere.delete_deployment(tenant.id, product, device_group, deployment)
        resource_id = f"{bodies.device_group_id(tenant, removed.group)}/deployments/{removed.id}"
        return self._answer_later(request, tenant, "Deployments_Delete", resource_id, None, sync=self._no_content)

    # -- devices -----------------------------------------------------------------------------------------------

    def put_device(
        self,
        request: Request,
        principal: Principal,
        body: bytes,
        product: str,
        device_group: str,
        device: str,
        **path: str,
    ) -> Response:
        """Claim a device into this product/group (``.default``/``.unassigned``: the catalog only); a device the
        catalog already holds moves there instead."""
        tenant = self._catalog(principal, claim=True, **path)
        self._names(product, device_group, device, placeholders=True)
        properties = properties_of(json_object(body, allow_empty=True))
        given = properties.get("deviceId")
        if given is not None and (not isinstance(given, str) or given.lower() != device.lower()):
            raise bad_request("properties.deviceId must equal the device name.", target="deviceId")
        group = self.sphere.group_of(tenant.id, product, device_group)
        record = self.sphere.get_device(device)
        if record.tenant_id == tenant.id:
            self.sphere.assign_device(tenant.id, record.id, group)
            render = lambda: bodies.device_body(tenant, record)  # noqa: E731
            return self._answer_put(request, tenant, "Devices_CreateOrUpdate", None, False, render)
        claim = self.sphere.claim_devices(
            tenant.id, [device], product=product, device_group=device_group, operation_type=0
        )
        resource_id = (
            f"{bodies.catalog_id(tenant)}/products/{group.product.name}/deviceGroups/{group.name}/devices/{record.id}"
        )

        def render() -> dict[str, Any]:
            settled = self.sphere.get_device(record.id)
            if settled.tenant_id == tenant.id:
                return bodies.device_body(tenant, settled)
            return {
                "id": resource_id,
                "name": record.id,
                "type": bodies.TYPES["device"],
                "properties": {"deviceId": record.id, "provisioningState": "Accepted"},
            }

        if not self._async:
            return self._json(render())
        operation = self.sphere.start_arm_operation(tenant, "Devices_CreateOrUpdate", resource_id, claim=claim)
        headers = {"Azure-AsyncOperation": self._url(request, STATUS_PATH, operation), **self._retry_after()}
        return self._json(render(), 201, headers)

    def patch_device(
        self,
        request: Request,
        principal: Principal,
        body: bytes,
        product: str,
        device_group: str,
        device: str,
        **path: str,
    ) -> Response:
        """Move a device: ``properties.deviceGroupId`` is the ARM ID of a group of the same catalog (a
        ``.default``/``.unassigned`` one: back to the catalog level)."""
        tenant, record = self._device(principal, product, device_group, device, write=True, **path)
        properties = properties_of(json_object(body))
        target = properties.get("deviceGroupId")
        if target is not None:
            group = self._target_group(tenant, target)
            self.sphere.assign_device(tenant.id, record.id, group)
        render = lambda: bodies.device_body(tenant, record)  # noqa: E731
        result = {"resource": "device", "device": record.id}
        return self._answer_later(
            request,
            tenant,
            "Devices_Update",
            render()["id"],
            result,
            status_url=True,
            sync=lambda: self._json(render()),
        )

    def _target_group(self, tenant: Tenant, target: Any) -> Any:
        match = GROUP_ID.match(target) if isinstance(target, str) else None
        if match is None:
            raise bad_request(
                "properties.deviceGroupId must be the resource ID of a device group.", target="deviceGroupId"
            )
        same_catalog = (
            match["subscription"].lower() == tenant.subscription_id.lower()
            and match["resource_group"].lower() == tenant.resource_group.lower()
            and match["catalog"].lower() == tenant.catalog.lower()
        )
        if not same_catalog:
            raise SphereError(400, "InvalidParameters", "Device group not found", target="deviceGroupId")
        return self.sphere.target_group(tenant.id, match["product"], match["group"])

    def delete_device(
        self,
        request: Request,
        principal: Principal,
        body: bytes,
        product: str,
        device_group: str,
        device: str,
        **path: str,
    ) -> Response:
        """Claims are permanent: refused unless ``sphere.arm_device_delete = "unclaim"``."""
        tenant, record = self._device(principal, product, device_group, device, write=True, **path)
        resource_id = bodies.device_id(tenant, record)
        self.sphere.unclaim_device(tenant.id, record.id)
        return self._answer_later(request, tenant, "Devices_Delete", resource_id, None, sync=self._no_content)

    def capability_image(
        self,
        request: Request,
        principal: Principal,
        body: bytes,
        product: str,
        device_group: str,
        device: str,
        **path: str,
    ) -> Response:
        tenant, record = self._device(principal, product, device_group, device, write=True, **path)
        request_body = json_object(body)
        image = self.sphere.capability_image(tenant.id, record.id, request_body.get("capabilities"))
        answer = bodies.capability_image_body(image)
        result = {"resource": "capability", **answer}
        return self._answer_later(
            request,
            tenant,
            "Devices_GenerateCapabilityImage",
            bodies.device_id(tenant, record),
            result,
            sync=lambda: self._json(answer),
        )

    # -- operation URLs ----------------------------------------------------------------------------------------

    def _operation_tenant(self, principal: Principal, operation: ArmOperation) -> Tenant | None:
        tenant = self.sphere.tenants.get(operation.tenant_id)
        if tenant is not None:
            self.sphere.authorize(principal, tenant)
        return tenant

    def operation_status(
        self, request: Request, principal: Principal, body: bytes, subscription_id: str, operation_id: str
    ) -> Response:
        """``Azure-AsyncOperation``: a claim keeps its own answers (202 pending, 200 ``{}`` done); other operations
        answer their status object."""
        claim = self.sphere.operations.get(operation_id.lower())
        if claim is not None:
            return self._claim_status(request, principal, subscription_id, claim)
        operation = self.sphere.arm_operation(subscription_id, operation_id)
        self._operation_tenant(principal, operation)
        status, failure = self.sphere.arm_operation_status(operation)
        error = None if failure is None else bodies.error_detail(failure.code, failure.message, failure.target)
        path = STATUS_PATH.format(subscription_id=operation.subscription_id, operation_id=operation.id)
        headers = self._retry_after() if status == "InProgress" else None
        return self._json(bodies.operation_status_body(operation, path, status, error, self._now()), 200, headers)

    def _claim_status(self, request: Request, principal: Principal, subscription_id: str, claim: Any) -> Response:
        """202 while the claim is pending, 200 ``{}`` when done, the ARM error of the first failure."""
        tenant = self.sphere.tenants.get(claim.tenant_id)
        if tenant is None or tenant.subscription_id.lower() != subscription_id.lower():
            raise not_found("operation", claim.id)
        self.sphere.authorize(principal, tenant)
        operation = self.sphere.get_operation(tenant.id, claim.id)
        now = self._now()
        async_body = self.settings.arm_send_azure_async_operation
        if not operation.done(now):
            headers = self._claim_headers(request, tenant, operation)
            return self._json({"status": "InProgress"} if async_body else {}, 202, headers)
        failure = operation.error
        if failure is None:
            return self._json({"status": "Succeeded"} if async_body else {})
        if async_body:
            return self._json({"status": "Failed", **bodies.error_body(failure.code, failure.message, failure.target)})
        return JSONResponse(
            bodies.error_body(failure.code, failure.message, failure.target),
            failure.status,
            headers={"x-ms-failure-cause": "service"},
        )

    def operation_result(
        self, request: Request, principal: Principal, body: bytes, subscription_id: str, operation_id: str
    ) -> Response:
        """``Location``: 202 while the operation runs, then its result (200), nothing (204) or its error."""
        operation = self.sphere.arm_operation(subscription_id, operation_id)
        tenant = self._operation_tenant(principal, operation)
        status, failure = self.sphere.arm_operation_status(operation)
        if status == "InProgress":
            headers = {"Location": self._url(request, RESULT_PATH, operation), **self._retry_after()}
            return Response(status_code=202, headers=headers)
        if failure is not None:
            raise failure
        result = operation.result
        if result is None or tenant is None:
            return self._no_content()
        rendered = self._render_result(tenant, result)
        return self._no_content() if rendered is None else self._json(rendered)

    def _render_result(self, tenant: Tenant, result: dict[str, Any]) -> dict[str, Any] | None:
        """The current state of what an operation produced (``None`` once it is gone)."""
        kind, now = result["resource"], self._now()
        try:
            if kind == "capability":
                return {"image": result["image"]}
            if kind == "image":
                return bodies.image_body(tenant, self.sphere.get_image(tenant.id, result["image"]), now)
            if kind == "product":
                return bodies.product_body(tenant, tenant.product(result["product"]), now)
            if kind == "device_group":
                group = tenant.product(result["product"]).device_group(result["device_group"])
                return bodies.device_group_body(tenant, group, now)
            if kind == "device":
                record = self.sphere.get_device(result["device"])
                return bodies.device_body(tenant, record) if record.tenant_id == tenant.id else None
        except SphereError:
            return None
        raise ValueError(f"unknown operation result {kind!r}")


def _image_reference(item: Any) -> Any:
    """The image ID a ``deployedImages`` entry names: ``properties.imageId``, else its ``name``, else the last
    segment of its ARM ``id``."""
    if not isinstance(item, dict):
        raise bad_request("Each deployed image is an object naming an image.", target="deployedImages")
    properties = item.get("properties")
    if isinstance(properties, dict) and properties.get("imageId") is not None:
        return properties["imageId"]
    if item.get("name") is not None:
        return item["name"]
    match = IMAGE_ID.search(item["id"]) if isinstance(item.get("id"), str) else None
    if match is None:
        raise bad_request("Each deployed image names an image by imageId, name or id.", target="deployedImages")
    return match["image"]

"""The legacy v2 routes around the trust workflow that the public samples call: products, device groups, one
device, a device's group, a user's roles, a device's images and the device capability image.

The shapes follow the Azure Sphere public API reference (learn.microsoft.com/rest/api/azure-sphere, the *Product*,
*Device Group*, *Devices*, *Deployments*, *Access Control* and *Device Capability* pages), in the legacy API's style:
PascalCase, enumerations as integers, ``null`` for what is not set (the reference documents those fields as
"null until …"), lists as ``{"Items", "ContinuationToken"}``:

========================================================  ==========================================================
``GET  /v2/tenants/{t}/products``                          ``Product`` list (``Id``, ``TenantId``, ``Name``,
                                                           ``Description``), paged
``POST /v2/tenants/{t}/products``                          ``{Name, Description, CreateDefaultGroups}`` → ``202``
                                                           ``Operation`` (type 4 CreateProduct)
``GET  /v2/tenants/{t}/products/{id}``                     one ``Product``
``POST /v2/tenants/{t}/products/{id}/devicegroups``        the default device groups (created where missing)
``GET  /v2/tenants/{t}/products/name/{p}/deviceGroups/     a ``DeviceGroupV2`` by product and group name
name/{g}``
``GET  /v2/tenants/{t}/devicegroups``                      ``DeviceGroupV2`` list, paged
``POST /v2/tenants/{t}/devicegroups``                      ``{Name, Description, ProductId, OsFeedType,
                                                           UpdatePolicy, AllowCrashDumpsCollection}`` → the
                                                           new ``DeviceGroupV2``
``GET  /v2/tenants/{t}/devicegroups/{id}``                 one ``DeviceGroupV2``
``GET  /v2/tenants/{t}/devices/{id}``                      one ``DeviceV2``
``PUT  /v2/tenants/{t}/devices/{id}/devicegroup``          body: the group's ID as a JSON string → ``202``
                                                           ``Operation`` (type 2 DeviceUpdateDeviceGroup)
``GET  /v2/tenants/{t}/devices/{id}/images``               the images the device should run (``ImageMetadata``)
``GET  /v2/tenants/{t}/users/{user}/role``                 ``{"Roles": [{"TenantId", "RoleNames"}]}``
``POST /v2/tenants/{t}/deviceCapabilityImage``             ``{DeviceId, Capabilities: [int]}`` →
                                                           ``{"SignedDeviceCapabilityImageBytes"}``
========================================================  ==========================================================

Integer enumerations (reference): ``OsFeedType`` 0 Retail, 1 RetailEval; ``UpdatePolicy`` 0 UpdateAll, 1
No3rdPartyAppUpdates. Creating and moving need the Administrator or Contributor role; reading any role. The rules
themselves are the model's (:mod:`simulator.sphere.products`, :mod:`simulator.sphere.capabilities`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from simulator import wire
from simulator.sphere.errors import bad_request, not_found
from simulator.sphere.images import Deployment, Image
from simulator.sphere.products import DeviceGroup, Product

if TYPE_CHECKING:
    from simulator.sphere.model import Tenant

OS_FEED_TYPES = ("Retail", "RetailEval")  # index = the legacy integer
UPDATE_POLICIES = ("UpdateAll", "No3rdPartyAppUpdates")
#: ImageMetadata.Type of an image whose package the fake does not parse (0 = InvalidImageType)
UNKNOWN_IMAGE_TYPE = 0


def product_body(product: Product, tenant_id: str) -> dict[str, Any]:
    """``Product`` (reference, *Product - List*)."""
    return {"Id": product.id, "TenantId": tenant_id, "Name": product.name, "Description": product.description}


def deployment_body(deployment: Deployment, tenant_id: str, utc: Callable[[Any], Any]) -> dict[str, Any]:
    """``Deployment`` (reference, *Device Group*): the IDs of its images."""
    return {
        "Id": deployment.id,
        "TenantId": tenant_id,
        "DeployedImages": [image.id for image in deployment.images],
        "DeploymentDateUtc": utc(deployment.deployed_at),
    }


def device_group_body(group: DeviceGroup, tenant_id: str, utc: Callable[[Any], Any]) -> dict[str, Any]:
    """``DeviceGroupV2`` (reference, *Device Group - List*)."""
    current = group.current_deployment
    return {
        "Id": group.id,
        "TenantId": tenant_id,
        "OsFeedType": OS_FEED_TYPES.index(group.os_feed_type),
        "ProductId": group.product.id,
        "Name": group.name,
        "Description": group.description,
        "CurrentDeployment": None if current is None else deployment_body(current, tenant_id, utc),
        "UpdatePolicy": UPDATE_POLICIES.index(group.update_policy),
        "AllowCrashDumpsCollection": group.allow_crash_dumps == "Enabled",
    }


def image_metadata_body(image: Image) -> dict[str, Any]:
    """``ImageMetadata`` (reference, *Deployments - Get By Device*); name, component and type are unknown to the
    fake, which does not parse image packages."""
    return {
        "Id": image.id,
        "Name": None,
        "ComponentId": None,
        "Description": image.description,
        "Type": UNKNOWN_IMAGE_TYPE,
    }


def _enum(body: dict[str, Any], name: str, values: tuple[str, ...], default: str) -> str:
    raw = body.get(name)
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < len(values):
        raise bad_request(f"{name} must be one of {list(range(len(values)))}.", target=name)
    return values[raw]


def json_body(body: bytes, problem: str | None = None) -> Any:
    """A request body parsed through the wire seam (:func:`simulator.wire.parse_json`: UTF-8, no lone surrogates,
    bounded depth); an empty body is ``None``. Anything else is a 400 (its detail prefixed with ``problem``)."""
    if not body.strip():
        return None
    try:
        return wire.parse_json(body)
    except wire.WireError as exc:
        raise bad_request(f"{problem} ({exc.message})" if problem else exc.message) from None


class LegacyCatalog:
    """Route handlers of :class:`~simulator.sphere.legacy_api.LegacyApi` for the catalog's contents (a mixin:
    it supplies ``sphere``, ``_tenant``, ``json``, ``_page_items`` and ``utc``)."""

    sphere: Any

    def catalog_routes(self, t: str) -> list[tuple[str, str, str, Callable[..., Response]]]:
        """The rows this module adds to the legacy route table (``t`` = ``/v2/tenants/{tenant_id}``)."""
        return [
            ("GET", t + "/products", "list_products", self.list_products),
            ("POST", t + "/products", "create_product", self.create_product),
            ("GET", t + "/products/{product_id}", "get_product", self.get_product),
            ("POST", t + "/products/{product_id}/devicegroups", "create_default_groups", self.create_default_groups),
            (
                "GET",
                t + "/products/name/{product_name}/deviceGroups/name/{group_name}",
                "get_device_group_by_name",
                self.get_device_group_by_name,
            ),
            ("GET", t + "/devicegroups", "list_device_groups", self.list_device_groups),
            ("POST", t + "/devicegroups", "create_device_group", self.create_device_group),
            ("GET", t + "/devicegroups/{group_id}", "get_device_group", self.get_device_group),
            ("GET", t + "/devices/{device_id}", "get_device", self.get_device),
            ("PUT", t + "/devices/{device_id}/devicegroup", "move_device", self.move_device),
            ("GET", t + "/devices/{device_id}/images", "get_device_images", self.get_device_images),
            ("GET", t + "/users/{user_id}/role", "get_user_roles", self.get_user_roles),
            ("POST", t + "/deviceCapabilityImage", "create_capability_image", self.create_capability_image),
        ]

    def _write(self, request: Request, tenant_id: str) -> Tenant:
        _, tenant = self._tenant(request, tenant_id)
        self.sphere.authorize(self._principal(request), tenant, write=True)
        return tenant

    @staticmethod
    def _body_object(body: bytes) -> dict[str, Any]:
        value = json_body(body)
        if not isinstance(value, dict):
            raise bad_request("The request body must be a JSON object.")
        return value

    # -- products ----------------------------------------------------------------------------------------------

    def list_products(self, request: Request, body: bytes, tenant_id: str) -> Response:
        _, tenant = self._tenant(request, tenant_id)
        products = self.sphere.real_products(tenant.id)
        return self._page_items(request, [product_body(p, tenant.id) for p in products])

    def get_product(self, request: Request, body: bytes, tenant_id: str, product_id: str) -> Response:
        _, tenant = self._tenant(request, tenant_id)
        return self.json(product_body(tenant.product_by_id(product_id), tenant.id))

    def create_product(self, request: Request, body: bytes, tenant_id: str) -> Response:
        """*Product - Create*: "Starts an asynchronous operation to create a new product" — 202 ``Operation``."""
        tenant = self._write(request, tenant_id)
        request_body = self._body_object(body)
        defaults = request_body.get("CreateDefaultGroups", False)
        if not isinstance(defaults, bool):
            raise bad_request("CreateDefaultGroups is a boolean.", target="CreateDefaultGroups")
        product = self.sphere.create_product(
            tenant.id,
            request_body.get("Name"),
            request_body.get("Description"),
            create_default_groups=defaults,
        )
        operation = self.sphere.create_product_operation(tenant.id, product)
        return self.json(self._operation(operation, fresh=True), 202)

    def create_default_groups(self, request: Request, body: bytes, tenant_id: str, product_id: str) -> Response:
        tenant = self._write(request, tenant_id)
        product = tenant.product_by_id(product_id)
        groups = self.sphere.generate_default_device_groups(tenant.id, product.name)
        return self.json({"Items": [self._group(g, tenant) for g in groups], "ContinuationToken": None})

    # -- device groups -----------------------------------------------------------------------------------------

    def _group(self, group: DeviceGroup, tenant: Tenant) -> dict[str, Any]:
        return device_group_body(group, tenant.id, self.utc)

    def list_device_groups(self, request: Request, body: bytes, tenant_id: str) -> Response:
        _, tenant = self._tenant(request, tenant_id)
        groups = self.sphere.device_groups_of(tenant.id)
        return self._page_items(request, [self._group(g, tenant) for g in groups])

    def get_device_group(self, request: Request, body: bytes, tenant_id: str, group_id: str) -> Response:
        _, tenant = self._tenant(request, tenant_id)
        return self.json(self._group(tenant.device_group_by_id(group_id), tenant))

    def get_device_group_by_name(
        self, request: Request, body: bytes, tenant_id: str, product_name: str, group_name: str
    ) -> Response:
        _, tenant = self._tenant(request, tenant_id)
        product = tenant.product(product_name)
        group = product.device_group(group_name)
        if product.is_placeholder or group.is_placeholder:
            raise not_found("device group", group_name)
        return self.json(self._group(group, tenant))

    def create_device_group(self, request: Request, body: bytes, tenant_id: str) -> Response:
        """*Device Group - Create*: 200 with the new ``DeviceGroupV2``."""
        tenant = self._write(request, tenant_id)
        request_body = self._body_object(body)
        product_id = request_body.get("ProductId")
        if not isinstance(product_id, str):
            raise bad_request("ProductId (the product's ID) is required.", target="ProductId")
        product = tenant.product_by_id(product_id)
        crash_dumps = request_body.get("AllowCrashDumpsCollection", False)
        if not isinstance(crash_dumps, bool):
            raise bad_request("AllowCrashDumpsCollection is a boolean.", target="AllowCrashDumpsCollection")
        group = self.sphere.create_device_group(
            tenant.id,
            product.name,
            request_body.get("Name"),
            description=request_body.get("Description"),
            os_feed_type=_enum(request_body, "OsFeedType", OS_FEED_TYPES, "Retail"),
            update_policy=_enum(request_body, "UpdatePolicy", UPDATE_POLICIES, "UpdateAll"),
            allow_crash_dumps="Enabled" if crash_dumps else "Disabled",
        )
        return self.json(self._group(group, tenant))

    # -- devices -----------------------------------------------------------------------------------------------

    def _own_device(self, tenant: Tenant, device_id: str) -> Any:
        record = self.sphere.get_device(device_id)
        if record.tenant_id != tenant.id:
            raise not_found("device", device_id)
        return record

    def get_device(self, request: Request, body: bytes, tenant_id: str, device_id: str) -> Response:
        _, tenant = self._tenant(request, tenant_id)
        return self.json(self.device(self._own_device(tenant, device_id)))

    def move_device(self, request: Request, body: bytes, tenant_id: str, device_id: str) -> Response:
        """*Devices - Move*: the body is the target group's ID as a JSON string; 202 ``Operation`` (type 2)."""
        tenant = self._write(request, tenant_id)
        group_id = json_body(body, "The body must be the device group ID as a JSON string.")
        operation = self.sphere.move_device(tenant.id, device_id, group_id)
        return self.json(self._operation(operation, fresh=True), 202)

    def get_device_images(self, request: Request, body: bytes, tenant_id: str, device_id: str) -> Response:
        """*Deployments - Get By Device*: what the device should run (its group's current deployment, unless the
        group's update policy excludes applications)."""
        _, tenant = self._tenant(request, tenant_id)
        record = self._own_device(tenant, device_id)
        images = self.sphere.images_for_device(record.id)
        return self.json({"Items": [image_metadata_body(i) for i in images], "ContinuationToken": None})

    def create_capability_image(self, request: Request, body: bytes, tenant_id: str) -> Response:
        tenant = self._write(request, tenant_id)
        request_body = self._body_object(body)
        device_id = request_body.get("DeviceId")
        if not isinstance(device_id, str):
            raise bad_request("DeviceId is required.", target="DeviceId")
        self._own_device(tenant, device_id)
        image = self.sphere.capability_image(tenant.id, device_id, request_body.get("Capabilities"))
        return self.json({"SignedDeviceCapabilityImageBytes": base64.b64encode(image).decode("ascii")})

    # -- access control ----------------------------------------------------------------------------------------

    def get_user_roles(self, request: Request, body: bytes, tenant_id: str, user_id: str) -> Response:
        """*Access Control - List Roles By User*: the roles of a user (by e-mail address) in this tenant."""
        _, tenant = self._tenant(request, tenant_id)
        user = self.sphere.users.get(user_id.lower())
        if user is None:
            raise not_found("user", user_id)
        roles = user.roles_in(tenant.id)
        return self.json({"Roles": [{"TenantId": tenant.id, "RoleNames": roles}] if roles else []})

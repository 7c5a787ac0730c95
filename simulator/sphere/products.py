"""Products and device groups of a catalog, and the rules the Azure Sphere service applies to them.

A **product** names one kind of device a manufacturer ships ("Dishwasher"). Its **device groups** ("Development",
"Field Test", "Production" …) decide what each device of the group receives from the cloud:

* the **OS feed** — ``Retail`` (the released OS) or ``RetailEval`` (the next OS, two weeks early, for evaluation);
* the **update policy** — ``UpdateAll`` (OS and the group's application deployment) or ``No3rdPartyAppUpdates``
  (OS only: a developer's device keeps the apps sideloaded onto it);
* whether **crash dumps** may be collected (``Enabled``/``Disabled``) and the **regional data boundary** (``None`` or
  ``EU``) that keeps them in a region.

Two names are reserved: ``.default`` and ``.unassigned`` stand for "no product" and "no group" (a device claimed into
the catalog only). Every catalog has both placeholders; they can be read and used in device paths, but not created,
changed, counted or deleted ("system defined values", Microsoft.AzureSphere 2024-04-01).

Rules implemented here (sources: the 2024-04-01 OpenAPI document and recorded real-service answers of the Az.Sphere
PowerShell module, 2024; what neither shows is marked fake-defined in ``docs/sphere-surfaces.md``):

* product names match ``^[\\w][\\w\\s]{1,48}[\\w]$``, device group names ``^[A-Za-z0-9]{1,2}$`` or
  ``^[A-Za-z0-9][A-Za-z0-9\\s]{1,48}[A-Za-z0-9]$``; both are unique case-insensitively within their parent;
* a new device group defaults to ``Retail``, ``UpdateAll``, crash dumps ``Disabled``, boundary ``None`` (recorded);
* "generate default device groups" creates the five groups of :data:`DEFAULT_DEVICE_GROUPS` (recorded names,
  descriptions, feeds and policies); groups that already exist are kept as they are;
* a device group that still has devices cannot be deleted: 400 ``InvalidParameters`` "The device group has 'N'
  devices associated" (recorded); the same rule protects a product whose groups hold devices (fake-defined by
  analogy);
* a device moves only to a group of its own catalog; a group that does not exist is 400 ``InvalidParameters``
  "Device group not found" (recorded).

The functions are a mixin of :class:`~simulator.sphere.model.SphereService`: they read the service's tenants, devices
and clock, validate everything, then mutate (a refusal changes nothing). The records themselves (:class:`Product`,
:class:`DeviceGroup`) and the settings' values are in :mod:`.records`.
"""

from __future__ import annotations

import re
from typing import Any

from simulator.sphere.errors import SphereError, bad_request
from simulator.sphere.records import (  # the records and settings moved there; exported here as before
    CRASH_DUMP_SETTINGS,
    GROUP_SETTINGS,
    OS_FEED_TYPES,
    REGIONAL_DATA_BOUNDARIES,
    SPECIAL_NAMES,
    UPDATE_POLICIES,
    DeviceGroup,
    DeviceRecord,
    Product,
    SphereCore,
    Tenant,
)

__all__ = [
    "CRASH_DUMP_SETTINGS",
    "DEFAULT_DEVICE_GROUPS",
    "DEVICE_GROUP_NAME_PATTERN",
    "GROUP_SETTINGS",
    "MAX_DESCRIPTION_LENGTH",
    "OS_FEED_TYPES",
    "PRODUCT_NAME_PATTERN",
    "REGIONAL_DATA_BOUNDARIES",
    "SPECIAL_NAMES",
    "UPDATE_POLICIES",
    "DeviceGroup",
    "Product",
    "ProductCatalog",
]

PRODUCT_NAME_PATTERN = re.compile(r"^(?:[\w][\w\s]{1,48}[\w]|\.default|\.unassigned)$")
DEVICE_GROUP_NAME_PATTERN = re.compile(
    r"^(?:[A-Za-z0-9]{1,2}|[A-Za-z0-9][A-Za-z0-9\s]{1,48}[A-Za-z0-9]|\.default|\.unassigned)$"
)
MAX_DESCRIPTION_LENGTH = 100  # fake-defined: neither the spec nor the recordings bound a description

#: name, description, OS feed, update policy — what the real service answered to generateDefaultDeviceGroups
DEFAULT_DEVICE_GROUPS: tuple[tuple[str, str, str, str], ...] = (
    ("Development", "Default development device group", "Retail", "No3rdPartyAppUpdates"),
    ("Field Test", "Default test device group", "Retail", "UpdateAll"),
    ("Production", "Default production device group", "Retail", "UpdateAll"),
    ("Production OS Evaluation", "Default Production OS Evaluation device group", "RetailEval", "UpdateAll"),
    ("Field Test OS Evaluation", "Default Field Test OS Evaluation device group", "RetailEval", "UpdateAll"),
)


def check_product_name(name: Any, *, allow_placeholder: bool = False) -> str:
    if not isinstance(name, str) or not PRODUCT_NAME_PATTERN.match(name):
        raise bad_request(f"The product name '{name}' is invalid.", target=str(name), code="InvalidResourceName")
    if name in SPECIAL_NAMES and not allow_placeholder:
        raise bad_request(
            f"'{name}' is a system defined product name and cannot be used here.",
            target=name,
            code="InvalidResourceName",
        )
    return name


def check_device_group_name(name: Any, *, allow_placeholder: bool = False) -> str:
    if not isinstance(name, str) or not DEVICE_GROUP_NAME_PATTERN.match(name):
        raise bad_request(f"The device group name '{name}' is invalid.", target=str(name), code="InvalidResourceName")
    if name in SPECIAL_NAMES and not allow_placeholder:
        raise bad_request(
            f"'{name}' is a system defined device group name and cannot be used here.",
            target=name,
            code="InvalidResourceName",
        )
    return name


def check_description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION_LENGTH:
        raise bad_request(
            f"A description is a string of at most {MAX_DESCRIPTION_LENGTH} characters.", target="description"
        )
    if any(ord(c) < 0x20 for c in value):
        raise bad_request("A description cannot hold control characters.", target="description")
    return value


def check_group_settings(changes: dict[str, Any]) -> dict[str, Any]:
    """The device-group settings in ``changes``, each checked against its enumeration (400 otherwise)."""
    checked: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "description":
            checked[name] = check_description(value)
            continue
        allowed = GROUP_SETTINGS.get(name)
        if allowed is None:
            raise bad_request(f"'{name}' is not a device group setting.", target=name)
        if value not in allowed:
            raise bad_request(f"'{value}' is not a valid {name}; expected one of {list(allowed)}.", target=name)
        checked[name] = value
    return checked


class ProductCatalog:
    """Products and device groups: the part of :class:`~simulator.sphere.model.SphereService` that manages them."""

    # -- products ----------------------------------------------------------------------------------------------

    def create_product(
        self: SphereCore,
        tenant_id: str,
        name: str,
        description: str | None = None,
        *,
        create_default_groups: bool = False,
    ) -> Product:
        """A new product (409 ``Conflict`` if the name is taken, case-insensitively); with
        ``create_default_groups`` also the five default device groups (legacy ``CreateDefaultGroups``)."""
        tenant = self.get_tenant(tenant_id)
        check_product_name(name)
        description = check_description(description)
        if name.lower() in tenant.products:
            raise SphereError(409, "Conflict", f"The product '{name}' already exists.", target=name)
        product = Product(id=tenant.entropy.uuid(), name=name, description=description)
        tenant.products[name.lower()] = product
        if create_default_groups:
            self._add_default_groups(tenant, product)
        return product

    def put_product(self: SphereCore, tenant_id: str, name: str, description: str | None) -> tuple[Product, bool]:
        """ARM create-or-replace: ``(product, created)``; replacing sets the description (absent = none)."""
        tenant = self.get_tenant(tenant_id)
        check_product_name(name)
        description = check_description(description)
        existing = tenant.products.get(name.lower())
        if existing is not None:
            existing.description = description
            return existing, False
        return self.create_product(tenant_id, name, description), True

    def update_product(self: SphereCore, tenant_id: str, name: str, **changes: Any) -> Product:
        """Change a product's ``description`` (the only setting a product has)."""
        tenant = self.get_tenant(tenant_id)
        check_product_name(name)
        product = tenant.product(name)
        unknown = set(changes) - {"description"}
        if unknown:
            raise bad_request(f"'{sorted(unknown)[0]}' is not a product setting.", target=sorted(unknown)[0])
        if "description" in changes:
            product.description = check_description(changes["description"])
        return product

    def delete_product(self: SphereCore, tenant_id: str, name: str) -> Product:
        """Remove a product and its device groups; refused while any of its devices remain (400)."""
        tenant = self.get_tenant(tenant_id)
        check_product_name(name)
        product = tenant.product(name)
        count = len(self.list_devices(tenant.id, product_id=product.id))
        if count:
            raise SphereError(
                400, "InvalidParameters", f"The product has '{count}' devices associated", target=product.name
            )
        del tenant.products[product.name.lower()]
        return product

    def get_product_by_id(self: SphereCore, tenant_id: str, product_id: str) -> Product:
        return self.get_tenant(tenant_id).product_by_id(product_id)

    def real_products(self: SphereCore, tenant_id: str) -> list[Product]:
        """The products a user created (placeholders left out), in creation order."""
        return [p for p in self.get_tenant(tenant_id).products.values() if not p.is_placeholder]

    # -- device groups -----------------------------------------------------------------------------------------

    def create_device_group(
        self: SphereCore, tenant_id: str, product_name: str, name: str, **settings: Any
    ) -> DeviceGroup:
        """A new device group of a (real) product; ``settings``: ``description``, ``os_feed_type``,
        ``update_policy``, ``allow_crash_dumps``, ``regional_data_boundary`` (defaults as the real service)."""
        tenant = self.get_tenant(tenant_id)
        check_product_name(product_name, allow_placeholder=True)
        product = tenant.product(product_name)
        if product.is_placeholder:
            raise bad_request(f"Device groups cannot be created under '{product.name}'.", target=product.name)
        check_device_group_name(name)
        checked = check_group_settings(settings)
        if name.lower() in product.device_groups:
            raise SphereError(409, "Conflict", f"The device group '{name}' already exists.", target=name)
        group = DeviceGroup(tenant.entropy.uuid(), name, product, **checked)
        product.device_groups[name.lower()] = group
        return group

    def put_device_group(
        self: SphereCore, tenant_id: str, product_name: str, name: str, **settings: Any
    ) -> tuple[DeviceGroup, bool]:
        """ARM create-or-replace: ``(group, created)``; replacing resets every setting not given to its default."""
        tenant = self.get_tenant(tenant_id)
        check_product_name(product_name, allow_placeholder=True)
        product = tenant.product(product_name)
        check_device_group_name(name)
        existing = product.device_groups.get(name.lower())
        if existing is None:
            return self.create_device_group(tenant_id, product_name, name, **settings), True
        checked = check_group_settings(settings)
        defaults = DeviceGroup("", "", product)
        existing.description = checked.get("description")
        for setting in GROUP_SETTINGS:
            setattr(existing, setting, checked.get(setting, getattr(defaults, setting)))
        return existing, False

    def update_device_group(
        self: SphereCore, tenant_id: str, product_name: str, name: str, **changes: Any
    ) -> DeviceGroup:
        """Change the named settings of a (real) device group; the others keep their values."""
        group = self._real_group(tenant_id, product_name, name)
        checked = check_group_settings(changes)
        for setting, value in checked.items():
            setattr(group, setting, value)
        return group

    def delete_device_group(self: SphereCore, tenant_id: str, product_name: str, name: str) -> DeviceGroup:
        """Remove a (real) device group; refused while it has devices (400 ``InvalidParameters``, recorded)."""
        group = self._real_group(tenant_id, product_name, name)
        count = len(self.list_devices(tenant_id, device_group_id=group.id))
        if count:
            raise SphereError(
                400, "InvalidParameters", f"The device group has '{count}' devices associated", target=group.name
            )
        del group.product.device_groups[group.name.lower()]
        return group

    def generate_default_device_groups(self: SphereCore, tenant_id: str, product_name: str) -> list[DeviceGroup]:
        """The five default groups of :data:`DEFAULT_DEVICE_GROUPS`, created where missing, in that order."""
        tenant = self.get_tenant(tenant_id)
        check_product_name(product_name)
        product = tenant.product(product_name)
        return self._add_default_groups(tenant, product)

    def _add_default_groups(self: SphereCore, tenant: Tenant, product: Product) -> list[DeviceGroup]:
        groups = []
        for name, description, feed, policy in DEFAULT_DEVICE_GROUPS:
            group = product.device_groups.get(name.lower())
            if group is None:
                group = DeviceGroup(
                    tenant.entropy.uuid(), name, product, description, os_feed_type=feed, update_policy=policy
                )
                product.device_groups[name.lower()] = group
            groups.append(group)
        return groups

    def _real_group(self: SphereCore, tenant_id: str, product_name: str, name: str) -> DeviceGroup:
        tenant = self.get_tenant(tenant_id)
        check_product_name(product_name)
        product = tenant.product(product_name)
        check_device_group_name(name)
        return product.device_group(name)

    def device_groups_of(self: SphereCore, tenant_id: str, name: str | None = None) -> list[DeviceGroup]:
        """Every (real) device group of a catalog, product by product; ``name`` narrows to groups of that name
        (case-insensitively), as ``listDeviceGroups`` does."""
        groups = [g for p in self.real_products(tenant_id) for g in p.real_groups()]
        if name is not None:
            groups = [g for g in groups if g.name.lower() == name.lower()]
        return groups

    # -- devices in products and groups ------------------------------------------------------------------------

    def count_devices(
        self: SphereCore, tenant_id: str, product: str | None = None, device_group: str | None = None
    ) -> int:
        """How many devices a catalog holds — or a (real) product, or a (real) device group of it."""
        if device_group is not None:
            group = self._real_group(tenant_id, product or "", device_group)
            return len(self.list_devices(tenant_id, device_group_id=group.id))
        if product is not None:
            check_product_name(product)
            found = self.get_tenant(tenant_id).product(product)
            return len(self.list_devices(tenant_id, product_id=found.id))
        return len(self.list_devices(tenant_id))

    def group_of(self: SphereCore, tenant_id: str, product: str, device_group: str) -> DeviceGroup:
        """The group a device path names; ``.default``/``.unassigned`` name the catalog level (placeholder group)."""
        check_product_name(product, allow_placeholder=True)
        check_device_group_name(device_group, allow_placeholder=True)
        return self.get_tenant(tenant_id).product(product).device_group(device_group)

    def device_in_group(
        self: SphereCore, tenant_id: str, product: str, device_group: str, device_id: str
    ) -> DeviceRecord:
        """The device of this catalog at this product/group path, or 404 "The requested device was not found"."""
        group = self.group_of(tenant_id, product, device_group)
        self._settle()
        record = self.devices.get(device_id.lower()) if isinstance(device_id, str) else None
        tenant = self.get_tenant(tenant_id)
        where = None if group.is_placeholder else group.id
        if record is None or record.tenant_id != tenant.id or record.device_group_id != where:
            raise SphereError(404, "ResourceNotFound", "The requested device was not found", target=str(device_id))
        return record

    def target_group(self: SphereCore, tenant_id: str, product: str, device_group: str) -> DeviceGroup:
        """The group a device is to move to: as :meth:`group_of`, but a group that does not exist is the recorded
        400 ``InvalidParameters`` "Device group not found" (the target is a request field, not the path)."""
        try:
            return self.group_of(tenant_id, product, device_group)
        except SphereError as exc:
            if exc.status != 404:
                raise
            raise SphereError(400, "InvalidParameters", "Device group not found", target="deviceGroupId") from None

    def assign_device(self: SphereCore, tenant_id: str, device_id: str, group: DeviceGroup | None) -> DeviceRecord:
        """Move a device of this catalog into ``group`` (``None`` or a placeholder: back to the catalog level)."""
        tenant = self.get_tenant(tenant_id)
        record = self.get_device(device_id)
        if record.tenant_id != tenant.id:
            raise SphereError(404, "ResourceNotFound", "The requested device was not found", target=str(device_id))
        if group is not None and not group.is_placeholder:
            if tenant.device_group_by_id(group.id) is not group:
                raise SphereError(400, "InvalidParameters", "Device group not found", target=group.name)
            record.product_id, record.device_group_id = group.product.id, group.id
        else:
            record.product_id = record.device_group_id = None
        return record

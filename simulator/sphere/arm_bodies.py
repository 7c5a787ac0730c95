"""The JSON shapes of Microsoft.AzureSphere 2024-04-01: resources, lists' items, counts, operation statuses, errors.

Every resource is ``{"id", "name", "type", "properties": {...}}`` with the ``Microsoft.AzureSphere/…`` ``type``
strings; a catalog adds ``location`` and, when it has any, ``tags``. **Absent values are left out**, never sent as
``null``: the schema types ``description``, the device OS fields and ``error.target`` as strings, and strict
validators and typed clients reject ``null`` there (the recorded real service sends ``null`` for some of them; the
fake keeps to the published contract).

Values the fake cannot know are absent too: an image's name, component ID and type live inside the image package,
which the fake does not parse (:mod:`simulator.sphere.images`).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from cryptography import x509

from simulator import pki
from simulator.sphere.images import Deployment, Image
from simulator.sphere.insights import DeviceInsight
from simulator.sphere.model import CAGeneration, DeviceRecord, Tenant
from simulator.sphere.operations import ArmOperation
from simulator.sphere.products import DeviceGroup, Product

PROVIDER = "Microsoft.AzureSphere"
TYPES = {
    "catalog": f"{PROVIDER}/catalogs",
    "certificate": f"{PROVIDER}/catalogs/certificates",
    "image": f"{PROVIDER}/catalogs/images",
    "product": f"{PROVIDER}/catalogs/products",
    "device_group": f"{PROVIDER}/catalogs/products/deviceGroups",
    "deployment": f"{PROVIDER}/catalogs/products/deviceGroups/deployments",
    "device": f"{PROVIDER}/catalogs/products/deviceGroups/devices",
}
#: the device-path names of the catalog level (the recorded service lists unassigned devices under these)
CATALOG_LEVEL = (".default", ".default")
#: where the fake says image bytes are kept; a fictitious storage account, not served
IMAGE_STORE = "https://sphere-harness-images.blob.core.windows.net"

#: the properties each resource's schema names: what ``$filter`` may compare (``name`` always can)
FILTER_PATHS: dict[str, tuple[str, ...]] = {
    "catalog": ("tenantId", "provisioningState"),
    "certificate": (
        "certificate",
        "status",
        "subject",
        "thumbprint",
        "expiryUtc",
        "notBeforeUtc",
        "provisioningState",
    ),
    "image": (
        "image",
        "imageId",
        "imageName",
        "regionalDataBoundary",
        "uri",
        "description",
        "componentId",
        "imageType",
        "provisioningState",
    ),
    "product": ("description", "provisioningState"),
    "device_group": (
        "description",
        "osFeedType",
        "updatePolicy",
        "allowCrashDumpsCollection",
        "regionalDataBoundary",
        "hasDeployment",
        "provisioningState",
    ),
    "deployment": ("deploymentId", "deploymentDateUtc", "provisioningState"),
    "device": (
        "deviceId",
        "chipSku",
        "lastAvailableOsVersion",
        "lastInstalledOsVersion",
        "lastOsUpdateUtc",
        "lastUpdateRequestUtc",
        "provisioningState",
    ),
}
INSIGHT_FILTER_PATHS = (
    "deviceId",
    "description",
    "startTimestampUtc",
    "endTimestampUtc",
    "eventCategory",
    "eventClass",
    "eventType",
    "eventCount",
)


def filter_paths(kind: str) -> tuple[str, ...]:
    """``name`` and ``properties/<p>`` for each property of ``kind``'s schema."""
    return ("name", *(f"properties/{p}" for p in FILTER_PATHS[kind]))


def arm_time(value: datetime) -> str:
    """ARM ``date-time``: ISO 8601 UTC with ``Z``."""
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{value.microsecond:06d}".rstrip("0") if value.microsecond else "") + "Z"


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# -- catalogs and certificates ---------------------------------------------------------------------------------


def catalog_id(tenant: Tenant) -> str:
    return (
        f"/subscriptions/{tenant.subscription_id}/resourceGroups/{tenant.resource_group}"
        f"/providers/{PROVIDER}/catalogs/{tenant.catalog}"
    )


def catalog_body(tenant: Tenant, now: datetime | None = None) -> dict[str, Any]:
    """``Catalog``: a tracked resource in ``global`` whose ``tenantId`` is the legacy tenant's GUID."""
    body: dict[str, Any] = {
        "id": catalog_id(tenant),
        "name": tenant.catalog,
        "type": TYPES["catalog"],
        "location": tenant.location,
    }
    if tenant.tags:
        body["tags"] = dict(tenant.tags)
    body["properties"] = {"tenantId": tenant.id, "provisioningState": "Succeeded"}
    return body


def certificate_properties(certificate: x509.Certificate, status: str) -> dict[str, Any]:
    """``CertificateProperties``; ``subject`` CN first, comma-space separated."""
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


# -- products, device groups, devices --------------------------------------------------------------------------


def product_id(tenant: Tenant, product: Product) -> str:
    return f"{catalog_id(tenant)}/products/{product.name}"


def product_body(tenant: Tenant, product: Product, now: datetime) -> dict[str, Any]:
    return {
        "id": product_id(tenant, product),
        "name": product.name,
        "type": TYPES["product"],
        "properties": _present({"description": product.description, "provisioningState": product.provisioning.at(now)}),
    }


def device_group_id(tenant: Tenant, group: DeviceGroup) -> str:
    return f"{product_id(tenant, group.product)}/deviceGroups/{group.name}"


def device_group_body(tenant: Tenant, group: DeviceGroup, now: datetime) -> dict[str, Any]:
    return {
        "id": device_group_id(tenant, group),
        "name": group.name,
        "type": TYPES["device_group"],
        "properties": _present(
            {
                "description": group.description,
                "osFeedType": group.os_feed_type,
                "updatePolicy": group.update_policy,
                "allowCrashDumpsCollection": group.allow_crash_dumps,
                "regionalDataBoundary": group.regional_data_boundary,
                "hasDeployment": bool(group.deployments),
                "provisioningState": group.provisioning.at(now),
            }
        ),
    }


def device_path(tenant: Tenant, record: DeviceRecord) -> tuple[str, str]:
    """The product and device group names in a device's ID (``.default``/``.default`` at catalog level)."""
    if record.device_group_id is None:
        return CATALOG_LEVEL
    group = tenant.device_group_by_id(record.device_group_id)
    return group.product.name, group.name


def device_id(tenant: Tenant, record: DeviceRecord) -> str:
    product, group = device_path(tenant, record)
    return f"{catalog_id(tenant)}/products/{product}/deviceGroups/{group}/devices/{record.id}"


def device_body(tenant: Tenant, record: DeviceRecord, provisioning: str = "Succeeded") -> dict[str, Any]:
    """``Device``; ``chipSku`` is a string here (the legacy API's integer 0 is ``MT3620AN``); the OS fields only
    once the device has asked for updates (:mod:`simulator.sphere.insights`)."""
    return {
        "id": device_id(tenant, record),
        "name": record.id,
        "type": TYPES["device"],
        "properties": _present(
            {
                "deviceId": record.id,
                "chipSku": "MT3620AN",
                "lastAvailableOsVersion": record.last_available_os,
                "lastInstalledOsVersion": record.last_installed_os,
                "lastOsUpdateUtc": None if record.last_os_update is None else arm_time(record.last_os_update),
                "lastUpdateRequestUtc": (
                    None if record.last_update_request is None else arm_time(record.last_update_request)
                ),
                "provisioningState": provisioning,
            }
        ),
    }


# -- images and deployments ------------------------------------------------------------------------------------


def image_uri(image: Image) -> str:
    return f"{IMAGE_STORE}/{image.tenant_id}/images/{image.id}"


def image_body(tenant: Tenant, image: Image, now: datetime) -> dict[str, Any]:
    """``Image``: on reads ``image`` holds the image's URI (2024-04-01); name, component ID and type are absent
    because the fake does not parse packages."""
    return {
        "id": f"{catalog_id(tenant)}/images/{image.id}",
        "name": image.id,
        "type": TYPES["image"],
        "properties": _present(
            {
                "image": image_uri(image),
                "imageId": image.id,
                "regionalDataBoundary": image.regional_data_boundary,
                "uri": image_uri(image),
                "description": image.description,
                "provisioningState": image.provisioning.at(now),
            }
        ),
    }


def deployment_body(tenant: Tenant, deployment: Deployment, now: datetime) -> dict[str, Any]:
    return {
        "id": f"{device_group_id(tenant, deployment.group)}/deployments/{deployment.id}",
        "name": deployment.id,
        "type": TYPES["deployment"],
        "properties": {
            "deploymentId": deployment.id,
            "deployedImages": [image_body(tenant, image, now) for image in deployment.images],
            "deploymentDateUtc": arm_time(deployment.deployed_at),
            "provisioningState": deployment.provisioning.at(now),
        },
    }


def insight_body(insight: DeviceInsight) -> dict[str, Any]:
    return {
        "deviceId": insight.device_id,
        "description": insight.description,
        "startTimestampUtc": arm_time(insight.start),
        "endTimestampUtc": arm_time(insight.end),
        "eventCategory": insight.event_category,
        "eventClass": insight.event_class,
        "eventType": insight.event_type,
        "eventCount": insight.event_count,
    }


def capability_image_body(image: bytes) -> dict[str, Any]:
    """``SignedCapabilityImageResponse``."""
    return {"image": base64.b64encode(image).decode("ascii")}


# -- operations and errors -------------------------------------------------------------------------------------


def operation_status_body(
    operation: ArmOperation, path: str, status: str, error: dict[str, Any] | None, now: datetime
) -> dict[str, Any]:
    """The ``Azure-AsyncOperation`` status object, as ARM's async-operation contract and the recorded service
    shape it: ``status`` ``InProgress`` → ``Succeeded``/``Failed``, times, and the error of a failed one."""
    body: dict[str, Any] = {
        "id": path,
        "name": operation.id,
        "resourceId": operation.resource_id,
        "status": status,
        "startTime": arm_time(operation.started_at),
    }
    if status != "InProgress":
        body["endTime"] = arm_time(max(operation.completes_at, operation.started_at))
    if error is not None:
        body["error"] = error
    return body


def error_detail(code: str, message: str, target: str | None = None) -> dict[str, Any]:
    """ARM common-types v3 ``ErrorDetail``: ``code``, ``message`` and, when there is one, ``target``."""
    return _present({"code": code, "message": message, "target": target})


def error_body(code: str, message: str, target: str | None = None) -> dict[str, Any]:
    """ARM common-types v3 ``ErrorResponse``."""
    return {"error": error_detail(code, message, target)}


# -- the provider's operations (Operations_List) ----------------------------------------------------------------

#: what each operation does, for ``Operations_List`` (the service's own one-line summaries, in short)
DESCRIPTIONS: dict[str, str] = {
    "Operations_List": "List the operations of the provider",
    "Catalogs_ListBySubscription": "List catalogs by subscription",
    "Catalogs_ListByResourceGroup": "List catalogs by resource group",
    "Catalogs_Get": "Get a catalog",
    "Catalogs_CreateOrUpdate": "Create or update a catalog",
    "Catalogs_Update": "Update a catalog's tags",
    "Catalogs_Delete": "Delete a catalog",
    "Certificates_ListByCatalog": "List the certificates of a catalog",
    "Certificates_Get": "Get a certificate",
    "Certificates_RetrieveCertChain": "Retrieve a certificate's chain",
    "Certificates_RetrieveProofOfPossessionNonce": "Get a proof-of-possession certificate for a nonce",
    "Catalogs_CountDevices": "Count the devices of a catalog",
    "Images_ListByCatalog": "List the images of a catalog",
    "Images_Get": "Get an image",
    "Images_CreateOrUpdate": "Create an image",
    "Images_Delete": "Delete an image",
    "Catalogs_UploadImage": "Upload an image whose ID is unknown",
    "Catalogs_ListDeployments": "List the deployments of a catalog",
    "Catalogs_ListDeviceGroups": "List the device groups of a catalog",
    "Catalogs_ListDeviceInsights": "List the device insights of a catalog",
    "Catalogs_ListDevices": "List the devices of a catalog",
    "Products_ListByCatalog": "List the products of a catalog",
    "Products_Get": "Get a product",
    "Products_CreateOrUpdate": "Create or update a product",
    "Products_Update": "Update a product",
    "Products_Delete": "Delete a product",
    "Products_CountDevices": "Count the devices of a product",
    "Products_GenerateDefaultDeviceGroups": "Generate the default device groups of a product",
    "DeviceGroups_ListByProduct": "List the device groups of a product",
    "DeviceGroups_Get": "Get a device group",
    "DeviceGroups_CreateOrUpdate": "Create or update a device group",
    "DeviceGroups_Update": "Update a device group",
    "DeviceGroups_Delete": "Delete a device group",
    "DeviceGroups_ClaimDevices": "Claim devices in bulk",
    "DeviceGroups_CountDevices": "Count the devices of a device group",
    "Deployments_ListByDeviceGroup": "List the deployments of a device group",
    "Deployments_Get": "Get a deployment",
    "Deployments_CreateOrUpdate": "Create a deployment",
    "Deployments_Delete": "Delete a deployment",
    "Devices_ListByDeviceGroup": "List the devices of a device group",
    "Devices_Get": "Get a device",
    "Devices_CreateOrUpdate": "Claim a device into a device group",
    "Devices_Update": "Move a device to another device group",
    "Devices_Delete": "Delete a device",
    "Devices_GenerateCapabilityImage": "Generate a device capability image",
    "OperationStatuses_Get": "Get the status of an asynchronous operation",
    "OperationResults_Get": "Get the result of an asynchronous operation",
}
VERBS = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}


def provider_operations(table: list[tuple[str, str, str, Any]]) -> list[dict[str, Any]]:
    """``Operation`` items named as in Azure RBAC (``Microsoft.AzureSphere/catalogs/products/write``,
    ``…/catalogs/countDevices/action``), one per permission the route table serves, in table order."""
    operations: dict[str, dict[str, Any]] = {}
    for method, path, operation_id, _ in table:
        segments = [s for s in path.split("/") if s and not s.startswith("{")]
        types = segments[segments.index(PROVIDER) + 1 :]
        if method == "POST":
            name = f"{PROVIDER}/{'/'.join(types)}/action"
            resource = "/".join(types[:-1])
        elif method in VERBS:
            if method == "GET" and f"{PROVIDER}/{'/'.join(types)}/action" in operations:
                continue  # the GET continuation of a POST list is no permission of its own
            name = f"{PROVIDER}/{'/'.join(types)}/{VERBS[method]}"
            resource = "/".join(types)
        else:
            continue
        if name in operations:
            continue
        operations[name] = {
            "name": name,
            "isDataAction": False,
            "display": {
                "provider": PROVIDER,
                "resource": resource,
                "operation": operation_id.replace("_", " "),
                "description": DESCRIPTIONS.get(operation_id, operation_id),
            },
            "origin": "user,system",
        }
    return list(operations.values())

"""Images and deployments: the software a catalog holds and the set of it each device group runs.

An **image** is a signed Azure Sphere image package (an application, usually) uploaded to a catalog. The fake keeps
the bytes as they came — any file will do — and **parses nothing**: the real service reads the package's metadata
(component ID, image type, name) from its trailer, which the fake cannot verify, so those fields stay absent
instead of being invented. An image is named by its GUID; the service picks one on ``uploadImage``, the caller on
``PUT …/images/{imageName}`` (which must then be a GUID, "Use an image GUID for GA versions of the API").

A **deployment** is an immutable set of images targeted at one device group; the group's newest deployment is its
*current* one, and a device receives it unless its group's update policy is ``No3rdPartyAppUpdates``
(:meth:`ImageCatalog.images_for_device`). ``PUT …/deployments/.default`` creates a new deployment with a fresh ID
and ``GET …/deployments/.default`` reads the current one (2024-04-01: "Use .default for deployment creation and to
get the current deployment for the associated device group"). Deployments target real device groups only.

Refusals (fake-defined where the sources are silent; ``docs/sphere-surfaces.md`` lists them): bytes that are not
base64, empty or larger than ``sphere.max_image_bytes`` → 400; an image name that is not a GUID → 400
``InvalidResourceName``; a second upload under an existing ID with other bytes → 409 ``Conflict`` (the same bytes
again succeed); a deployment naming no image, an unknown image or one twice → 400; a deployment ID in use → 409.
"""

from __future__ import annotations

import base64
import binascii
import uuid as _uuid
from typing import Any

from simulator.sphere.errors import SphereError, bad_request, not_found
from simulator.sphere.records import (  # the records moved there; exported here as before
    REGIONAL_DATA_BOUNDARIES,
    Deployment,
    DeviceGroup,
    Image,
    SphereCore,
    Tenant,
)

__all__ = ["DEFAULT_DEPLOYMENT", "Deployment", "Image", "ImageCatalog"]

DEFAULT_DEPLOYMENT = ".default"


def decode_image(data: Any, limit: int) -> bytes:
    """The bytes of a base64 image (``properties.image`` on create): 400 unless valid, non-empty and within
    ``limit`` bytes."""
    if not isinstance(data, str) or not data:
        raise bad_request("properties.image (the image as a base64 string) is required.", target="image")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("properties.image is not valid base64.", target="image") from None
    if not raw:
        raise bad_request("properties.image holds no bytes.", target="image")
    if len(raw) > limit:
        raise bad_request(f"The image is larger than {limit} bytes.", target="image")
    return raw


def check_guid(value: Any, what: str, *, code: str = "InvalidResourceName") -> str:
    try:
        if not isinstance(value, str):
            raise ValueError
        return str(_uuid.UUID(value)).lower() if len(value) == 36 else _fail()
    except ValueError:
        raise bad_request(f"The {what} '{value}' is not a GUID.", target=str(value), code=code) from None


def _fail() -> str:
    raise ValueError


class ImageCatalog:
    """Images and deployments: the part of :class:`~simulator.sphere.model.SphereService` that manages them."""

    # -- images ------------------------------------------------------------------------------------------------

    def upload_image(
        self: SphereCore,
        tenant_id: str,
        image: Any,
        *,
        image_id: str | None = None,
        regional_data_boundary: Any = None,
    ) -> tuple[Image, bool]:
        """Store an image (base64 text or bytes) under ``image_id`` (a GUID; default: a new one). Returns
        ``(image, created)``; the same bytes again under the same ID return the stored image unchanged."""
        tenant = self.get_tenant(tenant_id)
        limit = self.settings.sphere.max_image_bytes
        raw = image if isinstance(image, bytes) and 0 < len(image) <= limit else decode_image(image, limit)
        boundary = "None" if regional_data_boundary is None else regional_data_boundary
        if boundary not in REGIONAL_DATA_BOUNDARIES:
            raise bad_request(
                f"'{boundary}' is not a valid regionalDataBoundary; expected one of {list(REGIONAL_DATA_BOUNDARIES)}.",
                target="regionalDataBoundary",
            )
        if image_id is None:
            image_id = tenant.entropy.uuid()
        image_id = check_guid(image_id, "image name")
        existing = tenant.images.get(image_id)
        if existing is not None:
            if existing.data != raw:
                raise SphereError(409, "Conflict", f"The image '{image_id}' already exists.", target=image_id)
            return existing, False
        stored = Image(image_id, tenant.id, raw, self.clock.now(), boundary)
        tenant.images[image_id] = stored
        return stored, True

    def get_image(self: SphereCore, tenant_id: str, image_id: str) -> Image:
        tenant = self.get_tenant(tenant_id)
        image = tenant.images.get(image_id.lower()) if isinstance(image_id, str) else None
        if image is None:
            raise not_found("image", str(image_id))
        return image

    def list_images(self: SphereCore, tenant_id: str) -> list[Image]:
        return list(self.get_tenant(tenant_id).images.values())

    def delete_image(self: SphereCore, tenant_id: str, image_id: str) -> Image:
        """Remove an image from the catalog; deployments that used it keep their record of it."""
        image = self.get_image(tenant_id, image_id)
        del self.get_tenant(tenant_id).images[image.id]
        return image

    # -- deployments -------------------------------------------------------------------------------------------

    def create_deployment(
        self: SphereCore,
        tenant_id: str,
        product: str,
        device_group: str,
        image_ids: Any,
        *,
        deployment_id: str | None = None,
    ) -> Deployment:
        """A new current deployment of ``image_ids`` to a real device group; ``deployment_id`` a GUID (default:
        a new one)."""
        tenant = self.get_tenant(tenant_id)
        group = self._real_group(tenant_id, product, device_group)
        if not isinstance(image_ids, list) or not image_ids:
            raise bad_request("A deployment names at least one image.", target="deployedImages")
        images = []
        for image_id in image_ids:
            if not isinstance(image_id, str):
                raise bad_request("Each deployed image is named by its image ID.", target="deployedImages")
            image = tenant.images.get(image_id.lower())
            if image is None:
                raise bad_request(f"The image '{image_id}' is not in this catalog.", target="deployedImages")
            if image in images:
                raise bad_request(f"The image '{image_id}' is named twice.", target="deployedImages")
            images.append(image)
        if deployment_id is None:
            deployment_id = tenant.entropy.uuid()
        deployment_id = check_guid(deployment_id, "deployment name")
        if any(deployment_id in g.deployments for g in self._all_groups(tenant)):
            raise SphereError(
                409, "Conflict", f"The deployment '{deployment_id}' already exists.", target=deployment_id
            )
        deployment = Deployment(deployment_id, group, tuple(images), self.clock.now())
        group.deployments[deployment.id] = deployment
        return deployment

    def get_deployment(self: SphereCore, tenant_id: str, product: str, device_group: str, name: str) -> Deployment:
        """``.default`` is the group's current deployment; any other name is a deployment ID (case-insensitive)."""
        group = self._real_group(tenant_id, product, device_group)
        if isinstance(name, str) and name.lower() == DEFAULT_DEPLOYMENT:
            if group.current_deployment is None:
                raise not_found("current deployment of device group", group.name)
            return group.current_deployment
        deployment = group.deployments.get(name.lower()) if isinstance(name, str) else None
        if deployment is None:
            raise not_found("deployment", str(name))
        return deployment

    def list_deployments(
        self: SphereCore, tenant_id: str, product: str | None = None, device_group: str | None = None
    ) -> list[Deployment]:
        """The deployments of one device group, or (no names) of every group of the catalog."""
        if product is not None and device_group is not None:
            return list(self._real_group(tenant_id, product, device_group).deployments.values())
        return [d for g in self._all_groups(self.get_tenant(tenant_id)) for d in g.deployments.values()]

    def delete_deployment(self: SphereCore, tenant_id: str, product: str, device_group: str, name: str) -> Deployment:
        """Remove a deployment; the newest remaining one becomes current."""
        deployment = self.get_deployment(tenant_id, product, device_group, name)
        del deployment.group.deployments[deployment.id]
        return deployment

    def images_for_device(self: SphereCore, device_id: str) -> list[Image]:
        """What the cloud offers this device: its group's current deployment, unless the group's update policy is
        ``No3rdPartyAppUpdates`` (then no application images) or the device has no group."""
        record = self.get_device(device_id)
        if record.tenant_id is None or record.device_group_id is None:
            return []
        group = self.get_tenant(record.tenant_id).device_group_by_id(record.device_group_id)
        if group.update_policy == "No3rdPartyAppUpdates" or group.current_deployment is None:
            return []
        return list(group.current_deployment.images)

    # -- internals ---------------------------------------------------------------------------------------------

    def _all_groups(self: SphereCore, tenant: Tenant) -> list[DeviceGroup]:
        return [g for p in tenant.products.values() for g in p.device_groups.values()]

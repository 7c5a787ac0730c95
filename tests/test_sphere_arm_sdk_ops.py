"""The unmodified ``azure-mgmt-sphere`` 1.0.0 client over every operation group of Microsoft.AzureSphere
2024-04-01 — in-process (its requests transport routed by ``cloud.mock()``) and against a served world over HTTPS:
operations, catalogs, certificates, images, products, device groups,
deployments and devices — the happy path through the client's own pollers and pagers, the documented errors as
the client's exceptions, and bad input refused in the service's error shape with nothing changed.
"""

from __future__ import annotations

import base64
import time
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("azure.mgmt.sphere", reason="azure-mgmt-sphere is not installed")

from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.sphere import AzureSphereMgmtClient
from azure.mgmt.sphere import models as m

from simulator.cloud import FakeCloud
from simulator.control import create_tenant
from simulator.sphere.capabilities import parse_capability_image

CLOSE = {"headers": {"Connection": "close"}}  # calls expected to fail (see test_sphere_arm_sdk.py)
IMAGE = "2c9f3d51-7e11-4b0a-9d8e-1f6a5c4b3e21"


class Credential:
    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture(scope="module", params=["in-process", pytest.param("served", marks=pytest.mark.served)])
def world(request):
    """The client at its default ``management.azure.com`` inside ``cloud.mock()`` (requests routed in-process), or
    at a served world over HTTPS; either way ``world[0].cloud`` is the world."""
    cloud = FakeCloud(seed=41)
    if request.param == "in-process":
        access = create_tenant(cloud, name="Contoso")
        with cloud.mock():
            client = AzureSphereMgmtClient(Credential(access.arm_token), access.subscription_id, polling_interval=0)
            yield SimpleNamespace(cloud=cloud), client, access.resource_group, access.catalog
            client.close()
        return
    with cloud.serve(port=0, mqtt_port=None) as served:
        sphere = served.endpoints["sphere"]
        client = AzureSphereMgmtClient(
            Credential(sphere["arm_token"]),
            sphere["subscription_id"],
            base_url=sphere["arm_url"],
            connection_verify=served.ca_bundle,
            polling_interval=0,
        )
        yield served, client, sphere["resource_group"], sphere["catalog"]
        client.close()


def snapshot(served: Any) -> dict:
    with served.cloud.lock:
        return served.cloud.sphere.snapshot()


def new_device(served: Any) -> str:
    with served.cloud.lock:
        return served.cloud.sphere.create_device().id


def test_operations_and_catalogs(world) -> None:
    served, client, rg, catalog = world
    names = {o.name for o in client.operations.list()}
    assert "Microsoft.AzureSphere/catalogs/products/deviceGroups/claimDevices/action" in names
    created = client.catalogs.begin_create_or_update(rg, "sdk-catalog", m.Catalog(location="global")).result()
    assert created.name == "sdk-catalog" and created.properties.tenant_id
    tagged = client.catalogs.update(rg, "sdk-catalog", m.CatalogUpdate(tags={"owner": "ops"}))
    assert tagged.tags == {"owner": "ops"}
    assert {c.name for c in client.catalogs.list_by_resource_group(rg)} >= {catalog, "sdk-catalog"}
    assert "sdk-catalog" in {c.name for c in client.catalogs.list_by_subscription()}
    assert client.catalogs.get(rg, "sdk-catalog").tags == {"owner": "ops"}
    client.catalogs.begin_delete(rg, "sdk-catalog").result()
    with pytest.raises(ResourceNotFoundError):
        client.catalogs.get(rg, "sdk-catalog", **CLOSE)
    before = snapshot(served)
    with pytest.raises(HttpResponseError) as refused:
        client.catalogs.begin_create_or_update(rg, "elsewhere", m.Catalog(location="westus"), **CLOSE).result()
    assert refused.value.error.code == "LocationNotAvailableForResourceType" and snapshot(served) == before


def test_certificates_list_with_filter_and_top(world) -> None:
    _, client, rg, catalog = world
    active = list(client.certificates.list_by_catalog(rg, catalog, filter="properties/status eq 'Active'", top=1))
    assert [c.properties.status for c in active] == ["Active"]
    assert list(client.certificates.list_by_catalog(rg, catalog, filter="properties/status eq 'Revoked'")) == []
    with pytest.raises(HttpResponseError) as refused:
        list(client.certificates.list_by_catalog(rg, catalog, filter="properties/status ne 'x'", **CLOSE))
    assert refused.value.error.code == "InvalidQueryParameterValue"


def test_products_device_groups_and_counts(world) -> None:
    served, client, rg, catalog = world
    product = client.products.begin_create_or_update(rg, catalog, "Dishwasher", m.Product()).result()
    assert product.properties.provisioning_state == "Succeeded" and product.properties.description is None
    updated = client.products.begin_update(
        rg, catalog, "Dishwasher", m.ProductUpdate(properties=m.ProductUpdateProperties(description="Contoso"))
    ).result()
    assert updated.properties.description == "Contoso"
    assert [p.name for p in client.products.list_by_catalog(rg, catalog)] == ["Dishwasher"]
    defaults = list(client.products.generate_default_device_groups(rg, catalog, "Dishwasher"))
    assert len(defaults) == 5 and defaults[0].properties.update_policy == "No3rdPartyAppUpdates"
    group = client.device_groups.begin_create_or_update(
        rg,
        catalog,
        "Dishwasher",
        "Lab",
        m.DeviceGroup(properties=m.DeviceGroupProperties(description="lab", os_feed_type="RetailEval")),
    ).result()
    assert group.properties.os_feed_type == "RetailEval" and group.properties.has_deployment is False
    group = client.device_groups.begin_update(
        rg,
        catalog,
        "Dishwasher",
        "Lab",
        m.DeviceGroupUpdate(properties=m.DeviceGroupUpdateProperties(allow_crash_dumps_collection="Enabled")),
    ).result()
    assert group.properties.allow_crash_dumps_collection == "Enabled" and group.properties.description == "lab"
    assert client.device_groups.get(rg, catalog, "Dishwasher", "Lab").name == "Lab"
    assert len(list(client.device_groups.list_by_product(rg, catalog, "Dishwasher"))) == 6
    listed = client.catalogs.list_device_groups(rg, catalog, m.ListDeviceGroupsRequest(device_group_name="lab"))
    assert [g.name for g in listed] == ["Lab"]
    device = new_device(served)
    claimed = client.device_groups.begin_claim_devices(
        rg, catalog, "Dishwasher", "Lab", m.ClaimDevicesRequest(device_identifiers=[device])
    )
    assert claimed.result() is None
    assert client.catalogs.count_devices(rg, catalog).value >= 1
    assert client.products.count_devices(rg, catalog, "Dishwasher").value == 1
    assert client.device_groups.count_devices(rg, catalog, "Dishwasher", "Lab").value == 1

    before = snapshot(served)
    with pytest.raises(HttpResponseError) as refused:
        client.device_groups.begin_delete(rg, catalog, "Dishwasher", "Lab", **CLOSE).result()
    assert refused.value.error.code == "InvalidParameters" and snapshot(served) == before
    with pytest.raises(HttpResponseError) as refused:
        client.device_groups.begin_update(
            rg,
            catalog,
            "Dishwasher",
            "Lab",
            {"properties": {"osFeedType": "Beta"}},
            **CLOSE,
        ).result()
    assert refused.value.error.code == "InvalidRequestContent" and snapshot(served) == before
    with pytest.raises(ResourceNotFoundError):
        client.products.get(rg, catalog, "Nowhere", **CLOSE)
    client.device_groups.begin_delete(rg, catalog, "Dishwasher", "Field Test").result()
    assert len(list(client.device_groups.list_by_product(rg, catalog, "Dishwasher"))) == 5


def test_devices_claim_move_capability_and_insights(world) -> None:
    served, client, rg, catalog = world
    client.products.begin_create_or_update(rg, catalog, "Fridge", m.Product()).result()
    list(client.products.generate_default_device_groups(rg, catalog, "Fridge"))
    device = new_device(served)
    created = client.devices.begin_create_or_update(rg, catalog, "Fridge", "Development", device, m.Device()).result()
    assert created.properties.device_id == device and created.properties.chip_sku == "MT3620AN"
    development = client.device_groups.get(rg, catalog, "Fridge", "Development")
    production = client.device_groups.get(rg, catalog, "Fridge", "Production")
    moved = client.devices.begin_update(
        rg,
        catalog,
        "Fridge",
        "Development",
        device,
        m.DeviceUpdate(properties=m.DeviceUpdateProperties(device_group_id=production.id)),
    ).result()
    assert moved.id == f"{production.id}/devices/{device}"
    assert [d.name for d in client.devices.list_by_device_group(rg, catalog, "Fridge", "Production")] == [device]
    assert device in {d.name for d in client.catalogs.list_devices(rg, catalog, maxpagesize=1)}
    assert client.devices.get(rg, catalog, "Fridge", "Production", device).name == device
    capability = client.devices.begin_generate_capability_image(
        rg,
        catalog,
        "Fridge",
        "Production",
        device,
        m.GenerateCapabilityImageRequest(capabilities=["ApplicationDevelopment"]),
    ).result()
    assert parse_capability_image(base64.b64decode(capability.image))[:2] == (device, [11])
    with served.cloud.lock:
        served.cloud.sphere.record_device_insight(
            device, description="crash", event_category="AppCrash", event_class="Errors", event_type="SIGSEGV"
        )
    [insight] = list(client.catalogs.list_device_insights(rg, catalog))
    assert insight.device_id == device and insight.event_count == 1

    before = snapshot(served)
    with pytest.raises(ResourceNotFoundError):
        client.devices.get(rg, catalog, "Fridge", "Development", device, **CLOSE)  # it moved
    with pytest.raises(HttpResponseError) as refused:
        client.devices.begin_update(
            rg,
            catalog,
            "Fridge",
            "Production",
            device,
            m.DeviceUpdate(properties=m.DeviceUpdateProperties(device_group_id=development.id + "x")),
            **CLOSE,
        ).result()
    assert refused.value.error.message == "Device group not found" and snapshot(served) == before
    with pytest.raises(HttpResponseError) as refused:
        client.devices.begin_delete(rg, catalog, "Fridge", "Production", device, **CLOSE).result()
    assert refused.value.error.code == "InvalidParameters" and snapshot(served) == before
    with pytest.raises(ResourceExistsError):
        client.devices.begin_create_or_update(
            rg, catalog, ".default", ".default", _foreign_device(served), m.Device(), **CLOSE
        ).result()


def _foreign_device(served: Any) -> str:
    with served.cloud.lock:
        sphere = served.cloud.sphere
        other = sphere.create_tenant(name="Fabrikam")
        device = sphere.create_device().id
        sphere.claim_device(other.id, device)
    return device


def test_images_and_deployments(world) -> None:
    served, client, rg, catalog = world
    client.products.begin_create_or_update(rg, catalog, "Oven", m.Product()).result()
    list(client.products.generate_default_device_groups(rg, catalog, "Oven"))
    content = base64.b64encode(b"an image package, opaque to the fake").decode()
    image = client.images.begin_create_or_update(
        rg, catalog, IMAGE, m.Image(properties=m.ImageProperties(image=content))
    ).result()
    assert image.name == IMAGE and image.properties.image_id == IMAGE and image.properties.component_id is None
    assert (
        client.catalogs.begin_upload_image(
            rg, catalog, m.Image(properties=m.ImageProperties(image=content, regional_data_boundary="EU"))
        ).result()
        is None
    )
    images = list(client.images.list_by_catalog(rg, catalog, filter="properties/regionalDataBoundary eq 'EU'"))
    assert len(images) == 1 and images[0].name != IMAGE
    assert client.images.get(rg, catalog, IMAGE).properties.uri.endswith(IMAGE)
    deployment = client.deployments.begin_create_or_update(
        rg,
        catalog,
        "Oven",
        "Production",
        ".default",
        m.Deployment(
            properties=m.DeploymentProperties(deployed_images=[m.Image(properties=m.ImageProperties(image_id=IMAGE))])
        ),
    ).result()
    assert [i.name for i in deployment.properties.deployed_images] == [IMAGE]
    assert client.deployments.get(rg, catalog, "Oven", "Production", ".default").name == deployment.name
    assert [d.name for d in client.deployments.list_by_device_group(rg, catalog, "Oven", "Production")] == [
        deployment.name
    ]
    assert deployment.name in {d.name for d in client.catalogs.list_deployments(rg, catalog)}
    assert client.device_groups.get(rg, catalog, "Oven", "Production").properties.has_deployment is True

    before = snapshot(served)
    with pytest.raises(HttpResponseError) as refused:
        client.deployments.begin_create_or_update(
            rg,
            catalog,
            "Oven",
            "Production",
            ".default",
            m.Deployment(
                properties=m.DeploymentProperties(
                    deployed_images=[m.Image(properties=m.ImageProperties(image_id="nope"))]
                )
            ),
            **CLOSE,
        ).result()
    assert refused.value.status_code == 400 and snapshot(served) == before
    with pytest.raises(ResourceExistsError):
        client.images.begin_create_or_update(
            rg, catalog, IMAGE, m.Image(properties=m.ImageProperties(image=base64.b64encode(b"x").decode())), **CLOSE
        ).result()
    client.deployments.begin_delete(rg, catalog, "Oven", "Production", deployment.name).result()
    client.images.begin_delete(rg, catalog, IMAGE).result()
    with pytest.raises(ResourceNotFoundError):
        client.images.get(rg, catalog, IMAGE, **CLOSE)

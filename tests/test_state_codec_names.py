"""A class that moves keeps the name world files know it by: the Sphere model's records moved to
``simulator/sphere/records.py`` (so that imports point one way), and a world still names each of them by the module
it came from — files written before the move load, files written after look the same."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime

import pytest

from simulator.cloud import FakeCloud
from simulator.sphere import records
from simulator.state import CodecError, dump_world, dumps, load_world, loads
from simulator.state.codec import Kind, kind_of, resolve, type_name

#: every record that moved, and the name world files had for it before
MOVED = {
    "Provisioning": "simulator.sphere.operations:Provisioning",
    "ArmOperation": "simulator.sphere.operations:ArmOperation",
    "DeviceGroup": "simulator.sphere.products:DeviceGroup",
    "Product": "simulator.sphere.products:Product",
    "Image": "simulator.sphere.images:Image",
    "Deployment": "simulator.sphere.images:Deployment",
    "DeviceInsight": "simulator.sphere.insights:DeviceInsight",
    "CAGeneration": "simulator.sphere.model:CAGeneration",
    "SimulatedDeviceIdentity": "simulator.sphere.model:SimulatedDeviceIdentity",
    "DeviceRecord": "simulator.sphere.model:DeviceRecord",
    "Tenant": "simulator.sphere.model:Tenant",
    "ClaimOperation": "simulator.sphere.model:ClaimOperation",
}


def test_every_record_of_the_records_module_keeps_its_old_name() -> None:
    classes = {
        name: cls
        for name, cls in vars(records).items()
        if inspect.isclass(cls) and cls.__module__ == records.__name__ and cls is not records.SphereCore
    }
    assert set(classes) == set(MOVED)
    for name, cls in classes.items():
        assert kind_of(cls) in (Kind.RECORD, Kind.VALUE), name
        assert type_name(cls) == MOVED[name]
        assert resolve(MOVED[name], kind_of(cls)) is cls  # the old module still exports it


def world() -> FakeCloud:
    """A world holding one of every moved record."""
    cloud = FakeCloud(seed=5)
    cloud.clock.set(datetime(2027, 1, 4, tzinfo=UTC))
    sphere = cloud.sphere
    tenant = sphere.create_tenant(name="Contoso")
    sphere.create_product(tenant.id, "Dishwasher", create_default_groups=True)
    image, _ = sphere.upload_image(tenant.id, b"an image package")
    sphere.create_deployment(tenant.id, "Dishwasher", "Field Test", [image.id])
    device = sphere.create_device()
    sphere.claim_device(tenant.id, device.id)
    sphere.record_device_insight(
        device.id, description="crash", event_category="Application", event_class="Crash", event_type="AppCrash"
    )
    sphere.start_arm_operation(tenant, "Products_CreateOrUpdate", tenant.id + "/products/Dishwasher")
    return cloud


def test_a_world_names_the_moved_records_as_before_and_loads_back() -> None:
    cloud = world()
    text = dumps(dump_world(cloud))
    assert "simulator.sphere.records" not in text
    for name in MOVED.values():
        assert json.dumps(name) in text, name
    again = load_world(loads(text))
    assert dumps(dump_world(again)) == text


def test_the_new_module_is_not_a_second_name() -> None:
    document = dump_world(world())
    text = dumps(document).replace('"simulator.sphere.model:Tenant"', '"simulator.sphere.records:Tenant"')
    with pytest.raises(CodecError, match="unknown type"):
        load_world(loads(text))

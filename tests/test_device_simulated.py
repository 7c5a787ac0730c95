"""The simulated Sphere device: its daily certificate, in-process auto-enrollment, and the ``device new`` export."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from test_dps_model import World, central_device

from simulator import pki
from simulator.device import DeviceConnectionError, export_devices, presented, telemetry_topic
from simulator.dps.hub import HubError, parse_property_bag
from simulator.sphere.errors import SphereError


def test_a_device_has_a_128_hex_id_and_its_own_p256_key() -> None:
    world = World()
    device = world.device(world.tenant())
    assert len(device.id) == 128 and int(device.id, 16) >= 0
    leaf = device.certificate_chain()[0]
    assert leaf.public_key().public_numbers() == device.private_key.public_key().public_numbers()
    assert pki.get_common_name(leaf.subject) == device.id


def test_the_certificate_is_reused_while_valid_and_renewed_once_expired() -> None:
    world = World()
    device = world.device(world.tenant())
    first = device.certificate_chain()[0]
    world.cloud.clock.advance(hours=23)
    assert device.certificate_chain()[0] == first
    world.cloud.clock.advance(hours=2)
    renewed = device.certificate_chain()[0]
    assert renewed != first
    assert pki.is_valid_at(renewed, world.cloud.clock.now())


def test_an_unclaimed_device_has_no_certificate() -> None:
    world = World()
    device = world.device()  # never claimed
    with pytest.raises(SphereError) as refused:
        device.certificate_chain()
    assert (refused.value.status, refused.value.code) == (409, "DeviceNotClaimed")


def test_in_process_auto_enrollment_then_telemetry_and_reported_properties() -> None:
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)
    with pytest.raises(DeviceConnectionError):
        device.connect_hub()  # not provisioned yet: no hub to go to
    result = device.provision(app.id_scope)
    assert result.status == "assigned" and result.assigned_hub == app.hub_host
    device.connect_hub()
    device.send_telemetry({"temperature": 19.0, "humidity": 40}, {"alert": "none"})
    assert device.report_properties({"firmware": "1.0"}) == 2
    assert device.report_properties({"firmware": "1.1"}) == 3
    recorded = central_device(app, device.id)
    assert recorded.telemetry["humidity"].value == 40
    assert recorded.messages == 1
    assert recorded.reported == {"firmware": "1.1"}
    assert world.dps.hub.twin_get(device.hub_session)["reported"]["$version"] == 3


def test_the_hub_refuses_a_blocked_device_and_bad_patches() -> None:
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)
    device.provision(app.id_scope)
    session = device.connect_hub()
    with pytest.raises(HubError):
        world.dps.hub.twin_patch_reported(session, b"[1]")
    with pytest.raises(HubError):
        world.dps.hub.twin_patch_reported(session, b'{"$version": 9}')
    with pytest.raises(HubError):
        world.dps.hub.telemetry(session, "devices/someone-else/messages/events/", b"{}")
    assert central_device(app, device.id).reported == {}
    app.patch_device(device.id.lower(), {"enabled": False})  # the operator blocks it in IoT Central
    with pytest.raises(HubError, match="blocked"):
        device.connect_hub()


def test_the_property_bag_is_url_decoded_with_dollar_keys() -> None:
    topic = telemetry_topic("dev-01", {"k": "v w/x"})
    assert topic == "devices/dev-01/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8&k=v%20w%2Fx"
    bag = topic.split("/messages/events/", 1)[1]
    assert parse_property_bag(bag) == {"$.ct": "application/json", "$.ce": "utf-8", "k": "v w/x"}
    assert parse_property_bag("a+b=1&flag") == {"a+b": "1", "flag": ""}


@pytest.mark.parametrize(("choice", "length"), [("leaf", 1), ("leaf+tenant", 2), ("full", 4)])
def test_export_writes_keys_chains_and_an_index(tmp_path: Path, choice: str, length: int) -> None:
    world = World()
    tenant = world.tenant()
    devices = [world.device(tenant), world.device(tenant)]
    chains = {d.id: d.certificate_chain() for d in devices}
    index = export_devices([d.identity for d in devices], chains, tmp_path / "out", present_chain=choice)
    assert index == tmp_path / "out" / "devices.json"
    listing = json.loads(index.read_text())
    assert [entry["id"] for entry in listing] == [d.id for d in devices]
    for entry, device in zip(listing, devices, strict=True):
        assert set(entry) == {"id", "key_file", "cert_file"}
        chain = pki.load_pem_chain(Path(entry["cert_file"]).read_bytes())
        assert chain == chains[device.id][:length]  # leaf first, then what the device presents (``dps.present_chain``)
        key_path = Path(entry["key_file"])
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert key.public_key().public_numbers() == device.private_key.public_key().public_numbers()
        assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_export_accepts_chains_as_a_list_and_rejects_unknown_choices(tmp_path: Path) -> None:
    world = World()
    device = world.device(world.tenant())
    index = export_devices([device.identity], [device.certificate_chain()], tmp_path)
    assert json.loads(index.read_text())[0]["id"] == device.id
    with pytest.raises(ValueError, match="present_chain"):
        presented(device.certificate_chain(), "everything")

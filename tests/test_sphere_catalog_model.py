"""The Sphere model's catalog contents without any wire: product and device-group rules, images and deployments,
capability images, device reports, catalogs as ARM resources — and a hypothesis state machine over the product /
device group / device lifecycle checking, after every step, that counts agree and a refusal changed nothing.
"""

from __future__ import annotations

import base64
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from refusals import watch_services

from simulator.clock import Clock
from simulator.entropy import Entropy
from simulator.settings import Settings
from simulator.sphere.capabilities import parse_capability_image
from simulator.sphere.errors import SphereError
from simulator.sphere.model import SphereService

START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"


def service(**sphere: object) -> SphereService:
    return SphereService(Clock(START, frozen=True), Entropy(5), Settings.from_mapping({"sphere": sphere}))


def refused(call, status: int, code: str, sphere: SphereService) -> SphereError:
    before = sphere.snapshot()
    with pytest.raises(SphereError) as caught:
        call()
    assert (caught.value.status, caught.value.code) == (status, code), caught.value
    assert sphere.snapshot() == before
    return caught.value


@pytest.fixture
def sphere() -> SphereService:
    return service()


def test_product_and_group_rules(sphere: SphereService) -> None:
    tenant = sphere.create_tenant(name="Contoso")
    product = sphere.create_product(tenant.id, "Dishwasher", "Contoso dishwashers")
    assert sphere.get_product_by_id(tenant.id, product.id.upper()) is product
    refused(lambda: sphere.create_product(tenant.id, "DISHWASHER"), 409, "Conflict", sphere)
    for name in ("x", ".default", "bad/name", "a" * 51, 5):
        refused(lambda name=name: sphere.create_product(tenant.id, name), 400, "InvalidResourceName", sphere)
    refused(lambda: sphere.create_product(tenant.id, "Fridge", "d" * 101), 400, "InvalidRequestContent", sphere)
    refused(lambda: sphere.create_product(tenant.id, "Fridge", "line\nbreak"), 400, "InvalidRequestContent", sphere)

    group = sphere.create_device_group(tenant.id, "Dishwasher", "US", os_feed_type="RetailEval")
    assert (group.os_feed_type, group.update_policy, group.allow_crash_dumps, group.regional_data_boundary) == (
        "RetailEval",
        "UpdateAll",
        "Disabled",
        "None",
    )
    refused(lambda: sphere.create_device_group(tenant.id, "Dishwasher", "us"), 409, "Conflict", sphere)
    refused(lambda: sphere.create_device_group(tenant.id, ".default", "New"), 400, "InvalidRequestContent", sphere)
    refused(lambda: sphere.create_device_group(tenant.id, "Dishwasher", "a-b"), 400, "InvalidResourceName", sphere)
    for setting in ({"update_policy": "Never"}, {"regional_data_boundary": "US"}, {"colour": "red"}):
        refused(
            lambda setting=setting: sphere.update_device_group(tenant.id, "Dishwasher", "US", **setting),
            400,
            "InvalidRequestContent",
            sphere,
        )
    assert [g.name for g in sphere.device_groups_of(tenant.id, "us")] == ["US"]


def test_groups_and_products_with_devices_cannot_be_deleted(sphere: SphereService) -> None:
    tenant = sphere.create_tenant()
    sphere.create_product(tenant.id, "Dishwasher")
    sphere.create_device_group(tenant.id, "Dishwasher", "US")
    device = sphere.create_device().id
    sphere.claim_devices(tenant.id, [device], product="Dishwasher", device_group="US")
    error = refused(lambda: sphere.delete_device_group(tenant.id, "Dishwasher", "US"), 400, "InvalidParameters", sphere)
    assert error.message == "The device group has '1' devices associated"
    refused(lambda: sphere.delete_product(tenant.id, "Dishwasher"), 400, "InvalidParameters", sphere)
    sphere.assign_device(tenant.id, device, None)
    assert sphere.count_devices(tenant.id, "Dishwasher") == 0 and sphere.count_devices(tenant.id) == 1
    sphere.delete_product(tenant.id, "Dishwasher")
    assert sphere.real_products(tenant.id) == []


def test_images_deployments_and_update_policy(sphere: SphereService) -> None:
    tenant = sphere.create_tenant()
    sphere.create_product(tenant.id, "Oven")
    sphere.generate_default_device_groups(tenant.id, "Oven")
    image, created = sphere.upload_image(tenant.id, base64.b64encode(b"\x00\xffpackage").decode())
    assert created and image.data == b"\x00\xffpackage"
    assert sphere.upload_image(tenant.id, b"\x00\xffpackage", image_id=image.id) == (image, False)
    refused(lambda: sphere.upload_image(tenant.id, b"other", image_id=image.id), 409, "Conflict", sphere)
    refused(lambda: sphere.upload_image(tenant.id, "%%%"), 400, "InvalidRequestContent", sphere)
    refused(lambda: sphere.upload_image(tenant.id, b"x", image_id="nope"), 400, "InvalidResourceName", sphere)
    small = service(max_image_bytes=2)
    small_tenant = small.create_tenant()
    refused(lambda: small.upload_image(small_tenant.id, b"abc"), 400, "InvalidRequestContent", small)

    deployment = sphere.create_deployment(tenant.id, "Oven", "Field Test", [image.id.upper()])
    assert sphere.get_deployment(tenant.id, "Oven", "Field Test", ".default") is deployment
    refused(
        lambda: sphere.create_deployment(tenant.id, "Oven", "Field Test", [image.id], deployment_id=deployment.id),
        409,
        "Conflict",
        sphere,
    )
    refused(lambda: sphere.create_deployment(tenant.id, "Oven", "Field Test", []), 400, "InvalidRequestContent", sphere)
    device = sphere.create_device().id
    sphere.claim_devices(tenant.id, [device], product="Oven", device_group="Field Test")
    assert sphere.images_for_device(device) == [image]
    sphere.delete_image(tenant.id, image.id)
    assert sphere.images_for_device(device) == [image]  # the deployment keeps its record of the image
    sphere.update_device_group(tenant.id, "Oven", "Field Test", update_policy="No3rdPartyAppUpdates")
    assert sphere.images_for_device(device) == []


def test_capability_images(sphere: SphereService) -> None:
    tenant = sphere.create_tenant()
    device = sphere.create_device().id
    refused(lambda: sphere.capability_image(tenant.id, device, [11]), 404, "ResourceNotFound", sphere)
    sphere.claim_device(tenant.id, device)
    data = sphere.capability_image(tenant.id, device, ["FieldServicing", 11])
    assert parse_capability_image(data)[:2] == (device, [13, 11])
    for capabilities in ([], None, ["Nope"], [12], [11, 11], [False]):
        refused(
            lambda c=capabilities: sphere.capability_image(tenant.id, device, c), 400, "InvalidRequestContent", sphere
        )


def test_insights_and_update_checks(sphere: SphereService) -> None:
    tenant = sphere.create_tenant()
    sphere.create_product(tenant.id, "Oven")
    sphere.create_device_group(tenant.id, "Oven", "Eval", os_feed_type="RetailEval")
    device = sphere.create_device().id
    refused(lambda: sphere.record_update_check(device, "24.03"), 409, "DeviceNotClaimed", sphere)
    sphere.claim_devices(tenant.id, [device], product="Oven", device_group="Eval")
    record = sphere.record_update_check(device, "24.06")  # already on the RetailEval feed's newest
    assert (record.last_installed_os, record.last_available_os, record.last_os_update) == ("24.06", "24.06", None)
    sphere.clock.advance(timedelta(hours=1))
    record = sphere.record_update_check(device, "24.03")
    assert record.last_os_update == record.last_update_request == START + timedelta(hours=1)
    insight = sphere.record_device_insight(
        device, description="d", event_category="c", event_class="k", event_type="t", event_count=4
    )
    assert sphere.device_insights(tenant.id) == [insight]
    for bad in ({"event_count": 0}, {"event_count": True}, {"description": ""}, {"end": START - timedelta(days=1)}):
        kwargs = {"description": "d", "event_category": "c", "event_class": "k", "event_type": "t", **bad}
        refused(lambda k=kwargs: sphere.record_device_insight(device, **k), 400, "InvalidRequestContent", sphere)


def test_catalogs_as_arm_resources(sphere: SphereService) -> None:
    sphere.create_user("ops@contoso.com")
    tenant, created = sphere.put_catalog(SUBSCRIPTION, "rg", "cat", location="Global", creator="ops@contoso.com")
    assert (
        created and tenant.catalog == "cat" and sphere.users["ops@contoso.com"].roles_in(tenant.id) == ["Administrator"]
    )
    again, created = sphere.put_catalog(SUBSCRIPTION, "rg", "CAT", tags={"a": "b"})
    assert again is tenant and not created and tenant.tags == {"a": "b"}
    refused(lambda: sphere.put_catalog(SUBSCRIPTION, "rg", "x!", location="global"), 400, "InvalidResourceName", sphere)
    refused(
        lambda: sphere.put_catalog(SUBSCRIPTION, "rg", "new", location="eastus"),
        400,
        "LocationNotAvailableForResourceType",
        sphere,
    )
    refused(lambda: sphere.update_catalog(tenant.id, tags={"k": "v" * 257}), 400, "InvalidTag", sphere)
    refused(lambda: sphere.update_catalog(tenant.id, tags={f"t{i}": "" for i in range(51)}), 400, "InvalidTag", sphere)
    device = sphere.create_device().id
    sphere.claim_device(tenant.id, device)
    refused(lambda: sphere.delete_catalog(tenant.id), 400, "InvalidParameters", sphere)
    refused(lambda: sphere.unclaim_device(tenant.id, device), 400, "InvalidParameters", sphere)
    unclaiming = service(arm_device_delete="unclaim")
    other = unclaiming.create_tenant()
    freed = unclaiming.create_device().id
    unclaiming.claim_device(other.id, freed)
    unclaiming.unclaim_device(other.id, freed)
    unclaiming.delete_catalog(other.id)
    assert other.id not in unclaiming.tenants and unclaiming.get_device(freed).tenant_id is None


# -- the lifecycle as a state machine ---------------------------------------------------------------------------

NAMES = st.sampled_from(["Alpha", "Beta", "Gamma", "alpha", ".default", "x", "Delta Line"])


class CatalogLifecycle(RuleBasedStateMachine):
    """Products, groups and devices created, moved and deleted at random; every refusal must leave the model as it
    was, and the counts must always add up."""

    def __init__(self) -> None:
        super().__init__()
        self.sphere = service()
        world = SimpleNamespace(lock=threading.RLock(), clock=self.sphere.clock, sphere=self.sphere)
        watch_services(world, self.sphere)  # every refused call: the whole world unchanged (tests/refusals.py)
        self.tenant = self.sphere.create_tenant()
        self.devices: list[str] = []

    def attempt(self, call) -> None:
        before = self.sphere.snapshot()
        try:
            call()
        except SphereError as exc:
            assert 400 <= exc.status < 500
            assert self.sphere.snapshot() == before, f"refusal {exc!r} changed the model"

    @rule(name=NAMES)
    def create_product(self, name: str) -> None:
        self.attempt(lambda: self.sphere.create_product(self.tenant.id, name))

    @rule(product=NAMES, name=NAMES)
    def create_group(self, product: str, name: str) -> None:
        self.attempt(lambda: self.sphere.create_device_group(self.tenant.id, product, name))

    @rule(product=NAMES, group=NAMES)
    def claim(self, product: str, group: str) -> None:
        device = self.sphere.create_device().id
        self.devices.append(device)
        self.attempt(lambda: self.sphere.claim_devices(self.tenant.id, [device], product=product, device_group=group))

    @precondition(lambda self: self.devices)
    @rule(data=st.data(), product=NAMES, group=NAMES)
    def move(self, data: st.DataObject, product: str, group: str) -> None:
        device = data.draw(st.sampled_from(self.devices))

        def move() -> None:
            target = self.sphere.target_group(self.tenant.id, product, group)
            self.sphere.assign_device(self.tenant.id, device, target)

        self.attempt(move)

    @rule(product=NAMES, group=NAMES)
    def delete_group(self, product: str, group: str) -> None:
        self.attempt(lambda: self.sphere.delete_device_group(self.tenant.id, product, group))

    @rule(product=NAMES)
    def delete_product(self, product: str) -> None:
        self.attempt(lambda: self.sphere.delete_product(self.tenant.id, product))

    @invariant()
    def counts_add_up(self) -> None:
        tenant_id = self.tenant.id
        claimed = [d for d in self.devices if self.sphere.get_device(d).tenant_id == tenant_id]
        assert self.sphere.count_devices(tenant_id) == len(claimed)
        in_groups = 0
        for product in self.sphere.real_products(tenant_id):
            per_group = [self.sphere.count_devices(tenant_id, product.name, g.name) for g in product.real_groups()]
            assert self.sphere.count_devices(tenant_id, product.name) == sum(per_group)
            in_groups += sum(per_group)
        at_catalog_level = len(self.sphere.devices_in_group(tenant_id, ".default", ".default"))
        assert in_groups + at_catalog_level == len(claimed)

    @invariant()
    def every_device_is_in_a_group_that_exists(self) -> None:
        for device in self.devices:
            record = self.sphere.get_device(device)
            if record.device_group_id is not None:
                group = self.tenant.device_group_by_id(record.device_group_id)
                assert group.product.id == record.product_id


TestCatalogLifecycle = CatalogLifecycle.TestCase
TestCatalogLifecycle.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)

"""``$filter``, ``$top``, ``$skip``, ``$maxpagesize`` and ``nextLink`` on every Microsoft.AzureSphere list: the
filter subset (``eq``/``and``), its refusals, and — as a property — that following ``nextLink`` yields exactly the
filtered, skipped and topped list.
"""

from __future__ import annotations

import pytest
from arm_world import ARM, SUBSCRIPTION, VERSION, Arm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.sphere.arm_query import compile_filter
from simulator.sphere.errors import SphereError

BODY = {"name": "Dev-1", "properties": {"status": "Active", "count": 3, "enabled": True, "note": None}}
PATHS = ("name", "properties/status", "properties/count", "properties/enabled", "properties/note", "properties/gone")


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        ("name eq 'dev-1'", True),  # strings compare without case, as ARM names do
        ("name eq 'Dev-2'", False),
        ("'Dev-1' eq name", True),
        ("properties/status eq 'Active' and properties/count eq 3", True),
        ("(properties/count eq 3) and (properties/enabled eq false)", False),
        ("properties/enabled eq true", True),
        ("properties/gone eq null", True),  # absent matches null
        ("properties/count eq '3'", False),
        ("Properties/Status eq 'active'", True),
    ],
)
def test_filter_subset(expression: str, matches: bool) -> None:
    assert compile_filter(expression, PATHS)(BODY) is matches


@pytest.mark.parametrize(
    "expression",
    [
        "name eq 'a' or name eq 'b'",
        "name ne 'a'",
        "properties/count gt 1",
        "contains(name, 'a')",
        "not name eq 'a'",
        "name",
        "name eq",
        "properties/other eq 1",
        "id eq 'x'",
        "name eq 1.5",
        "name eq properties/status",
        "",
    ],
)
def test_filter_refusals(expression: str) -> None:
    with pytest.raises(SphereError) as refused:
        compile_filter(expression, PATHS)
    assert (refused.value.status, refused.value.code, refused.value.target) == (
        400,
        "InvalidQueryParameterValue",
        "$filter",
    )


@pytest.fixture(scope="module")
def world() -> Arm:
    """Three of everything a list can hold."""
    arm = Arm(seed=31)
    sphere, tenant = arm.sphere, arm.tenant
    for name in ("Dishwasher", "Fridge", "Oven"):
        sphere.create_product(tenant.id, name)
        for group in ("Alpha", "Beta", "Gamma"):
            sphere.create_device_group(tenant.id, name, group, description=f"{group} of {name}")
    images = [sphere.upload_image(tenant.id, bytes([i + 1]))[0].id for i in range(3)]
    for group in ("Alpha", "Beta", "Gamma", "Beta", "Beta"):
        sphere.create_deployment(tenant.id, "Oven", group, images[:1])
    devices = [arm.claimed("Oven", "Alpha") for _ in range(3)]
    for device in devices:
        sphere.record_device_insight(device, description="d", event_category="c", event_class="k", event_type="t")
    for catalog in ("cat2", "cat3"):
        created = sphere.create_tenant(subscription_id=SUBSCRIPTION, resource_group="rg", catalog=catalog)
        sphere.create_user("admin@contoso.com", {created.id: ["Administrator"]})
    arm.cloud.clock.advance(days=1300)  # three CA generations by now
    arm.admin = arm.headers("admin@contoso.com")
    return arm


LISTS = [
    ("GET", "/certificates", "properties/status eq 'Active'", 1),
    ("GET", "/products", "name eq 'fridge'", 1),
    ("GET", "/products/Oven/deviceGroups", "properties/description eq 'Beta of Oven'", 1),
    ("POST", "/listDeviceGroups", "name eq 'Gamma'", 3),
    ("POST", "/listDevices", "properties/chipSku eq 'MT3620AN'", 3),
    ("GET", "/products/Oven/deviceGroups/Alpha/devices", "properties/provisioningState eq 'Succeeded'", 3),
    ("GET", "/images", "properties/regionalDataBoundary eq 'None'", 3),
    ("POST", "/listDeployments", "properties/provisioningState eq 'Succeeded'", 5),
    ("GET", "/products/Oven/deviceGroups/Beta/deployments", "properties/provisioningState eq 'Failed'", 0),
    ("POST", "/listDeviceInsights", "eventCount eq 1", 3),
    ("GET", f"{ARM}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.AzureSphere/catalogs", "name eq 'cat3'", 1),
    ("GET", f"{ARM}/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.AzureSphere/catalogs", None, 3),
    ("GET", f"{ARM}/providers/Microsoft.AzureSphere/operations", "name eq 'Microsoft.AzureSphere/catalogs/read'", 1),
]


def collect(arm: Arm, method: str, path: str, params: dict[str, str]) -> list[str]:
    page = arm.call(method, path, params={**VERSION, **params})
    assert page.status_code == 200, page.text
    body = page.json()
    names = [item.get("name") or item.get("deviceId") for item in body["value"]]
    while "nextLink" in body:
        assert body["nextLink"].startswith("https://management.azure.com/")
        body = arm.call("GET", body["nextLink"]).json()
        names += [item.get("name") or item.get("deviceId") for item in body["value"]]
    return names


@pytest.mark.parametrize(("method", "path", "expression", "expected"), LISTS)
def test_every_list_pages_filters_and_tops(
    world: Arm, method: str, path: str, expression: str | None, expected: int
) -> None:
    everything = collect(world, method, path, {})
    assert len(everything) >= 3
    assert collect(world, method, path, {"$maxpagesize": "1"}) == everything
    assert collect(world, method, path, {"$skip": "1", "$top": "1"}) == everything[1:2]
    if expression is not None:
        filtered = collect(world, method, path, {"$filter": expression, "$maxpagesize": "1"})
        assert len(filtered) == expected and set(filtered) <= set(everything)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    skip=st.integers(0, 12),
    top=st.one_of(st.none(), st.integers(1, 12)),
    size=st.integers(1, 6),
)
def test_pages_join_to_the_skipped_and_topped_list(world: Arm, skip: int, top: int | None, size: int) -> None:
    everything = collect(world, "POST", "/listDeviceGroups", {})
    params = {"$skip": str(skip), "$maxpagesize": str(size)}
    if top is not None:
        params["$top"] = str(top)
    wanted = everything[skip:] if top is None else everything[skip : skip + top]
    assert collect(world, "POST", "/listDeviceGroups", params) == wanted


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("$top", "0"),
        ("$top", "-1"),
        ("$top", "2147483648"),
        ("$skip", "x"),
        ("$maxpagesize", "0"),
        ("$maxpagesize", "1001"),
        ("$skipToken", "not-a-token"),
        ("$filter", "name gt 'a'"),
    ],
)
def test_query_refusals(world: Arm, name: str, value: str) -> None:
    before = world.sphere.snapshot()
    response = world.call("GET", "/products", params={**VERSION, name: value})
    world.refused(response, 400, "InvalidQueryParameterValue", before)
    assert response.json()["error"]["target"] == name

"""ARM catalogs, products, device groups and devices in-process: create/update/delete with their long-running
answers (``Azure-AsyncOperation``/``Location``/``provisioningState``), counts, default device groups, the catalog's
device-group list, the provider's operation list, and every documented refusal leaving the model unchanged.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from arm_world import ARM, CATALOG_PATH, SUBSCRIPTION, VERSION, Arm

STATUS_URL = re.compile(
    rf"^https://management\.azure\.com/subscriptions/{SUBSCRIPTION}/providers/Microsoft\.AzureSphere/locations/"
    r"global/operationStatuses/[0-9a-f-]{36}\?api-version=2024-04-01$"
)
RESULT_URL = re.compile(STATUS_URL.pattern.replace("operationStatuses", "operationResults"))


@pytest.fixture
def arm() -> Arm:
    return Arm()


# -- products --------------------------------------------------------------------------------------------------


def test_product_lifecycle_with_long_running_answers(arm: Arm) -> None:
    created = arm.call("PUT", "/products/Dishwasher", json={})
    assert created.status_code == 201
    assert STATUS_URL.match(created.headers["azure-asyncoperation"]) and created.headers["retry-after"] == "0"
    assert created.json() == {
        "id": f"{CATALOG_PATH}/products/Dishwasher",
        "name": "Dishwasher",
        "type": "Microsoft.AzureSphere/catalogs/products",
        "properties": {"provisioningState": "Succeeded"},  # no description: absent, not null
    }
    status = arm.call("GET", created.headers["azure-asyncoperation"]).json()
    assert status["status"] == "Succeeded" and status["resourceId"] == f"{CATALOG_PATH}/products/Dishwasher"
    assert set(status) == {"id", "name", "resourceId", "status", "startTime", "endTime"}

    replaced = arm.call("PUT", "/products/dishwasher", json={"properties": {"description": "Contoso"}})
    assert replaced.status_code == 200 and replaced.json()["properties"]["description"] == "Contoso"

    patched = arm.call("PATCH", "/products/Dishwasher", json={"properties": {"description": "Contoso dishwashers"}})
    assert patched.status_code == 202 and patched.content == b""
    assert RESULT_URL.match(patched.headers["location"]) and STATUS_URL.match(patched.headers["azure-asyncoperation"])
    result = arm.call("GET", patched.headers["location"])
    assert result.status_code == 200 and result.json()["properties"]["description"] == "Contoso dishwashers"
    assert [p["name"] for p in arm.call("GET", "/products").json()["value"]] == ["Dishwasher"]

    deleted = arm.call("DELETE", "/products/Dishwasher")
    assert deleted.status_code == 202 and RESULT_URL.match(deleted.headers["location"])
    assert "azure-asyncoperation" not in deleted.headers
    assert arm.call("GET", deleted.headers["location"]).status_code == 204
    assert arm.call("GET", "/products/Dishwasher").status_code == 404


def test_operations_in_progress_show_transitional_states() -> None:
    arm = Arm(arm_operation_delay_s=60, arm_retry_after_s=7)
    created = arm.call("PUT", "/products/Dishwasher", json={})
    assert created.json()["properties"]["provisioningState"] == "Accepted"
    pending = arm.call("GET", created.headers["azure-asyncoperation"])
    assert pending.json()["status"] == "InProgress" and "endTime" not in pending.json()
    assert pending.headers["retry-after"] == "7"
    assert arm.call("GET", "/products/Dishwasher").json()["properties"]["provisioningState"] == "Accepted"
    arm.cloud.clock.advance(timedelta(seconds=60))
    assert arm.call("GET", created.headers["azure-asyncoperation"]).json()["status"] == "Succeeded"
    assert arm.call("GET", "/products/Dishwasher").json()["properties"]["provisioningState"] == "Succeeded"
    patched = arm.call("PATCH", "/products/Dishwasher", json={"properties": {"description": "x"}})
    assert arm.call("GET", "/products/Dishwasher").json()["properties"]["provisioningState"] == "Updating"
    waiting = arm.call("GET", patched.headers["location"])
    assert waiting.status_code == 202 and waiting.headers["location"] == patched.headers["location"]
    arm.cloud.clock.advance(timedelta(seconds=60))
    assert arm.call("GET", patched.headers["location"]).json()["properties"]["description"] == "x"


def test_sync_mode_answers_at_once() -> None:
    arm = Arm(arm_long_running="sync")
    created = arm.call("PUT", "/products/Dishwasher", json={})
    assert created.status_code == 200 and "azure-asyncoperation" not in created.headers
    patched = arm.call("PATCH", "/products/Dishwasher", json={"properties": {"description": "d"}})
    assert patched.status_code == 200 and patched.json()["properties"]["description"] == "d"
    assert arm.call("DELETE", "/products/Dishwasher").status_code == 204
    assert arm.sphere.arm_operations == {}


# -- device groups ---------------------------------------------------------------------------------------------


def test_device_groups_defaults_settings_and_counts(arm: Arm) -> None:
    arm.finish(arm.call("PUT", "/products/Dishwasher", json={}))
    defaults = arm.call("POST", "/products/Dishwasher/generateDefaultDeviceGroups")
    assert defaults.status_code == 200
    by_name = {g["name"]: g["properties"] for g in defaults.json()["value"]}
    assert list(by_name) == [
        "Development",
        "Field Test",
        "Production",
        "Production OS Evaluation",
        "Field Test OS Evaluation",
    ]
    assert by_name["Development"] == {
        "description": "Default development device group",
        "osFeedType": "Retail",
        "updatePolicy": "No3rdPartyAppUpdates",
        "allowCrashDumpsCollection": "Disabled",
        "regionalDataBoundary": "None",
        "hasDeployment": False,
        "provisioningState": "Succeeded",
    }
    assert by_name["Field Test OS Evaluation"]["osFeedType"] == "RetailEval"
    again = arm.call("POST", "/products/Dishwasher/generateDefaultDeviceGroups").json()["value"]
    assert [g["id"] for g in again] == [g["id"] for g in defaults.json()["value"]]  # kept, not duplicated

    lab = arm.finish(
        arm.call(
            "PUT",
            "/products/Dishwasher/deviceGroups/Lab",
            json={"properties": {"description": "lab", "updatePolicy": "No3rdPartyAppUpdates", "hasDeployment": 1}},
        )
    ).json()
    assert lab["properties"]["updatePolicy"] == "No3rdPartyAppUpdates" and lab["properties"]["osFeedType"] == "Retail"
    patched = arm.call(
        "PATCH", "/products/Dishwasher/deviceGroups/Lab", json={"properties": {"osFeedType": "RetailEval"}}
    )
    lab = arm.finish(patched).json()["properties"]
    assert (lab["osFeedType"], lab["updatePolicy"], lab["description"]) == ("RetailEval", "No3rdPartyAppUpdates", "lab")
    # a replacing PUT resets what it does not name
    replaced = arm.finish(arm.call("PUT", "/products/Dishwasher/deviceGroups/Lab", json={})).json()["properties"]
    assert replaced["osFeedType"] == "Retail" and "description" not in replaced

    for _ in range(2):
        arm.claimed("Dishwasher", "Lab")
    arm.claimed("Dishwasher", "Production")
    arm.claimed()
    assert arm.call("POST", "/countDevices").json() == {"value": 4}
    assert arm.call("POST", "/products/Dishwasher/countDevices").json() == {"value": 3}
    assert arm.call("POST", "/products/Dishwasher/deviceGroups/Lab/countDevices").json() == {"value": 2}
    groups = [g["name"] for g in arm.call("GET", "/products/Dishwasher/deviceGroups").json()["value"]]
    assert groups == [*by_name, "Lab"]


def test_catalog_device_group_list_narrows_by_name_across_pages(arm: Arm) -> None:
    for product in ("Dishwasher", "Fridge", "Oven"):
        arm.sphere.create_product(arm.tenant.id, product)
        arm.sphere.generate_default_device_groups(arm.tenant.id, product)
    everything = arm.call("POST", "/listDeviceGroups", json={}).json()
    assert len(everything["value"]) == 15 and "nextLink" not in everything
    assert arm.call("POST", "/listDeviceGroups").json() == everything  # no body at all: the same
    page = arm.call(
        "POST", "/listDeviceGroups", json={"deviceGroupName": "production"}, params={**VERSION, "$maxpagesize": "2"}
    ).json()
    seen = [g["id"] for g in page["value"]]
    while "nextLink" in page:
        page = arm.call("GET", page["nextLink"]).json()  # how azure-mgmt-core follows a POST list
        seen += [g["id"] for g in page["value"]]
    assert [s.split("/products/")[1] for s in seen] == [
        "Dishwasher/deviceGroups/Production",
        "Fridge/deviceGroups/Production",
        "Oven/deviceGroups/Production",
    ]


# -- devices ---------------------------------------------------------------------------------------------------


def test_device_claim_move_and_os_fields(arm: Arm) -> None:
    arm.sphere.create_product(arm.tenant.id, "Dishwasher")
    arm.sphere.generate_default_device_groups(arm.tenant.id, "Dishwasher")
    device = arm.sphere.create_device().id
    created = arm.call("PUT", f"/products/Dishwasher/deviceGroups/Development/devices/{device.upper()}", json={})
    assert created.status_code == 201 and STATUS_URL.match(created.headers["azure-asyncoperation"])
    body = arm.finish(created).json()
    assert body["id"] == f"{CATALOG_PATH}/products/Dishwasher/deviceGroups/Development/devices/{device}"
    assert body["properties"] == {"deviceId": device, "chipSku": "MT3620AN", "provisioningState": "Succeeded"}
    assert arm.sphere.get_device(device).tenant_id == arm.tenant.id

    target = f"{CATALOG_PATH}/products/Dishwasher/deviceGroups/Field Test"
    moved = arm.call(
        "PATCH",
        f"/products/Dishwasher/deviceGroups/Development/devices/{device}",
        json={"properties": {"deviceGroupId": target}},
    )
    assert moved.status_code == 202 and moved.content == b""
    assert arm.finish(moved).json()["id"] == f"{target}/devices/{device}"
    back = arm.call(
        "PATCH",
        f"/products/Dishwasher/deviceGroups/Field Test/devices/{device}",
        json={"properties": {"deviceGroupId": f"{CATALOG_PATH}/products/.default/deviceGroups/.default"}},
    )
    assert arm.finish(back).json()["id"] == f"{CATALOG_PATH}/products/.default/deviceGroups/.default/devices/{device}"
    # claiming again (PUT) a device the catalog holds moves it instead
    again = arm.call("PUT", f"/products/Dishwasher/deviceGroups/Production/devices/{device}", json={})
    assert again.status_code == 200 and "/Production/devices/" in arm.finish(again).json()["id"]

    arm.sphere.record_update_check(device, "24.01")
    properties = arm.call("GET", f"/products/Dishwasher/deviceGroups/Production/devices/{device}").json()["properties"]
    assert properties["lastInstalledOsVersion"] == "24.01" and properties["lastAvailableOsVersion"] == "24.03"
    assert properties["lastUpdateRequestUtc"] == properties["lastOsUpdateUtc"] == "2026-11-29T10:00:00Z"


def test_device_claim_that_fails_later_reports_failed() -> None:
    arm = Arm(claim_conflict_mode="async", claim_delay_s=5)
    device = arm.sphere.create_device().id
    arm.sphere.claim_devices(arm.tenant.id, [device])  # pending: a second claim fails when both complete
    created = arm.call("PUT", f"/products/.default/deviceGroups/.default/devices/{device}", json={})
    assert created.status_code == 201 and created.json()["properties"]["provisioningState"] == "Accepted"
    assert arm.call("GET", created.headers["azure-asyncoperation"]).json()["status"] == "InProgress"
    arm.cloud.clock.advance(timedelta(seconds=5))
    failed = arm.call("GET", created.headers["azure-asyncoperation"]).json()
    assert failed["status"] == "Failed" and failed["error"]["code"] == "Conflict"


def test_device_delete_is_refused_unless_unclaiming_is_enabled() -> None:
    arm = Arm(arm_device_delete="unclaim")
    device = arm.claimed()
    deleted = arm.call("DELETE", f"/products/.default/deviceGroups/.default/devices/{device}")
    assert deleted.status_code == 202 and arm.call("GET", deleted.headers["location"]).status_code == 204
    assert arm.sphere.get_device(device).tenant_id is None


# -- catalogs --------------------------------------------------------------------------------------------------


def test_catalog_create_tag_and_delete(arm: Arm) -> None:
    other = f"{ARM}/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.AzureSphere/catalogs/second"
    created = arm.call("PUT", other, json={"location": "Global", "tags": {"team": "ops"}})
    assert created.status_code == 201
    catalog = arm.finish(created).json()
    assert catalog["location"] == "Global" and catalog["tags"] == {"team": "ops"}
    tenant = arm.sphere.get_tenant(catalog["properties"]["tenantId"])
    assert arm.sphere.users["admin@contoso.com"].roles_in(tenant.id) == ["Administrator"]  # the creator
    assert arm.call("PATCH", other, json={"tags": {}}).json().get("tags") is None
    assert {c["name"] for c in arm.call("GET", other.rsplit("/", 1)[0], params=VERSION).json()["value"]} == {
        "cat",
        "second",
    }
    deleted = arm.call("DELETE", other)
    assert deleted.status_code == 202 and arm.call("GET", deleted.headers["location"]).status_code == 204
    assert arm.call("GET", other).status_code == 404


def test_provider_operations(arm: Arm) -> None:
    listed = arm.call("GET", f"{ARM}/providers/Microsoft.AzureSphere/operations", params=VERSION).json()
    names = [o["name"] for o in listed["value"]]
    assert len(names) == len(set(names))
    for name in (
        "Microsoft.AzureSphere/catalogs/read",
        "Microsoft.AzureSphere/catalogs/write",
        "Microsoft.AzureSphere/catalogs/countDevices/action",
        "Microsoft.AzureSphere/catalogs/listDevices/action",
        "Microsoft.AzureSphere/catalogs/products/deviceGroups/claimDevices/action",
        "Microsoft.AzureSphere/catalogs/products/deviceGroups/devices/delete",
    ):
        assert name in names
    assert "Microsoft.AzureSphere/catalogs/listDevices/read" not in names  # the GET continuation is no permission
    item = listed["value"][0]
    assert set(item) == {"name", "isDataAction", "display", "origin"} and item["isDataAction"] is False
    assert set(item["display"]) == {"provider", "resource", "operation", "description"}


# -- refusals --------------------------------------------------------------------------------------------------


def test_write_refusals_leave_the_model_unchanged(arm: Arm) -> None:
    arm.sphere.create_product(arm.tenant.id, "Dishwasher")
    arm.sphere.create_device_group(arm.tenant.id, "Dishwasher", "Lab")
    busy = arm.claimed("Dishwasher", "Lab")
    stranger = arm.sphere.create_tenant(subscription_id=SUBSCRIPTION, resource_group="rg", catalog="theirs")
    foreign = arm.sphere.create_device().id
    arm.sphere.claim_device(stranger.id, foreign)
    before = arm.sphere.snapshot()
    lab = "/products/Dishwasher/deviceGroups/Lab"

    for path in (
        "/products/.default",
        "/products/.unassigned/deviceGroups/New",
        "/products/Dishwasher/deviceGroups/.default",
    ):
        arm.refused(arm.call("PUT", path, json={}), 400, "InvalidResourceName", before)
    arm.refused(arm.call("GET", "/products/.default"), 400, "InvalidResourceName", before)
    arm.refused(arm.call("POST", "/products/.default/countDevices"), 400, "InvalidResourceName", before)
    arm.refused(arm.call("PUT", "/products/x", json={}), 400, "InvalidResourceName", before)
    arm.refused(arm.call("PUT", "/products/Fridge", json=[]), 400, "InvalidRequestContent", before)
    arm.refused(arm.call("PUT", "/products/Fridge", content=b"{"), 400, "InvalidRequestContent", before)
    arm.refused(
        arm.call("PUT", "/products/Fridge", json={"properties": {"description": 7}}),
        400,
        "InvalidRequestContent",
        before,
    )
    arm.refused(arm.call("PUT", "/products/Fridge", json={}, headers=arm.reader), 403, "AuthorizationFailed", before)
    arm.refused(arm.call("PATCH", "/products/Nope", json={}), 404, "ResourceNotFound", before)
    arm.refused(arm.call("DELETE", "/products/Dishwasher"), 400, "InvalidParameters", before)
    for settings in ({"osFeedType": "Beta"}, {"updatePolicy": "None"}, {"allowCrashDumpsCollection": True}):
        arm.refused(arm.call("PATCH", lab, json={"properties": settings}), 400, "InvalidRequestContent", before)
    response = arm.call("DELETE", lab)
    arm.refused(response, 400, "InvalidParameters", before)
    assert response.json()["error"]["message"] == "The device group has '1' devices associated"
    arm.refused(arm.call("DELETE", lab, headers=arm.reader), 403, "AuthorizationFailed", before)

    device = f"{lab}/devices/{busy}"
    move = {"properties": {"deviceGroupId": f"{CATALOG_PATH}/products/Dishwasher/deviceGroups/Nope"}}
    response = arm.call("PATCH", device, json=move)
    arm.refused(response, 400, "InvalidParameters", before)
    assert response.json()["error"]["message"] == "Device group not found"
    elsewhere = {
        "properties": {
            "deviceGroupId": CATALOG_PATH.replace("/catalogs/cat", "/catalogs/theirs") + "/products/P1/deviceGroups/G1"
        }
    }
    arm.refused(arm.call("PATCH", device, json=elsewhere), 400, "InvalidParameters", before)
    arm.refused(
        arm.call("PATCH", device, json={"properties": {"deviceGroupId": "Lab"}}), 400, "InvalidRequestContent", before
    )
    wrong_path = arm.call("PATCH", f"/products/.default/deviceGroups/.default/devices/{busy}", json=move)
    arm.refused(wrong_path, 404, "ResourceNotFound", before)
    assert wrong_path.json()["error"]["message"] == "The requested device was not found"
    arm.refused(arm.call("DELETE", device), 400, "InvalidParameters", before)
    arm.refused(arm.call("PUT", f"{lab}/devices/{foreign}", json={}), 409, "Conflict", before)
    arm.refused(arm.call("PUT", f"{lab}/devices/{'c' * 128}", json={}), 404, "ResourceNotFound", before)
    arm.refused(
        arm.call("PUT", f"{lab}/devices/{busy}", json={"properties": {"deviceId": "x"}}),
        400,
        "InvalidRequestContent",
        before,
    )
    arm.refused(
        arm.call("PUT", f"{lab}/devices/{busy}", json={}, headers=arm.reader), 403, "AuthorizationFailed", before
    )

    catalogs = f"{ARM}/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.AzureSphere/catalogs"
    arm.refused(arm.call("PUT", f"{catalogs}/new", json={}), 400, "InvalidRequestContent", before)
    arm.refused(
        arm.call("PUT", f"{catalogs}/new", json={"location": "westus"}),
        400,
        "LocationNotAvailableForResourceType",
        before,
    )
    arm.refused(
        arm.call("PUT", f"{catalogs}/new", json={"location": "global", "tags": {"a/b": "c"}}),
        400,
        "InvalidTagNameCharacters",
        before,
    )
    arm.refused(
        arm.call("PUT", f"{catalogs}/new", json={"location": "global", "tags": {"a": 1}}), 400, "InvalidTag", before
    )
    arm.refused(
        arm.call("PUT", f"{catalogs}/bad!name", json={"location": "global"}), 400, "InvalidResourceName", before
    )
    arm.refused(arm.call("PUT", f"{catalogs}/theirs", json={"location": "global"}), 403, "AuthorizationFailed", before)
    arm.refused(arm.call("DELETE", f"{catalogs}/cat"), 400, "InvalidParameters", before)
    arm.refused(arm.call("PATCH", f"{catalogs}/cat", json={"tags": []}), 400, "InvalidTag", before)
    missing = (
        f"{ARM}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.AzureSphere/locations/global/operationResults/nope"
    )
    arm.refused(arm.call("GET", missing), 404, "ResourceNotFound", before)


def test_every_route_checks_version_catalog_and_role(arm: Arm) -> None:
    """Each catalog-scoped operation: no ``api-version`` is 400, an unknown catalog 404, a catalog the caller has no
    role in 403 — before any body is read, and without a change."""
    from simulator.sphere.arm_api import ArmApi

    arm.sphere.create_tenant(subscription_id=SUBSCRIPTION, resource_group="rg", catalog="theirs")
    values = {
        "subscription_id": SUBSCRIPTION,
        "resource_group": "rg",
        "product": "Dishwasher",
        "device_group": "Lab",
        "device": "a" * 128,
        "serial": ".default",
        "image": "14a6729e-5819-4737-8713-37b4798533f8",
        "deployment": ".default",
    }
    routes = [(m, p, n) for m, p, n, _ in ArmApi(arm.cloud).table if "{catalog}" in p]
    assert len({n for _, _, n in routes}) == 42  # the 45 operations but the provider and catalog lists
    before = arm.sphere.snapshot()
    for method, template, name in routes:
        url = ARM + template.format(catalog="nowhere", **values)
        response = arm.call(method, url, params={}, json={})
        arm.refused(response, 400, "MissingApiVersionParameter", before)
        if name != "Catalogs_CreateOrUpdate":  # a PUT to an unknown catalog creates one
            arm.refused(arm.call(method, url, json={}), 404, "ResourceNotFound", before)
        foreign = ARM + template.format(catalog="theirs", **values)
        arm.refused(arm.call(method, foreign, json={}), 403, "AuthorizationFailed", before)


def test_a_405_names_every_method_of_the_path(arm: Arm) -> None:
    before = arm.sphere.snapshot()
    response = arm.call("POST", "/products/Dishwasher", json={})
    arm.refused(response, 405, "MethodNotAllowed", before)
    assert response.headers["allow"] == "DELETE, GET, HEAD, PATCH, PUT"
    assert arm.call("PUT", "/listDevices").headers["allow"] == "GET, HEAD, POST"

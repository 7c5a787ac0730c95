"""ARM images, deployments, capability images and device insights in-process: uploads of any bytes (nothing
parsed), ``.default`` deployments, the update policy deciding what a device receives, signed capability images, and
the refusals of each, leaving the model unchanged.
"""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from arm_world import CATALOG_PATH, START, Arm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from simulator.sphere.capabilities import parse_capability_image

IMAGE_ID = "14a6729e-5819-4737-8713-37b4798533f8"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture
def arm() -> Arm:
    world = Arm()
    world.sphere.create_product(world.tenant.id, "Dishwasher")
    world.sphere.generate_default_device_groups(world.tenant.id, "Dishwasher")
    return world


def test_images_upload_get_list_delete(arm: Arm) -> None:
    created = arm.call("PUT", f"/images/{IMAGE_ID.upper()}", json={"properties": {"image": b64(b"any file at all")}})
    assert created.status_code == 201 and "azure-asyncoperation" in created.headers
    image = arm.finish(created).json()
    assert image["id"] == f"{CATALOG_PATH}/images/{IMAGE_ID}" and image["name"] == IMAGE_ID
    assert image["type"] == "Microsoft.AzureSphere/catalogs/images"
    properties = image["properties"]
    # nothing parsed: no name, component ID or type; on reads "image" holds the URI
    assert set(properties) == {"image", "imageId", "regionalDataBoundary", "uri", "provisioningState"}
    assert properties["image"] == properties["uri"] and properties["uri"].endswith(f"/images/{IMAGE_ID}")
    assert arm.sphere.get_image(arm.tenant.id, IMAGE_ID).data == b"any file at all"
    same = arm.call("PUT", f"/images/{IMAGE_ID}", json={"properties": {"image": b64(b"any file at all")}})
    assert same.status_code == 200  # the same bytes again: nothing changes

    uploaded = arm.call(
        "POST", "/uploadImage", json={"properties": {"image": b64(b"\x00\x01"), "regionalDataBoundary": "EU"}}
    )
    assert uploaded.status_code == 202 and "location" in uploaded.headers
    result = arm.finish(uploaded).json()
    assert result["properties"]["regionalDataBoundary"] == "EU"
    listed = [i["name"] for i in arm.call("GET", "/images").json()["value"]]
    assert listed == [IMAGE_ID, result["name"]]

    deleted = arm.call("DELETE", f"/images/{IMAGE_ID}")
    assert deleted.status_code == 202 and arm.call("GET", deleted.headers["location"]).status_code == 204
    assert arm.call("GET", f"/images/{IMAGE_ID}").status_code == 404


def test_deployments_and_what_devices_receive(arm: Arm) -> None:
    first, _ = arm.sphere.upload_image(arm.tenant.id, b"app one")
    second, _ = arm.sphere.upload_image(arm.tenant.id, b"app two")
    production = "/products/Dishwasher/deviceGroups/Production"
    assert arm.call("GET", f"{production}/deployments/.default").status_code == 404  # none yet
    created = arm.call(
        "PUT",
        f"{production}/deployments/.default",
        json={
            "properties": {
                "deployedImages": [
                    {"properties": {"imageId": first.id}},
                    {"id": f"{CATALOG_PATH}/images/{second.id}"},
                ]
            }
        },
    )
    assert created.status_code == 201
    deployment = arm.finish(created).json()  # the final GET of ".default": the current deployment
    assert deployment["name"] == deployment["properties"]["deploymentId"]
    assert [i["name"] for i in deployment["properties"]["deployedImages"]] == [first.id, second.id]
    assert deployment["properties"]["deploymentDateUtc"] == "2026-11-29T10:00:00Z"
    assert arm.call("GET", production).json()["properties"]["hasDeployment"] is True

    chosen = "0b2c1f0e-7a5d-4b8e-9c3f-2d1e0a9b8c7d"
    arm.finish(
        arm.call(
            "PUT", f"{production}/deployments/{chosen}", json={"properties": {"deployedImages": [{"name": first.id}]}}
        )
    )
    assert arm.call("GET", f"{production}/deployments/.default").json()["name"] == chosen  # the newest is current
    assert [d["name"] for d in arm.call("GET", f"{production}/deployments").json()["value"]] == [
        deployment["name"],
        chosen,
    ]
    assert len(arm.call("POST", "/listDeployments").json()["value"]) == 2

    device = arm.claimed("Dishwasher", "Production")
    assert [i.id for i in arm.sphere.images_for_device(device)] == [first.id]
    arm.sphere.update_device_group(arm.tenant.id, "Dishwasher", "Production", update_policy="No3rdPartyAppUpdates")
    assert arm.sphere.images_for_device(device) == []  # OS only

    deleted = arm.call("DELETE", f"{production}/deployments/{chosen}")
    assert arm.call("GET", deleted.headers["location"]).status_code == 204
    assert arm.call("GET", f"{production}/deployments/.default").json()["name"] == deployment["name"]


def test_capability_image_signed_for_the_device(arm: Arm) -> None:
    device = arm.claimed("Dishwasher", "Development")
    answer = arm.call(
        "POST",
        f"/products/Dishwasher/deviceGroups/Development/devices/{device}/generateCapabilityImage",
        json={"capabilities": ["ApplicationDevelopment", "FieldServicing"]},
    )
    assert answer.status_code == 202 and "location" in answer.headers
    body = arm.finish(answer).json()
    assert set(body) == {"image"}
    device_id, numbers, signed, signature = parse_capability_image(base64.b64decode(body["image"]))
    assert device_id == device and numbers == [11, 13]
    key = arm.tenant.generations[0].certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
    sync = Arm(arm_long_running="sync")
    other = sync.claimed()
    direct = sync.call(
        "POST",
        f"/products/.default/deviceGroups/.default/devices/{other}/generateCapabilityImage",
        json={"capabilities": ["ApplicationDevelopment"]},
    )
    assert direct.status_code == 200 and parse_capability_image(base64.b64decode(direct.json()["image"]))[1] == [11]


def test_device_insights(arm: Arm) -> None:
    assert arm.call("POST", "/listDeviceInsights").json() == {"value": []}
    device = arm.claimed()
    arm.sphere.record_device_insight(
        device,
        description="App crash",
        event_category="AppCrash",
        event_class="Errors",
        event_type="SIGSEGV",
        event_count=3,
        start=START - timedelta(hours=1),
    )
    [insight] = arm.call("POST", "/listDeviceInsights").json()["value"]
    assert insight == {
        "deviceId": device,
        "description": "App crash",
        "startTimestampUtc": "2026-11-29T09:00:00Z",
        "endTimestampUtc": "2026-11-29T10:00:00Z",
        "eventCategory": "AppCrash",
        "eventClass": "Errors",
        "eventType": "SIGSEGV",
        "eventCount": 3,
    }
    filtered = arm.call(
        "GET", "/listDeviceInsights", params={"api-version": "2024-04-01", "$filter": "eventType eq 'sigsegv'"}
    )
    assert filtered.json()["value"] == [insight]


def test_image_and_deployment_refusals(arm: Arm) -> None:
    image, _ = arm.sphere.upload_image(arm.tenant.id, b"stored")
    device = arm.claimed()
    before = arm.sphere.snapshot()
    put = f"/images/{IMAGE_ID}"
    for body, code in (
        ({}, "InvalidRequestContent"),
        ({"properties": {}}, "InvalidRequestContent"),
        ({"properties": {"image": "not base64!"}}, "InvalidRequestContent"),
        ({"properties": {"image": ""}}, "InvalidRequestContent"),
        ({"properties": {"image": b64(b"x"), "regionalDataBoundary": "US"}}, "InvalidRequestContent"),
        ({"properties": {"image": b64(b"x"), "imageId": image.id}}, "InvalidRequestContent"),
    ):
        arm.refused(arm.call("PUT", put, json=body), 400, code, before)
    arm.refused(
        arm.call("PUT", "/images/not-a-guid", json={"properties": {"image": b64(b"x")}}),
        400,
        "InvalidResourceName",
        before,
    )
    arm.refused(
        arm.call("PUT", f"/images/{image.id}", json={"properties": {"image": b64(b"other")}}), 409, "Conflict", before
    )
    big = Arm(max_image_bytes=4)
    big_before = big.sphere.snapshot()
    big.refused(
        big.call("POST", "/uploadImage", json={"properties": {"image": b64(b"12345")}}),
        400,
        "InvalidRequestContent",
        big_before,
    )
    arm.refused(
        arm.call("PUT", put, json={"properties": {"image": b64(b"x")}}, headers=arm.reader),
        403,
        "AuthorizationFailed",
        before,
    )
    arm.refused(arm.call("DELETE", f"/images/{IMAGE_ID}"), 404, "ResourceNotFound", before)

    deployments = "/products/Dishwasher/deviceGroups/Production/deployments"
    for body in (
        {},
        {"properties": {}},
        {"properties": {"deployedImages": []}},
        {"properties": {"deployedImages": ["x"]}},
        {"properties": {"deployedImages": [{"name": IMAGE_ID}]}},
        {"properties": {"deployedImages": [{"name": image.id}, {"name": image.id.upper()}]}},
        {"properties": {"deployedImages": [{}]}},
        {"properties": {"deploymentId": 5, "deployedImages": [{"name": image.id}]}},
    ):
        arm.refused(arm.call("PUT", f"{deployments}/.default", json=body), 400, "InvalidRequestContent", before)
    arm.refused(
        arm.call("PUT", f"{deployments}/not-a-guid", json={"properties": {"deployedImages": [{"name": image.id}]}}),
        400,
        "InvalidResourceName",
        before,
    )
    placeholder = "/products/.default/deviceGroups/.default/deployments/.default"
    arm.refused(
        arm.call("PUT", placeholder, json={"properties": {"deployedImages": [{"name": image.id}]}}),
        400,
        "InvalidResourceName",
        before,
    )
    arm.refused(arm.call("GET", f"{deployments}/{IMAGE_ID}"), 404, "ResourceNotFound", before)

    capability = f"/products/.default/deviceGroups/.default/devices/{device}/generateCapabilityImage"
    for body in (
        {},
        {"capabilities": []},
        {"capabilities": ["Debugging"]},
        {"capabilities": [11, "ApplicationDevelopment"]},
        {"capabilities": [True]},
    ):
        arm.refused(arm.call("POST", capability, json=body), 400, "InvalidRequestContent", before)
    wrong = f"/products/Dishwasher/deviceGroups/Production/devices/{device}/generateCapabilityImage"
    arm.refused(arm.call("POST", wrong, json={"capabilities": ["FieldServicing"]}), 404, "ResourceNotFound", before)
    arm.refused(
        arm.call("POST", capability, json={"capabilities": ["FieldServicing"]}, headers=arm.reader),
        403,
        "AuthorizationFailed",
        before,
    )


def test_image_size_is_the_models_rule_up_to_the_limit(arm: Arm) -> None:
    """An image of ``max_image_bytes`` uploads although its base64 body exceeds the wire's default cap; one byte
    more is the model's 400; a body far beyond is the wire's 413."""
    limit = arm.cloud.settings.sphere.max_image_bytes
    assert len(b64(b"\x01" * limit)) > 1024 * 1024
    ok = arm.call("PUT", f"/images/{IMAGE_ID}", json={"properties": {"image": b64(b"\x01" * limit)}})
    assert ok.status_code == 201
    before = arm.sphere.snapshot()
    arm.refused(
        arm.call("POST", "/uploadImage", json={"properties": {"image": b64(b"\x02" * (limit + 1))}}),
        400,
        "InvalidRequestContent",
        before,
    )
    arm.refused(
        arm.call("POST", "/uploadImage", content=b"x" * (2 * limit + 200_000)), 413, "RequestEntityTooLarge", before
    )

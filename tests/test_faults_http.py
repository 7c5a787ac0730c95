"""Fault effects on the HTTP services, in-process (respx) and over real sockets, and their seeded repeatability."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from simulator.cloud import FakeCloud
from simulator.control import create_tenant

LEGACY = "https://prod.core.sphere.azure.net/v2/tenants"


def _list(access: Any, base: str = LEGACY, **kw: Any) -> httpx.Response:
    return httpx.get(base, headers={"Authorization": f"Bearer {access.token}"}, **kw)


def test_status_effect_answers_in_the_service_shape_with_retry_after(fake_cloud: Any, faults: Any) -> None:
    access = create_tenant(fake_cloud, name="Contoso")
    faults.add(
        {
            "service": "sphere-legacy",
            "operation": "list_tenants",
            "count": 1,
            "effect": {"kind": "status", "status": 429, "retry_after": 7},
        }
    )
    refused = _list(access)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "7"
    assert refused.json()[0]["ErrorCode"] == "TooManyRequests"  # the legacy API's problem-details list
    assert _list(access).status_code == 200  # count: 1 — the second call is served


def test_drop_in_process_is_a_read_error_and_changes_nothing(fake_cloud: Any, faults: Any) -> None:
    access = create_tenant(fake_cloud, name="Contoso")
    faults.add({"service": "sphere-legacy", "operation": "list_tenants", "effect": {"kind": "drop"}})
    with pytest.raises(httpx.ReadError):
        _list(access)
    assert faults.list()[0].fired == 1


def test_latency_then_served_and_cleared_rules_stop_firing(fake_cloud: Any, faults: Any) -> None:
    access = create_tenant(fake_cloud, name="Contoso")
    faults.add({"service": "sphere-legacy", "effect": {"kind": "latency", "latency_s": 0.01}})
    assert _list(access).status_code == 200
    faults.clear()
    faults.add({"id": "down", "service": "*", "effect": {"kind": "status", "status": 503}})
    assert _list(access).status_code == 503
    assert faults.clear("down") == 1
    assert _list(access).status_code == 200
    assert faults.list() == []


@pytest.mark.served
def test_served_status_and_drop_over_sockets() -> None:
    cloud = FakeCloud(seed=3)
    access = create_tenant(cloud, name="Contoso")
    with cloud.serve(port=0, mqtt_port=None) as served:
        base = served.endpoints["sphere"]["legacy_url"].rstrip("/") + "/tenants"
        verify = ssl.create_default_context(cafile=served.endpoints["ca_bundle"])
        control = served.endpoints["control_url"].rstrip("/")
        rule = httpx.post(
            f"{control}/faults",
            verify=verify,
            json={
                "service": "sphere-legacy",
                "operation": "list_tenants",
                "count": 1,
                "effect": {"kind": "status", "status": 503, "retry_after": 2},
            },
        )
        assert rule.status_code == 201
        refused = _list(access, base, verify=verify)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
        httpx.post(f"{control}/faults", verify=verify, json={"service": "sphere-legacy", "effect": {"kind": "drop"}})
        with pytest.raises(httpx.TransportError):
            _list(access, base, verify=verify)
        assert httpx.delete(f"{control}/faults", verify=verify).json()["removed"] == 2
        assert _list(access, base, verify=verify).status_code == 200


def _failing_calls(seed: int) -> list[int]:
    cloud = FakeCloud(seed=seed)
    access = create_tenant(cloud, name="Contoso")
    cloud.faults.add({"service": "sphere-legacy", "probability": 0.5, "effect": {"kind": "status", "status": 500}})
    with cloud.mock():
        return [i for i in range(30) if _list(access).status_code == 500]


def test_seeded_probability_fires_on_the_same_calls_through_http() -> None:
    first, second = _failing_calls(42), _failing_calls(42)
    assert first == second
    assert 0 < len(first) < 30

"""``/_sim`` guarded (issue 16, reproduction 9): open on loopback, token-guarded anywhere else, or switched off.

Served worlds here listen on 127.0.0.1 only; ``control="token"`` forces the guard there, which is exactly what a world
on any other address runs with (the choice itself is tested as a function).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from service_shapes import SHAPES

from harness.clients import ControlClient
from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.control_guard import exposure_warning, resolve_mode

pytestmark = pytest.mark.served


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", "open"), ("127.0.0.53", "open"), ("::1", "open"), ("localhost", "open"),
     ("0.0.0.0", "token"), ("::", "token"), ("192.168.1.20", "token"), ("lab.example", "token")],
)  # fmt: skip
def test_auto_is_open_on_loopback_and_token_guarded_anywhere_else(host: str, expected: str) -> None:
    assert resolve_mode("auto", host) == expected
    assert resolve_mode("off", host) == "off" and resolve_mode("token", host) == "token"
    warning = exposure_warning(host, resolve_mode("auto", host))
    assert (warning is None) == (expected == "open")
    if warning:
        assert "exposed" in warning and host in warning


def test_an_unknown_control_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="control must be one of"):
        resolve_mode("open", "0.0.0.0")


def _serve(**kwargs: Any) -> Any:
    return FakeCloud(seed=4, clock=Clock(frozen=True)).serve(mqtt_port=None, **kwargs)


@pytest.fixture(scope="module")
def guarded() -> Iterator[Any]:
    with _serve(control="token") as served:
        yield served


def _get(served: Any, service: str, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"https://127.0.0.1:{served.port_of(service)}{path}"
    return httpx.get(url, headers=headers, verify=served.client_ssl_context())


@pytest.mark.parametrize("service", ["sphere", "central", "dps"])
def test_every_port_refuses_the_control_api_without_the_token(guarded: Any, service: str) -> None:
    for token in (None, "wrong", guarded.control_token + "x"):
        response = _get(guarded, service, "/_sim/health", token)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert SHAPES["control"](response)["code"] == "Unauthorized"
    assert _get(guarded, service, "/_sim/health", guarded.control_token).status_code == 200


def test_the_token_is_in_the_endpoints_and_the_harness_client_sends_it(guarded: Any) -> None:
    endpoints = guarded.endpoints
    assert endpoints["control_token"] == guarded.control_token and len(guarded.control_token) >= 32
    with ControlClient.for_endpoints(endpoints) as control:
        assert control.health()["status"] == "ok"
        assert control.travel(advance="1d")["now"]


def test_the_service_apis_do_not_need_the_control_token(guarded: Any) -> None:
    token = guarded.endpoints["sphere"]["token"]
    response = httpx.get(
        guarded.endpoints["sphere"]["legacy_url"] + "/tenants",
        headers={"Authorization": f"Bearer {token}"},
        verify=guarded.client_ssl_context(),
    )
    assert response.status_code == 200


def test_control_off_removes_the_control_api() -> None:
    with _serve(control="off") as served:
        assert "control_url" not in served.endpoints and "control_token" not in served.endpoints
        assert SHAPES["sphere-arm"](_get(served, "sphere", "/_sim/health"))["code"] == "ResourceNotFound"
        assert _get(served, "central", "/_sim/health").status_code == 404
        SHAPES["dps"](_get(served, "dps", "/_sim/health"))
        with pytest.raises(ValueError, match="--control off"):
            ControlClient.for_endpoints(served.endpoints)


def test_loopback_stays_open_by_default() -> None:
    with _serve() as served:
        assert "control_token" not in served.endpoints
        assert _get(served, "sphere", "/_sim/health").status_code == 200

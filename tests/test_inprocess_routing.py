"""In-process routing (simulator.inprocess): the real Azure host names reach the world's ASGI apps, nothing else.

These tests exercise the router itself, so each service app is a small echo app reporting what arrived (app name,
Host header, path, body, the thread that served it); the service adapters have their own tests.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.cloud import FakeCloud
from simulator.entropy import Entropy
from simulator.fault_middleware import FaultMiddleware
from simulator.faults import FaultInjector
from simulator.inprocess import CloudRouter, mock_cloud, service_for_host


def echo_app(name: str) -> Starlette:
    async def echo(request: Request) -> Response:
        body = await request.body()
        if request.url.path == "/gzip":
            return Response(gzip.compress(b"squeezed"), headers={"content-encoding": "gzip"})
        return JSONResponse(
            {
                "app": name,
                "method": request.method,
                "host": request.headers.get("host"),
                "path": request.url.path,
                "query": request.url.query,
                "body": body.decode("latin-1"),
                "thread": threading.current_thread().name,
                "loop": id(asyncio.get_running_loop()),
            },
            status_code=201 if request.method == "POST" else 200,
            headers={"x-served-by": name},
        )

    return Starlette(routes=[Route("/{rest:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])


class EchoCloud(FakeCloud):
    """A world whose four service adapters are echo apps (no models needed to test routing)."""

    def _build_models(self) -> None:
        self.faults = FaultInjector(Entropy(1))
        self.legacy_app = echo_app("legacy")
        self.arm_app = echo_app("arm")
        self.central_app = echo_app("central")
        dps = echo_app("dps")
        dps.add_middleware(FaultMiddleware, cloud=self, service="dps", error_response=_plain_error)
        self.dps_app = dps


def _plain_error(request: Request, status: int, code: str, message: str) -> Response:
    return JSONResponse({"errorCode": code, "message": message}, status_code=status)


@pytest.fixture
def cloud() -> EchoCloud:
    return EchoCloud(seed=1)


ROUTES = [
    ("https://prod.core.sphere.azure.net/v2/tenants", "legacy"),
    ("https://management.azure.com/subscriptions/s/providers/Microsoft.AzureSphere/catalogs", "arm"),
    ("https://contoso.azureiotcentral.com/api/enrollmentGroups", "central"),
    ("https://global.azure-devices-provisioning.net/0ne0001/registrations/r/register", "dps"),
]


@pytest.mark.parametrize(("url", "app"), ROUTES)
def test_unmodified_sync_httpx_reaches_the_app_of_each_real_host(cloud: EchoCloud, url: str, app: str) -> None:
    with cloud.mock():
        response = httpx.get(url, params={"api-version": "2024-04-01"})
    assert response.status_code == 200
    body = response.json()
    assert body["app"] == app
    assert body["host"] == httpx.URL(url).host
    assert body["path"] == httpx.URL(url).path
    assert body["query"] == "api-version=2024-04-01"
    assert response.headers["x-served-by"] == app


@pytest.mark.parametrize(("url", "app"), ROUTES)
def test_async_clients_reach_the_same_apps_in_the_callers_event_loop(cloud: EchoCloud, url: str, app: str) -> None:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.post(url, json={"n": 1})

    with cloud.mock():
        response = asyncio.run(call())
    assert response.status_code == 201
    assert response.json()["app"] == app
    assert response.json()["body"] == '{"n":1}'
    assert response.json()["thread"] == threading.current_thread().name  # awaited directly, no portal


def test_sync_requests_from_the_starting_thread_run_in_it_on_the_routers_one_loop(cloud: EchoCloud) -> None:
    with cloud.mock():
        served = [httpx.get(url).json() for url, _ in ROUTES * 2]
    assert {body["thread"] for body in served} == {threading.current_thread().name}  # no hop between threads
    assert len({body["loop"] for body in served}) == 1  # one loop for the router, not one per request


def test_sync_requests_from_other_threads_share_one_background_loop(cloud: EchoCloud) -> None:
    served: list[dict[str, Any]] = []
    with cloud.mock():
        own = httpx.get(ROUTES[0][0]).json()
        workers = [threading.Thread(target=lambda u=url: served.append(httpx.get(u).json())) for url, _ in ROUTES]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert len(served) == len(ROUTES)
    worker_names = {worker.name for worker in workers}
    assert {body["thread"] for body in served}.isdisjoint(worker_names | {own["thread"]})
    assert len({body["loop"] for body in served}) == 1 and served[0]["loop"] != own["loop"]


def test_a_sync_client_inside_a_coroutine_still_takes_the_sync_path(cloud: EchoCloud) -> None:
    async def main() -> dict[str, Any]:
        with httpx.Client() as client:
            return client.get("https://management.azure.com/subscriptions").json()

    with cloud.mock():
        assert asyncio.run(main())["app"] == "arm"


SHARED_CLIENT = httpx.Client()  # one client for many hypothesis examples (building a client loads CA files)
ECHO_WORLD = EchoCloud(seed=1)


@settings(max_examples=30, deadline=None)
@given(subdomain=st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?\Z"), upper=st.booleans())
def test_any_central_subdomain_reaches_the_central_app_with_its_host_intact(subdomain: str, upper: bool) -> None:
    host = f"{subdomain}.azureiotcentral.com"
    with ECHO_WORLD.mock():
        body = SHARED_CLIENT.get(f"https://{host.upper() if upper else host}/api/devices").json()
    assert body["app"] == "central"
    assert body["host"] == host  # httpx lower-cases host names; the subdomain arrives as the app's name


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/",
        "https://azureiotcentral.com/api/devices",  # no subdomain: not an app
        "https://contoso.azureiotcentral.com.evil.example/api",
        "https://xmanagement.azure.com/subscriptions",
        "https://prod.core.sphere.azure.net.example/v2/tenants",
        "http://management.azure.com/subscriptions",  # Azure has no plain-HTTP endpoint
        "https://contoso.azure-devices.net/devices",
    ],
)
def test_other_hosts_are_refused_not_forwarded(cloud: EchoCloud, url: str) -> None:
    with cloud.mock(), pytest.raises(respx.models.AllMockedAssertionError):
        httpx.get(url)


def test_routes_the_caller_adds_work_and_are_removed_afterwards(cloud: EchoCloud) -> None:
    with cloud.mock() as router:
        router.get("https://login.microsoftonline.com/token").respond(json={"access_token": "t"})
        assert httpx.get("https://login.microsoftonline.com/token").json() == {"access_token": "t"}
        assert httpx.get(ROUTES[0][0]).json()["app"] == "legacy"
        assert len(router.calls) == 2
    with cloud.mock(), pytest.raises(respx.models.AllMockedAssertionError):
        httpx.get("https://login.microsoftonline.com/token")


def test_service_for_host_names_each_service() -> None:
    assert service_for_host("PROD.core.sphere.azure.net") == "sphere-legacy"
    assert service_for_host("management.azure.com.") == "sphere-arm"
    assert service_for_host("a-b.azureiotcentral.com") == "central"
    assert service_for_host("global.azure-devices-provisioning.net") == "dps"
    assert service_for_host("sim.sphere-harness.local") == "control"
    assert service_for_host("-bad.azureiotcentral.com") is None
    assert service_for_host("example.com") is None


def test_bodies_and_encodings_pass_through_unchanged(cloud: EchoCloud) -> None:
    payload = bytes(range(256))
    with cloud.mock():
        echoed = httpx.put(ROUTES[3][0], content=payload).json()
        squeezed = httpx.get("https://management.azure.com/gzip")
    assert echoed["body"].encode("latin-1") == payload
    assert squeezed.headers["content-encoding"] == "gzip"
    assert squeezed.content == b"squeezed"  # decoded exactly once, by the client


def test_adapters_are_looked_up_per_request_so_reset_worlds_are_seen(cloud: EchoCloud) -> None:
    with cloud.mock():
        assert httpx.get(ROUTES[1][0]).json()["app"] == "arm"
        cloud.arm_app = echo_app("arm-after-reset")
        assert httpx.get(ROUTES[1][0]).json()["app"] == "arm-after-reset"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_injected_connection_drop_is_a_read_error(cloud: EchoCloud, mode: str) -> None:
    cloud.faults.add({"service": "dps", "effect": {"kind": "drop"}, "count": 1})
    url = ROUTES[3][0]

    async def call_async() -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.put(url, json={})

    with cloud.mock():
        with pytest.raises(httpx.ReadError):
            httpx.put(url, json={}) if mode == "sync" else asyncio.run(call_async())
        assert httpx.put(url, json={}).json()["app"] == "dps"  # the rule fired once


def test_transport_hooks_inject_transport_errors_before_the_app(cloud: EchoCloud) -> None:
    seen: list[str] = []

    def refuse_central(request: httpx.Request, service: str) -> None:
        seen.append(service)
        if service == "central":
            raise httpx.ConnectError("injected: connection refused", request=request)

    with cloud.mock() as router:
        router.transport_hooks.append(refuse_central)
        with pytest.raises(httpx.ConnectError):
            httpx.get(ROUTES[2][0])
        assert httpx.get(ROUTES[0][0]).json()["app"] == "legacy"
    assert seen == ["central", "sphere-legacy"]


def test_assert_all_called_reports_unused_service_routes(cloud: EchoCloud) -> None:
    router = mock_cloud(cloud, assert_all_called=True)
    with pytest.raises(AssertionError, match="sphere-arm, central, dps, control"), router:
        httpx.get(ROUTES[0][0])


def test_assert_all_called_passes_once_every_service_answered(cloud: EchoCloud) -> None:
    def no_control_app_here(request: httpx.Request, service: str) -> None:
        if service == "control":  # EchoCloud has no world behind /_sim: answer before the app
            raise httpx.ConnectError("no control app in this test", request=request)

    router = mock_cloud(cloud, assert_all_called=True)
    with router:
        router.transport_hooks.append(no_control_app_here)
        for url, _ in ROUTES:
            httpx.get(url)
        with pytest.raises(httpx.ConnectError):
            httpx.get("https://sim.sphere-harness.local/_sim/health")
    assert router.services_called == set()  # reset on leaving, like respx's call records


def test_leaving_the_block_stops_the_background_loop_and_patching(cloud: EchoCloud) -> None:
    before = set(threading.enumerate())
    for _ in range(3):  # usable many times
        with cloud.mock() as router:
            assert isinstance(router, CloudRouter)
            httpx.get(ROUTES[0][0])
    assert set(threading.enumerate()) <= before
    transport = httpx.MockTransport(lambda request: httpx.Response(299))
    assert httpx.Client(transport=transport).get(ROUTES[0][0]).status_code == 299  # httpx is no longer patched


def test_a_router_that_was_not_entered_says_so(cloud: EchoCloud) -> None:
    router = mock_cloud(cloud)
    with pytest.raises(RuntimeError, match="not started"):
        router.run_sync(cloud.legacy_app, httpx.Request("GET", ROUTES[0][0]))


def test_a_respx_mock_of_the_callers_own_still_answers_other_hosts(cloud: EchoCloud) -> None:
    with respx.mock(assert_all_called=False) as own, cloud.mock():
        own.get("https://login.microsoftonline.com/token").respond(json={"access_token": "t"})
        assert httpx.get("https://login.microsoftonline.com/token").json() == {"access_token": "t"}
        assert httpx.get(ROUTES[0][0]).json()["app"] == "legacy"  # the world still answers its own hosts
        with pytest.raises(respx.models.AllMockedAssertionError):  # and nothing else leaves the process
            httpx.get("https://example.com/")


def test_caller_routes_answer_async_clients_too(cloud: EchoCloud) -> None:
    async def call() -> tuple[int, int]:
        async with httpx.AsyncClient() as client:
            extra = await client.get("https://login.microsoftonline.com/token")
            world = await client.get(ROUTES[1][0])
            return extra.status_code, world.status_code

    with cloud.mock() as router:
        router.get("https://login.microsoftonline.com/token").respond(204)
        assert asyncio.run(call()) == (204, 200)
        assert [call.request.url.host for call in router.calls] == ["login.microsoftonline.com", "management.azure.com"]


def test_a_route_marked_pass_through_goes_to_the_real_transport(cloud: EchoCloud, monkeypatch) -> None:
    seen: list[str] = []

    def real_transport(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(299)

    with cloud.mock() as router:
        monkeypatch.setattr("simulator.inprocess.httpx_transport.ORIGINALS", [real_transport, None])
        router.get("https://example.com/through").pass_through()
        assert httpx.get("https://example.com/through").status_code == 299
    assert seen == ["https://example.com/through"]


def test_nested_routers_the_oldest_answers_and_patches_go_with_the_last() -> None:
    first, second = EchoCloud(seed=1), EchoCloud(seed=2)
    first.legacy_app, second.legacy_app = echo_app("first"), echo_app("second")
    original = httpx.HTTPTransport.handle_request
    with first.mock():
        with second.mock():
            assert httpx.get(ROUTES[0][0]).json()["app"] == "first"
        assert httpx.get(ROUTES[0][0]).json()["app"] == "first"
        assert httpx.HTTPTransport.handle_request is not original
    assert httpx.HTTPTransport.handle_request is original

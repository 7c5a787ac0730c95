"""In-process routing for ``requests`` (simulator.inprocess.requests_transport): the real Azure host names reach the
world's ASGI apps through requests' own adapter, and nothing else leaves the process.

Most tests use the echo world of ``test_inprocess_routing`` (each service app reports what arrived); the
azure-mgmt-sphere test runs the seed workflow's Sphere side against a real world, in-process.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import httpx
import pytest
import requests
import responses
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.cloud import FakeCloud
from simulator.entropy import Entropy
from simulator.fault_middleware import FaultMiddleware
from simulator.faults import FaultInjector
from simulator.inprocess import mock_cloud

ROUTES = [
    ("https://prod.core.sphere.azure.net/v2/tenants", "legacy"),
    ("https://management.azure.com/subscriptions/s/providers/Microsoft.AzureSphere/catalogs", "arm"),
    ("https://contoso.azureiotcentral.com/api/enrollmentGroups", "central"),
    ("https://global.azure-devices-provisioning.net/0ne0001/registrations/r/register", "dps"),
]


def echo_app(name: str) -> Starlette:
    async def echo(request: Request) -> Response:
        body = await request.body()
        if request.url.path == "/gzip":
            return Response(gzip.compress(b"squeezed"), headers={"content-encoding": "gzip"})
        if request.url.path == "/cookie":
            return Response(b"", headers={"set-cookie": "session=abc; Path=/"})
        return JSONResponse(
            {
                "app": name,
                "method": request.method,
                "host": request.headers.get("host"),
                "path": request.url.path,
                "query": request.url.query,
                "content_type": request.headers.get("content-type"),
                "body": body.decode("latin-1"),
                "thread": threading.current_thread().name,
            },
            status_code=201 if request.method == "POST" else 200,
            headers={"x-served-by": name},
        )

    return Starlette(routes=[Route("/{rest:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])


class EchoCloud(FakeCloud):
    """A world whose service adapters are echo apps; DPS has the fault layer in front of it."""

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


@pytest.mark.parametrize(("url", "app"), ROUTES)
def test_unmodified_requests_reach_the_app_of_each_real_host(cloud: EchoCloud, url: str, app: str) -> None:
    with cloud.mock() as router:
        response = requests.get(url, params={"api-version": "2024-04-01"}, timeout=5)
    assert response.status_code == 200
    assert response.reason == "OK"
    body = response.json()
    assert body["app"] == app
    assert body["host"] == httpx.URL(url).host  # http.client would send it; the bridge adds it from the URL
    assert body["path"] == httpx.URL(url).path
    assert body["query"] == "api-version=2024-04-01"
    assert response.headers["x-served-by"] == app
    assert response.url == f"{url}?api-version=2024-04-01"
    assert len(router.calls) == 0  # the records are cleared when the block ends, like respx's


@pytest.mark.parametrize(
    ("kwargs", "sent", "content_type"),
    [
        ({"json": {"n": 1}}, '{"n": 1}', "application/json"),
        ({"data": {"a": "1", "b": "x y"}}, "a=1&b=x+y", "application/x-www-form-urlencoded"),
        ({"data": b"\x00\x01\xff"}, "\x00\x01\xff", None),
        ({"data": "text é"}, "text é".encode().decode("latin-1"), None),
        ({"data": iter([b"chunk-1,", b"chunk-2"])}, "chunk-1,chunk-2", None),
    ],
)
def test_request_bodies_arrive_as_requests_would_send_them(
    cloud: EchoCloud, kwargs: dict[str, Any], sent: str, content_type: str | None
) -> None:
    with cloud.mock():
        response = requests.post(ROUTES[0][0], timeout=5, **kwargs)
    assert response.status_code == 201
    assert response.json()["body"] == sent
    assert response.json()["content_type"] == content_type


def test_sessions_cookies_and_encodings_behave_as_over_a_socket(cloud: EchoCloud) -> None:
    with cloud.mock(), requests.Session() as session:
        squeezed = session.get("https://management.azure.com/gzip", timeout=5)
        session.get("https://management.azure.com/cookie", timeout=5)
        again = session.get("https://management.azure.com/anything", timeout=5)
    assert squeezed.headers["content-encoding"] == "gzip"
    assert squeezed.content == b"squeezed"  # decoded exactly once, by requests
    assert session.cookies.get("session") == "abc"  # requests read Set-Cookie off the response
    assert again.status_code == 200


def test_other_hosts_are_refused_and_never_reach_the_network(cloud: EchoCloud, monkeypatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a socket was opened")

    monkeypatch.setattr("socket.create_connection", no_network)
    with cloud.mock():
        for url in ("https://example.com/", "http://management.azure.com/subscriptions"):
            with pytest.raises(requests.ConnectionError, match="not a host of the fake world"):
                requests.get(url, timeout=5)


def test_routes_the_caller_adds_answer_and_are_removed_afterwards(cloud: EchoCloud) -> None:
    token_url = "https://login.microsoftonline.com/tenant/oauth2/v2.0/token"
    router = cloud.mock()
    with router:
        router.requests_mock.add(responses.POST, token_url, json={"access_token": "t"})
        assert requests.post(token_url, timeout=5).json() == {"access_token": "t"}
        assert requests.get(ROUTES[0][0], timeout=5).json()["app"] == "legacy"
        with pytest.raises(requests.ConnectionError):  # responses refuses what no route matches
            requests.get("https://login.microsoftonline.com/other", timeout=5)
    with router, pytest.raises(requests.ConnectionError):
        requests.post(token_url, timeout=5)


def test_assert_all_called_covers_the_callers_requests_routes(cloud: EchoCloud) -> None:
    def no_control_app_here(request: httpx.Request, service: str) -> None:
        if service == "control":  # EchoCloud has no world behind /_sim: answer before the app
            raise httpx.ConnectError("no control app in this test", request=request)

    router = mock_cloud(cloud, assert_all_called=True)
    with pytest.raises(AssertionError, match=r"login\.microsoftonline\.com"), router:
        router.transport_hooks.append(no_control_app_here)
        router.requests_mock.add(responses.GET, "https://login.microsoftonline.com/x", json={})
        for url, _ in ROUTES:
            requests.get(url, timeout=5)
        with pytest.raises(requests.ConnectionError):
            requests.get("https://sim.sphere-harness.local/_sim/health", timeout=5)


def test_an_injected_connection_drop_is_a_connection_abort(cloud: EchoCloud) -> None:
    from urllib3.exceptions import ProtocolError

    cloud.faults.add({"service": "dps", "effect": {"kind": "drop"}, "count": 1})
    with cloud.mock():
        with pytest.raises(requests.ConnectionError) as raised:
            requests.put(ROUTES[3][0], json={}, timeout=5)
        assert requests.put(ROUTES[3][0], json={}, timeout=5).json()["app"] == "dps"  # the rule fired once
    assert isinstance(raised.value.args[0], ProtocolError)  # "Connection aborted." — after the request was sent


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ConnectError, requests.ConnectionError),
        (httpx.ConnectTimeout, requests.ConnectTimeout),
        (httpx.ReadTimeout, requests.ReadTimeout),
    ],
)
def test_transport_hooks_become_the_matching_requests_errors(
    cloud: EchoCloud, error: type[httpx.TransportError], expected: type[Exception]
) -> None:
    def refuse(request: httpx.Request, service: str) -> None:
        raise error(f"injected on {service}", request=request)

    with cloud.mock() as router:
        router.transport_hooks.append(refuse)
        with pytest.raises(expected, match="injected on central"):
            requests.get(ROUTES[2][0], timeout=5)
        assert router.services_called == {"central"}


def test_requests_from_other_threads_are_served_too(cloud: EchoCloud) -> None:
    served: list[dict[str, Any]] = []
    with cloud.mock():
        workers = [
            threading.Thread(target=lambda u=url: served.append(requests.get(u, timeout=5).json())) for url, _ in ROUTES
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert sorted(body["app"] for body in served) == sorted(app for _, app in ROUTES)


def test_leaving_the_block_restores_requests() -> None:
    from requests.adapters import HTTPAdapter

    original = HTTPAdapter.send
    with EchoCloud(seed=1).mock():
        assert HTTPAdapter.send is not original
    assert HTTPAdapter.send is original


def test_requests_imported_inside_the_block_is_routed_too(tmp_path) -> None:
    """The Azure SDKs import their requests transport on first use: the patch follows the import."""
    script = textwrap.dedent(
        """
        import sys
        import httpx
        from simulator.cloud import FakeCloud
        from simulator.control import create_tenant

        assert "requests" not in sys.modules
        cloud = FakeCloud(seed=3)
        access = create_tenant(cloud, name="Contoso")
        with cloud.mock():
            import requests
            answer = requests.get(
                "https://prod.core.sphere.azure.net/v2/tenants",
                headers={"Authorization": f"Bearer {access.token}"},
                timeout=5,
            )
            print(answer.status_code, answer.json()[0]["Id"] == access.tenant_id)
        from requests.adapters import HTTPAdapter
        print(HTTPAdapter.send.__module__)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", "True", "requests.adapters"]


# -- an official client in-process ------------------------------------------------------------------------------


class FakeTokenCredential:
    """Any object with ``get_token`` will do for an Azure SDK client."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)


def test_azure_mgmt_sphere_runs_the_seed_workflows_sphere_side_in_process() -> None:
    """AzureSphereMgmtClient, unmodified and with its default (requests) transport, against the in-process world:
    the tenant CA, its chain, a proof of possession for a verification code, and a claimed device."""
    pytest.importorskip("azure.mgmt.sphere")
    import base64

    from azure.core.exceptions import ResourceNotFoundError
    from azure.mgmt.sphere import AzureSphereMgmtClient
    from azure.mgmt.sphere.models import ClaimDevicesRequest, ProofOfPossessionNonceRequest

    from simulator import pki
    from simulator.control import create_tenant

    cloud = FakeCloud(seed=12)
    access = create_tenant(cloud, name="Contoso")
    rg, catalog = access.resource_group, access.catalog
    with cloud.mock() as router:
        client = AzureSphereMgmtClient(
            FakeTokenCredential(access.arm_token), access.subscription_id, polling_interval=0
        )
        default = client.certificates.get(rg, catalog, ".default")
        ca = pki.b64_to_certificate(default.properties.certificate)
        assert ca == cloud.sphere.get_tenant(access.tenant_id).generations[0].certificate
        chain = client.certificates.retrieve_cert_chain(rg, catalog, ".default").certificate_chain
        assert ca in pki.p7b_to_chain(base64.b64decode(chain))

        code = "75B86466DA34D2B04C0C4C9557A119687ADAE7D4732BDDB3"
        answer = client.certificates.retrieve_proof_of_possession_nonce(
            rg, catalog, ".default", ProofOfPossessionNonceRequest(proof_of_possession_nonce=code)
        )
        proof = pki.b64_to_certificate(answer.certificate)
        assert pki.get_common_name(proof.subject) == code and pki.is_signed_by(proof, ca.public_key())

        with cloud.lock:
            device = cloud.sphere.create_device()
        poller = client.device_groups.begin_claim_devices(
            rg, catalog, ".default", ".default", ClaimDevicesRequest(device_identifiers=[device.id])
        )
        assert poller.result() is None
        assert client.devices.get(rg, catalog, ".default", ".default", device.id).properties.device_id == device.id
        with pytest.raises(ResourceNotFoundError):
            client.catalogs.get(rg, "no-such-catalog")
        assert router.services_called == {"sphere-arm"}
        assert all(call.request.url.host == "management.azure.com" for call in router.calls)
        client.close()


def test_azure_core_sees_a_dropped_connection_as_a_response_error() -> None:
    """azure-core retries a request that never left (ServiceRequestError) but not a POST whose answer was lost."""
    pytest.importorskip("azure.mgmt.sphere")
    from azure.core.exceptions import ServiceResponseError
    from azure.mgmt.sphere import AzureSphereMgmtClient
    from azure.mgmt.sphere.models import ProofOfPossessionNonceRequest

    from simulator.control import create_tenant

    cloud = FakeCloud(seed=12)
    access = create_tenant(cloud, name="Contoso")
    cloud.faults.add({"service": "sphere-arm", "effect": {"kind": "drop"}})
    with cloud.mock():
        client = AzureSphereMgmtClient(
            FakeTokenCredential(access.arm_token), access.subscription_id, polling_interval=0, retry_total=0
        )
        with pytest.raises(ServiceResponseError):
            client.certificates.retrieve_proof_of_possession_nonce(
                access.resource_group,
                access.catalog,
                ".default",
                ProofOfPossessionNonceRequest(proof_of_possession_nonce="AB"),
            )
        client.close()

"""DPS device REST API: the contract of ``device.json`` 2021-10-01, in-process and served over HTTPS with client
certificates."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from test_dps_model import World

from simulator import pki
from simulator.device import SimulatedDevice, export_devices, private_key_pem
from simulator.dps.https_api import CHAIN_HEADER, TlsH11Protocol

API = {"api-version": "2021-10-01"}
DPS_HOST = "https://global.azure-devices-provisioning.net"


class AsgiClient:
    """A synchronous face over httpx's ASGI transport (in-process: no TLS, so the chain travels in a header)."""

    def __init__(self, app: Any, base_url: str = DPS_HOST) -> None:
        self.app, self.base_url = app, base_url

    def __enter__(self) -> AsgiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


def chain_header(device: SimulatedDevice) -> dict[str, str]:
    pem = b"".join(pki.to_pem(c) for c in device.presented_chain())
    return {CHAIN_HEADER: base64.b64encode(pem).decode()}


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def client(world: World) -> Iterator[AsgiClient]:
    with AsgiClient(world.cloud.dps_app) as c:
        yield c


def enrolled(world: World) -> tuple[Any, Any, SimulatedDevice]:
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    return tenant, app, world.device(tenant)


def test_register_then_poll_then_status_lookup(world: World, client: AsgiClient) -> None:
    _, app, device = enrolled(world)
    rid = device.registration_id
    base = f"/{app.id_scope}/registrations/{rid}"
    response = client.put(f"{base}/register", params=API, json={"registrationId": rid}, headers=chain_header(device))
    assert response.status_code == 202
    assert response.headers["retry-after"] == "3"
    assert response.headers["location"] == f"https://global.azure-devices-provisioning.net{base}/register"
    body = response.json()
    assert body["status"] == "assigning" and body["operationId"].startswith("5.")

    polled = client.get(f"{base}/operations/{body['operationId']}", params=API, headers=chain_header(device))
    assert polled.status_code == 200  # the first lookup finds it assigned
    state = polled.json()["registrationState"]
    assert state["assignedHub"] == app.hub_host
    assert state["deviceId"] == rid.lower()

    lookup = client.post(base, params=API, json={"registrationId": rid}, headers=chain_header(device))
    assert lookup.status_code == 200
    assert lookup.json()["deviceId"] == rid.lower()
    assert lookup.json()["etag"] == state["etag"]


def test_errors_are_provisioning_service_error_details_with_x_ms_error_code(world: World, client: AsgiClient) -> None:
    _, app, device = enrolled(world)
    stranger = world.device(world.tenant("Fabrikam"))
    rid = stranger.registration_id
    url = f"/{app.id_scope}/registrations/{rid}/register"
    response = client.put(url, params=API, json={"registrationId": rid}, headers=chain_header(stranger))
    assert response.status_code == 401
    error = response.json()
    assert set(error) == {"errorCode", "trackingId", "message", "timestampUtc"}
    assert error["errorCode"] == 401002
    assert response.headers["x-ms-error-code"] == "401002"
    assert world.dps.operations == {} and app.devices == {}

    no_cert = client.put(url, params=API, json={"registrationId": rid})
    assert (no_cert.status_code, no_cert.json()["errorCode"]) == (401, 401002)
    no_version = client.put(url, json={"registrationId": rid}, headers=chain_header(stranger))
    assert (no_version.status_code, no_version.json()["errorCode"]) == (400, 400004)
    mine = f"/{app.id_scope}/registrations/{device.registration_id}"
    bad_body = client.put(f"{mine}/register", params=API, content=b"[1, 2", headers=chain_header(device))
    assert (bad_body.status_code, bad_body.json()["errorCode"]) == (400, 400004)
    mismatch = client.put(f"{mine}/register", params=API, json={"registrationId": "x"}, headers=chain_header(device))
    assert mismatch.status_code == 400
    unknown = client.get(f"{mine}/operations/5.0.0", params=API, headers=chain_header(device))
    assert unknown.status_code == 404
    never = client.post(mine, params=API, json={}, headers=chain_header(device))
    assert never.status_code == 404
    assert world.dps.operations == {} and app.devices == {}


def test_throttling_is_429_with_retry_after() -> None:
    world = World(registrations_per_second=1, throttle_retry_after_s=4)
    tenant, app, first = enrolled(world)
    second = world.device(tenant)
    with AsgiClient(world.cloud.dps_app) as client:
        for device, expected in ((first, 202), (second, 429)):
            rid = device.registration_id
            url = f"/{app.id_scope}/registrations/{rid}/register"
            response = client.put(url, params=API, json={"registrationId": rid}, headers=chain_header(device))
            assert response.status_code == expected
        assert response.headers["retry-after"] == "4"
        assert response.json()["errorCode"] == 429001


# -- served, with the client certificate in the TLS handshake --------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served_https(tmp_path: Path) -> Iterator[tuple[World, str, str]]:
    world = World(frozen=False, assigned_hub_host="served")
    # uvicorn loads its context from files: a server certificate from a throw-away CA; the world's CAs as trust
    server_cert, server_key, ca_file = _server_files(tmp_path)
    trust = tmp_path / "trust.pem"
    trust.write_bytes(
        pki.to_pem(world.cloud.sphere.root.certificate) + pki.to_pem(world.cloud.sphere.policy.certificate)
    )
    port = free_port()
    config = uvicorn.Config(
        world.cloud.dps_app,
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(server_cert),
        ssl_keyfile=str(server_key),
        ssl_ca_certs=str(trust),
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
        http=TlsH11Protocol,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield world, f"https://127.0.0.1:{port}", ca_file
    finally:
        server.should_exit = True
        thread.join(10)


def _server_files(tmp_path: Path) -> tuple[Path, Path, str]:
    """Server certificate and key files signed by a throw-away CA (uvicorn wants files)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "https test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    import ipaddress

    leaf = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert_file.write_bytes(pki.to_pem(leaf))
    key_file.write_bytes(private_key_pem(key))
    return cert_file, key_file, pki.to_pem(ca).decode()


@pytest.mark.served
def test_served_https_registration_uses_the_tls_client_certificate(
    served_https: tuple[World, str, str], tmp_path: Path
) -> None:
    world, base_url, ca_pem = served_https
    tenant, app = world.tenant(), world.app()
    with world.cloud.lock:
        world.enroll(app, tenant)
    device = world.device(tenant)
    listing = export_devices([device.identity], {device.id: device.certificate_chain()}, tmp_path / "devices")
    entry = json.loads(listing.read_text())[0]
    rid = device.registration_id
    url = f"{base_url}/{app.id_scope}/registrations/{rid}/register"

    tls = ssl.create_default_context(cadata=ca_pem)
    tls.load_cert_chain(entry["cert_file"], entry["key_file"])
    with httpx.Client(verify=tls) as client:
        response = client.put(url, params=API, json={"registrationId": rid})
        assert response.status_code == 202, response.text
        operation = response.json()["operationId"]
        polled = client.get(f"{base_url}/{app.id_scope}/registrations/{rid}/operations/{operation}", params=API)
        assert polled.json()["registrationState"]["assignedHub"] == "127.0.0.1"  # served

    # Without a client certificate the in-process chain header is ignored: the TLS extension is authoritative.
    with httpx.Client(verify=ssl.create_default_context(cadata=ca_pem)) as anonymous:
        refused = anonymous.put(url, params=API, json={"registrationId": rid}, headers=chain_header(device))
        assert (refused.status_code, refused.json()["errorCode"]) == (401, 401002)


def test_unmodified_httpx_code_registers_in_process_through_the_real_host_name() -> None:
    """``cloud.mock()`` routes global.azure-devices-provisioning.net into this adapter (no socket, chain header)."""
    world = World()
    _, app, device = enrolled(world)
    rid = device.registration_id
    with world.cloud.mock():
        response = httpx.put(
            f"{DPS_HOST}/{app.id_scope}/registrations/{rid}/register",
            params=API,
            json={"registrationId": rid, "payload": {"modelId": "dtmi:contoso:thermometer;1"}},
            headers=chain_header(device),
        )
        assert response.status_code == 202
        operation = response.json()["operationId"]
        polled = httpx.get(
            f"{DPS_HOST}/{app.id_scope}/registrations/{rid}/operations/{operation}",
            params=API,
            headers=chain_header(device),
        )
    assert polled.json()["status"] == "assigned"
    assert rid.lower() in app.devices

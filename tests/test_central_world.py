"""A small IoT Central-only world for the Central tests, and the checks that it routes like the real thing.

:class:`CentralWorld` has the attributes the wire adapter reads from a ``FakeCloud`` (``clock``, ``entropy``,
``settings``, ``lock``, ``central``), so ``build_app(world)`` serves it without the Sphere and DPS models.
:func:`client` is a plain synchronous httpx client addressed to ``https://<subdomain>.azureiotcentral.com``;
the project's respx router (:func:`simulator.inprocess.mock_cloud`) carries its requests into the adapter, so
tests drive the HTTP adapter exactly as a client would, without sockets. PKI material (a Sphere-like chain and
foreign CAs) is made once per process with :mod:`simulator.pki`, because key generation is the slow part.

Other ``test_central_*`` modules import from here.
"""

from __future__ import annotations

import base64
import re
import threading
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from simulator import pki
from simulator.central.api import build_app
from simulator.central.model import App, CentralService
from simulator.clock import Clock
from simulator.cloud import ADAPTER_WRAPPERS
from simulator.entropy import Entropy
from simulator.inprocess import mock_cloud
from simulator.settings import Settings

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
API = "?api-version=2022-07-31"
X509_GROUP = {"displayName": "Sphere devices", "type": "iot", "attestation": {"type": "x509"}}


class CentralWorld:
    """Clock (frozen at :data:`START`), entropy, settings, lock and a :class:`CentralService`."""

    def __init__(self, *, seed: int = 11, settings: Settings | dict[str, Any] | None = None) -> None:
        if isinstance(settings, dict):
            settings = Settings.from_mapping({"central": settings})
        self.settings = settings or Settings()
        self.clock = Clock(START, frozen=True)
        self.entropy = Entropy(seed)
        self.lock = threading.RLock()
        self.central = CentralService(self.clock, self.entropy.fork("central"), self.settings)
        self._asgi: Any = None

    @property
    def central_app(self) -> Any:
        if self._asgi is None:
            app = build_app(self)  # type: ignore[arg-type]
            for wrap in ADAPTER_WRAPPERS:  # the contract checks, as FakeCloud applies them
                app = wrap(app, "central")
            self._asgi = app
        return self._asgi


class MockedClient(httpx.Client):
    """An httpx client whose requests reach the world through the shared respx router (``simulator.inprocess``).

    The router is entered when the client is made and left when it is closed, so ``with client(...) as http``
    is the whole lifetime of the in-process routing.
    """

    def __init__(self, world: Any, **kwargs: Any) -> None:
        self._router: Any = mock_cloud(world)
        self._router.__enter__()
        try:
            super().__init__(**kwargs)
        except BaseException:
            self._router.__exit__(None, None, None)
            raise

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._leave()

    def __exit__(self, *exc_info: Any) -> None:
        try:
            super().__exit__(*exc_info)
        finally:
            self._leave()

    def _leave(self) -> None:
        if self._router is not None:
            router, self._router = self._router, None
            router.__exit__(None, None, None)


def client(world: Any, app: App | None = None, *, host: str | None = None, token: str | None = None) -> httpx.Client:
    """An httpx client for ``https://<app subdomain>.azureiotcentral.com`` authorised with an API token."""
    if host is None:
        host = f"{app.subdomain}.azureiotcentral.com" if app is not None else "azureiotcentral.com"
    headers = {}
    if app is not None:
        headers["Authorization"] = token if token is not None else app.issue_api_token()
    return MockedClient(world, base_url=f"https://{host}", headers=headers, timeout=5)


def assert_error(response: httpx.Response, status: int, code: str, world: CentralWorld | None = None) -> dict[str, Any]:
    """IoT Central's error shape: JSON ``error`` object, ``x-ms-error-code`` = code, ``x-ms-request-id`` = requestId."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "requestId", "time"}
    assert error["code"] == code
    assert error["message"]
    assert response.headers["x-ms-error-code"] == code
    assert response.headers["x-ms-request-id"] == error["requestId"]
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT", error["time"])  # RFC 1123
    if world is not None:
        assert parsedate_to_datetime(error["time"]) == world.clock.now()
    return error


# -- PKI material, made once -------------------------------------------------------------------------------


class Pki:
    """A Sphere-like chain for two tenants plus look-alike and foreign CAs, all made with :mod:`simulator.pki`."""

    def __init__(self) -> None:
        entropy = Entropy(1234)
        now = START - timedelta(days=1)
        self.entropy = entropy
        self.root = pki.make_root_ca(entropy, now)
        self.policy = pki.make_policy_ca(self.root, entropy, now)
        self.tenant_id = "6f1a2a1e-93d6-4c5b-9a0e-0c0a4e1a7f01"
        self.other_tenant_id = "0b7f4c0d-28f2-4f0d-8c8a-6c2f7a1b9e02"
        self.tenant = pki.make_tenant_ca(self.policy, self.tenant_id, entropy, now)
        self.successor = pki.make_tenant_ca(self.policy, self.tenant_id, entropy, now)
        self.other_tenant = pki.make_tenant_ca(self.policy, self.other_tenant_id, entropy, now)
        # A CA that merely claims the tenant CA's name: same subject, different key.
        self.look_alike = pki.make_self_signed_ca(pki.tenant_ca_name(self.tenant_id), entropy, now)
        self.rsa = _rsa_ca(entropy, now)

    def proof(self, signer: pki.Issuer, code: str, now: datetime = START, **kwargs: Any) -> x509.Certificate:
        return pki.make_proof_certificate(signer, code, self.entropy, now, **kwargs)


def _rsa_ca(entropy: Entropy, now: datetime) -> pki.Issuer:
    """An RSA-2048 root like the one the Azure IoT CLI extension's integration test uses."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = pki.cn_name("Harness RSA Test Root")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(entropy.serial())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return pki.Issuer(certificate, key)


@cache
def material() -> Pki:
    return Pki()


def b64_pem(cert: x509.Certificate) -> str:
    """base64 of the PEM text: what the docs' sample and ``az iot central`` with a ``.pem`` file send."""
    return base64.b64encode(cert.public_bytes(Encoding.PEM)).decode("ascii")


def b64_der(cert: x509.Certificate) -> str:
    """base64 of the DER bytes: what ``az iot central`` sends for a binary ``.cer``."""
    return pki.to_b64(cert)


def raw_pem(cert: x509.Certificate) -> str:
    """PEM text as is: what the CLI sends for a text ``.cer`` file."""
    return cert.public_bytes(Encoding.PEM).decode("ascii")


# -- the world's own behaviour ---------------------------------------------------------------------------


def test_requests_reach_the_app_named_by_the_host_subdomain() -> None:
    world = CentralWorld()
    contoso = world.central.create_app("contoso")
    fabrikam = world.central.create_app("fabrikam")
    with client(world, contoso) as http:
        assert http.put("/api/enrollmentGroups/g" + API, json=X509_GROUP).status_code == 200
    with client(world, fabrikam) as http:
        assert http.get("/api/enrollmentGroups/g" + API).status_code == 404
    assert [g.id for g in contoso.enrollment.list_groups()] == ["g"]
    assert fabrikam.enrollment.list_groups() == []


def test_hosts_without_a_known_subdomain_reach_the_default_app() -> None:
    world = CentralWorld()
    first = world.central.create_app("first")
    world.central.create_app("second")
    assert world.central.app_for_host("127.0.0.1:8443") is first
    assert world.central.app_for_host("localhost") is first
    assert world.central.find_app_for_host("unknown.azureiotcentral.com") is None
    assert world.central.app_for_host("SECOND.azureiotcentral.com").subdomain == "second"
    with client(world, first) as http:  # a Host with no subdomain, as when serving on 127.0.0.1
        http.put("/api/enrollmentGroups/g" + API, json=X509_GROUP)
        listed = http.get("/api/enrollmentGroups" + API, headers={"Host": "127.0.0.1:8443"}).json()
        assert [g["id"] for g in listed["value"]] == ["g"]


def test_a_world_without_apps_creates_the_default_app_on_first_use() -> None:
    world = CentralWorld()
    app = world.central.default_app
    assert app.subdomain == "default"
    assert world.central.default_app is app


def snapshot(app: App) -> Any:
    """Everything a request could change in an app: groups, entries (with codes), devices and twins."""
    groups = {
        gid: (
            g.display_name,
            g.enabled,
            g.type,
            g.attestation_type,
            g.etag,
            g.primary_key,
            g.secondary_key,
            {n: (e.thumbprint, e.verified, e.etag, e.code, e.code_issued) for n, e in g.entries.items()},
        )
        for gid, g in app.enrollment.groups.items()
    }
    devices = {k: (d.as_dict(), d.twin(), d.awaiting_approval, dict(d.telemetry)) for k, d in app.devices.items()}
    return groups, devices


def x509_group(app: App, group_id: str = "sphere", certificate: x509.Certificate | None = None) -> None:
    """Arrange an X.509 group, optionally holding ``certificate`` as its unverified primary entry."""
    app.put_group(group_id, dict(X509_GROUP))
    if certificate is not None:
        app.set_certificate(group_id, "primary", {"certificate": b64_pem(certificate)})

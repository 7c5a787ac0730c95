"""Every HTTP fault effect on every HTTP surface of the world, in-process and over real sockets.

The matrix: four surfaces — the Sphere legacy v2 API, the Sphere ARM API, the IoT Central data plane and the DPS
device HTTPS API — times two ways in — in-process (``cloud.mock()``: respx carries the real host names into the
ASGI adapters) and served (``cloud.serve()``: HTTPS on loopback, the client holding a TLS socket) — times the
effects a rule can have on HTTP:

* ``status`` — the answer is an error in *that service's own* shape (legacy ``PublicApiErrorDetails`` list, ARM
  ``{"error": {code, message, …}}``, Central's ``{"error": {code, message, requestId, time}}`` with
  ``x-ms-error-code``, DPS ``{errorCode, trackingId, message, timestampUtc}`` with ``x-ms-error-code``): the same
  shape the service answers a real refusal with, checked here against an unauthenticated request;
* ``Retry-After`` on that answer;
* ``latency`` — the call is served normally, no sooner than the delay (only a lower bound: never wall-clock speed);
* ``drop`` — served, the connection closes mid-response (a transport error); in-process ``httpx.ReadError``.

Then the rule lifecycle on every surface — cleared by id or all and the next call succeeds, ``count: n`` stops
after n, ``nth: k`` fires on the k-th call only — and the first promise of fault injection: a faulted write
changes nothing. One world serves both ways (in-process and served share its state), so the matrix stays fast.
"""

from __future__ import annotations

import base64
import ssl
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from test_dps_model import enroll_certificate

from simulator.cloud import FakeCloud
from simulator.control import DeviceMaterial, create_devices
from simulator.dps.https_api import CHAIN_HEADER
from simulator.server import ServedCloud, serve_cloud

ARM_VERSION = {"api-version": "2024-04-01"}
CENTRAL_VERSION = {"api-version": "2022-07-31"}
DPS_VERSION = {"api-version": "2021-06-01"}
IN_PROCESS_URLS = {
    "sphere-legacy": "https://prod.core.sphere.azure.net/v2",
    "sphere-arm": "https://management.azure.com",
    "dps": "https://global.azure-devices-provisioning.net",
}
LATENCY_S = 0.2


# -- the world and the two ways into it -------------------------------------------------------------------------


@dataclass
class Way:
    """One way into the shared world: ``in-process`` (respx, real host names) or ``served`` (loopback HTTPS)."""

    kind: str
    served: ServedCloud
    device: DeviceMaterial  # claimed into the default tenant, whose CA is verified in the default app
    device_files: tuple[str, str]
    clients: dict[bool, httpx.Client] = field(default_factory=dict)

    @property
    def cloud(self) -> FakeCloud:
        return self.served.cloud

    @property
    def endpoints(self) -> dict[str, Any]:
        return self.served.endpoints

    def url(self, service: str) -> str:
        if self.kind == "served":
            sphere = self.endpoints["sphere"]
            return {
                "sphere-legacy": sphere["legacy_url"],
                "sphere-arm": sphere["arm_url"],
                "central": self.endpoints["central"]["url"],
                "dps": self.endpoints["dps"]["https_url"],
            }[service].rstrip("/")
        if service == "central":
            return f"https://{self.endpoints['central']['subdomain']}.azureiotcentral.com"
        return IN_PROCESS_URLS[service]

    @property
    def control_url(self) -> str:
        return self.endpoints["control_url"] if self.kind == "served" else "https://sim.sphere-harness.local/_sim"

    def client(self, *, as_device: bool = False) -> httpx.Client:
        """This way's httpx client (kept for the test: building an SSL context per call would dominate the run);
        ``as_device`` presents the device's chain (TLS client certificate, or in-process the chain header that
        stands in for it)."""
        if as_device not in self.clients:
            self.clients[as_device] = self._new_client(as_device)
        return self.clients[as_device]

    def _new_client(self, as_device: bool) -> httpx.Client:
        if self.kind == "in-process":
            headers = {}
            if as_device:
                chain = self.device.certificate_chain_pem or ""
                headers[CHAIN_HEADER] = base64.b64encode(chain.encode()).decode()
            return httpx.Client(headers=headers, timeout=10)
        trust = ssl.create_default_context(cafile=self.served.ca_bundle)
        if as_device:
            trust.load_cert_chain(*self.device_files)
        return httpx.Client(verify=trust, timeout=10)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedCloud, DeviceMaterial, tuple[str, str]]]:
    """One served world with the seed workflow's outcome arranged: the tenant CA verified in the default app."""
    folder = tmp_path_factory.mktemp("fault-effects")
    with serve_cloud(FakeCloud(seed=61), mqtt_port=None, workdir=folder) as served:
        cloud = served.cloud
        with cloud.lock:
            tenant = cloud.sphere.get_tenant(served.endpoints["sphere"]["tenant_id"])
            now = cloud.clock.now()
            tenant_ca = next(g for g in tenant.generations if g.status(now) == "Active").certificate
            enroll_certificate(cloud, cloud.central.default_app, tenant_ca, tenant=tenant)
        (device,) = create_devices(cloud, 1, claim=True)
        cert_file, key_file = folder / "device.cert.pem", folder / "device.key.pem"
        cert_file.write_text(device.certificate_chain_pem or "")
        key_file.write_text(device.key_pem)
        yield served, device, (str(cert_file), str(key_file))


@pytest.fixture(params=["in-process", pytest.param("served", marks=pytest.mark.served)])
def way(request: pytest.FixtureRequest, world: tuple[ServedCloud, DeviceMaterial, tuple[str, str]]) -> Iterator[Way]:
    served, device, files = world
    way = Way(request.param, served, device, files)
    try:
        if way.kind == "in-process":
            with way.cloud.mock():
                yield way
        else:
            yield way
    finally:
        way.close()
        way.cloud.faults.clear()


# -- the four surfaces -------------------------------------------------------------------------------------------


def _shape(value: Any) -> Any:
    """The structure of a JSON body: keys and value types, not values."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


@dataclass(frozen=True)
class Surface:
    """One HTTP service of the world: a read, a refused read, a write, what the write changes, its error code."""

    service: str
    read_operation: str
    write_operation: str
    read: Callable[[Way], httpx.Response]
    anonymous: Callable[[Way], httpx.Response]
    write: Callable[[Way, str], httpx.Response]
    state: Callable[[Way], Hashable]
    error_code: Callable[[httpx.Response], Any]
    #: the ``code`` a rule names, and what the body then says (DPS error codes are six-digit integers)
    rule_code: str = "TooManyRequests"
    body_code: Any = "TooManyRequests"
    ok: int = 200

    def __str__(self) -> str:
        return self.service


def _sphere_token(way: Way, audience: str = "sphere") -> dict[str, str]:
    key = "token" if audience == "sphere" else "arm_token"
    return {"Authorization": f"Bearer {way.endpoints['sphere'][key]}"}


def _catalog(way: Way) -> str:
    sphere = way.endpoints["sphere"]
    return (
        f"{way.url('sphere-arm')}/subscriptions/{sphere['subscription_id']}/resourceGroups/{sphere['resource_group']}"
        f"/providers/Microsoft.AzureSphere/catalogs/{sphere['catalog']}"
    )


def _fresh_device(way: Way) -> str:
    """An unclaimed device the write claims (each write claims a new one)."""
    with way.cloud.lock:
        return way.cloud.sphere.create_device().id


def _legacy_read(way: Way, auth: bool = True) -> httpx.Response:
    return way.client().get(f"{way.url('sphere-legacy')}/tenants", headers=_sphere_token(way) if auth else {})


def _legacy_claim(way: Way, _: str) -> httpx.Response:
    tenant = way.endpoints["sphere"]["tenant_id"]
    url = f"{way.url('sphere-legacy')}/tenants/{tenant}/devices/{_fresh_device(way)}/claim"
    return way.client().put(url, headers=_sphere_token(way))


def _arm_read(way: Way, auth: bool = True) -> httpx.Response:
    headers = _sphere_token(way, "arm") if auth else {}
    return way.client().get(f"{_catalog(way)}/certificates", params=ARM_VERSION, headers=headers)


def _arm_claim(way: Way, _: str) -> httpx.Response:
    url = f"{_catalog(way)}/products/.default/deviceGroups/.default/claimDevices"
    body = {"deviceIdentifiers": [_fresh_device(way)]}
    return way.client().post(url, params=ARM_VERSION, headers=_sphere_token(way, "arm"), json=body)


def _sphere_state(way: Way) -> Hashable:
    with way.cloud.lock:
        sphere = way.cloud.sphere
        return len(sphere.operations), tuple(sorted(r.id for r in sphere.devices.values() if r.tenant_id))


def _central_headers(way: Way, auth: bool = True) -> dict[str, str]:
    return {"Authorization": way.endpoints["central"]["api_token"]} if auth else {}


def _central_read(way: Way, auth: bool = True) -> httpx.Response:
    url = f"{way.url('central')}/api/enrollmentGroups"
    return way.client().get(url, params=CENTRAL_VERSION, headers=_central_headers(way, auth))


def _central_create_group(way: Way, name: str) -> httpx.Response:
    body = {"displayName": name, "type": "iot", "attestation": {"type": "x509"}}
    url = f"{way.url('central')}/api/enrollmentGroups/{name}"
    return way.client().put(url, params=CENTRAL_VERSION, headers=_central_headers(way), json=body)


def _central_state(way: Way) -> Hashable:
    with way.cloud.lock:
        return tuple(sorted(way.cloud.central.default_app.enrollment.groups))


def _dps_register(way: Way, as_device: bool = True) -> httpx.Response:
    registration_id = way.device.id
    url = f"{way.url('dps')}/{way.endpoints['dps']['id_scope']}/registrations/{registration_id}/register"
    return way.client(as_device=as_device).put(url, params=DPS_VERSION, json={"registrationId": registration_id})


def _dps_state(way: Way) -> Hashable:
    with way.cloud.lock:
        dps = way.cloud.dps
        return tuple(sorted(dps.operations)), tuple(sorted(dps.registrations))


SURFACES = [
    Surface(
        "sphere-legacy",
        "list_tenants",
        "claim_device",
        read=_legacy_read,
        anonymous=lambda way: _legacy_read(way, auth=False),
        write=_legacy_claim,
        state=_sphere_state,
        error_code=lambda r: r.json()[0]["ErrorCode"],
    ),
    Surface(
        "sphere-arm",
        "Certificates_ListByCatalog",
        "DeviceGroups_ClaimDevices",
        read=_arm_read,
        anonymous=lambda way: _arm_read(way, auth=False),
        write=_arm_claim,
        state=_sphere_state,
        error_code=lambda r: r.json()["error"]["code"],
    ),
    Surface(
        "central",
        "list_groups",
        "create_group",
        read=_central_read,
        anonymous=lambda way: _central_read(way, auth=False),
        write=_central_create_group,
        state=_central_state,
        error_code=lambda r: r.json()["error"]["code"],
    ),
    Surface(
        "dps",
        "register",
        "register",
        read=_dps_register,
        anonymous=lambda way: _dps_register(way, as_device=False),
        write=lambda way, _: _dps_register(way),
        state=_dps_state,
        error_code=lambda r: r.json()["errorCode"],
        rule_code="429001",
        body_code=429001,
        ok=202,
    ),
]
surfaces = pytest.mark.parametrize("surface", SURFACES, ids=str)


def _rule(surface: Surface, effect: dict[str, Any], **when: Any) -> dict[str, Any]:
    return {"service": surface.service, "operation": surface.read_operation, "effect": effect, **when}


def _codes(surface: Surface, way: Way, calls: int) -> list[int]:
    return [surface.read(way).status_code for _ in range(calls)]


# -- effects -----------------------------------------------------------------------------------------------------


@surfaces
def test_the_surface_answers_when_no_rule_fires(surface: Surface, way: Way) -> None:
    """The baseline every effect below departs from."""
    assert surface.read(way).status_code == surface.ok


@surfaces
def test_status_answers_in_the_services_own_error_shape_with_retry_after(surface: Surface, way: Way) -> None:
    rule = way.cloud.faults.add(
        _rule(surface, {"kind": "status", "status": 429, "code": surface.rule_code, "retry_after": 7}, count=1)
    )
    injected = surface.read(way)
    real = surface.anonymous(way)  # a refusal the service itself makes (no credentials)

    assert injected.status_code == 429
    assert injected.headers["retry-after"] == "7"
    assert surface.error_code(injected) == surface.body_code
    assert real.status_code == 401 and "retry-after" not in real.headers
    assert _shape(injected.json()) == _shape(real.json())
    assert injected.headers["content-type"].split(";")[0] == real.headers["content-type"].split(";")[0]
    if surface.service in ("central", "dps"):  # both put the code in x-ms-error-code as well
        assert injected.headers["x-ms-error-code"] == str(surface.body_code)
    assert (rule.calls, rule.fired) == (2, 1)  # the anonymous call matched too, after the rule was spent


@surfaces
def test_status_without_a_code_names_the_status(surface: Surface, way: Way) -> None:
    way.cloud.faults.add(_rule(surface, {"kind": "status", "status": 503}))
    injected = surface.read(way)
    assert injected.status_code == 503 and "retry-after" not in injected.headers
    assert surface.error_code(injected) == (503000 if surface.service == "dps" else "ServiceUnavailable")


@surfaces
def test_latency_delays_then_serves_normally(surface: Surface, way: Way) -> None:
    rule = way.cloud.faults.add(_rule(surface, {"kind": "latency", "latency_s": LATENCY_S}, count=1))
    started = time.perf_counter()
    delayed = surface.read(way)
    elapsed = time.perf_counter() - started
    assert delayed.status_code == surface.ok
    assert elapsed >= LATENCY_S
    assert rule.fired == 1


@surfaces
def test_drop_is_a_transport_error_and_the_next_call_is_served(surface: Surface, way: Way) -> None:
    rule = way.cloud.faults.add(_rule(surface, {"kind": "drop"}, count=1))
    expected = httpx.ReadError if way.kind == "in-process" else (httpx.RemoteProtocolError, httpx.ReadError)
    with pytest.raises(expected):
        surface.read(way)
    assert rule.fired == 1
    assert surface.read(way).status_code == surface.ok


@pytest.mark.parametrize(
    "effect", [{"kind": "status", "status": 500}, {"kind": "drop"}], ids=lambda effect: effect["kind"]
)
@surfaces
def test_a_faulted_write_changes_nothing(surface: Surface, way: Way, effect: dict[str, Any]) -> None:
    before = surface.state(way)
    rule = way.cloud.faults.add({"service": surface.service, "operation": surface.write_operation, "effect": effect})
    name = f"faulted-{surface.service}-{effect['kind']}-{way.kind}"
    if effect["kind"] == "drop":
        with pytest.raises(httpx.TransportError):
            surface.write(way, name)
    else:
        assert surface.write(way, name).status_code == 500
    assert rule.fired == 1
    assert surface.state(way) == before

    way.cloud.faults.clear(rule.id)
    assert surface.write(way, name).status_code < 300  # the same write, unfaulted, does change the state
    assert surface.state(way) != before


# -- rule lifecycle ----------------------------------------------------------------------------------------------


@surfaces
def test_cleared_rules_stop_firing_by_id_and_all(surface: Surface, way: Way) -> None:
    faults = way.cloud.faults
    rule = faults.add(_rule(surface, {"kind": "status", "status": 503}))
    assert _codes(surface, way, 2) == [503, 503]  # unbounded: fires until cleared
    assert faults.clear(rule.id) == 1
    assert _codes(surface, way, 2) == [surface.ok] * 2

    faults.add(_rule(surface, {"kind": "status", "status": 500}))
    faults.add(_rule(surface, {"kind": "drop"}))
    assert surface.read(way).status_code == 500  # the first firing rule decides
    assert faults.clear() == 2
    assert faults.list() == []
    assert surface.read(way).status_code == surface.ok


@surfaces
def test_a_count_rule_stops_after_n(surface: Surface, way: Way) -> None:
    rule = way.cloud.faults.add(_rule(surface, {"kind": "status", "status": 503}, count=2))
    assert _codes(surface, way, 4) == [503, 503, surface.ok, surface.ok]
    assert (rule.calls, rule.fired) == (4, 2)


@surfaces
def test_an_nth_rule_fires_on_the_kth_matching_call_only(surface: Surface, way: Way) -> None:
    rule = way.cloud.faults.add(_rule(surface, {"kind": "status", "status": 503}, nth=3))
    assert _codes(surface, way, 5) == [surface.ok, surface.ok, 503, surface.ok, surface.ok]
    assert (rule.calls, rule.fired) == (5, 1)


@surfaces
def test_a_rule_for_another_operation_or_service_never_fires(surface: Surface, way: Way) -> None:
    faults = way.cloud.faults
    elsewhere = faults.add({"service": surface.service, "operation": "no_such_operation", "effect": {"status": 503}})
    other = next(s for s in SURFACES if s.service != surface.service)
    stranger = faults.add({"service": other.service, "effect": {"status": 503}})
    assert surface.read(way).status_code == surface.ok
    assert (elsewhere.calls, stranger.calls) == (0, 0)


# -- the control surface is not faultable ------------------------------------------------------------------------


def test_the_control_surface_is_never_faulted(way: Way) -> None:
    """``/_sim`` arranges the world; a rule on every service must not lock the tester out of clearing it."""
    faults = way.cloud.faults
    everything = faults.add({"service": "*", "effect": {"kind": "drop"}})
    http = way.client()
    assert http.get(f"{way.control_url}/health").status_code == 200
    assert http.get(f"{way.control_url}/faults").json()["rules"][0]["id"] == everything.id
    refused = http.post(f"{way.control_url}/faults", json={"service": "control", "effect": {}})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "InvalidFaultRule"
    assert http.delete(f"{way.control_url}/faults").json() == {"removed": 1}
    assert everything.calls == 0


# -- acceptance 3 through sockets --------------------------------------------------------------------------------


def _pattern(seed: int, kind: str, calls: int = 16) -> list[int]:
    """Which of ``calls`` legacy tenant listings a 50 % rule fails, in a fresh world of ``seed``."""
    cloud = FakeCloud(seed=seed)
    cloud.faults.add({"service": "sphere-legacy", "probability": 0.5, "effect": {"kind": "status", "status": 500}})
    if kind == "in-process":
        from simulator.control import ensure_defaults

        token = ensure_defaults(cloud).tenant.token
        with cloud.mock(), httpx.Client() as http:
            url = IN_PROCESS_URLS["sphere-legacy"] + "/tenants"
            codes = [http.get(url, headers={"Authorization": f"Bearer {token}"}).status_code for _ in range(calls)]
    else:
        with serve_cloud(cloud, mqtt_port=None) as served:
            sphere = served.endpoints["sphere"]
            trust = ssl.create_default_context(cafile=served.ca_bundle)
            with httpx.Client(verify=trust) as http:
                url = sphere["legacy_url"].rstrip("/") + "/tenants"
                codes = [
                    http.get(url, headers={"Authorization": f"Bearer {sphere['token']}"}).status_code
                    for _ in range(calls)
                ]
    assert set(codes) <= {200, 500}
    return [i for i, code in enumerate(codes) if code == 500]


@pytest.mark.served
def test_a_seeded_probability_fires_on_the_same_calls_served_as_in_process() -> None:
    served_once, served_again = _pattern(42, "served"), _pattern(42, "served")
    assert served_once == served_again
    assert 0 < len(served_once) < 16
    assert _pattern(42, "in-process") == served_once  # the fault stream is the world's, whichever way in


@pytest.mark.served
def test_a_different_seed_gives_a_different_pattern() -> None:
    assert _pattern(42, "in-process") != _pattern(43, "in-process")
    assert _pattern(43, "served") == _pattern(43, "in-process")


def test_an_app_rule_matches_the_app_the_request_reaches(way: Way) -> None:
    """Served on ``127.0.0.1`` there is no subdomain: the request reaches the default app, and so does the rule."""
    subdomain = way.endpoints["central"]["subdomain"]
    faults = way.cloud.faults
    mine = faults.add({"service": "central", "app": subdomain.upper(), "count": 1, "effect": {"status": 503}})
    other = faults.add({"service": "central", "app": "fabrikam", "effect": {"status": 500}})
    central = next(s for s in SURFACES if s.service == "central")
    assert _codes(central, way, 2) == [503, 200]
    assert (mine.calls, other.calls) == (2, 0)


@pytest.mark.parametrize(("effect", "error_code"), [({}, 400209), ({"dps_error_code": 400211}, 400211)])
def test_dps_failed_over_https_ends_the_operation_failed(way: Way, effect: dict[str, int], error_code: int) -> None:
    """The registration is accepted (202) and its operation ends ``failed`` with the rule's code; the next
    registration (the rule is spent) is assigned as usual."""
    rule = {"service": "dps", "operation": "register", "count": 1, "effect": {"kind": "dps_failed", **effect}}
    way.cloud.faults.add(rule)
    accepted = _dps_register(way)
    assert accepted.status_code == 202
    operation = accepted.json()["operationId"]
    url = f"{way.url('dps')}/{way.endpoints['dps']['id_scope']}/registrations/{way.device.id}/operations/{operation}"
    finished = way.client(as_device=True).get(url, params=DPS_VERSION).json()
    assert finished["status"] == "failed"
    assert finished["registrationState"]["errorCode"] == error_code
    again = _dps_register(way).json()["operationId"]
    url = url.rsplit("/", 1)[0] + f"/{again}"
    assert way.client(as_device=True).get(url, params=DPS_VERSION).json()["status"] == "assigned"

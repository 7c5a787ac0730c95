"""Fuzzing every surface of the world (issue 16): generated bodies, headers, paths and query strings.

For each HTTPS surface — the Sphere legacy and ARM APIs, IoT Central, DPS and the ``/_sim`` control API — hypothesis
picks one of the surface's own routes (or a path of its own making), fills the path with values the world knows or
with arbitrary text, and sends a request with generated query parameters, headers and body, in-process. Every
answer must be below 500 (an exception inside an app fails the test too); every refusal must come in that service's
error shape (``tests/service_shapes.py``) and leave the whole world as it was (``tests/world_state.py``).

The MQTT surface is fuzzed one connection at a time: a CONNECT (DPS, hub or nonsense username), a SUBSCRIBE and a
PUBLISH with a generated topic and payload are fed to the listener's connection handler; it must end the connection
cleanly whatever comes, and anything but an accepted request must leave the world as it was. (The MQTT codec itself
is fuzzed byte by byte in ``test_dps_mqtt_codec.py``.)

Sizes: a few thousand requests in all, seconds in CI; ``FUZZ_EXAMPLES`` scales them up for a longer local run.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from refusals import capture
from service_shapes import SHAPES
from world_state import world_state

from simulator import pki
from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.control import CONTROL_HOST, build_control_app, ensure_defaults
from simulator.device import SimulatedDevice
from simulator.dps import mqtt_codec as codec

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "350"))
START = datetime(2026, 7, 1, tzinfo=UTC)
#: control routes left out: they replace the world wholesale or move its clock, which a fuzzer would do by accident
CONTROL_EXCLUDED = {"/_sim/reset", "/_sim/clock"}
METHODS = ["GET", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"]


@dataclass
class Surface:
    name: str  # the service_shapes key
    base: str
    app: Any
    auth: dict[str, str]
    query: dict[str, str]


class FuzzWorld:
    """One world for a whole fuzz test: the defaults, a verified enrollment and a claimed device."""

    client: httpx.Client

    def __init__(self) -> None:
        self.cloud = FakeCloud(seed=21, clock=Clock(START, frozen=True))
        defaults = ensure_defaults(self.cloud)
        tenant, app = defaults.tenant, defaults.app
        self.tenant, self.app = tenant, app
        central_app = self.cloud.central.app_by_subdomain(app.subdomain)
        sphere_tenant = self.cloud.sphere.get_tenant(tenant.tenant_id)
        from test_dps_model import enroll_certificate

        generation = sphere_tenant.active_generation()
        enroll_certificate(self.cloud, central_app, generation.certificate, tenant=sphere_tenant)
        identity = self.cloud.sphere.create_device()
        self.cloud.sphere.claim_device(tenant.tenant_id, identity.id)
        self.device = SimulatedDevice(self.cloud, identity)
        assert self.device.provision(app.id_scope).status == "assigned"  # so the hub knows the device too
        self.hub_host = central_app.hub_host
        chain = self.device.presented_chain()
        self.chain_header = base64.b64encode(b"".join(pki.to_pem(c) for c in chain)).decode()
        self.serial = generation.serial
        catalog = (
            f"/subscriptions/{tenant.subscription_id}/resourceGroups/{tenant.resource_group}"
            f"/providers/Microsoft.AzureSphere/catalogs/{tenant.catalog}"
        )
        self.values = {  # what a path parameter may be, besides arbitrary text
            "tenant_id": [tenant.tenant_id],
            "subscription_id": [tenant.subscription_id],
            "resource_group": [tenant.resource_group],
            "catalog": [tenant.catalog],
            "serial": [self.serial, "default", ".default"],
            "product": [".default", ".unassigned"],
            "device_group": [".default", ".unassigned"],
            "device": [identity.id],
            "device_id": [identity.id, "d1"],
            "group_id": ["sphere", "new-group"],
            "entry": ["primary", "secondary"],
            "id_scope": [app.id_scope],
            "registration_id": [self.device.registration_id],
            "code": ["ABCDEF"],
        }
        self.catalog_path = catalog
        self.surfaces = [
            Surface(
                "sphere-legacy",
                "https://prod.core.sphere.azure.net",
                self.cloud.legacy_app,
                {"authorization": f"Bearer {tenant.token}"},
                {},
            ),
            Surface(
                "sphere-arm",
                "https://management.azure.com",
                self.cloud.arm_app,
                {"authorization": f"Bearer {tenant.arm_token}"},
                {"api-version": "2024-04-01"},
            ),
            Surface(
                "central",
                f"https://{app.subdomain}.azureiotcentral.com",
                self.cloud.central_app,
                {"authorization": app.api_token},
                {"api-version": "2022-07-31"},
            ),
            Surface(
                "dps",
                "https://global.azure-devices-provisioning.net",
                self.cloud.dps_app,
                {"x-sphere-harness-client-chain": self.chain_header},
                {"api-version": "2021-10-01"},
            ),
            Surface("control", f"https://{CONTROL_HOST}", build_control_app(self.cloud), {}, {}),
        ]


def fuzz_world() -> FuzzWorld:
    """A fresh world per test: what one surface's fuzzing creates does not slow the next one down."""
    return FuzzWorld()


def routes_of(app: Any) -> list[tuple[str, list[str]]]:
    while not hasattr(app, "routes"):
        app = app.app
    found = []
    for route in app.routes:
        methods = sorted(set(route.methods or ["GET"]) - {"HEAD"})
        if methods and route.path not in CONTROL_EXCLUDED:
            found.append((route.path, methods))
    return found


# -- strategies ---------------------------------------------------------------------------------------------------

texts = st.text(max_size=24)
printable = st.text(alphabet=string.printable.strip() + " ", max_size=40)
KEYS = [
    "displayName", "type", "attestation", "x509", "symmetricKey", "certificate", "verified", "etag", "enabled",
    "name", "tenant_id", "email", "subdomain", "count", "claim", "audience", "service", "effect", "kind", "status",
    "operation", "proofOfPossessionNonce", "deviceIdentifiers", "registrationId", "payload", "modelId", "properties",
    "tags", "location", "primaryKey", "signingCertificates", "organizations", "template", "auto_approve",
]  # fmt: skip
scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False, allow_infinity=False) | texts
json_values = st.recursive(
    scalars | st.sampled_from(["iot", "x509", "primary", "central", "status", "sphere"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS) | texts, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes | None:
    kind = draw(st.sampled_from(["none", "json", "json", "object", "bytes", "deep", "surrogate"]))
    if kind == "none":
        return None
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "deep":
        return b"[" * draw(st.integers(60, 3000))
    if kind == "surrogate":
        return b'{"displayName": "\\udc80", "name": "\\ud800"}'
    value = draw(json_values if kind == "json" else st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5))
    return json.dumps(value).encode()


@st.composite
def requests(draw: st.DrawFn, world: FuzzWorld, surface: Surface) -> httpx.Request:
    routes = routes_of(surface.app)
    if draw(st.integers(0, 9)) == 0:  # now and then a path no route serves
        path = "/" + "/".join(quote(p, safe="") for p in draw(st.lists(texts, max_size=4)))
        method = draw(st.sampled_from(METHODS))
    else:
        template, methods = draw(st.sampled_from(routes))
        method = draw(st.sampled_from(methods)) if draw(st.integers(0, 9)) else draw(st.sampled_from(METHODS))
        path = template
        for segment in [s[1:-1] for s in template.split("/") if s.startswith("{")]:
            known = world.values.get(segment, [])
            value = draw(st.sampled_from(known) | texts) if known else draw(texts)
            path = path.replace("{" + segment + "}", quote(value, safe="") or "x")
    query: dict[str, str] = {}
    if draw(st.integers(0, 9)):
        query.update(surface.query)
    names = ["api-version", "$top", "$skip", "$maxpagesize", "maxPageSize", "$filter", "$skipToken", "thumbprint"]
    query.update(draw(st.dictionaries(st.sampled_from(names) | printable, printable, max_size=3)))
    headers: dict[str, str] = {}
    if draw(st.integers(0, 9)):
        headers.update(surface.auth)
    else:
        headers["authorization"] = draw(printable)
    headers["content-type"] = draw(
        st.sampled_from(["application/json", "application/json", "application/merge-patch+json", "text/plain", ""])
    )
    headers.update(draw(st.dictionaries(st.sampled_from(["if-match", "x-ms-foo", "accept"]), printable, max_size=2)))
    body = draw(bodies()) if method in ("PUT", "POST", "PATCH") else None
    return httpx.Request(method, surface.base + path, params=query, headers=headers, content=body)


# -- the HTTPS surfaces -------------------------------------------------------------------------------------------


def check(world: FuzzWorld, surface: Surface, request: httpx.Request) -> None:
    cloud = world.cloud
    cloud.faults.clear()  # a rule the previous request may have added must not answer this one
    before = capture(cloud)
    response = world.client.send(request)
    assert response.status_code < 500, (request.method, str(request.url), response.status_code, response.text[:300])
    if response.status_code >= 400:
        SHAPES[surface.name](response)
        assert world_state(cloud) == before, (
            f"{request.method} {request.url} → {response.status_code} changed the world"
        )


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@pytest.mark.parametrize("surface", ["sphere-legacy", "sphere-arm", "central", "dps", "control"])
def test_generated_requests_are_answered_below_500_and_refusals_change_nothing(surface: str) -> None:
    world = fuzz_world()
    target = next(s for s in world.surfaces if s.name == surface)

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        check(world, target, data.draw(requests(world, target)))

    with world.cloud.mock(), httpx.Client() as client:
        world.client = client
        run()


# -- the MQTT surface ---------------------------------------------------------------------------------------------


class _Writer:
    """What the connection handler writes, kept in memory."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data.extend(data)

    async def drain(self) -> None:
        return None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


@st.composite
def mqtt_sessions(draw: st.DrawFn, world: FuzzWorld) -> list[codec.Packet]:
    scope, registration = world.app.id_scope, world.device.registration_id
    usernames = [
        f"{scope}/registrations/{registration}/api-version=2021-10-01",
        f"{world.hub_host}/{registration}/?api-version=2021-06-30",
    ]
    username = draw(st.sampled_from(usernames) | printable)
    client_id = draw(st.sampled_from([registration]) | printable)
    topics = [
        "$dps/registrations/PUT/iotdps-register/?$rid=1",
        "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=x",
        "$iothub/twin/GET/?$rid=3",
        "$iothub/twin/PATCH/properties/reported/?$rid=4",
        f"devices/{registration}/messages/events/a=1",
    ]
    topic = draw(st.sampled_from(topics) | texts.filter(bool))
    payloads = [json.dumps({"registrationId": registration}).encode(), b'{"temperature": 21.5}', b"{}"]
    payload = draw(st.sampled_from(payloads) | bodies()) or b""
    qos = draw(st.sampled_from([0, 1]))
    packets = [
        codec.Connect(client_id=client_id, username=username, keepalive=draw(st.sampled_from([0, 30]))),
        codec.Subscribe(1, (("$dps/registrations/res/#", 1), ("$iothub/twin/res/#", 1))),
        codec.Publish(topic=topic, payload=payload, qos=qos, packet_id=7 if qos else None),
        codec.Disconnect(),
    ]
    try:  # only what a client can put on the wire (no wildcard in a PUBLISH topic, no NUL in a string)
        for packet in packets:
            codec.encode(packet)
    except codec.MqttProtocolError:
        assume(False)
    return packets


async def _drive(server: Any, packets: list[codec.Packet], chain: list[Any]) -> bytes:
    from simulator.dps.mqtt import _Connection

    reader = asyncio.StreamReader()
    reader.feed_data(b"".join(codec.encode(p) for p in packets))
    reader.feed_eof()
    writer = _Writer()
    connection = _Connection(server, reader, writer, chain=chain)  # type: ignore[arg-type]
    await asyncio.wait_for(connection.run(), timeout=30)  # it must end by itself: the input ends
    return bytes(writer.data)


def _accepted(written: bytes, sent: list[codec.Packet]) -> bool:
    """Whether the handler may have accepted a request that changes the world: a 2xx reply, or telemetry on an
    accepted connection (QoS 0 telemetry gets no answer at all)."""
    packets = codec.PacketBuffer(max_packet_size=10**7).feed(written)
    connack = next((p for p in packets if isinstance(p, codec.Connack)), None)
    if connack is None or connack.return_code != codec.CONNACK_ACCEPTED:
        return False
    if any(isinstance(p, codec.Publish) and "/res/2" in p.topic for p in packets):
        return True
    return any(isinstance(p, codec.Publish) and p.topic.startswith("devices/") for p in sent)


def test_generated_mqtt_sessions_end_cleanly_and_refusals_change_nothing() -> None:
    from simulator.dps.mqtt import MqttServer
    from simulator.tls import local_tls

    world = fuzz_world()
    chain = world.device.presented_chain()
    server = MqttServer(world.cloud, local_tls().server_context(), "127.0.0.1")  # the listener's handler, no socket

    @FUZZ
    @given(packets=mqtt_sessions(world), present=st.booleans())
    def run(packets: list[codec.Packet], present: bool) -> None:
        world.cloud.faults.clear()
        before = capture(world.cloud)
        written = asyncio.run(_drive(server, packets, chain if present else []))
        if not _accepted(written, packets):
            assert world_state(world.cloud) == before, f"a refused MQTT session changed the world: {packets!r}"

    run()

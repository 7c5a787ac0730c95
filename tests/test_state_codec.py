"""The world codec: a busy world round-trips exactly, a world read back *continues* exactly as the original would,
sharing and cycles survive, and the decoder refuses every malformed or foreign document with a clear error."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulator import control, pki
from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.state import CodecError, describe_differences, dump_world, dumps, load_world, loads
from simulator.state.codec import GraphDecoder, GraphEncoder, Kind, resolve
from tests.test_dps_model import World, set_group_enabled

START = datetime(2027, 3, 1, 12, tzinfo=UTC)


def busy_world(seed: int = 11) -> tuple[FakeCloud, dict[str, Any]]:
    """A world that has been through the whole trust workflow and more: two tenants, a verified and an unverified
    group, a claimed device assigned through DPS that sent telemetry and reported properties, a fault rule, a
    travelled clock and a revoked CA generation."""
    world = World(seed=seed)
    cloud = world.cloud
    cloud.clock.set(START)
    tenant, other = world.tenant("Contoso"), world.tenant("Fabrikam")
    app = world.app("contoso", auto_approve=True)
    app.add_template("dtmi:contoso:thermostat;1")
    world.enroll(app, tenant)
    world.enroll(app, other, verify=False, group_id="unverified")
    set_group_enabled(app, "unverified", False)
    device = world.device(tenant)
    result = device.provision(app.id_scope, model_id="dtmi:contoso:thermostat;1")
    assert result.status == "assigned"
    device.send_telemetry({"temperature": 21.5, "nested": {"a": [1, 2, {"b": None}]}})
    device.report_properties({"firmware": "1.0", "config": {"x": 1}})
    app.update_device_properties(device.device_id, {"target": 20})
    control.create_tenant(cloud, name="Trainer", email="trainer@example.com")
    cloud.faults.add({"service": "central", "operation": "verify", "nth": 3, "effect": {"status": 503}})
    cloud.clock.advance(days=3)
    cloud.sphere.revoke_generation(other.id)
    world.device()  # an unclaimed chip
    return cloud, {"tenant": tenant, "other": other, "app": app, "device": device}


def roundtrip(cloud: FakeCloud) -> FakeCloud:
    return load_world(loads(dumps(dump_world(cloud))))


def test_a_busy_world_round_trips_exactly_through_json_text() -> None:
    cloud, _ = busy_world()
    document = dump_world(cloud)
    again = roundtrip(cloud)
    assert describe_differences(document, dump_world(again)) == []
    assert dumps(dump_world(again)) == dumps(document)


def test_a_world_read_back_continues_exactly_as_the_original() -> None:
    """Entropy streams, clock and every record are captured: the same next steps give the same world."""
    cloud, _ = busy_world()
    twin = roundtrip(cloud)

    def next_steps(world: FakeCloud) -> None:
        app = world.central.app_by_subdomain("contoso")
        tenant = next(iter(world.sphere.tenants.values()))
        app.put_group("second", {"displayName": "again", "type": "iot", "attestation": {"type": "x509"}})
        cert = pki.make_self_signed_ca(pki.cn_name("Someone"), world.entropy.fork("test"), world.clock.now())
        app.set_certificate("second", "primary", {"certificate": pki.to_b64(cert.certificate)})
        app.generate_verification_code("second", "primary")
        world.sphere.create_device()
        world.sphere.claim_device(tenant.id, world.sphere.create_device().id)
        world.clock.advance(days=800)  # new CA generations roll in
        world.sphere.issue_token("trainer@example.com")
        world.faults.check("central", "verify")

    next_steps(cloud)
    next_steps(twin)
    assert describe_differences(dump_world(cloud), dump_world(twin)) == []


def test_the_world_read_back_works_the_same_tokens_entries_and_devices() -> None:
    cloud, parts = busy_world()
    token = control.issue_token(cloud, "trainer@example.com")
    api_token = parts["app"].issue_api_token()
    twin = roundtrip(cloud)

    app = twin.central.app_by_subdomain("contoso")
    assert app.authenticate(api_token).name == "operator-token"
    assert twin.sphere.authenticate(token, "sphere").email == "trainer@example.com"
    entry = app.get_certificate("sphere", "primary")
    assert entry.verified
    assert pki.to_der(entry.certificate) == pki.to_der(parts["app"].get_certificate("sphere", "primary").certificate)
    tenant = twin.sphere.get_tenant(parts["tenant"].id)
    original = parts["tenant"]
    assert [pki.to_der(g.certificate) for g in tenant.generations] == [
        pki.to_der(g.certificate) for g in original.generations
    ]
    assert [g.status() for g in tenant.generations] == [g.status() for g in original.generations]
    device = app.get_device(parts["device"].device_id)
    assert device.telemetry["temperature"].value == 21.5
    assert device.reported["config"] == {"x": 1}
    # the tenant CA's private key survived: a proof signed by the world read back verifies against the entry
    code = app.generate_verification_code("sphere", "primary")
    proof = twin.sphere.issue_proof(tenant.id, code, pki.thumbprint(entry.certificate))
    assert app.verify_certificate("sphere", "primary", {"certificate": pki.to_b64(proof)}).verified
    # and the revoked generation of the other tenant still signs nothing
    revoked = twin.sphere.get_tenant(parts["other"].id).generations[0]
    assert revoked.status() == "Revoked"
    with pytest.raises(Exception, match="Revoked"):
        twin.sphere.issue_proof(parts["other"].id, code, revoked.thumbprint)


def test_sharing_and_cycles_survive() -> None:
    cloud, _ = busy_world()
    twin = roundtrip(cloud)
    app = twin.central.app_by_subdomain("contoso")
    assert app.templates is app.device_registry.templates  # one set, two holders
    assert app.clock is twin.clock is twin.sphere.clock is twin.dps.clock
    tenant = next(iter(twin.sphere.tenants.values()))
    assert all(g.tenant is tenant for g in tenant.generations)  # the cycle back to the tenant
    assert twin.dps.hub.dps is twin.dps
    assert isinstance(twin.lock, type(cloud.lock))
    # the in-process and served adapters are caches, rebuilt on demand
    assert "central_app" not in vars(twin)


def test_two_worlds_in_the_same_state_dump_byte_for_byte_alike() -> None:
    def build() -> FakeCloud:
        cloud = FakeCloud(seed=4, clock=Clock(START, frozen=True), identity=b"same world secret")
        control.ensure_defaults(cloud)
        return cloud

    assert dumps(dump_world(build())) == dumps(dump_world(build()))


def test_certificates_are_der_and_keys_pkcs8_in_the_document() -> None:
    cloud, parts = busy_world()
    text = dumps(dump_world(cloud))
    tenant_ca = parts["tenant"].generations[0].certificate
    assert json.dumps(pki.to_b64(tenant_ca)) in text
    assert "BEGIN" not in text  # no PEM anywhere


def test_a_value_the_codec_cannot_hold_is_named_where_it_sits() -> None:
    cloud = FakeCloud(seed=1)
    cloud.sphere.create_tenant(name="x").name = lambda: None  # type: ignore[assignment]
    with pytest.raises(CodecError, match=r"function.*simulator\.sphere\.model:Tenant\.name"):
        dump_world(cloud)


def test_transient_attributes_and_caches_are_not_state() -> None:
    cloud = FakeCloud(seed=1)
    _ = cloud.central_app  # a cached_property
    assert "central_app" not in json.dumps(dump_world(cloud)["objects"]["1"]["state"])


# -- the strict decoder -----------------------------------------------------------------------------------------


def small_document() -> dict[str, Any]:
    return dump_world(FakeCloud(seed=2, clock=Clock(START, frozen=True)))


def mutate(document: dict[str, Any], change: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    change(changed)
    return changed


def find(document: dict[str, Any], type_name: str) -> dict[str, Any]:
    return next(o for o in document["objects"].values() if o["type"] == type_name)


BAD_DOCUMENTS = {
    "format": (lambda d: d.update(format="other"), "format"),
    "version": (lambda d: d.update(version=99), "version 99"),
    "unknown member": (lambda d: d.update(extra=1), "unknown member"),
    "dangling root": (lambda d: d.update(root="999"), "root"),
    "dangling ref": (
        lambda d: find(d, "simulator.cloud:FakeCloud")["state"].update(sphere={"$ref": "999"}),
        "reference '999'",
    ),
    "foreign type": (lambda d: d["objects"].update({"900": {"type": "os:system", "state": {}}}), "under 'simulator.'"),
    "builtins type": (
        lambda d: d["objects"].update({"900": {"type": "builtins:object", "state": {}}}),
        "under 'simulator.'",
    ),
    "value type as record": (
        lambda d: d["objects"].update({"900": {"type": "simulator.sphere.model:Principal", "state": {}}}),
        "is a value, not a record",
    ),
    "unknown class": (
        lambda d: d["objects"].update({"900": {"type": "simulator.cloud:Nope", "state": {}}}),
        "unknown type",
    ),
    "unknown tag": (lambda d: find(d, "simulator.cloud:FakeCloud")["state"].update(seed={"$pickle": "x"}), "tag"),
    "raw list": (lambda d: find(d, "simulator.cloud:FakeCloud")["state"].update(seed=[1]), "JSON scalar or a tag"),
    "bad base64": (lambda d: find(d, "simulator.cloud:FakeCloud")["state"].update(seed={"$bytes": "!!"}), "base64"),
    "bad der": (
        lambda d: find(d, "simulator.cloud:FakeCloud")["state"].update(seed={"$x509": "AAAA"}),
        "not a DER certificate",
    ),
    "bad instant": (
        lambda d: find(d, "simulator.cloud:FakeCloud")["state"].update(seed={"$datetime": "yesterday"}),
        "ISO 8601",
    ),
    "dunder attribute": (
        lambda d: find(d, "simulator.cloud:FakeCloud")["state"].update(__class__={"$ref": "1"}),
        "attribute name",
    ),
    "missing field": (
        lambda d: find(d, "simulator.faults:FaultInjector")["state"].pop("entropy"),
        "needs field 'entropy'",
    ),
    "bad clock": (lambda d: find(d, "simulator.clock:Clock")["state"].pop("offset"), "clock state"),
    "bad entropy": (
        lambda d: find(d, "simulator.entropy:Entropy")["state"].update(random={"$tuple": [3, {"$bytes": ""}, None]}),
        "Mersenne",
    ),
    "container shape": (lambda d: d["objects"].update({"900": {"type": "dict", "items": {}}}), "a dict entry"),
    "root is not a world": (
        lambda d: d.update(root=next(k for k, o in d["objects"].items() if o["type"] == "dict")),
        "not a simulator.cloud:FakeCloud",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_DOCUMENTS))
def test_the_decoder_refuses_a_bad_document(name: str) -> None:
    change, message = BAD_DOCUMENTS[name]
    with pytest.raises(CodecError, match=message):
        load_world(mutate(small_document(), change))


def test_a_missing_field_with_a_default_takes_it() -> None:
    """A document written before a dataclass field existed still loads: the field takes its default."""
    document = mutate(
        small_document(), lambda d: find(d, "simulator.settings:DpsSettings")["state"].pop("retry_after_s")
    )
    assert load_world(document).settings.dps.retry_after_s == 3


def test_text_that_is_not_json_or_uses_nan_is_refused() -> None:
    with pytest.raises(CodecError):
        loads("{")
    with pytest.raises(CodecError):
        loads('{"x": NaN}')
    with pytest.raises(CodecError):
        loads("[]")


def test_awkward_values_round_trip() -> None:
    """Lone surrogates, non-finite floats, big ints, naive and aware instants, nested containers in values."""
    from simulator.faults import FaultEffect

    encoder = GraphEncoder()
    values = [
        "\ud800",
        float("inf"),
        float("nan"),
        2**80,
        datetime(2020, 1, 1),
        START,
        timedelta(days=-1, microseconds=5),
        (1, (2, b"\x00")),
        frozenset({"a", "b"}),
        FaultEffect(kind="latency", latency_s=0.5),
    ]
    encoded = [encoder.value(v) for v in values]
    text = json.dumps(encoded, allow_nan=False)
    decoded = [GraphDecoder({}).value(v) for v in json.loads(text)]
    assert decoded[0] == "\ud800"
    assert decoded[2] != decoded[2]  # NaN
    assert decoded[:2] + decoded[3:] == values[:2] + values[3:]


def test_type_resolution_is_by_kind() -> None:
    assert resolve("simulator.faults:FaultEffect", Kind.VALUE).__name__ == "FaultEffect"
    with pytest.raises(CodecError):
        resolve("simulator.faults:FaultEffect", Kind.RECORD)
    with pytest.raises(CodecError):
        resolve("simulator.sphere.errors:SphereError", Kind.VALUE)

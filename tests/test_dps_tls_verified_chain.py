"""DPS trusts the signatures the TLS handshake verified, and nothing else (BENCHMARKS.md, session 5).

On the served listeners (MQTT/TLS and DPS HTTPS) OpenSSL has verified the client's chain — the leaf's signature
under a CA the world knows — before DPS sees it, so DPS takes the links of OpenSSL's *verified* chain as proven and
does not check those signatures again. What stays with DPS on every path: the CN, the dates on the world's clock,
the path to a verified certificate of an enabled group of the scope, revocation. Where no handshake verified
anything (the in-process device, the HTTPS adapter's in-process chain header) DPS verifies every signature itself.

The attack the second check would catch is a *forged leaf*: the real tenant CA's name as issuer, a signature by
another key. These tests show it refused on every path: in the handshake when served, by the model in-process —
even when the caller hands the model a genuine device's verified chain, because proven links are certificates
compared by their bytes, and the forged leaf is not on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from test_dps_model import World, refused
from test_served_clock_dates import (  # noqa: F401 (fixture)
    Mqtt,
    claimed_device,
    connect_presenting,
    https_world,
    mqtt,
    register,
)

from simulator import pki
from simulator.device import private_key_pem
from simulator.dps.hub import HubError
from simulator.entropy import Entropy
from simulator.pki import checks


def forged_leaf(cloud: Any, tenant: Any, device: Any) -> tuple[Any, Any]:
    """A leaf for ``device`` naming the tenant's real CA as issuer but signed by another key, and that real CA."""
    with cloud.lock:
        now = cloud.clock.now()
        tenant_ca = tenant.active_generation(now).certificate
    impostor = pki.make_self_signed_ca(tenant_ca.subject, Entropy(11), now)
    leaf = pki.make_device_certificate(impostor, device.id, device.private_key.public_key(), Entropy(12), now)
    assert leaf.issuer == tenant_ca.subject and not pki.is_issued_by(leaf, tenant_ca)
    return leaf, tenant_ca


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    """Every signature DPS checks itself (calls of :func:`simulator.pki.checks.is_issued_by`)."""
    calls: list[tuple[Any, Any]] = []
    real = checks.is_issued_by

    def counted(cert: Any, issuer: Any) -> bool:
        calls.append((cert, issuer))
        return real(cert, issuer)

    monkeypatch.setattr(checks, "is_issued_by", counted)
    return calls


# -- the model ------------------------------------------------------------------------------------------------


def test_in_process_the_model_verifies_every_signature(signature_checks: list[tuple[Any, Any]]) -> None:
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)
    assert device.provision(app.id_scope).status == "assigned"
    leaf, tenant_ca = device.presented_chain()[:2]
    assert (leaf, tenant_ca) in signature_checks


def test_a_forged_leaf_is_refused_by_the_model_even_beside_a_genuine_verified_chain() -> None:
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    genuine = world.device(tenant)
    victim = world.device(tenant)
    leaf, tenant_ca = forged_leaf(world.cloud, tenant, victim)
    proven = genuine.presented_chain()[:2]  # what a handshake of *another* device verified

    for verified in ((), proven, [leaf]):
        refused(
            world,
            app,
            lambda verified=verified: world.dps.register(
                app.id_scope, victim.registration_id, [leaf, tenant_ca], verified_chain=verified
            ),
        )


def test_the_hub_refuses_a_forged_leaf_for_a_registered_device() -> None:
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)
    result = device.provision(app.id_scope)
    assert result.status == "assigned"
    leaf, tenant_ca = forged_leaf(world.cloud, tenant, device)
    with world.cloud.lock, pytest.raises(HubError) as caught:
        world.dps.hub.connect(
            result.assigned_hub, result.device_id, [leaf, tenant_ca], verified_chain=device.presented_chain()[:2]
        )
    assert caught.value.status == 401


def test_a_proven_link_still_needs_the_issuer_name_encoded_alike() -> None:
    """A link TLS proved answers as the full check would: OpenSSL's canonical name match is not enough."""
    world = World()
    tenant = world.tenant()
    device = world.device(tenant)
    leaf, tenant_ca = device.presented_chain()[:2]
    other = world.tenant_ca(world.tenant("Fabrikam"))
    proven = pki.proven_links([leaf, tenant_ca, other])
    assert pki.issued_by(leaf, tenant_ca, proven)
    assert not pki.issued_by(tenant_ca, other, proven)  # on the "verified" chain, but the names differ
    assert not pki.issued_by(leaf, other, proven)


# -- served ---------------------------------------------------------------------------------------------------


def test_a_served_mqtt_registration_checks_no_signature_twice(
    mqtt: Mqtt,  # noqa: F811
    signature_checks: list[tuple[Any, Any]],
) -> None:
    device = mqtt.world.device(mqtt.tenant)
    assert mqtt.provision(device).status == "assigned"  # CONNECT and register both authenticate
    with device.open_hub_over_mqtt(mqtt.server.port, mqtt.ca_pem) as hub:
        hub.send_telemetry({"temperature": 21.0})
    assert signature_checks == []


def test_a_forged_leaf_fails_the_mqtt_handshake(mqtt: Mqtt, tmp_path: Path) -> None:  # noqa: F811
    device = mqtt.world.device(mqtt.tenant)
    leaf, tenant_ca = forged_leaf(mqtt.world.cloud, mqtt.tenant, device)
    assert connect_presenting(mqtt, device, [leaf, tenant_ca], tmp_path).connack is None
    with mqtt.world.cloud.lock:
        assert not mqtt.app.devices


def test_served_https_trusts_the_handshake_and_refuses_a_forged_leaf(
    tmp_path: Path, signature_checks: list[tuple[Any, Any]]
) -> None:
    with https_world(tmp_path) as world:
        device, cert = claimed_device(world, tmp_path)
        status, body = register(world, device.id, cert)
        assert (status, body["status"]) == (200, "assigned"), body
        assert signature_checks == []

        cloud = world.cloud
        with cloud.lock:
            tenant = cloud.sphere.get_tenant(world.endpoints["sphere"]["tenant_id"])
            other = cloud.sphere.create_device()
            cloud.sphere.claim_device(tenant.id, other.id)
        victim = type(device)(cloud, other)
        leaf, tenant_ca = forged_leaf(cloud, tenant, victim)
        cert_file, key_file = tmp_path / "forged.pem", tmp_path / "forged.key"
        cert_file.write_bytes(pki.to_pem(leaf) + pki.to_pem(tenant_ca))
        key_file.write_bytes(private_key_pem(victim.private_key))
        with pytest.raises(httpx.TransportError):
            register(world, victim.id, (str(cert_file), str(key_file)))
        with cloud.lock:
            assert victim.id.lower() not in cloud.central.default_app.devices

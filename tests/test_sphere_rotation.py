"""Tenant CA rotation (acceptance 4), through the model and both wire surfaces.

Timeline of one tenant CA generation (two years), with the default settings:

    created ── … ── notAfter − 90 d: successor created (Inactive)
                    notAfter − 60 d: successor Active, this one Inactive
                    notAfter:        this one Expired

A hypothesis state machine then jumps the clock arbitrarily far, revokes and claims, and checks the invariants.
"""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from refusals import watch_services

from simulator import pki
from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.sphere.model import SphereError

START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
LEGACY = "https://prod.core.sphere.azure.net/v2"
ARM = "https://management.azure.com"


class World:
    def __init__(self, **pki_settings: object) -> None:
        self.cloud = FakeCloud(seed=3, clock=Clock(START, frozen=True), settings={"pki": pki_settings})
        self.sphere = self.cloud.sphere
        self.tenant = self.sphere.create_tenant(name="Contoso")
        self.sphere.create_user("ops@contoso.com", {self.tenant.id: ["Administrator"]})
        forever = timedelta(days=36500)  # the clock travels years; the tokens must outlive it
        self.legacy_headers = {
            "Authorization": f"Bearer {self.sphere.issue_token('ops@contoso.com', 'sphere', forever)}"
        }
        self.arm_headers = {"Authorization": f"Bearer {self.sphere.issue_token('ops@contoso.com', 'arm', forever)}"}

    @property
    def arm_base(self) -> str:
        t = self.tenant
        return (
            f"{ARM}/subscriptions/{t.subscription_id}/resourceGroups/{t.resource_group}"
            f"/providers/Microsoft.AzureSphere/catalogs/{t.catalog}"
        )

    def legacy_certificates(self) -> list[dict]:
        with self.cloud.mock():
            response = httpx.get(f"{LEGACY}/tenants/{self.tenant.id}/certificates", headers=self.legacy_headers)
        assert response.status_code == 200, response.text
        return response.json()

    def arm_certificates(self) -> list[dict]:
        with self.cloud.mock():
            response = httpx.get(
                f"{self.arm_base}/certificates", params={"api-version": "2024-04-01"}, headers=self.arm_headers
            )
        assert response.status_code == 200, response.text
        return response.json()["value"]


def test_rotation_through_both_apis() -> None:
    world = World()
    first = world.tenant.generations[0]
    expiry = first.not_after

    world.cloud.clock.set(expiry - timedelta(days=91))
    assert [c["IsActive"] for c in world.legacy_certificates()] == [True]

    world.cloud.clock.set(expiry - timedelta(days=90))  # the successor appears, Inactive
    first_, second = world.tenant.generations
    assert first_ is first and second.not_before == expiry - timedelta(days=90)
    legacy = world.legacy_certificates()
    assert [(c["Thumbprint"], c["IsActive"], c["IsRevoked"]) for c in legacy] == [
        (first.thumbprint, True, False),
        (second.thumbprint, False, False),
    ]
    assert [(c["name"], c["properties"]["status"]) for c in world.arm_certificates()] == [
        (first.serial, "Active"),
        (second.serial, "Inactive"),
    ]
    # a proof asked for by either generation is signed by that generation, over both APIs
    with world.cloud.mock():
        for generation, selector in ((first, first.thumbprint.lower()), (second, second.thumbprint)):
            response = httpx.get(
                f"{LEGACY}/tenants/{world.tenant.id}/verification/ABC123",
                params={"thumbprint": selector},
                headers=world.legacy_headers,
            )
            proof = pki.b64_to_certificate(response.json())
            assert pki.is_issued_by(proof, generation.certificate)
            assert not pki.is_signed_by(proof, (second if generation is first else first).certificate.public_key())
        for generation in (first, second):
            response = httpx.post(
                f"{world.arm_base}/certificates/{generation.serial.lower()}/retrieveProofOfPossessionNonce",
                params={"api-version": "2024-04-01"},
                json={"proofOfPossessionNonce": "DEF456"},
                headers=world.arm_headers,
            )
            assert response.status_code == 200, response.text
            assert pki.is_issued_by(pki.b64_to_certificate(response.json()["certificate"]), generation.certificate)

    world.cloud.clock.set(expiry - timedelta(days=60))  # activation
    assert [c["IsActive"] for c in world.legacy_certificates()] == [False, True]
    assert [c["properties"]["status"] for c in world.arm_certificates()] == ["Inactive", "Active"]
    device = world.sphere.create_device()
    world.sphere.claim_device(world.tenant.id, device.id)
    assert pki.is_issued_by(world.sphere.device_certificate_chain(device.id)[0], second.certificate)

    world.cloud.clock.set(expiry + timedelta(seconds=1))  # the first generation expires
    assert [c["properties"]["status"] for c in world.arm_certificates()] == ["Expired", "Active"]
    assert [c["IsActive"] for c in world.legacy_certificates()] == [False, True]
    with world.cloud.mock():
        gone = httpx.get(
            f"{LEGACY}/tenants/{world.tenant.id}/cert",
            params={"thumbprint": first.thumbprint},
            headers=world.legacy_headers,
        )
        assert gone.status_code == 404 and gone.json()[0]["ErrorCode"] == "NotFound"
        current = httpx.get(f"{LEGACY}/tenants/{world.tenant.id}/cert", headers=world.legacy_headers)
        assert pki.load_der(base64.b64decode(current.json())) == second.certificate
    with pytest.raises(SphereError) as refused:
        world.sphere.issue_proof(world.tenant.id, "LATE", first.thumbprint)
    assert refused.value.status == 404


def test_a_long_jump_rolls_every_generation() -> None:
    world = World()
    world.cloud.clock.advance(days=365 * 9)
    generations = world.tenant.generations
    now = world.cloud.clock.now()
    # a new generation every 730 − 90 = 640 days: created at day 0, 640, …, 3200; day 3285 is past the sixth's
    # activation (3230) but before the fifth's expiry (2560 + 730 = 3290)
    assert len(generations) == 6
    assert [g.status(now) for g in generations] == ["Expired"] * 4 + ["Inactive", "Active"]
    world.cloud.clock.advance(days=5)  # exactly the fifth's notAfter: still valid (RFC 5280 is inclusive)
    assert [g.status() for g in world.tenant.generations][-2:] == ["Inactive", "Active"]
    world.cloud.clock.advance(timedelta(seconds=1))
    assert [g.status() for g in world.tenant.generations][-2:] == ["Expired", "Active"]
    for older, newer in itertools.pairwise(generations):
        assert newer.not_before == older.not_after - timedelta(days=90)
        assert pki.is_issued_by(newer.certificate, world.sphere.policy.certificate)
    assert len({g.serial for g in generations}) == 6


def test_generations_stop_at_the_policy_ca_end() -> None:
    """No certificate outlives its issuer: the generation due last before the policy CA's notAfter ends with it and
    none follows (rolling used to loop for ever once the clock passed it — a 25-year jump hung the world)."""
    world = World()
    end = world.tenant.chain_end
    assert end == world.sphere.policy.certificate.not_valid_after_utc
    world.cloud.clock.advance(days=365 * 25)
    generations = world.tenant.generations
    last = generations[-1]
    assert last.not_after == end and generations[-2].not_after < end
    assert all(g.status() == "Expired" for g in generations)
    assert len(world.tenant.generations) == len(generations)  # asking again creates nothing
    with pytest.raises(SphereError):
        world.sphere.issue_proof(world.tenant.id, "CODE")
    with pytest.raises(SphereError) as refused:  # nothing usable is left to revoke, and nothing is issued
        world.sphere.revoke_generation(world.tenant.id, last.serial)
    assert refused.value.status == 409 and world.tenant.generations == generations
    assert [c["IsActive"] for c in world.legacy_certificates()] == [False] * len(generations)


def test_revoking_just_before_the_policy_ca_end_replaces_until_that_end() -> None:
    world = World()
    end = world.tenant.chain_end
    world.cloud.clock.advance(end - world.cloud.clock.now() - timedelta(days=10))
    active = next(g for g in world.tenant.generations if g.status() == "Active")
    world.sphere.revoke_generation(world.tenant.id, active.serial)
    replacement = world.tenant.generations[-1]
    assert replacement.status() == "Active" and replacement.not_after == end
    world.cloud.clock.advance(timedelta(days=11))
    assert [g.status() for g in world.tenant.generations].count("Active") == 0


def test_revoking_the_active_generation_promotes_or_replaces() -> None:
    world = World()
    first = world.tenant.generations[0]
    world.sphere.revoke_generation(world.tenant.id)
    now = world.cloud.clock.now()
    same, replacement = world.tenant.generations
    assert same is first
    assert first.status(now) == "Revoked" and replacement.status(now) == "Active"
    legacy = world.legacy_certificates()
    assert [(c["IsActive"], c["IsRevoked"]) for c in legacy] == [(False, True), (True, False)]
    with pytest.raises(SphereError):
        world.sphere.issue_proof(world.tenant.id, "CODE", first.serial)
    with pytest.raises(SphereError) as again:
        world.sphere.revoke_generation(world.tenant.id, first.serial)
    assert again.value.status == 409


class RotationMachine(RuleBasedStateMachine):
    """Clock jumps, revocations and claims in any order; the tenant always has a sound CA history."""

    @initialize(lead=st.sampled_from([90, 45]), delay=st.sampled_from([30, 10]))
    def start(self, lead: int, delay: int) -> None:
        self.world = World(successor_lead_days=lead, activation_delay_days=delay)
        watch_services(self.world.cloud, self.world.sphere)  # every refused call: the whole world unchanged
        self.claimed: list[str] = []

    @property
    def now(self) -> datetime:
        return self.world.cloud.clock.now()

    @property
    def chain_end(self) -> datetime:
        """The policy CA's notAfter: no generation outlives it, none follows it (ten jumps can pass it)."""
        return self.world.tenant.chain_end

    @rule(days=st.integers(0, 2000), seconds=st.integers(0, 86400))
    def jump(self, days: int, seconds: int) -> None:
        self.world.cloud.clock.advance(timedelta(days=days, seconds=seconds))

    @precondition(lambda self: self.now <= self.chain_end)
    @rule(newest=st.booleans())
    def revoke(self, newest: bool) -> None:
        usable = [g for g in self.world.tenant.generations if g.usable(self.now)]
        target = usable[-1] if newest else next(g for g in usable if g.status(self.now) == "Active")
        self.world.sphere.revoke_generation(self.world.tenant.id, target.thumbprint)
        assert target.status(self.now) == "Revoked"

    @rule()
    def claim(self) -> None:
        device = self.world.sphere.create_device()
        self.world.sphere.claim_device(self.world.tenant.id, device.id)
        self.claimed.append(device.id)

    @precondition(lambda self: self.claimed and self.now <= self.chain_end)
    @rule(data=st.data())
    def device_certificate(self, data: st.DataObject) -> None:
        device_id = data.draw(st.sampled_from(self.claimed))
        leaf, tenant_ca, policy, root = self.world.sphere.device_certificate_chain(device_id)
        active = [g for g in self.world.tenant.generations if g.status(self.now) == "Active"]
        assert [tenant_ca] == [g.certificate for g in active]
        assert pki.chain_to_anchor([leaf, tenant_ca, policy], [root], self.now) == root

    @invariant()
    def exactly_one_active(self) -> None:
        generations = self.world.tenant.generations
        statuses = [g.status(self.now) for g in generations]
        assert statuses.count("Active") == (1 if self.now <= self.chain_end else 0), statuses
        for generation, status in zip(generations, statuses, strict=True):
            if generation.revoked_at is not None:
                assert status == "Revoked"  # revocation outlives expiry
            elif self.now > generation.not_after:
                assert status == "Expired"

    @invariant()
    def successor_exists_in_time(self) -> None:
        newest = self.world.tenant.generations[-1]
        lead = timedelta(days=self.world.cloud.settings.pki.successor_lead_days)
        assert self.now < newest.not_after - lead or newest.revoked_at is not None or newest.not_after >= self.chain_end

    @invariant()
    def proofs_follow_status(self) -> None:
        for generation in self.world.tenant.generations[-2:]:
            if generation.usable(self.now):
                proof = self.world.sphere.issue_proof(self.world.tenant.id, "INV", generation.serial)
                assert pki.is_issued_by(proof, generation.certificate)
            else:
                with pytest.raises(SphereError):
                    self.world.sphere.issue_proof(self.world.tenant.id, "INV", generation.serial)


RotationMachine.TestCase.settings = settings(max_examples=15, stateful_step_count=10, deadline=None)
test_rotation_state_machine = RotationMachine.TestCase

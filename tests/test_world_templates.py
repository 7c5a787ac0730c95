"""World templates and clones (simulator/templates.py): a world from a template is the world made the long way, and
worlds that share a template — or a clone and its original — never see each other's changes.

Worlds are compared with the world codec (``dump_world``: every record, container, random stream position and the
clock), so "unchanged" means exactly unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from simulator import control, pki, templates
from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.state import describe_differences, dump_world

START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
SECRET = b"\x07" * 16


def world(seed: int = 5, *, fast: bool = True, secret: bytes = SECRET, **kw: Any) -> tuple[FakeCloud, Any]:
    cloud = FakeCloud(seed, clock=Clock(START, frozen=True), identity=secret, **kw)
    if fast:
        return cloud, control.ensure_defaults(cloud)
    with templates.disabled():
        return cloud, control.ensure_defaults(cloud)


def same(a: FakeCloud, b: FakeCloud | dict[str, Any]) -> None:
    left, right = dump_world(a), b if isinstance(b, dict) else dump_world(b)
    assert left == right, describe_differences(left, right)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**31),
    central=st.sampled_from([{}, {"code_reuse": True}]),
    frozen_at=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
)
def test_a_world_from_the_template_is_the_world_made_the_long_way(seed, central, frozen_at) -> None:
    def make(fast: bool) -> tuple[FakeCloud, Any]:
        cloud = FakeCloud(seed, settings={"central": central}, clock=Clock(frozen_at, frozen=True), identity=SECRET)
        if fast:
            assert templates.template_key(cloud) is not None
            return cloud, control.ensure_defaults(cloud)
        with templates.disabled():
            return cloud, control.ensure_defaults(cloud)

    (slow, slow_access), (fast, fast_access) = make(False), make(True)
    same(fast, slow)
    assert fast_access == slow_access  # the same IDs, and tokens sealed with the same secret


def test_the_templates_tokens_are_the_worlds_own() -> None:
    """Each world keeps its own secret: a token issued in one world from the template fails in another."""
    _, first_access = world(secret=b"\x01" * 16)
    second, second_access = world(secret=b"\x02" * 16)
    assert first_access.tenant.tenant_id == second_access.tenant.tenant_id  # same seed, same tenant
    url = "https://prod.core.sphere.azure.net/v2/tenants"
    with second.mock():
        mine = httpx.get(url, headers={"Authorization": f"Bearer {second_access.tenant.token}"})
        theirs = httpx.get(url, headers={"Authorization": f"Bearer {first_access.tenant.token}"})
        foreign_app = httpx.get(
            f"https://{second_access.app.subdomain}.azureiotcentral.com/api/enrollmentGroups",
            params={"api-version": "2022-07-31"},
            headers={"Authorization": first_access.app.api_token},
        )
    assert mine.status_code == 200
    assert theirs.status_code == 401
    assert foreign_app.status_code == 401


def test_a_world_that_already_drew_gets_no_template() -> None:
    """A refused request may draw from a stream before failing; such a world is made the long way."""

    def make(fast: bool) -> FakeCloud:
        cloud = FakeCloud(9, clock=Clock(START, frozen=True), identity=SECRET)
        cloud.sphere._tenant_entropy.uuid()  # what a refused create_tenant would leave behind
        if fast:
            control.ensure_defaults(cloud)
        else:
            with templates.disabled():
                control.ensure_defaults(cloud)
        return cloud

    same(make(True), make(False))


def test_only_pristine_seeded_in_memory_worlds_on_plain_clocks_take_templates(tmp_path) -> None:
    assert templates.template_key(FakeCloud(1)) is not None
    assert templates.template_key(FakeCloud(1, clock=Clock(START, frozen=True))) is not None
    assert templates.template_key(FakeCloud(None)) is None  # unseeded: nothing to share
    assert templates.template_key(FakeCloud(1, clock=Clock(START))) is None  # running, but not real time
    travelled = FakeCloud(1)
    travelled.clock.advance(days=1)
    assert templates.template_key(travelled) is None
    with FakeCloud(1, state_dir=tmp_path / "w") as persisted:
        assert templates.template_key(persisted) is None
    busy = FakeCloud(1)
    busy.faults.add({"service": "central", "effect": {"kind": "status", "status": 503}})
    assert templates.template_key(busy) is None
    with_app = FakeCloud(1)
    control.create_app(with_app, subdomain="mine")
    assert templates.template_key(with_app) is None


# -- independence ---------------------------------------------------------------------------------------------


class Independence(RuleBasedStateMachine):
    """Two worlds from one template and a clone of the first: whatever happens to one, the others do not change."""

    @initialize()
    def start(self) -> None:
        self.worlds: list[tuple[FakeCloud, Any]] = [world(), world()]
        self.worlds.append((self.worlds[0][0].clone(), self.worlds[0][1]))
        self.initial = [dump_world(cloud) for cloud, _ in self.worlds]
        self.touched: set[int] = set()

    def _act(self, index: int) -> FakeCloud:
        self.touched.add(index)
        return self.worlds[index][0]

    @rule(index=st.integers(0, 2), name=st.text("abcdef", min_size=1, max_size=8))
    def create_tenant(self, index: int, name: str) -> None:
        control.create_tenant(self._act(index), name=name, email=f"{name}@example.com")

    @rule(index=st.integers(0, 2), count=st.integers(1, 3))
    def create_and_claim_devices(self, index: int, count: int) -> None:
        access = self.worlds[index][1]
        control.create_devices(self._act(index), count, tenant_id=access.tenant.tenant_id)

    @rule(index=st.integers(0, 2))
    def enable_trust(self, index: int) -> None:
        cloud, access = self.worlds[index]
        self._act(index)
        with cloud.lock:
            tenant = cloud.sphere.get_tenant(access.tenant.tenant_id)
            ca = tenant.active_generation(cloud.clock.now()).certificate
            book = cloud.central.app_by_subdomain(access.app.subdomain).enrollment
            group = f"g{len(book.groups)}"
            book.put_group(group, {"displayName": group, "type": "iot", "attestation": {"type": "x509"}})
            try:
                book.set_entry(group, "primary", {"certificate": pki.to_b64(ca)})
            except Exception:  # a CA may belong to one group only: refused, and so nothing changed
                return
            code = book.generate_code(group, "primary")
            proof = cloud.sphere.issue_proof(tenant.id, code, pki.thumbprint(ca))
            book.verify(group, "primary", {"certificate": pki.to_b64(proof)})

    @rule(index=st.integers(0, 2), audience=st.sampled_from(["sphere", "arm"]))
    def issue_token(self, index: int, audience: str) -> None:
        control.issue_token(self._act(index), control.DEFAULT_USER_EMAIL, audience)

    @rule(index=st.integers(0, 2), hours=st.integers(1, 48))
    def travel(self, index: int, hours: int) -> None:
        control.travel(self._act(index), advance=f"{hours}h")

    @rule(index=st.integers(0, 2))
    def add_a_fault_rule(self, index: int) -> None:
        self._act(index).faults.add({"service": "dps", "effect": {"kind": "status", "status": 503}, "count": 1})

    @rule(index=st.integers(0, 2), subdomain=st.text("xyz", min_size=3, max_size=6))
    def create_app(self, index: int, subdomain: str) -> None:
        cloud = self._act(index)
        if subdomain not in cloud.central.apps:
            control.create_app(cloud, subdomain=subdomain)

    @invariant()
    def the_others_are_as_they_were(self) -> None:
        for index, (cloud, _) in enumerate(self.worlds):
            if index not in self.touched:
                same(cloud, self.initial[index])

    def teardown(self) -> None:
        fresh, _ = world()  # the template itself never changed either
        same(fresh, self.initial[1])


TestIndependence = Independence.TestCase
TestIndependence.settings = settings(
    max_examples=12, stateful_step_count=8, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def test_a_clone_is_its_original_until_either_changes() -> None:
    original, access = world(seed=3)
    control.create_devices(original, 2, tenant_id=access.tenant.tenant_id)
    copy = original.clone()
    same(copy, original)
    assert copy.identity == original.identity
    before = dump_world(original)
    control.create_devices(copy, 1, tenant_id=access.tenant.tenant_id)
    copy.clock.advance(days=3)
    same(original, before)
    assert len(copy.sphere.devices) == len(original.sphere.devices) + 1
    assert copy.lock is not original.lock and copy.clock is not original.clock


def test_a_clones_random_streams_start_where_the_originals_stood() -> None:
    original, _ = world(seed=4)
    copy = original.clone()
    assert isinstance(copy.sphere._device_entropy._random, templates.CopiedRandom)  # not built until used
    assert [copy.sphere._device_entropy.hex(8) for _ in range(3)] == [
        original.sphere._device_entropy.hex(8) for _ in range(3)
    ]
    assert not isinstance(copy.sphere._device_entropy._random, templates.CopiedRandom)


def test_a_clone_shares_certificates_and_keys_and_copies_everything_mutable() -> None:
    original, access = world(seed=6)
    copy = original.clone()
    tenant, copied = (
        original.sphere.get_tenant(access.tenant.tenant_id),
        copy.sphere.get_tenant(access.tenant.tenant_id),
    )
    assert copied is not tenant and copied.generations is not tenant.generations
    assert copied.generations[0].certificate is tenant.generations[0].certificate
    assert copy.dps.sphere is copy.sphere and copy.dps.central is copy.central


def test_clone_refuses_what_is_not_world_state() -> None:
    with pytest.raises(TypeError, match="not world state"):
        templates.clone({"socket": httpx.Client})

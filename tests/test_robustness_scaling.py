"""Cost per request independent of the world's size (issue 16, reproductions 1 and 7), shown as facts, not timings.

* the served listeners' trust (:class:`simulator.dps.mqtt.WorldTrust`) reads only the CAs that are new since its
  last handshake — never the whole world per connection;
* a DPS registration checks only the enrollment entries its chain could reach, however many groups the app has;
* the indexes behind those (and behind catalog, application and hub look-ups) always agree with a brute-force
  scan of the models, through every change a hypothesis state machine makes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from test_dps_model import World, enroll_certificate, register

import simulator.pki.checks as checks
from simulator import pki
from simulator.central.errors import CentralError
from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.dps.mqtt import WorldTrust, prepare_server_context
from simulator.entropy import Entropy
from simulator.tls import local_tls

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _trust(cloud: FakeCloud) -> WorldTrust:
    return WorldTrust(cloud, prepare_server_context(local_tls().server_context()))


def test_world_trust_loads_only_what_is_new_and_never_walks_the_world_again(monkeypatch: pytest.MonkeyPatch) -> None:
    cloud = FakeCloud(seed=3, clock=Clock(NOW, frozen=True))
    tenants = [cloud.sphere.create_tenant(name=f"t{i}") for i in range(20)]
    app = cloud.central.create_app(subdomain="contoso")
    trust = _trust(cloud)
    assert trust.sync() == 20  # the first sync reads the world once
    assert trust.sync() == 0

    def no_walk(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the trust walked the world again")

    monkeypatch.setattr(type(tenants[0]), "generations", property(no_walk))
    monkeypatch.setattr(type(app), "known_cas", no_walk)
    cloud.sphere.create_tenant(name="new")
    forged = pki.make_self_signed_ca(pki.cn_name("uploaded"), Entropy(1), NOW).certificate
    enroll_certificate(cloud, app, forged, verify=False)
    assert trust.sync() == 2  # one new tenant CA, one uploaded certificate
    assert trust.sync() == 0


def test_world_trust_starts_over_when_the_world_is_reset() -> None:
    cloud = FakeCloud(seed=3, clock=Clock(NOW, frozen=True))
    cloud.sphere.create_tenant(name="before")
    trust = _trust(cloud)
    trust.sync()
    cloud.reset()
    tenant = cloud.sphere.create_tenant(name="after")
    trust.sync()
    assert tenant.generations[0].certificate in trust.loaded


def _registration_checks(groups: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many issuer checks one registration makes in an app with ``groups`` verified groups."""
    world = World()
    tenant, app = world.tenant(), world.app()
    for index in range(groups - 1):  # other tenants' CAs, each verified in a group of its own
        other = world.tenant(f"other{index}")
        world.enroll(app, other, group_id=f"g{index}")
    world.enroll(app, tenant)
    device = world.device(tenant)
    calls = 0
    original = checks.is_issued_by

    def counting(cert: Any, issuer: Any) -> bool:
        nonlocal calls
        calls += 1
        return original(cert, issuer)

    monkeypatch.setattr(checks, "is_issued_by", counting)
    assert register(world, app, device).status == "assigning"
    return calls


def test_a_registration_checks_the_same_anchors_whatever_the_number_of_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _registration_checks(1, monkeypatch) == _registration_checks(12, monkeypatch)


# -- the indexes agree with a brute-force scan, through any sequence of changes -----------------------------------

_CAS = [pki.make_self_signed_ca(pki.cn_name(f"CA {i % 3}"), Entropy(i), NOW) for i in range(5)]  # shared subjects
_GROUPS = ["g0", "g1", "g2"]


class IndexesAgree(RuleBasedStateMachine):
    """Groups and entries come and go; the thumbprint and subject indexes of the enrollment book, the catalog and
    application indexes must answer what a scan of the models answers."""

    def __init__(self) -> None:
        super().__init__()
        self.cloud = FakeCloud(seed=9, clock=Clock(NOW, frozen=True))
        self.app = self.cloud.central.create_app(subdomain="contoso")
        self.book = self.app.enrollment
        self.tenants: list[Any] = []

    @rule(group=st.sampled_from(_GROUPS))
    def put_group(self, group: str) -> None:
        self.book.put_group(group, {"displayName": group, "type": "iot", "attestation": {"type": "x509"}})

    @rule(group=st.sampled_from(_GROUPS))
    def delete_group(self, group: str) -> None:
        if group in self.book.groups:
            self.book.delete_group(group)

    @rule(group=st.sampled_from(_GROUPS), entry=st.sampled_from(["primary", "secondary"]), ca=st.sampled_from(_CAS))
    def upload(self, group: str, entry: str, ca: Any) -> None:
        if group not in self.book.groups:
            return
        body = {"certificate": pki.to_b64(ca.certificate), "verified": True}
        expected_conflict = any(
            found.thumbprint == pki.thumbprint(ca.certificate) and (g.id, name) != (group, entry)
            for g in self.book.groups.values()
            for name, found in g.entries.items()
        )
        try:
            self.book.set_entry(group, entry, body)
            assert not expected_conflict
        except CentralError as exc:
            assert exc.status == 409 and expected_conflict

    @rule(group=st.sampled_from(_GROUPS), entry=st.sampled_from(["primary", "secondary"]))
    def remove(self, group: str, entry: str) -> None:
        if group in self.book.groups and entry in self.book.groups[group].entries:
            self.book.remove_entry(group, entry)

    @rule(name=st.sampled_from(["a", "b", "c"]))
    def tenant(self, name: str) -> None:
        try:
            self.tenants.append(self.cloud.sphere.create_tenant(name=name, subscription_id=None))
        except Exception:
            pass

    @rule(data=st.data())
    def delete_tenant(self, data: st.DataObject) -> None:
        if self.tenants:
            tenant = data.draw(st.sampled_from(self.tenants))
            if tenant.id in self.cloud.sphere.tenants:
                self.cloud.sphere.delete_catalog(tenant.id)

    @invariant()
    def anchors_agree(self) -> None:
        every = self.book.trust_anchors()
        for ca in _CAS:
            leaf_issuer = [ca.certificate]  # a chain whose certificates name this CA's subject as issuer
            found = [(a.group.id, a.entry.name) for a in self.book.trust_anchors_for(leaf_issuer)]
            subject = pki.subject_der(ca.certificate)
            expected = [(a.group.id, a.entry.name) for a in every if pki.subject_der(a.certificate) == subject]
            assert found == expected

    @invariant()
    def catalogs_agree(self) -> None:
        sphere = self.cloud.sphere
        for tenant in list(sphere.tenants.values()):
            assert sphere.catalog(tenant.subscription_id.upper(), tenant.resource_group, tenant.catalog) is tenant
            listed = sphere.catalogs(tenant.subscription_id)
            assert listed == [t for t in sphere.tenants.values() if t.subscription_id == tenant.subscription_id]
        assert self.cloud.central.app_by_scope(self.app.id_scope.lower()) is self.app


TestIndexesAgree = IndexesAgree.TestCase
TestIndexesAgree.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)

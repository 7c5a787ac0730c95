"""Claiming as a lifecycle: a hypothesis state machine over claims, bulk claims, clock steps and
both conflict modes, checked against a plain-Python expectation of who owns which device.

Invariants: a device belongs to at most one tenant and never moves; a claim takes effect exactly when its
operation completes; every refused request leaves the model's snapshot unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule
from refusals import watch_services

from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.sphere.model import SphereError

START = datetime(2026, 11, 29, tzinfo=UTC)


class ClaimMachine(RuleBasedStateMachine):
    devices = Bundle("devices")

    @initialize(mode=st.sampled_from(["sync", "async"]), delay=st.sampled_from([0, 30]))
    def start(self, mode: str, delay: int) -> None:
        settings_ = {"sphere": {"claim_conflict_mode": mode, "claim_delay_s": delay}}
        self.cloud = FakeCloud(seed=2, clock=Clock(START, frozen=True), settings=settings_)
        self.sphere = self.cloud.sphere
        watch_services(self.cloud, self.sphere)  # every refused call: the whole world unchanged (tests/refusals.py)
        self.mode = mode
        self.tenants = [self.sphere.create_tenant().id for _ in range(2)]
        self.owner: dict[str, str] = {}  # device -> tenant, once the claim has taken effect
        self.pending: dict[str, tuple[str, datetime]] = {}  # device -> (tenant, takes effect at)
        self.operations: list = []

    def _settle_expectation(self) -> None:
        now = self.cloud.clock.now()
        for device, (tenant, at) in list(self.pending.items()):
            if now >= at:
                self.owner[device] = tenant
                del self.pending[device]

    @rule(target=devices)
    def new_device(self) -> str:
        return self.sphere.create_device().id

    @rule(devices=st.lists(devices, min_size=1, max_size=4), tenant=st.integers(0, 1), upper=st.booleans())
    def claim(self, devices: list[str], tenant: int, upper: bool) -> None:
        tenant_id = self.tenants[tenant]
        ids = [d.upper() if upper else d for d in devices]
        taken = [d for d in devices if d in self.owner or d in self.pending]
        before = self.sphere.snapshot()
        duplicate = len(set(devices)) != len(devices)
        try:
            operation = self.sphere.claim_devices(tenant_id, ids)
        except SphereError as error:
            assert self.sphere.snapshot() == before
            if duplicate:
                assert error.status == 400
            else:
                assert self.mode == "sync" and taken and error.status == 409
            return
        assert not duplicate
        assert self.mode == "async" or not taken
        at = operation.completes_at
        for device in devices:
            if device not in taken:
                self.pending[device] = (tenant_id, at)
        self.operations.append((operation, set(taken)))
        self._settle_expectation()

    @rule(seconds=st.sampled_from([0, 10, 30, 3600]))
    def tick(self, seconds: int) -> None:
        self.cloud.clock.advance(timedelta(seconds=seconds))
        self._settle_expectation()

    @rule(bad=st.sampled_from(["short", "a!" * 64, "z" * 129, "f" * 128, "z" * 128]))
    def claim_invalid(self, bad: str) -> None:
        before = self.sphere.snapshot()
        try:
            self.sphere.claim_device(self.tenants[0], bad)
        except SphereError as error:
            # 128 of [A-Za-z0-9-] is a well-formed ID, unknown to the world: 404; anything else 400
            assert error.status == (404 if len(bad) == 128 and bad.isalnum() else 400)
        else:
            raise AssertionError("an invalid or unknown device was claimed")
        assert self.sphere.snapshot() == before

    @invariant()
    def ownership_matches(self) -> None:
        if not hasattr(self, "sphere"):
            return
        for device, record in self.sphere.devices.items():
            expected = self.owner.get(device)
            assert self.sphere.get_device(device).tenant_id == expected, (device, record.tenant_id, expected)
        for tenant in self.tenants:
            listed = {r.id for r in self.sphere.list_devices(tenant)}
            assert listed == {d for d, t in self.owner.items() if t == tenant}

    @invariant()
    def operations_report_their_conflicts(self) -> None:
        if not hasattr(self, "sphere"):
            return
        now = self.cloud.clock.now()
        for operation, taken in self.operations:
            state = operation.state(now)
            if not operation.done(now):
                assert state == 1
            elif not taken:
                assert state == 2
            else:
                assert state == (3 if len(taken) == len(operation.device_ids) else 4)
                assert operation.error is not None and operation.error.operation_code == 7


ClaimMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=15, deadline=None)
test_claim_state_machine = ClaimMachine.TestCase

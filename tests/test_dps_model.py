"""DPS registration model: every acceptance and rejection rule, on the world's clock, with nothing created on failure.

The world is real: Sphere tenants issue device certificates, IoT Central holds the enrollment group whose tenant CA
is (or is not yet) verified by proof of possession. :class:`World` keeps the arranging short; other DPS and device
test modules import it from here.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from refusals import watch_services

from simulator import pki
from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.device import SimulatedDevice
from simulator.dps.model import DpsError


class World:
    """A fake cloud plus shortcuts: tenants, apps, enrollment groups trusting a tenant CA, claimed devices."""

    def __init__(self, *, frozen: bool = True, seed: int = 7, **dps_settings: Any) -> None:
        self.cloud = FakeCloud(seed=seed, settings={"dps": dps_settings}, clock=Clock(frozen=frozen))

    @property
    def dps(self) -> Any:
        return self.cloud.dps

    def tenant(self, name: str = "Contoso") -> Any:
        return self.cloud.sphere.create_tenant(name=name)

    def app(self, subdomain: str = "contoso", **kwargs: Any) -> Any:
        return self.cloud.central.create_app(subdomain=subdomain, **kwargs)

    def tenant_ca(self, tenant: Any) -> Any:
        """The tenant's active CA certificate (what `azsphere ca-certificate download` gives)."""
        now = self.cloud.clock.now()
        return next(g for g in tenant.generations if g.status(now) == "Active").certificate

    def enroll(self, app: Any, tenant: Any, *, verify: bool = True, group_id: str = "sphere") -> Any:
        """Create an X.509 enrollment group holding the tenant CA; verify it by proof of possession."""
        return enroll_certificate(
            self.cloud, app, self.tenant_ca(tenant), tenant=tenant, verify=verify, group_id=group_id
        )

    def device(self, tenant: Any | None = None) -> SimulatedDevice:
        identity = self.cloud.sphere.create_device()
        if tenant is not None:
            self.cloud.sphere.claim_device(tenant.id, identity.id)
        return SimulatedDevice(self.cloud, identity)

    def central_device(self, app: Any, device_id: str) -> Any:
        return central_device(app, device_id)


def enroll_certificate(
    cloud: Any, app: Any, certificate: Any, *, tenant: Any = None, verify: bool = True, group_id: str = "sphere"
) -> Any:
    """Group + primary certificate entry; with ``verify``, generate a code and verify a Sphere-signed proof."""
    book = enrollment_book(app)
    book.put_group(group_id, {"displayName": group_id, "type": "iot", "attestation": {"type": "x509"}})
    book.set_entry(group_id, "primary", {"certificate": pki.to_b64(certificate)})
    if verify:
        verify_entry(cloud, app, tenant, group_id)
    return group_id


def enrollment_book(app: Any) -> Any:
    """The app's enrollment groups and certificate entries (IoT Central's enrollment-group operations)."""
    return app.enrollment


def verify_entry(cloud: Any, app: Any, tenant: Any, group_id: str = "sphere") -> None:
    """Proof of possession: IoT Central's code, signed by the Sphere security service with the tenant CA."""
    book = enrollment_book(app)
    code = book.generate_code(group_id, "primary")
    certificate = book.get_entry(group_id, "primary").certificate
    proof = cloud.sphere.issue_proof(tenant.id, code, pki.thumbprint(certificate))
    book.verify(group_id, "primary", {"certificate": pki.to_b64(proof)})


def set_group_enabled(app: Any, group_id: str, enabled: bool) -> None:
    enrollment_book(app).patch_group(group_id, {"enabled": enabled})


def central_device(app: Any, device_id: str) -> Any:
    """IoT Central's record of a device, or None."""
    return app.devices.get(device_id.lower())


def snapshot(world: World, app: Any) -> tuple[Any, ...]:
    """Everything a registration could change: DPS records and IoT Central's device list."""
    dps = world.dps
    return (
        dict(dps.registrations),
        dict(dps.operations),
        {k: (v.tokens, v.updated) for k, v in dps._buckets.items()},
        sorted(app.devices),
    )


def register(world: World, app: Any, device: SimulatedDevice, **kwargs: Any) -> Any:
    with world.cloud.lock:
        return world.dps.register(app.id_scope, device.registration_id, device.presented_chain(), **kwargs)


def refused(world: World, app: Any, call: Any, status: int = 401, code: int = 401002) -> DpsError:
    """Run ``call``; it must raise the DPS error and leave every state exactly as it was.

    Operations already due complete first: that is time passing, not the refused request.
    """
    world.dps.settle()
    before = snapshot(world, app)
    with pytest.raises(DpsError) as caught:
        call()
    assert (caught.value.status, caught.value.error_code) == (status, code)
    assert snapshot(world, app) == before
    return caught.value


# -- acceptance -------------------------------------------------------------------------------------------------


def test_a_claimed_device_of_a_verified_tenant_is_assigning_then_assigned_with_every_sdk_field() -> None:
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)

    operation = register(world, app, device, payload={"modelId": "dtmi:contoso:unknown;1"})
    assert operation.to_json() == {"operationId": operation.operation_id, "status": "assigning"}
    assert re.fullmatch(r"5\.[0-9a-f]{16}\.[0-9a-f-]{36}", operation.operation_id)

    done = world.dps.operation_status(app.id_scope, device.registration_id, operation.operation_id)
    body = done.to_json()
    assert body["status"] == "assigned"
    state = body["registrationState"]
    assert state["deviceId"] == device.id.lower() == state["registrationId"]
    assert state["assignedHub"] == app.hub_host  # dps.assigned_hub_host "model"
    assert state["substatus"] == "initialAssignment"
    assert state["status"] == "assigned"
    assert state["x509"]["enrollmentGroupId"] == "sphere"
    assert state["x509"]["certificateInfo"]["sha1Thumbprint"] == pki.thumbprint(device.certificate_chain()[0])
    assert state["x509"]["signingCertificateInfo"]["sha1Thumbprint"] == pki.thumbprint(world.tenant_ca(tenant))
    for key in ("createdDateTimeUtc", "lastUpdatedDateTimeUtc"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", state[key])
    assert state["etag"]

    central = world.central_device(app, device.id.lower())
    assert central is not None
    assert central.provisioned is True
    assert central.enabled is True  # auto-approve on (``central.auto_approve``)
    assert getattr(central, "template", None) in (None, "")  # unknown model ID: unassigned


def test_registration_ids_are_case_insensitive_and_the_device_id_is_lower_cased() -> None:
    world = World()
    world.cloud.settings.pki.device_cn_case = "upper"  # 'upper': IoT Central lower-cases the ID
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)
    assert device.registration_id == device.id.upper()
    result = device.provision(app.id_scope)
    assert result.status == "assigned"
    assert result.device_id == device.id.lower()


@pytest.mark.parametrize("present", ["leaf", "leaf+tenant", "full"])
def test_chains_with_or_without_the_verified_ca_and_the_sphere_roots_are_accepted(present: str) -> None:
    world = World(present_chain=present)
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    assert world.device(tenant).provision(app.id_scope).status == "assigned"


# -- rejection rules ------------------------------------------------------------------------------------------


def test_wrong_common_name_is_refused_and_creates_nothing() -> None:
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device, other = world.device(tenant), world.device(tenant)
    chain = device.presented_chain()
    error = refused(world, app, lambda: world.dps.register(app.id_scope, other.registration_id, chain))
    assert "common name" in error.message


def test_an_expired_device_certificate_is_refused_on_the_fake_clock() -> None:
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)
    stale = device.presented_chain()
    world.cloud.clock.advance(hours=25)  # the 24 h certificate has expired (``dps.tls_validity_clock``)
    error = refused(world, app, lambda: world.dps.register(app.id_scope, device.registration_id, stale))
    assert "not valid" in error.message
    assert device.provision(app.id_scope).status == "assigned"  # the device renews its certificate and gets in


def test_a_device_of_another_tenant_is_refused() -> None:
    world = World()
    ours, theirs, app = world.tenant("Contoso"), world.tenant("Fabrikam"), world.app()
    world.enroll(app, ours)
    stranger = world.device(theirs)
    refused(world, app, lambda: register(world, app, stranger))
    result = stranger.provision(app.id_scope)
    assert (result.status, result.error_code) == ("failed", 401002)  # in-process form of the refusal


def test_a_verified_but_disabled_group_blocks_its_devices() -> None:
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    set_group_enabled(app, "sphere", False)
    device = world.device(tenant)
    error = refused(world, app, lambda: register(world, app, device))
    assert "disabled" in error.message
    set_group_enabled(app, "sphere", True)
    assert device.provision(app.id_scope).status == "assigned"


def test_before_verification_refused_after_verification_accepted() -> None:
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant, verify=False)
    device = world.device(tenant)
    refused(world, app, lambda: register(world, app, device))
    verify_entry(world.cloud, app, tenant)
    assert device.provision(app.id_scope).status == "assigned"


def test_a_forged_ca_with_the_tenant_ca_subject_does_not_admit_its_devices() -> None:
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    real = world.device(tenant)
    forged = pki.make_self_signed_ca(
        world.tenant_ca(tenant).subject, world.cloud.entropy.fork("forger"), world.cloud.clock.now()
    )
    leaf = pki.make_device_certificate(
        forged, real.id, real.private_key.public_key(), world.cloud.entropy.fork("f2"), world.cloud.clock.now()
    )
    refused(world, app, lambda: world.dps.register(app.id_scope, real.registration_id, [leaf, forged.certificate]))


def test_unknown_scope_empty_chain_and_bad_registration_ids() -> None:
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)
    chain = device.presented_chain()
    refused(world, app, lambda: world.dps.register("0ne00000000", device.registration_id, chain))
    refused(world, app, lambda: world.dps.register(app.id_scope, device.registration_id, []))
    for bad in ("", "ends-with.", "x" * 129, "spaces are bad"):
        refused(world, app, lambda bad=bad: world.dps.register(app.id_scope, bad, chain), 400, 400004)
    refused(world, app, lambda: register(world, app, device, payload=["not", "an", "object"]), 400, 400004)


def test_the_64_character_cn_bound_is_enforced_only_when_asked() -> None:
    world = World(enforce_cn_64=True)
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    refused(world, app, lambda: register(world, app, world.device(tenant)))


def test_throttling_answers_429_with_retry_after_then_admits_after_the_window() -> None:
    world = World(registrations_per_second=1, throttle_retry_after_s=2)
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    first, second = world.device(tenant), world.device(tenant)
    register(world, app, first)
    error = refused(world, app, lambda: register(world, app, second), 429, 429001)
    assert error.retry_after == 2
    world.cloud.clock.advance(seconds=1)
    assert register(world, app, second).status == "assigning"


def test_error_codes_can_be_overridden_by_settings() -> None:
    world = World(error_codes={"unauthorized": 401999})
    tenant, app = world.tenant(), world.app()
    stranger = world.device(world.tenant("Other"))
    refused(world, app, lambda: register(world, app, stranger), 401, 401999)
    del tenant


def test_assignment_waits_for_the_delay_on_the_clock() -> None:
    world = World(assignment_delay_s=30)
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)
    result = device.provision(app.id_scope)
    assert result.status == "assigning"
    assert world.central_device(app, device.id.lower()) is None
    world.cloud.clock.advance(seconds=30)
    assert device.poll().status == "assigned"
    assert world.central_device(app, device.id.lower()) is not None


@pytest.mark.parametrize(
    ("mode", "served", "expected"), [("served", "localhost", "localhost"), ("hub.example", None, "hub.example")]
)
def test_assigned_hub_follows_the_c13_setting(mode: str, served: str | None, expected: str) -> None:
    world = World(assigned_hub_host=mode)
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)
    operation = register(world, app, device, served_host=served)
    done = world.dps.operation_status(app.id_scope, device.registration_id, operation.operation_id)
    assert done.registration.assigned_hub == expected


def test_unknown_operation_ids_are_404() -> None:
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)
    refused(world, app, lambda: world.dps.operation_status(app.id_scope, device.registration_id, "5.x.y"), 404, 404001)


def test_re_registration_keeps_created_time_and_changes_etag() -> None:
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)
    first = device.provision(app.id_scope).registration_state
    world.cloud.clock.advance(minutes=5)
    second = device.provision(app.id_scope).registration_state
    assert second["createdDateTimeUtc"] == first["createdDateTimeUtc"]
    assert second["lastUpdatedDateTimeUtc"] != first["lastUpdatedDateTimeUtc"]
    assert second["etag"] != first["etag"]
    assert second["substatus"] == "initialAssignment"


# -- lifecycle property ---------------------------------------------------------------------------------------


class RegistrationLifecycle(RuleBasedStateMachine):
    """Whatever the order of verify / disable / enable / clock travel / registrations, a device is admitted
    exactly when its tenant CA is verified in an enabled group and its certificate is current — and a refusal
    never changes DPS or IoT Central state."""

    def __init__(self) -> None:
        super().__init__()
        self.world = World(seed=11)
        cloud = self.world.cloud
        watch_services(cloud, cloud.dps, cloud.dps.hub, cloud.central, cloud.sphere)  # refusals change nothing at all
        self.ours, self.theirs = self.world.tenant("Ours"), self.world.tenant("Theirs")
        self.app = self.world.app()
        self.world.enroll(self.app, self.ours, verify=False)
        self.verified = False
        self.enabled = True
        self.devices = [self.world.device(self.ours), self.world.device(self.ours), self.world.device(self.theirs)]
        self.admitted: set[str] = set()

    @rule()
    def verify(self) -> None:
        if not self.verified:
            verify_entry(self.world.cloud, self.app, self.ours)
            self.verified = True

    @rule(enabled=st.booleans())
    def toggle_group(self, enabled: bool) -> None:
        set_group_enabled(self.app, "sphere", enabled)
        self.enabled = enabled

    @rule(hours=st.sampled_from([1, 12, 30]))
    def travel(self, hours: int) -> None:
        self.world.cloud.clock.advance(hours=hours)

    @rule(index=st.integers(0, 2), fresh=st.booleans())
    def register(self, index: int, fresh: bool) -> None:
        device = self.devices[index]
        chain = device.presented_chain() if fresh else (device._chain or device.certificate_chain())[:2]
        now = self.world.cloud.clock.now()
        should = self.verified and self.enabled and index < 2 and pki.is_valid_at(chain[0], now)
        before = snapshot(self.world, self.app)
        try:
            with self.world.cloud.lock:
                operation = self.world.dps.register(self.app.id_scope, device.registration_id, chain)
                self.world.dps.operation_status(self.app.id_scope, device.registration_id, operation.operation_id)
        except DpsError:
            assert not should
            assert snapshot(self.world, self.app) == before
        else:
            assert should
            self.admitted.add(device.id.lower())

    @invariant()
    def only_admitted_devices_exist(self) -> None:
        assert set(self.app.devices) == self.admitted
        assert {r.device_id for r in self.world.dps.registrations.values()} == self.admitted


TestRegistrationLifecycle = RegistrationLifecycle.TestCase
TestRegistrationLifecycle.settings = settings(
    max_examples=15, stateful_step_count=12, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def test_after_tenant_ca_rotation_devices_need_the_successor_verified_too() -> None:
    """Across a rotation, device certificates come from the Active generation; DPS admits them only through a
    verified entry."""
    world = World()
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)
    assert device.provision(app.id_scope).status == "assigned"
    old = world.tenant_ca(tenant)
    world.cloud.clock.set(old.not_valid_after_utc - timedelta(days=59))  # successor Active, predecessor Inactive
    successor = world.tenant_ca(tenant)
    assert successor != old
    result = device.provision(app.id_scope)  # renewed certificate, issued by the successor
    assert (result.status, result.error_code) == ("failed", 401002)
    book = enrollment_book(app)
    book.set_entry("sphere", "secondary", {"certificate": pki.to_b64(successor)})
    code = book.generate_code("sphere", "secondary")
    proof = world.cloud.sphere.issue_proof(tenant.id, code, pki.thumbprint(successor))
    book.verify("sphere", "secondary", {"certificate": pki.to_b64(proof)})
    assert device.provision(app.id_scope).status == "assigned"


@settings(max_examples=60, deadline=None)
@given(
    registration_id=st.one_of(st.text(max_size=140), st.sampled_from(["<self>", "<SELF>"])),
    payload=st.one_of(st.none(), st.dictionaries(st.text(max_size=8), st.integers(), max_size=3), st.integers()),
)
def test_any_registration_id_or_payload_is_admitted_or_refused_cleanly(registration_id: str, payload: Any) -> None:
    """For arbitrary input DPS either refuses with its own error (state untouched) or — only for the device's
    own ID, in any letter case — admits the registration."""
    world = _shared_world()
    app, device = world.shared_app, world.shared_device
    chain = device.presented_chain()
    if registration_id in ("<self>", "<SELF>"):
        own = device.registration_id
        registration_id = own.upper() if registration_id == "<SELF>" else own.lower()
    world.dps.settle()
    before = snapshot(world, app)
    try:
        with world.cloud.lock:
            world.dps.register(app.id_scope, registration_id, chain, payload)
    except DpsError as error:
        assert error.status in (400, 401) and len(str(error.error_code)) == 6
        assert snapshot(world, app) == before
    else:
        assert registration_id.lower() == device.registration_id.lower()
        assert payload is None or isinstance(payload, dict)


_WORLD: list[World] = []


def _shared_world() -> World:
    """One enrolled world for the property test above (building PKI per example would be slow)."""
    if not _WORLD:
        world = World(seed=5)
        tenant, app = world.tenant(), world.app()
        world.enroll(app, tenant)
        world.shared_app, world.shared_device = app, world.device(tenant)  # type: ignore[attr-defined]
        _WORLD.append(world)
    return _WORLD[0]

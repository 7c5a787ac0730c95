"""A simulated device's daily certificate: kept, expired, renewed — and renewed across a tenant CA rotation.

A Sphere device certificate lives 24 hours and is issued by the tenant CA generation that is
Active at that moment. :meth:`SimulatedDevice.certificate_chain` renews an expired one;
``renew=False`` keeps presenting the cached one, which DPS must then refuse on the world's clock.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dps_model import World, enrollment_book

from simulator import pki

DAY = timedelta(days=1)


def trusted_world(**dps: object) -> tuple[World, object, object]:
    world = World(**dps)
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    return world, tenant, app


def test_the_cached_certificate_is_kept_until_it_expires_then_renewed() -> None:
    world, tenant, _ = trusted_world()
    device = world.device(tenant)
    first = device.certificate_chain()[0]
    assert device.cached_chain is not None and device.cached_chain[0] is first
    assert first.not_valid_after_utc - first.not_valid_before_utc == DAY

    world.cloud.clock.advance(hours=23)
    assert device.certificate_chain()[0] is first  # still valid: a device does not renew early
    assert device.certificate_valid()

    world.cloud.clock.advance(hours=2)
    assert not device.certificate_valid()
    assert device.certificate_chain(renew=False)[0] is first  # offline device: still holds yesterday's
    renewed = device.certificate_chain()[0]
    assert renewed is not first
    assert renewed.serial_number != first.serial_number
    assert renewed.subject == first.subject  # CN = the device ID, unchanged
    assert renewed.public_key() == first.public_key()  # the chip's own key never changes
    assert renewed.not_valid_before_utc == world.cloud.clock.now().replace(microsecond=0)  # X.509: whole seconds
    assert device.certificate_valid()


def test_renew_certificate_always_fetches_a_new_one() -> None:
    world, tenant, _ = trusted_world()
    device = world.device(tenant)
    first = device.certificate_chain()[0]
    fresh = device.renew_certificate()[0]
    assert fresh.serial_number != first.serial_number
    assert device.certificate_chain(renew=False)[0] is fresh


def test_an_expired_certificate_is_refused_and_changes_nothing_then_the_renewed_one_is_the_same_device() -> None:
    world, tenant, app = trusted_world()
    device = world.device(tenant)
    first = device.provision(app.id_scope)
    assert first.status == "assigned"
    before = [d.id for d in app.devices.values()]

    world.cloud.clock.advance(hours=25)
    refused = device.provision(app.id_scope, renew=False)
    assert (refused.status, refused.error_code) == ("failed", 401002)
    assert "device certificate is not valid at" in (refused.error_message or "")
    assert [d.id for d in app.devices.values()] == before

    again = device.provision(app.id_scope)
    assert again.status == "assigned"
    assert again.device_id == first.device_id
    assert [d.id for d in app.devices.values()] == before  # one record, updated in place


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offline=st.integers(min_value=0, max_value=48 * 60))
def test_without_renewal_a_device_is_admitted_exactly_while_its_certificate_is_valid(offline: int) -> None:
    world, tenant, app = trusted_world()
    device = world.device(tenant)
    leaf = device.certificate_chain()[0]
    world.cloud.clock.advance(minutes=offline)

    stale = device.provision(app.id_scope, renew=False)
    assert (stale.status == "assigned") == pki.is_valid_at(leaf, world.cloud.clock.now())
    assert (stale.status == "assigned") == (offline <= 24 * 60)
    assert device.provision(app.id_scope).status == "assigned"  # renewed, always admitted


# -- across a tenant CA rotation ---------------------------------------------------------------------------------


def rotate_trust(world: World, tenant: object, app: object) -> object:
    """Day 641: upload the successor as the secondary entry and verify it with a proof signed by its own key."""
    world.cloud.clock.advance(days=641)
    successor = tenant.generations[1]
    assert successor.status() == "Inactive"
    book = enrollment_book(app)
    book.set_entry("sphere", "secondary", {"certificate": pki.to_b64(successor.certificate)})
    code = book.generate_code("sphere", "secondary")
    proof = world.cloud.sphere.issue_proof(tenant.id, code, successor.thumbprint)
    book.verify("sphere", "secondary", {"certificate": pki.to_b64(proof)})
    return successor


def test_the_secondary_entry_needs_a_proof_signed_by_the_successor_not_the_active_ca() -> None:
    from simulator.central.errors import CentralError

    world, tenant, app = trusted_world()
    world.cloud.clock.advance(days=641)
    successor = tenant.generations[1]
    book = enrollment_book(app)
    book.set_entry("sphere", "secondary", {"certificate": pki.to_b64(successor.certificate)})
    code = book.generate_code("sphere", "secondary")
    by_active = world.cloud.sphere.issue_proof(tenant.id, code)  # no thumbprint: the Active (old) generation
    assert by_active.issuer == successor.certificate.subject  # same name — only the signature tells them apart
    try:
        book.verify("sphere", "secondary", {"certificate": pki.to_b64(by_active)})
    except CentralError as exc:
        assert exc.status == 400 and "signature" in str(exc)
    else:
        raise AssertionError("a proof signed by the old CA verified the successor")
    assert book.get_entry("sphere", "secondary").verified is False


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.integers(min_value=1, max_value=20 * 24), min_size=1, max_size=8))
def test_with_both_entries_verified_renewed_devices_are_never_refused_across_the_switch(steps: list[int]) -> None:
    """From day 641 (successor verified) through the switch at day 670 and past the old CA's expiry, a device that
    renews when it must is admitted every time, with a certificate from whichever generation is Active."""
    world, tenant, app = trusted_world()
    rotate_trust(world, tenant, app)
    devices = [world.device(tenant) for _ in range(2)]
    for hours in steps:
        world.cloud.clock.advance(hours=hours)
        now = world.cloud.clock.now()
        active = tenant.active_generation(now)
        for device in devices:
            held = device.cached_chain
            result = device.provision(app.id_scope)
            assert result.status == "assigned", result.error_message
            leaf, tenant_ca = device.certificate_chain(renew=False)[:2]
            assert pki.is_valid_at(tenant_ca, now)
            if held is None or leaf is not held[0]:  # renewed just now: by the generation Active now
                assert tenant_ca == active.certificate
    assert len(app.devices) == len(devices)

"""Unit tests of the Sphere service model: tenants and catalogs, users and tokens, devices and claims, proofs.

Every refusal is also checked to leave :meth:`SphereService.snapshot` exactly as it was.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulator import pki
from simulator.clock import Clock
from simulator.settings import Settings, SphereSettings
from simulator.sphere.model import SphereError, SphereService

START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def make_service(seed: int = 5, **sphere: object) -> SphereService:
    from simulator.entropy import Entropy

    settings = Settings(sphere=SphereSettings(**sphere))  # type: ignore[arg-type]
    return SphereService(Clock(START, frozen=True), Entropy(seed), settings)


@pytest.fixture
def sphere() -> SphereService:
    return make_service()


def refused(sphere: SphereService, status: int, call, *args, **kwargs) -> SphereError:
    before = sphere.snapshot()
    with pytest.raises(SphereError) as caught:
        call(*args, **kwargs)
    assert caught.value.status == status, caught.value
    assert sphere.snapshot() == before
    return caught.value


# -- tenants -------------------------------------------------------------------------------------------------


def test_tenant_is_also_a_catalog(sphere: SphereService) -> None:
    tenant = sphere.create_tenant(name="Contoso Labs", subscription_id="00000000-0000-0000-0000-000000000001")
    assert sphere.get_tenant(tenant.id.upper()) is tenant
    assert tenant.catalog == "Contoso-Labs"
    assert sphere.catalog("00000000-0000-0000-0000-000000000001", "SPHERE-HARNESS", "contoso-labs") is tenant
    [generation] = tenant.generations
    assert generation.status() == "Active"
    subject = generation.certificate.subject
    assert pki.get_common_name(subject) == f"Microsoft Azure Sphere {tenant.id}"
    assert pki.is_issued_by(generation.certificate, sphere.policy.certificate)
    assert pki.is_issued_by(sphere.policy.certificate, sphere.root.certificate)
    assert generation.not_after - generation.not_before == timedelta(days=730)


def test_seed_makes_tenants_repeatable() -> None:
    a, b = make_service(seed=9), make_service(seed=9)
    ta, tb = a.create_tenant(name="x"), b.create_tenant(name="x")
    assert ta.id == tb.id
    assert ta.generations[0].thumbprint == tb.generations[0].thumbprint
    assert a.create_device().id == b.create_device().id
    # tokens and claims draw from their own streams: they do not shift the next device or tenant ID
    b.create_user("x@y.z", {tb.id: ["Reader"]})
    b.issue_token("x@y.z")
    b.claim_device(tb.id, b.create_device().id)
    a.create_device()
    assert a.create_device().id == b.create_device().id
    assert a.create_tenant().id == b.create_tenant().id


def test_tenant_refusals_change_nothing(sphere: SphereService) -> None:
    tenant = sphere.create_tenant(name="Contoso")
    refused(sphere, 409, sphere.create_tenant, name="Again", tenant_id=tenant.id.upper())
    refused(
        sphere,
        409,
        sphere.create_tenant,
        catalog="Contoso",
        subscription_id=tenant.subscription_id,
        resource_group=tenant.resource_group,
    )
    refused(sphere, 400, sphere.create_tenant, tenant_id="not-a-guid")
    refused(sphere, 400, sphere.create_tenant, name="x", catalog="bad name!")
    refused(sphere, 404, sphere.get_tenant, "00000000-0000-0000-0000-00000000dead")


def test_products_and_device_groups_follow_the_swagger_names(sphere: SphereService) -> None:
    tenant = sphere.create_tenant()
    assert {".default", ".unassigned"} <= set(tenant.products)
    product = sphere.create_product(tenant.id, "Coffee Maker")
    group = sphere.create_device_group(tenant.id, "coffee maker", "Field Test")
    assert tenant.product("COFFEE MAKER") is product and product.device_group("field test") is group
    refused(sphere, 409, sphere.create_product, tenant.id, "Coffee Maker")
    refused(sphere, 400, sphere.create_product, tenant.id, "x")  # 3..50 characters
    refused(sphere, 400, sphere.create_product, tenant.id, ".default")
    refused(sphere, 400, sphere.create_device_group, tenant.id, "Coffee Maker", " padded")
    refused(sphere, 400, sphere.create_device_group, tenant.id, ".default", "Group")
    refused(sphere, 404, sphere.create_device_group, tenant.id, "No Such Product", "Group")


# -- users and tokens ----------------------------------------------------------------------------------------


def test_tokens_are_opaque_bound_to_audience_and_expire(sphere: SphereService) -> None:
    tenant = sphere.create_tenant()
    sphere.create_user("ops@contoso.com", {tenant.id: ["Reader"]})
    user = sphere.create_user("OPS@contoso.com", {tenant.id: ["Contributor", "Reader"]})
    assert user.roles_in(tenant.id) == ["Reader", "Contributor"]
    token = sphere.issue_token("ops@contoso.com", "sphere", lifetime=60)
    assert sphere.authenticate(token, "sphere").email == "ops@contoso.com"
    assert refused(sphere, 401, sphere.authenticate, token, "arm").code == "InvalidAuthenticationToken"
    assert refused(sphere, 401, sphere.authenticate, None, "sphere").code == "AuthenticationFailed"
    assert refused(sphere, 401, sphere.authenticate, "forged", "sphere").code == "InvalidAuthenticationToken"
    sphere.clock.advance(timedelta(seconds=60))
    assert "expired" in refused(sphere, 401, sphere.authenticate, token, "sphere").message
    refused(sphere, 404, sphere.issue_token, "nobody@contoso.com")
    refused(sphere, 400, sphere.create_user, "ops@contoso.com", {tenant.id: ["Owner"]})


def test_roles_decide_access_and_claiming(sphere: SphereService) -> None:
    mine, other = sphere.create_tenant(), sphere.create_tenant()
    sphere.create_user("reader@contoso.com", {mine.id: ["Reader"]})
    reader = sphere.authenticate(sphere.issue_token("reader@contoso.com"), "sphere")
    assert sphere.visible_tenants(reader) == [mine]
    assert sphere.authorize(reader, mine) == ["Reader"]
    assert refused(sphere, 403, sphere.authorize, reader, other).code == "AuthorizationFailed"
    refused(sphere, 403, sphere.authorize, reader, mine, claim=True)
    hidden = make_service(foreign_tenant_status=404)
    t = hidden.create_tenant()
    hidden.create_user("x@y.z")
    refused(hidden, 404, hidden.authorize, hidden.authenticate(hidden.issue_token("x@y.z"), "sphere"), t)


def test_accept_any_mode_lets_any_bearer_in() -> None:
    sphere = make_service(auth_mode="accept-any")
    tenant = sphere.create_tenant()
    principal = sphere.authenticate("anything", "arm")
    assert sphere.authorize(principal, tenant, claim=True)
    with pytest.raises(SphereError):
        sphere.authenticate("", "arm")


# -- devices and claims --------------------------------------------------------------------------------------


def test_device_identity_is_128_lower_hex_with_its_own_p256_key(sphere: SphereService) -> None:
    device = sphere.create_device()
    assert len(device.id) == 128 and device.id == device.id.lower()
    int(device.id, 16)
    assert device.private_key.curve.name == "secp256r1"
    assert sphere.get_device(device.id.upper()).identity is device
    refused(sphere, 409, sphere.create_device, device.id.upper())
    refused(sphere, 400, sphere.create_device, "abc")


def test_claim_is_once_and_forever(sphere: SphereService) -> None:
    mine, other = sphere.create_tenant(), sphere.create_tenant()
    device = sphere.create_device()
    operation = sphere.claim_device(mine.id, device.id.upper())
    assert operation.state(sphere.clock.now()) == 2 and operation.operation_type == 0
    assert sphere.get_device(device.id).tenant_id == mine.id
    assert "this tenant" in refused(sphere, 409, sphere.claim_device, mine.id, device.id).message
    assert "another tenant" in refused(sphere, 409, sphere.claim_device, other.id, device.id).message
    assert [r.id for r in sphere.list_devices(mine.id)] == [device.id]
    assert sphere.list_devices(other.id) == []


def test_claim_validation_is_all_or_nothing(sphere: SphereService) -> None:
    tenant = sphere.create_tenant()
    known = sphere.create_device()
    unknown = "f" * 128
    refused(sphere, 404, sphere.claim_devices, tenant.id, [known.id, unknown])
    refused(sphere, 400, sphere.claim_devices, tenant.id, [known.id, "short"])
    refused(sphere, 400, sphere.claim_devices, tenant.id, [known.id, known.id.upper()])
    refused(sphere, 400, sphere.claim_devices, tenant.id, [])
    refused(sphere, 400, sphere.claim_devices, tenant.id, ["a" * 128] * 1001)
    refused(sphere, 404, sphere.claim_devices, tenant.id, [known.id], product="Nope", device_group=".default")
    refused(sphere, 404, sphere.claim_devices, tenant.id, [known.id], product=".default", device_group="x")
    sphere.create_product(tenant.id, "Coffee Maker")
    # a real product has no placeholder groups: "claim to catalog only" needs placeholders on both levels
    refused(sphere, 404, sphere.claim_devices, tenant.id, [known.id], product="Coffee Maker", device_group=".default")
    assert sphere.get_device(known.id).tenant_id is None


def test_claim_into_a_device_group(sphere: SphereService) -> None:
    tenant = sphere.create_tenant()
    sphere.create_product(tenant.id, "Coffee Maker")
    group = sphere.create_device_group(tenant.id, "Coffee Maker", "Field Test")
    a, b = sphere.create_device(), sphere.create_device()
    sphere.claim_devices(tenant.id, [a.id], product="Coffee Maker", device_group="Field Test")
    sphere.claim_devices(tenant.id, [b.id], product=".default", device_group=".default")
    assert [r.id for r in sphere.devices_in_group(tenant.id, "coffee maker", "FIELD TEST")] == [a.id]
    assert [r.id for r in sphere.devices_in_group(tenant.id, ".unassigned", ".unassigned")] == [b.id]
    assert sphere.list_devices(tenant.id, device_group_id=group.id)[0].product_id == group.product.id


def test_claim_delay_keeps_the_operation_in_progress() -> None:
    sphere = make_service(claim_delay_s=30)
    tenant = sphere.create_tenant()
    device = sphere.create_device()
    operation = sphere.claim_device(tenant.id, device.id)
    assert operation.state(sphere.clock.now()) == 1
    assert sphere.get_device(device.id).tenant_id is None
    refused(sphere, 409, sphere.claim_device, tenant.id, device.id)  # a pending claim already holds the device
    refused(sphere, 409, sphere.device_certificate_chain, device.id)
    sphere.clock.advance(timedelta(seconds=30))
    assert sphere.get_operation(tenant.id, operation.id).state(sphere.clock.now()) == 2
    assert sphere.get_device(device.id).tenant_id == tenant.id


def test_async_conflicts_are_reported_by_the_operation() -> None:
    sphere = make_service(claim_conflict_mode="async")
    mine, other = sphere.create_tenant(), sphere.create_tenant()
    taken, free = sphere.create_device(), sphere.create_device()
    sphere.claim_device(mine.id, taken.id)
    failed = sphere.claim_device(other.id, taken.id)
    assert failed.state(sphere.clock.now()) == 3
    assert failed.error is not None and failed.error.operation_code == 7
    partial = sphere.claim_devices(other.id, [taken.id, free.id])
    assert partial.state(sphere.clock.now()) == 4
    assert sphere.get_device(taken.id).tenant_id == mine.id
    assert sphere.get_device(free.id).tenant_id == other.id
    refused(sphere, 404, sphere.get_operation, mine.id, partial.id)  # operations are per tenant


# -- proofs --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["75B86466DA34D2B04C0C4C9557A119687ADAE7D4732BDDB3", "3304517c557a3375e", "x"])
def test_proof_has_the_code_as_cn_and_the_active_ca_signature(sphere: SphereService, code: str) -> None:
    tenant = sphere.create_tenant()
    proof = sphere.issue_proof(tenant.id, code)
    active = tenant.generations[0]
    assert pki.get_common_name(proof.subject) == code
    assert pki.is_issued_by(proof, active.certificate)
    now = sphere.clock.now()
    assert proof.not_valid_before_utc == now - timedelta(minutes=5)
    assert proof.not_valid_after_utc == now + timedelta(hours=24)


def test_proof_selectors_and_refusals(sphere: SphereService) -> None:
    tenant = sphere.create_tenant()
    active = tenant.generations[0]
    for selector in (active.thumbprint.lower(), active.serial.lower(), ".DEFAULT", "default", "Active"):
        assert pki.is_signed_by(sphere.issue_proof(tenant.id, "CODE", selector), active.certificate.public_key())
    refused(sphere, 404, sphere.issue_proof, tenant.id, "CODE", "00" * 20)
    refused(sphere, 400, sphere.issue_proof, tenant.id, "")
    refused(sphere, 400, sphere.issue_proof, tenant.id, "a" * 129)
    refused(sphere, 400, sphere.issue_proof, tenant.id, "line\nbreak")


def test_seeded_worlds_of_one_day_share_their_root_and_policy_cas() -> None:
    """Root and policy CAs date from midnight UTC of the world's first day, so a seeded world started later that
    day gets the very same (already built) CAs; another day or another seed gets its own."""
    from simulator.entropy import Entropy

    def sphere(start: datetime, seed: int = 4) -> SphereService:
        return SphereService(Clock(start, frozen=True), Entropy(seed).fork("sphere"))

    morning, evening = (
        sphere(datetime(2026, 3, 1, 6, 1, 2, 345, tzinfo=UTC)),
        sphere(datetime(2026, 3, 1, 23, 59, tzinfo=UTC)),
    )
    assert morning.root is evening.root and morning.policy is evening.policy
    assert morning.root.certificate.not_valid_before_utc == datetime(2026, 2, 28, tzinfo=UTC)
    assert morning.policy.certificate.not_valid_before_utc == datetime(2026, 2, 28, tzinfo=UTC)
    next_day = sphere(datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC))
    assert pki.to_der(next_day.root.certificate) != pki.to_der(morning.root.certificate)
    assert pki.to_der(sphere(datetime(2026, 3, 1, 6, tzinfo=UTC), seed=5).root.certificate) != pki.to_der(
        morning.root.certificate
    )
    tenant = evening.create_tenant(name="Evening")
    assert pki.is_issued_by(tenant.generations[0].certificate, evening.policy.certificate)

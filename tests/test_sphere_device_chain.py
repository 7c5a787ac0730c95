"""Device certificate chains (acceptance 5): what a claimed Sphere device presents to DPS.

``[leaf, tenant CA, policy CA, root]``: the leaf is ``CN=<128-hex device id>`` with the device's own P-256 key,
valid 24 hours, signed by the Active tenant CA generation. The chain is checked three ways: signature by signature
here, with :func:`simulator.pki.chain_to_anchor`, and with the ``openssl verify`` binary (full chain, root as the
only trust anchor, no ``-partial_chain``) when it is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from simulator import pki
from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.sphere.model import SphereError


@pytest.fixture
def cloud() -> FakeCloud:
    return FakeCloud(seed=21, clock=Clock(datetime(2026, 11, 29, 10, 0, tzinfo=UTC), frozen=True))


def claimed_device(cloud: FakeCloud):
    tenant = cloud.sphere.create_tenant(name="Contoso")
    device = cloud.sphere.create_device()
    cloud.sphere.claim_device(tenant.id, device.id)
    return tenant, device


def test_chain_profile(cloud: FakeCloud) -> None:
    tenant, device = claimed_device(cloud)
    leaf, tenant_ca, policy, root = cloud.sphere.device_certificate_chain(device.id)
    now = cloud.clock.now()
    assert pki.get_common_name(leaf.subject) == device.id
    assert leaf.public_key() == device.private_key.public_key()
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(hours=24)
    assert leaf.not_valid_before_utc == now
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert tenant_ca == tenant.generations[0].certificate
    assert (policy, root) == (cloud.sphere.policy.certificate, cloud.sphere.root.certificate)
    for child, parent in ((leaf, tenant_ca), (tenant_ca, policy), (policy, root), (root, root)):
        assert pki.is_issued_by(child, parent)
        assert pki.is_valid_at(child, now)
    assert pki.chain_to_anchor([leaf, tenant_ca, policy], [root], now) == root
    assert pki.chain_to_anchor([leaf, tenant_ca], [tenant_ca], now) == tenant_ca
    assert pki.chain_to_anchor([leaf, tenant_ca, policy], [root], now + timedelta(hours=25)) is None


def test_upper_case_cn_setting(cloud: FakeCloud) -> None:
    upper = FakeCloud(seed=21, settings={"pki": {"device_cn_case": "upper"}}, clock=Clock(frozen=True))
    _, device = claimed_device(upper)
    leaf = upper.sphere.device_certificate_chain(device.id)[0]
    assert pki.get_common_name(leaf.subject) == device.id.upper()


def test_every_request_is_a_fresh_certificate_from_the_active_generation(cloud: FakeCloud) -> None:
    tenant, device = claimed_device(cloud)
    first = cloud.sphere.device_certificate_chain(device.id)[0]
    cloud.clock.advance(timedelta(hours=23))
    second = cloud.sphere.device_certificate_chain(device.id)[0]
    assert pki.is_issued_by(second, tenant.generations[0].certificate)
    assert second.serial_number != first.serial_number
    assert second.not_valid_before_utc == cloud.clock.now()


def test_unclaimed_and_unknown_devices_get_nothing(cloud: FakeCloud) -> None:
    cloud.sphere.create_tenant()
    device = cloud.sphere.create_device()
    before = cloud.sphere.snapshot()
    with pytest.raises(SphereError) as unclaimed:
        cloud.sphere.device_certificate_chain(device.id)
    assert (unclaimed.value.status, unclaimed.value.code) == (409, "DeviceNotClaimed")
    with pytest.raises(SphereError) as unknown:
        cloud.sphere.device_certificate_chain("e" * 128)
    assert unknown.value.status == 404
    assert cloud.sphere.snapshot() == before


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl binary is not installed")
def test_openssl_verifies_the_full_chain(cloud: FakeCloud, tmp_path: Path) -> None:
    _, device = claimed_device(cloud)
    leaf, tenant_ca, policy, root = cloud.sphere.device_certificate_chain(device.id)
    (tmp_path / "root.pem").write_bytes(pki.to_pem(root))
    (tmp_path / "untrusted.pem").write_bytes(pki.chain_to_pem([tenant_ca, policy]))
    (tmp_path / "leaf.pem").write_bytes(pki.to_pem(leaf))
    at = str(int((cloud.clock.now() + timedelta(hours=1)).timestamp()))

    def verify(*extra: str) -> subprocess.CompletedProcess[str]:
        command = ["openssl", "verify", "-attime", at, "-CAfile", "root.pem", *extra, "leaf.pem"]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False)

    good = verify("-untrusted", "untrusted.pem", "-purpose", "sslclient")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "leaf.pem: OK" in good.stdout
    missing_intermediates = verify()
    assert missing_intermediates.returncode != 0
    at = str(int((cloud.clock.now() + timedelta(hours=25)).timestamp()))
    expired = verify("-untrusted", "untrusted.pem")
    assert expired.returncode != 0 and "expired" in (expired.stdout + expired.stderr)

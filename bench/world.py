"""A trusted world for the benchmarks: a Sphere tenant whose CA is a verified entry of an IoT Central group.

This is the end state of the seed workflow ("enable trust between IoT Central and an Azure Sphere tenant"), built
directly through the models so that the fleet and served figures measure only what they name: a claimed device
getting its daily certificate and auto-enrolling through DPS into the app. The proof of possession is real — the
Sphere service signs Central's verification code with the tenant CA and Central checks the signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator import pki
from simulator.cloud import FakeCloud
from simulator.device import SimulatedDevice

GROUP_ID = "azure-sphere"


@dataclass
class TrustedWorld:
    """A cloud with one tenant trusted by one app's enrollment group."""

    cloud: FakeCloud
    tenant: Any
    app: Any

    def new_device(self) -> SimulatedDevice:
        """Manufacture a device and claim it into the tenant (its certificate is issued on first use)."""
        with self.cloud.lock:
            identity = self.cloud.sphere.create_device()
        return self.claim(identity)

    def claim(self, identity: Any) -> SimulatedDevice:
        """Claim a manufactured chip (``cloud.sphere.create_device()``) into the tenant."""
        with self.cloud.lock:
            self.cloud.sphere.claim_device(self.tenant.id, identity.id)
        return SimulatedDevice(self.cloud, identity)


def enroll_tenant(cloud: FakeCloud, tenant: Any, app: Any, group_id: str = GROUP_ID) -> None:
    """Create the X.509 group, upload the tenant's active CA and verify it with a Sphere-signed proof."""
    with cloud.lock:
        now = cloud.clock.now()
        ca = next(g for g in tenant.generations if g.status(now) == "Active").certificate
        book = app.enrollment
        book.put_group(group_id, {"displayName": "Azure Sphere", "type": "iot", "attestation": {"type": "x509"}})
        book.set_entry(group_id, "primary", {"certificate": pki.to_b64(ca)})
        code = book.generate_code(group_id, "primary")
        proof = cloud.sphere.issue_proof(tenant.id, code, pki.thumbprint(ca))
        book.verify(group_id, "primary", {"certificate": pki.to_b64(proof)})


def trusted_world(seed: int = 7, **dps_settings: Any) -> TrustedWorld:
    """A fresh in-process cloud with trust enabled between a tenant and an app."""
    cloud = FakeCloud(seed=seed, settings={"dps": dps_settings} if dps_settings else None)
    with cloud.lock:
        tenant = cloud.sphere.create_tenant(name="Bench")
        app = cloud.central.create_app(subdomain="bench")
    enroll_tenant(cloud, tenant, app)
    return TrustedWorld(cloud, tenant, app)

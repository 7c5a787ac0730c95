"""Completeness of persistence: after every operation of a state machine over the public surfaces, the world read
back from disk (a fresh read-only connection) dumps exactly like the live world.

The operations go through the wire — the control API, the Sphere legacy API, IoT Central, DPS over HTTPS (routed
in-process by respx into the same ASGI adapters a served world uses) — and through the Python API of a simulated
device (telemetry, reported properties). Rejected requests are part of the game: whatever they did or did not do,
disk and memory must agree. A ``restart`` rule closes the world and reopens it from its directory; the clients keep
their old tokens, which must keep working.

A change the tracking misses (an object mutated without the store noticing) shows up here as a difference between
the two dumps, named by :func:`simulator.state.describe_differences`.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from harness.clients import CentralClient, ControlClient, SphereLegacyClient
from harness.clients.auth import StaticToken
from harness.clients.errors import ServiceError, TransportFailure
from simulator import pki
from simulator.cloud import FakeCloud
from simulator.device import SimulatedDevice
from simulator.dps.https_api import CHAIN_HEADER
from simulator.state import describe_differences, dump_world
from simulator.state.store import read_world
from simulator.state.tracking import untracked_mutables

GROUPS = st.sampled_from(["sphere", "second"])
ENTRIES = st.sampled_from(["primary", "secondary"])
DPS_URL = "https://global.azure-devices-provisioning.net"
Failure = (ServiceError, TransportFailure)


class PersistedWorld(RuleBasedStateMachine):
    """A world with a state directory, driven through its public surfaces; disk must always equal memory."""

    @initialize(seed=st.integers(0, 3))
    def start(self, seed: int) -> None:
        self.directory = tempfile.mkdtemp(prefix="sphere-state-")
        self.cloud = FakeCloud(seed=seed, state_dir=self.directory)
        self.open_mock()
        self.control = ControlClient()
        tenant = self.control.create_tenant(name="Contoso")
        self.tenants = [tenant]
        self.apps = [self.control.create_app(subdomain="contoso")]
        self.devices: list[dict[str, Any]] = []
        self.sim_devices: list[SimulatedDevice] = []

    def open_mock(self) -> None:
        self.mock = self.cloud.mock()
        self.mock.__enter__()

    def teardown(self) -> None:
        mock = getattr(self, "mock", None)
        if mock is not None:
            mock.__exit__(None, None, None)
        cloud = getattr(self, "cloud", None)
        if cloud is not None:
            cloud.close()
        if getattr(self, "directory", None):
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- clients --

    def central(self, index: int = 0) -> CentralClient:
        app = self.apps[index % len(self.apps)]
        return CentralClient(StaticToken(app["api_token"]), subdomain=app["subdomain"])

    def sphere(self, index: int = 0) -> tuple[SphereLegacyClient, dict[str, Any]]:
        tenant = self.tenants[index % len(self.tenants)]
        return SphereLegacyClient(StaticToken(tenant["token"])), tenant

    # -- rules --

    @rule(name=st.sampled_from(["Fabrikam", "Woodgrove"]))
    def create_tenant(self, name: str) -> None:
        if len(self.tenants) < 3:
            self.tenants.append(self.control.create_tenant(name=name))

    @rule()
    def create_app(self) -> None:
        if len(self.apps) < 2:
            self.apps.append(self.control.create_app(subdomain="fabrikam", auto_approve=False))

    @rule(group=GROUPS, app=st.integers(0, 1), enabled=st.booleans())
    def put_group(self, group: str, app: int, enabled: bool) -> None:
        try:
            self.central(app).create_group(group, display_name=group.title(), attestation="x509", enabled=enabled)
        except Failure:
            pass

    @rule(group=GROUPS, entry=ENTRIES, app=st.integers(0, 1), tenant=st.integers(0, 2))
    def upload_tenant_ca(self, group: str, entry: str, app: int, tenant: int) -> None:
        sphere, _ = self.sphere(tenant)
        try:
            der = sphere.get_certificate(self.sphere(tenant)[1]["tenant_id"])
            self.central(app).set_certificate(group, entry, certificate=base64.b64encode(der).decode())
        except Failure:
            pass

    @rule(group=GROUPS, entry=ENTRIES, app=st.integers(0, 1), tenant=st.integers(0, 2))
    def prove_possession(self, group: str, entry: str, app: int, tenant: int) -> None:
        sphere, access = self.sphere(tenant)
        central = self.central(app)
        try:
            code = central.generate_verification_code(group, entry)
            proof = sphere.get_proof(access["tenant_id"], code)
            central.verify_certificate(group, entry, certificate=base64.b64encode(proof).decode())
        except Failure:
            pass

    @rule(group=GROUPS, app=st.integers(0, 1), enabled=st.booleans())
    def switch_group(self, group: str, app: int, enabled: bool) -> None:
        try:
            self.central(app).update_group(group, {"enabled": enabled})
        except Failure:
            pass

    @rule(group=GROUPS, app=st.integers(0, 1))
    def delete_group(self, group: str, app: int) -> None:
        try:
            self.central(app).delete_group(group)
        except Failure:
            pass

    @rule(tenant=st.integers(0, 2))
    def mint_device(self, tenant: int) -> None:
        if len(self.devices) < 4:
            access = self.tenants[tenant % len(self.tenants)]
            self.devices.extend(self.control.create_devices(1, claim=True, tenant_id=access["tenant_id"]))

    @precondition(lambda self: self.devices)
    @rule(device=st.integers(0, 3), app=st.integers(0, 1))
    def register_over_https(self, device: int, app: int) -> None:
        material = self.devices[device % len(self.devices)]
        chain = base64.b64encode(material["certificate_chain_pem"].encode()).decode()
        leaf = pki.load_pem_chain(material["certificate_chain_pem"])[0]
        registration_id = pki.get_common_name(leaf)
        scope = self.apps[app % len(self.apps)]["id_scope"]
        import httpx

        with httpx.Client() as client:
            client.put(
                f"{DPS_URL}/{scope}/registrations/{registration_id}/register",
                params={"api-version": "2021-10-01"},
                headers={CHAIN_HEADER: chain},
                json={"registrationId": registration_id, "payload": {"modelId": "dtmi:contoso:thermostat;1"}},
            )

    @rule(app=st.integers(0, 1))
    def device_talks_to_its_hub(self, app: int) -> None:
        """The Python API of a simulated device: provision in-process, then telemetry and reported properties."""
        with self.cloud.lock:
            identity = self.cloud.sphere.create_device()
            self.cloud.sphere.claim_device(self.tenants[0]["tenant_id"], identity.id)
        device = SimulatedDevice(self.cloud, identity)
        result = device.provision(self.apps[app % len(self.apps)]["id_scope"])
        if result.status == "assigned":
            try:
                device.send_telemetry({"temperature": 20.5, "tags": ["a", {"b": 1}]})
                device.report_properties({"firmware": {"version": "1.0"}, "drop": None})
            except Exception:  # blocked (waiting for approval): the hub refuses
                pass

    @rule(days=st.sampled_from(["1d", "40d", "700d"]))
    def travel(self, days: str) -> None:
        self.control.travel(advance=days)

    @rule(nth=st.integers(1, 3))
    def add_fault(self, nth: int) -> None:
        self.control.request(
            "POST", "/faults", json={"service": "central", "operation": "verify", "nth": nth}, ok=(201,)
        )

    @rule()
    def clear_faults(self) -> None:
        self.control.request("DELETE", "/faults")

    @rule(tenant=st.integers(0, 2))
    def fresh_token(self, tenant: int) -> None:
        access = self.tenants[tenant % len(self.tenants)]
        access["token"] = self.control.issue_token(access["user"])

    @rule()
    def revoke_active_ca(self) -> None:
        with self.cloud.lock:
            self.cloud.sphere.revoke_generation(self.tenants[-1]["tenant_id"])

    @rule()
    def restart(self) -> None:
        """Close the world and reopen it from its directory: the clients keep their tokens."""
        self.mock.__exit__(None, None, None)
        self.cloud.close()
        self.cloud = FakeCloud(state_dir=self.directory)
        self.open_mock()
        for access in self.tenants:  # tokens of the world before the restart still work
            sphere = SphereLegacyClient(StaticToken(access["token"]))
            assert sphere.get_tenant(access["tenant_id"])["Id"] == access["tenant_id"]
        self.central(0).list_groups()

    # -- the property --

    @invariant()
    def disk_equals_memory(self) -> None:
        with self.cloud.lock:
            live = dump_world(self.cloud)
        stored = dump_world(read_world(self.directory))
        differences = describe_differences(live, stored)
        assert not differences, "\n".join(differences)
        assert untracked_mutables(self.cloud) == []


PersistedWorld.TestCase.settings = settings(
    max_examples=12,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestPersistedWorld = PersistedWorld.TestCase

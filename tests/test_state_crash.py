"""Crash safety of ``--state-dir``: a served world is killed with SIGKILL at seeded random moments while concurrent
workflows run against it, restarted from its directory, and must hold every acknowledged write and nothing
half-done.

Each *phase* starts the world (``FakeCloud(state_dir=…).serve()`` in a child process forked from a preloaded
forkserver, so a restart costs the world's start, not an interpreter's), runs four client threads over HTTPS
through the wire clients — each repeating the trust workflow: a tenant (control API), a device claimed into it, an
enrollment group, its tenant CA uploaded, a verification code, the proof from the Sphere legacy API, verify; a
step whose answer the kill swallowed is sent again after the restart — and kills the server with SIGKILL a seeded
0-50 ms after a seeded number (2-10) of writes were acknowledged, so kills fall mid-request and mid-commit however
fast or loaded the machine is. A write counts as *acknowledged* only once its 2xx response has been read. After
each restart:

* every acknowledged write is there, seen over the wire with the tokens issued before the kill — each tenant (its
  own bearer token still works), each group, each uploaded entry with its thumbprint, each verified flag, each
  claimed device;
* nothing is half-done (read back offline through a fresh read-only connection): an entry holds a real tenant CA
  and a code only with its time, a device is claimed exactly when an applied claim claimed it, a tenant has its CA
  and placeholder products, a role never names a missing tenant, the database passes its integrity check with
  dangling references nowhere;
* the endpoints file the killed server left behind was detected as stale and replaced.

CI cost: 20 kills, about 20-30 s of one xdist worker (the phases are short and the forkserver preloads the
simulator). ``SPHERE_HARNESS_CRASH_KILLS=200`` runs a longer soak locally.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.clients import CentralClient, ControlClient, RetryPolicy, SphereLegacyClient
from harness.clients.auth import StaticToken
from harness.clients.errors import ServiceError, TransportFailure
from simulator import pki

pytestmark = pytest.mark.served

SEED = 20261130
KILLS = int(os.environ.get("SPHERE_HARNESS_CRASH_KILLS", "20"))
WORKERS = 4
#: what a served world imports, loaded once in the forkserver so that each restart costs only the world's start
PRELOAD = [
    "simulator.cloud",
    "simulator.server",
    "simulator.state.store",
    "simulator.state.routes",
    "simulator.sphere.model",
    "simulator.sphere.legacy_api",
    "simulator.sphere.arm_api",
    "simulator.central.model",
    "simulator.central.api",
    "simulator.dps.model",
    "simulator.dps.mqtt",
    "simulator.dps.https_api",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.lifespan.off",
    "encodings.idna",
    "tests.test_state_crash",
]


def serve_until_killed(state_dir: str, endpoints_file: str, tls_dir: str) -> None:
    """The child: serve the world kept in ``state_dir`` until SIGKILL (no MQTT: the workflows are HTTPS)."""
    from simulator.cloud import FakeCloud

    cloud = FakeCloud(seed=SEED, state_dir=state_dir)
    cloud.serve(port=0, mqtt_port=None, endpoints_file=endpoints_file, workdir=tls_dir)
    threading.Event().wait()


@dataclass
class Ledger:
    """What the server acknowledged (a 2xx response was read), across all phases, in order."""

    events: list[tuple[str, str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, key: str, value: Any = None) -> None:
        with self.lock:
            self.events.append((kind, key, value))

    def of(self, kind: str, since: int = 0) -> dict[str, Any]:
        with self.lock:
            return {key: value for k, key, value in self.events[since:] if k == kind}


class World:
    """The served world across restarts: start it in a child, kill it, read its endpoints."""

    def __init__(self, root: Path) -> None:
        self.state_dir = root / "world"
        self.endpoints_file = root / "endpoints.json"
        self.tls_dir = root / "tls"
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(PRELOAD)
        self.process: Any = None
        self.first_api_token: str | None = None

    def start(self) -> dict[str, Any]:
        stale = self.endpoints_file.exists()
        self.process = self.context.Process(
            target=serve_until_killed,
            args=(str(self.state_dir), str(self.endpoints_file), str(self.tls_dir)),
            daemon=True,
        )
        self.process.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.is_alive(), f"the world did not start (exit code {self.process.exitcode})"
            try:
                endpoints = json.loads(self.endpoints_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                endpoints = None
            if endpoints and endpoints.get("pid") == self.process.pid:
                if self.first_api_token is None:
                    self.first_api_token = endpoints["central"]["api_token"]
                return endpoints
            if endpoints and stale and not _alive(endpoints.get("pid")):
                pass  # the killed server's file, until the new one replaces it
            time.sleep(0.02)
        raise AssertionError("the world did not write its endpoints file within 60 s")

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no atexit, no stop(), the endpoints file stays behind
        self.process.join(10)
        self.process.close()

    def stop(self) -> None:
        if self.process is not None:
            try:
                if self.process.is_alive():
                    self.process.kill()
                    self.process.join(10)
            except ValueError:  # already closed
                pass


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def clients(endpoints: dict[str, Any], token: str | None = None) -> tuple[ControlClient, CentralClient]:
    once = RetryPolicy(attempts=1)
    ca = endpoints["ca_bundle"]
    control = ControlClient(endpoints["control_url"], verify=ca, retry=once, timeout=10)
    central = CentralClient(
        StaticToken(token or endpoints["central"]["api_token"]),
        base_url=endpoints["central"]["url"],
        verify=ca,
        retry=once,
        timeout=10,
    )
    return control, central


def legacy(endpoints: dict[str, Any], token: str) -> SphereLegacyClient:
    return SphereLegacyClient(
        StaticToken(token),
        base_url=endpoints["sphere"]["legacy_url"],
        verify=endpoints["ca_bundle"],
        retry=RetryPolicy(attempts=1),
        timeout=10,
    )


class Worker:
    """One client repeating the trust workflow; its progress survives the kills (the step whose answer never came
    is sent again once the world is back), so every phase moves the workflows on however short it is."""

    def __init__(self, index: int) -> None:
        self.index, self.round, self.step = index, 0, 0
        self.data: dict[str, Any] = {}

    def run(self, endpoints: dict[str, Any], ledger: Ledger, stop: threading.Event) -> None:
        control, central = clients(endpoints)
        try:
            while not stop.is_set():
                self.advance(endpoints, control, central, ledger)
        except TransportFailure:
            return  # the world was killed under us: the step in flight is not acknowledged; it is sent again
        finally:
            control.close()
            central.close()

    def advance(self, endpoints: dict[str, Any], control: Any, central: CentralClient, ledger: Ledger) -> None:
        data, name = self.data, f"w{self.index}n{self.round}"
        if self.step == 0:
            data["tenant"] = control.create_tenant(name=name)
            ledger.add("tenants", data["tenant"]["tenant_id"], data["tenant"]["token"])
        elif self.step == 1:
            device = control.create_devices(1, claim=True, tenant_id=data["tenant"]["tenant_id"])[0]
            ledger.add("devices", device["id"], data["tenant"]["tenant_id"])
        elif self.step == 2:
            with legacy(endpoints, data["tenant"]["token"]) as sphere:
                data["ca"] = sphere.get_certificate(data["tenant"]["tenant_id"])
            central.create_group(name, display_name=name, attestation="x509")
            ledger.add("groups", name)
        elif self.step == 3:
            central.set_certificate(name, "primary", certificate=base64.b64encode(data["ca"]).decode())
            ledger.add("entries", name, pki.thumbprint(pki.load_der(data["ca"])))
        elif self.step == 4:
            code = central.generate_verification_code(name, "primary")
            with legacy(endpoints, data["tenant"]["token"]) as sphere:
                data["proof"] = sphere.get_proof(data["tenant"]["tenant_id"], code)
        elif self.step == 5:
            try:
                central.verify_certificate(name, "primary", certificate=base64.b64encode(data["proof"]).decode())
            except ServiceError:  # the code was consumed by a verify whose answer the kill swallowed: prove again
                self.step = 4
                return
            ledger.add("verified", name)
            self.round, self.step = self.round + 1, 0
            return
        self.step += 1


def check_acknowledged(endpoints: dict[str, Any], ledger: Ledger, since: int, first_api_token: str) -> None:
    """Every write acknowledged in the last phase is there, seen over the wire with the tokens of before the kill
    (earlier phases' writes are checked offline by :func:`check_nothing_lost_or_half_done`, every phase)."""
    import ssl

    import httpx

    trust = ssl.create_default_context(cafile=endpoints["ca_bundle"])
    with httpx.Client(verify=trust, timeout=10) as http:
        legacy_url, central_url = endpoints["sphere"]["legacy_url"], endpoints["central"]["url"]
        for tenant_id, token in ledger.of("tenants", since).items():
            answer = http.get(f"{legacy_url}/tenants/{tenant_id}", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200 and answer.json()["Id"] == tenant_id, answer.text
        central = {"Authorization": first_api_token}  # the API token of the very first start
        version = {"api-version": "2022-07-31"}
        verified = ledger.of("verified", since)
        for group in ledger.of("groups", since):
            answer = http.get(f"{central_url}/api/enrollmentGroups/{group}", headers=central, params=version)
            assert answer.status_code == 200, f"acknowledged group {group} lost: {answer.text}"
        for group, thumbprint in ledger.of("entries", since).items():
            url = f"{central_url}/api/enrollmentGroups/{group}/certificates/primary"
            entry = http.get(url, headers=central, params=version).json()
            assert entry["info"]["sha1Thumbprint"] == thumbprint, group
            assert entry["verified"] or group not in verified, f"acknowledged verify of {group} lost"


def check_nothing_lost_or_half_done(state_dir: Path, ledger: Ledger, first_api_token: str) -> None:
    """The stored world, read back offline through a fresh read-only connection: every write acknowledged in any
    phase is there, and nothing is half-done — no verified flag without its CA, no orphan device or claim."""
    from simulator.state.database import StateDatabase
    from simulator.state.store import DATABASE_FILE, read_world

    world = read_world(state_dir)
    sphere, app = world.sphere, world.central.default_app
    for tenant_id, token in ledger.of("tenants").items():
        assert tenant_id in sphere.tenants, f"acknowledged tenant {tenant_id} lost"
        assert sphere.authenticate(token, "sphere").roles_in(tenant_id) == ["Administrator"]
    assert app.authenticate(first_api_token).name == "operator-token"
    groups = app.enrollment.groups
    assert set(ledger.of("groups")) <= set(groups)
    for group, thumbprint in ledger.of("entries").items():
        assert groups[group].entries["primary"].thumbprint == thumbprint
    for group in ledger.of("verified"):
        assert groups[group].entries["primary"].verified, f"acknowledged verify of {group} lost"
    for device_id, tenant_id in ledger.of("devices").items():
        assert device_id in sphere.devices, f"acknowledged device {device_id[:16]}… lost"
        assert sphere.devices[device_id].tenant_id == tenant_id, f"acknowledged claim of {device_id[:16]}… lost"
    # nothing half-done, acknowledged or not
    tenant_cas = {pki.thumbprint(g.certificate) for t in sphere.tenants.values() for g in t.generations}
    for group in groups.values():
        for entry in group.entries.values():
            assert entry.thumbprint == pki.thumbprint(entry.certificate)
            assert entry.thumbprint in tenant_cas, f"{group.id} holds a CA no tenant issued"
            assert (entry.code is None) == (entry.code_issued is None), f"{group.id}: a code without its time"
    claimed_by = {}
    for operation in sphere.operations.values():
        assert operation.tenant_id in sphere.tenants
        if operation.applied:
            for device_id in operation.device_ids:
                if device_id not in operation.failures:
                    assert sphere.devices[device_id].tenant_id == operation.tenant_id
                    claimed_by[device_id] = operation.tenant_id
    for device in sphere.devices.values():  # a claimed device and the claim that claimed it come together
        assert device.tenant_id == claimed_by.get(device.id), f"device {device.id[:16]} claimed without its claim"
    for tenant in sphere.tenants.values():  # a tenant comes with its CA and its placeholder products
        assert tenant._generations and {".default", ".unassigned"} <= set(tenant.products)
    for user in sphere.users.values():  # a role never names a tenant that is not there
        assert set(user.roles) <= set(sphere.tenants)
    database = StateDatabase(state_dir / DATABASE_FILE, readonly=True)
    try:
        warnings = [w for w in database.check() if "unreachable" not in w]
    finally:
        database.close()
    assert warnings == []


def test_sigkill_at_random_moments_loses_no_acknowledged_write(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    ledger = Ledger()
    world = World(tmp_path)
    workers = [Worker(n) for n in range(WORKERS)]
    try:
        endpoints = world.start()
        for _ in range(KILLS):
            since = len(ledger.events)
            stop = threading.Event()
            threads = [
                threading.Thread(target=worker.run, args=(endpoints, ledger, stop), daemon=True) for worker in workers
            ]
            for thread in threads:
                thread.start()
            # kill after a seeded number of acknowledged writes, a seeded instant later: at a random point of the
            # workflows (mid-request, mid-commit) however fast or loaded the machine is
            wanted, deadline = since + rng.randint(2, 10), time.monotonic() + 60
            while len(ledger.events) < wanted and time.monotonic() < deadline and any(t.is_alive() for t in threads):
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.05))
            world.kill()
            stop.set()
            for thread in threads:
                thread.join(30)
            assert world.endpoints_file.exists()  # SIGKILL leaves it; the next start must replace it
            endpoints = world.start()
            check_acknowledged(endpoints, ledger, since, world.first_api_token or "")
            check_nothing_lost_or_half_done(world.state_dir, ledger, world.first_api_token or "")
        assert len(ledger.of("verified")) >= 3 and len(ledger.of("devices")) >= 3  # the workflows got through
    finally:
        world.stop()

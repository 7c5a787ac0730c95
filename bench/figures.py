"""The four benchmark figures of issue #7, each with the baseline it is compared to, measured in the same run.

1. **Seed workflow, in-process** — ``harness.run_scenario("enable-trust")`` against the AWS analogue run by moto.
2. **Fleet enrollment, in-process** — devices/s from claim to provisioned against the crypto bound (one P-256
   sign + verify per device with ``cryptography``).
3. **Served** — DPS registrations/s over MQTT/TLS with client certificates at 1, 8 and 64 concurrent devices, and
   the latency of IoT Central's HTTPS ``verify`` under 50 concurrent clients.
4. **Start-up** — ``sphere-harness serve`` until its endpoints file appears; ``sphere-harness run`` end to end.

Every figure repeats its measurement and reports the median (the machine is shared); the spread is kept too.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.world import trusted_world


@dataclass
class Sample:
    """Repeated timings of one measured thing (seconds per repetition, and how many units each one did)."""

    seconds: list[float]
    units: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    #: CPU seconds of this process per repetition (user + system): on a shared machine it moves far less than wall
    cpu_seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def per_unit_ms(self) -> float:
        return self.median / self.units * 1000

    @property
    def cpu_per_unit_ms(self) -> float:
        return statistics.median(self.cpu_seconds) / self.units * 1000 if self.cpu_seconds else float("nan")

    @property
    def rate(self) -> float:
        return self.units / self.median if self.median else float("inf")

    @property
    def spread(self) -> str:
        """Min–max of the repetitions relative to the median: the noise of this figure."""
        if len(self.seconds) < 2:
            return "1 run"
        low, high = min(self.seconds), max(self.seconds)
        return f"±{(high - low) / 2 / self.median * 100:.0f}% ({len(self.seconds)} runs)"


def repeat(fn: Callable[[], int], repetitions: int, *, before: Callable[[], None] | None = None) -> Sample:
    """Run ``fn`` (which returns how many units it did) ``repetitions`` times; bounded, with GC settled first.

    ``before`` runs ahead of each repetition, outside the timing (setting up what is not being measured)."""
    seconds, cpu, units = [], [], 1
    for _ in range(repetitions):
        if before is not None:
            before()
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        units = fn()
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return Sample(seconds, units, cpu_seconds=cpu)


# -- 1. seed workflow ------------------------------------------------------------------------------------------


def seed_workflow(workflows: int, repetitions: int) -> tuple[Sample, Sample]:
    """The seed scenario in-process vs moto's register-CA workflow; both ``workflows`` times per repetition."""
    import harness
    from bench.moto_baseline import MotoWorkflow

    def ours() -> int:
        with _work_folder() as tmp:
            for _ in range(workflows):
                result = harness.run_scenario("enable-trust", workdir=tmp)
                if not result.passed:
                    raise RuntimeError(f"enable-trust failed: {result.failed_step}")
        return workflows

    moto = MotoWorkflow()
    try:

        def theirs() -> int:
            for _ in range(workflows):
                moto.run_once()
            return workflows

        ours()  # warm imports and caches for both sides
        theirs()
        ours_sample, moto_sample = repeat(ours, repetitions), repeat(theirs, repetitions)
        ours_sample.extra["requests"] = _our_requests_per_workflow()
        moto_sample.extra["requests"] = moto.requests_per_workflow()
        return ours_sample, moto_sample
    finally:
        moto.close()


def _work_folder() -> Any:
    """A temporary work folder in memory where the system has one (``/dev/shm``): the scenario writes the CA and
    proof files as ``azsphere`` would, and a shared VM's disk (a rewrite costs 0.2–6 ms here) is not the figure."""
    memory = Path("/dev/shm")
    return tempfile.TemporaryDirectory(dir=memory if memory.is_dir() and os.access(memory, os.W_OK) else None)


def fresh_worlds(count: int, repetitions: int) -> dict[str, Sample]:
    """Per world: ``FakeCloud(seed)`` + ``ensure_defaults`` (from the template, and the long way), and what the
    ``fake_cloud`` / ``fake_world`` fixtures do (``cloud.mock()`` entered and left around the world)."""
    from simulator import templates
    from simulator.cloud import FakeCloud
    from simulator.control import ensure_defaults

    def defaults() -> int:
        for _ in range(count):
            ensure_defaults(FakeCloud(0))
        return count

    def long_way() -> int:
        with templates.disabled():
            return defaults()

    def fake_cloud() -> int:
        for _ in range(count):
            with FakeCloud(0).mock():
                pass
        return count

    def fake_world() -> int:
        for _ in range(count):
            cloud = FakeCloud(0)
            with cloud.mock():
                ensure_defaults(cloud)
        return count

    cases = {"defaults": defaults, "long way": long_way, "fake_cloud": fake_cloud, "fake_world": fake_world}
    for case in cases.values():
        case()  # warm: imports, the template, the memoized route patterns
    found: dict[str, Sample] = {name: Sample([], count) for name in cases}
    for _ in range(repetitions):  # interleaved, so a slow phase of the machine hits every case alike
        for name, case in cases.items():
            sample = repeat(case, 1)
            found[name].seconds += sample.seconds
            found[name].cpu_seconds += sample.cpu_seconds
    return found


def _our_requests_per_workflow() -> int:
    """How many HTTP requests one ``enable-trust`` run sends into the world (counted outside the timing)."""
    import harness
    import simulator.inprocess.router as inprocess

    count = 0
    original = inprocess.dispatch

    def counting(router: Any, request: Any, service: str, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        return original(router, request, service, **kwargs)

    inprocess.dispatch = counting
    try:
        with _work_folder() as tmp:
            harness.run_scenario("enable-trust", workdir=tmp)
    finally:
        inprocess.dispatch = original
    return count


# -- 2. fleet enrollment -----------------------------------------------------------------------------------------


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fleet(devices: int, repetitions: int) -> Sample:
    """Claim → daily certificate → DPS registration → provisioned in IoT Central, for ``devices`` devices."""
    rss: list[float] = []

    worlds: list[tuple[Any, list[Any]]] = []

    def manufacture() -> None:
        """The chips leave the factory (a P-256 key each) before the clock starts: the figure starts at the claim."""
        world = trusted_world()
        with world.cloud.lock:
            chips = [world.cloud.sphere.create_device() for _ in range(devices)]
        worlds.append((world, chips))

    def once() -> int:
        world, chips = worlds.pop()
        scope = world.app.id_scope
        for chip in chips:
            device = world.claim(chip)
            result = device.provision(scope)
            if result.status != "assigned":
                raise RuntimeError(f"device not assigned: {result}")
        if len(world.app.devices) != devices:
            raise RuntimeError("IoT Central does not hold every device")
        rss.append(_max_rss_mib())
        return devices

    sample = repeat(once, repetitions, before=manufacture)
    sample.extra["max_rss_mib"] = max(rss)
    return sample


def crypto_bound(devices: int, repetitions: int) -> Sample:
    """The least any real enrollment must do per device: one P-256 ECDSA sign and one verify."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    algorithm = ec.ECDSA(hashes.SHA256())

    def once() -> int:
        for i in range(devices):
            data = i.to_bytes(8, "big") * 32
            public.verify(key.sign(data, algorithm), data, algorithm)
        return devices

    return repeat(once, repetitions)


# -- 3. served -----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _separate_cores() -> Iterator[set[int] | None]:
    """Keep this process (the served world) off the last CPU and yield that CPU for the load generator.

    A load generator and the service it loads are separate machines in real life; on one small machine the OS
    otherwise schedules the 64 device threads onto the server thread's core half of the time. Threads started inside
    the block inherit this process's narrowed affinity; it is restored on leaving. Yields None (nothing pinned) where
    the platform cannot pin threads or there is only one CPU.
    """
    getter, setter = getattr(os, "sched_getaffinity", None), getattr(os, "sched_setaffinity", None)
    cpus = getter(0) if getter is not None and setter is not None else set()
    if len(cpus) < 2:
        yield None
        return
    worker_cpu = {max(cpus)}
    setter(0, cpus - worker_cpu)
    try:
        yield worker_cpu
    finally:
        setter(0, cpus)


def _pin_worker(cpus: set[int] | None) -> None:
    """Initializer of the load generator's process: run on ``cpus`` (see :func:`_separate_cores`)."""
    if cpus:
        os.sched_setaffinity(0, cpus)


def _load_generator(cpus: set[int] | None) -> Any:
    """A one-process pool for a load generator, spawned (no inherited server threads) and pinned to ``cpus``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_pin_worker, initargs=(cpus,)
    )


def served_registrations(concurrency: int, per_client: int, repetitions: int) -> Sample:
    """Registrations/s over MQTT/TLS with client certificates, ``concurrency`` devices at once, on a free port.

    The devices run in a worker process (:mod:`bench.device_load`) pinned to a CPU of its own, the served world in
    this one on the other CPUs (:func:`_separate_cores`).
    """
    from bench.device_load import DeviceFiles, register_devices
    from simulator.device import export_devices

    world = trusted_world(assigned_hub_host="served")
    elapsed: list[float] = []
    server_cpu: list[float] = []  # this process's CPU while the devices registered: the served world's share
    client_cpu: list[float] = []  # the load generator's CPU meanwhile
    with (
        _separate_cores() as worker_cpus,
        world.cloud.serve(mqtt_port=0) as served,
        tempfile.TemporaryDirectory() as tmp,
        _load_generator(worker_cpus) as worker,
    ):
        ca_pem = Path(served.ca_bundle).read_text()
        for repetition in range(repetitions):
            devices = [world.new_device() for _ in range(concurrency * per_client)]
            chains = [device.certificate_chain() for device in devices]  # issued before the clock starts
            index = export_devices([d.identity for d in devices], chains, Path(tmp, str(repetition)))
            files = [
                DeviceFiles(device.registration_id, entry["key_file"], entry["cert_file"])
                for device, entry in zip(devices, json.loads(index.read_text()), strict=True)
            ]
            gc.collect()
            started_cpu = time.process_time()
            job = worker.submit(
                register_devices, "127.0.0.1", served.mqtt_port, world.app.id_scope, ca_pem, files, concurrency
            )
            seconds, device_cpu = job.result()
            elapsed.append(seconds)
            server_cpu.append(time.process_time() - started_cpu)
            client_cpu.append(device_cpu)
    sample = Sample(elapsed, concurrency * per_client, cpu_seconds=server_cpu)
    sample.extra["server_cpu_ms"] = sample.cpu_per_unit_ms
    sample.extra["client_cpu_ms"] = statistics.median(client_cpu) / sample.units * 1000
    return sample


def served_verify_latency(clients: int, rounds: int) -> Sample:
    """p50 / p99 of ``POST …/verify`` over HTTPS with ``clients`` concurrent operators, each on its own group.

    The operators run in a worker process on a CPU of their own (:mod:`bench.verify_load`); each round fetches a
    fresh code from IoT Central and its proof from the Sphere legacy API, then times the verify.
    """
    from bench.verify_load import Operator, verify_latencies
    from simulator import control, pki
    from simulator.inprocess import CENTRAL_DOMAIN

    world = trusted_world()
    cloud = world.cloud
    operators: list[Operator] = []
    with _separate_cores() as worker_cpus, cloud.serve(mqtt_port=None) as served:
        assert served.defaults is not None
        app = served.defaults.app
        with cloud.lock:  # one tenant per client: a CA certificate may belong to one group only
            book = cloud.central.app_by_subdomain(app.subdomain).enrollment
            for i in range(clients):
                access = control.create_tenant(cloud, name=f"Bench {i}", email=f"operator{i}@bench.local")
                tenant = cloud.sphere.get_tenant(access.tenant_id)
                ca = tenant.active_generation(cloud.clock.now()).certificate
                book.put_group(f"g{i}", {"displayName": f"g{i}", "type": "iot", "attestation": {"type": "x509"}})
                book.set_entry(f"g{i}", "primary", {"certificate": pki.to_b64(ca)})
                operators.append(Operator(f"g{i}", access.tenant_id, access.token, pki.thumbprint(ca)))
        with _load_generator(worker_cpus) as worker:
            job = worker.submit(
                verify_latencies,
                served.urls["central"],
                f"{app.subdomain}.{CENTRAL_DOMAIN}",
                app.api_token,
                served.urls["sphere-legacy"],
                Path(served.ca_bundle).read_text(),
                operators,
                rounds,
            )
            latencies = sorted(job.result())
    sample = Sample(latencies, 1)
    sample.extra["p50_ms"] = _percentile(latencies, 50) * 1000
    sample.extra["p99_ms"] = _percentile(latencies, 99) * 1000
    return sample


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


# -- 4. start-up ---------------------------------------------------------------------------------------------------


def _cli() -> list[str]:
    """The installed ``sphere-harness`` console script of this interpreter's environment (else ``-m``)."""
    script = Path(sys.executable).parent / "sphere-harness"
    return [str(script)] if script.exists() else [sys.executable, "-m", "harness.cli"]


def serve_ready(repetitions: int, timeout: float = 30.0, exit_timeout: float = 10.0) -> Sample:
    """``sphere-harness serve`` (free ports) from process start until its endpoints file appears.

    What is timed is the start; stopping is not the figure. A server that has not exited ``exit_timeout`` seconds
    after SIGTERM is killed and counted in ``extra["slow_exits"]`` (reported beside the figure) instead of failing
    the run — a loaded machine can stall a process for seconds.
    """
    seconds: list[float] = []
    slow_exits = 0
    for _ in range(repetitions):
        with tempfile.TemporaryDirectory() as tmp:
            endpoints = Path(tmp, "endpoints.json")
            command = [*_cli(), "serve", "--port", "0", "--mqtt-port", "0", "--endpoints-file", str(endpoints)]
            start = time.perf_counter()
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                deadline = start + timeout
                while not endpoints.exists():
                    if process.poll() is not None or time.perf_counter() > deadline:
                        raise RuntimeError("sphere-harness serve did not become ready")
                    time.sleep(0.005)
                seconds.append(time.perf_counter() - start)
            finally:
                process.terminate()
                try:
                    process.wait(timeout=exit_timeout)
                except subprocess.TimeoutExpired:
                    slow_exits += 1
                    process.kill()
                    process.wait()
    sample = Sample(seconds)
    sample.extra["slow_exits"] = slow_exits
    return sample


def cli_run(repetitions: int) -> Sample:
    """``sphere-harness run`` (the seed scenario, offline) end to end, as a fresh process."""
    seconds: list[float] = []
    for _ in range(repetitions):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            done = subprocess.run(
                [*_cli(), "run", "--workdir", tmp], capture_output=True, timeout=120, cwd=os.getcwd(), check=False
            )
            seconds.append(time.perf_counter() - start)
            if done.returncode != 0:
                raise RuntimeError(f"sphere-harness run failed: {done.stderr.decode()[-400:]}")
    return Sample(seconds)


def python_startup(repetitions: int) -> Sample:
    """A bare ``python -c pass``: the floor under both start-up figures."""
    seconds: list[float] = []
    for _ in range(repetitions):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        seconds.append(time.perf_counter() - start)
    return Sample(seconds)


__all__ = [
    "Sample",
    "cli_run",
    "crypto_bound",
    "fleet",
    "fresh_worlds",
    "python_startup",
    "seed_workflow",
    "serve_ready",
    "served_registrations",
    "served_verify_latency",
]

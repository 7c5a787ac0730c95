"""Figure 9: a world that holds — cost per request against the world's size, idle connections, a classroom soak.

``python -m bench.robustness`` (rows "9." of ``python -m bench``) measures three things issue 16 asked for:

1. **Cost per request independent of the world's size.** Worlds of ``small`` and ``large`` tenants (10² and 10⁴),
   each tenant's CA in an enrollment group of one IoT Central app (the one-CA-one-group rule then has the whole
   world to check, and DPS the whole app's groups to walk). Timed in-process through the wire adapters: a
   certificate upload (``PUT …/certificates/primary``), a DPS registration (``PUT …/register``, the device chain in
   the in-process header) and ``POST /_sim/tenants``. Medians; the goal is large ÷ small ≤ 1.2.
2. **No listener stalls while connections pile up.** The large world served; one thread asks ``GET /_sim/health``
   in a loop while 200 TCP connections are opened to the MQTT port and 200 to the DPS HTTPS port and held idle.
   The longest health answer during the burst is the stall (goal < 100 ms); the baseline is the same loop with no
   idle connections.
3. **A classroom soak.** ``clients`` clients (200), each with its own tenant, run the trust workflow over HTTPS —
   group, upload, code, proof from the Sphere legacy API, verify, read, delete — for ``seconds`` (60), from a
   separate process (one asyncio loop). Reported: workflows and requests per second, p50/p99 of a request,
   failures, and the server's RSS before and after (after a garbage collection).

The clients of 2 and 3 run in a process of their own (the server is this process); 1 runs in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import multiprocessing
import os
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from bench.markdown import Row, table, write_section

BEGIN, END = "<!-- bench:robustness:begin -->", "<!-- bench:robustness:end -->"
SAMPLES = 40


# -- 1. cost against the world's size ------------------------------------------------------------------------------


class SizedWorld:
    """``tenants`` tenants, each CA self-attested in its own group of the default app; claimed devices to register."""

    def __init__(self, tenants: int, samples: int = SAMPLES) -> None:
        from simulator import control, pki
        from simulator.cloud import FakeCloud
        from simulator.entropy import Entropy

        self.cloud = cloud = FakeCloud(seed=1)
        with cloud.lock:
            defaults = control.ensure_defaults(cloud)
            self.app = app = cloud.central.app_by_subdomain(defaults.app.subdomain)
            self.api_token = defaults.app.api_token
            tenants_made = [cloud.sphere.get_tenant(defaults.tenant.tenant_id)]
            tenants_made += [cloud.sphere.create_tenant(name=f"t{n}") for n in range(tenants - 1)]
            group = {"type": "iot", "attestation": {"type": "x509"}}
            for n, tenant in enumerate(tenants_made):
                app.put_group(f"g{n}", {"displayName": f"g{n}", **group})
                ca = tenant.generations[0].certificate
                app.set_certificate(f"g{n}", "primary", {"certificate": pki.to_b64(ca), "verified": True})
            # upload targets: fresh CAs (one CA may sit in one group only) and empty groups to put them in
            entropy = Entropy(7)
            now = cloud.clock.now()
            self.uploads = [
                pki.to_b64(pki.make_self_signed_ca(pki.cn_name(f"upload {n}"), entropy, now).certificate)
                for n in range(samples)
            ]
            for n in range(samples):
                app.put_group(f"u{n}", {"displayName": f"u{n}", **group})
            # devices spread over the world, each with the chain it presents
            step = max(1, len(tenants_made) // samples)
            self.devices = []
            for n in range(samples):
                tenant = tenants_made[(n * step) % len(tenants_made)]
                identity = cloud.sphere.create_device()
                cloud.sphere.claim_device(tenant.id, identity.id)
                chain = cloud.sphere.device_certificate_chain(identity.id)[:2]
                header = base64.b64encode(b"".join(pki.to_pem(c) for c in chain)).decode()
                self.devices.append((identity.id, header))


def _median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def request_costs(tenants: int, samples: int = SAMPLES) -> dict[str, float]:
    """Median milliseconds of an upload, a registration and a tenant creation on a world of ``tenants``."""
    import httpx

    world = SizedWorld(tenants, samples)
    app = world.app
    central = f"https://{app.subdomain}.azureiotcentral.com/api/enrollmentGroups"
    dps = f"https://global.azure-devices-provisioning.net/{app.id_scope}/registrations"
    found: dict[str, list[float]] = {"upload": [], "register": [], "tenant": []}
    with world.cloud.mock(), httpx.Client() as client:
        for n in range(samples):
            started = time.perf_counter()
            response = client.put(
                f"{central}/u{n}/certificates/primary",
                params={"api-version": "2022-07-31"},
                json={"certificate": world.uploads[n]},
                headers={"authorization": world.api_token},
            )
            found["upload"].append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
        for device_id, header in world.devices:
            started = time.perf_counter()
            response = client.put(
                f"{dps}/{device_id}/register",
                params={"api-version": "2021-10-01"},
                json={"registrationId": device_id},
                headers={"x-sphere-harness-client-chain": header},
            )
            found["register"].append(time.perf_counter() - started)
            assert response.status_code == 202, response.text
        for _ in range(samples):
            started = time.perf_counter()
            response = client.post("https://sim.sphere-harness.local/_sim/tenants", json={})
            found["tenant"].append(time.perf_counter() - started)
            assert response.status_code == 201, response.text
    return {name: _median_ms(times) for name, times in found.items()}


# -- 2. a stall while connections pile up -------------------------------------------------------------------------


def _health_loop(url: str, verify: str, stop: threading.Event, out: list[float]) -> None:
    import ssl

    import httpx

    with httpx.Client(verify=ssl.create_default_context(cafile=verify), timeout=60) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get(url).raise_for_status()
            out.append(time.perf_counter() - started)


def _prober(ports: dict[str, int], verify: str, connections: int, seconds: float, queue: Any) -> None:
    """The client side of figure 9.2, in a process of its own: health in a loop, quiet then while connecting."""
    url = f"https://127.0.0.1:{ports['sphere']}/_sim/health"
    found: dict[str, list[float]] = {}
    for phase in ("quiet", "busy"):
        out: list[float] = []
        stop = threading.Event()
        thread = threading.Thread(target=_health_loop, args=(url, verify, stop, out))
        thread.start()
        time.sleep(0.2)
        held = []
        if phase == "busy":
            for _ in range(connections):
                held.append(socket.create_connection(("127.0.0.1", ports["mqtt"])))
                held.append(socket.create_connection(("127.0.0.1", ports["dps"])))
        time.sleep(seconds)
        stop.set()
        thread.join()
        for sock in held:
            sock.close()
        found[phase] = out
    queue.put(found)


def health_while_connecting(tenants: int, connections: int = 200, seconds: float = 3.0) -> dict[str, float]:
    """Health latencies (ms) with no idle connections, and while ``connections`` are opened to each of the MQTT and
    DPS HTTPS ports and held; the world has ``tenants`` tenants (every connection used to walk them). The client
    runs in a process of its own, so what is measured is the server's event loop, not a shared interpreter."""
    world = SizedWorld(tenants, samples=1)
    with world.cloud.serve(mqtt_port=0) as served:
        ports = {"sphere": served.port_of("sphere"), "dps": served.port_of("dps"), "mqtt": served.mqtt_port}
        spawn = multiprocessing.get_context("spawn")
        queue = spawn.Queue()
        worker = spawn.Process(target=_prober, args=(ports, served.ca_bundle, connections, seconds, queue))
        worker.start()
        found = queue.get(timeout=600)
        worker.join()
    quiet, busy = found["quiet"], found["busy"]
    return {
        "quiet_p50": _median_ms(quiet),
        "quiet_max": max(quiet) * 1000,
        "busy_p50": _median_ms(busy),
        "busy_max": max(busy) * 1000,
        "requests": len(busy),
    }


# -- 3. the soak ---------------------------------------------------------------------------------------------------


async def _client(base: dict[str, str], me: dict[str, Any], verify: str, deadline: float, out: dict[str, Any]) -> None:
    import ssl

    import httpx

    context = ssl.create_default_context(cafile=verify)
    version = {"api-version": "2022-07-31"}
    central = {"authorization": base["api_token"]}
    legacy = {"authorization": f"Bearer {me['token']}"}
    group = f"{base['central']}/api/enrollmentGroups/soak-{me['n']}"
    async with httpx.AsyncClient(verify=context, timeout=60) as client:

        async def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
            started = time.perf_counter()
            response = await client.request(method, url, **kwargs)
            out["latencies"].append(time.perf_counter() - started)
            if response.status_code >= 400:
                out["failures"] += 1
            return response

        ca = (await call("GET", f"{base['legacy']}/tenants/{me['tenant_id']}/cert", headers=legacy)).json()
        while time.monotonic() < deadline:
            body = {"displayName": "soak", "type": "iot", "attestation": {"type": "x509"}}
            await call("PUT", group, params=version, json=body, headers=central)
            await call(
                "PUT", f"{group}/certificates/primary", params=version, json={"certificate": ca}, headers=central
            )
            code = (
                await call("POST", f"{group}/certificates/primary/generateVerificationCode", params=version,
                           headers=central)
            ).json()["verificationCode"]  # fmt: skip
            proof = (
                await call("GET", f"{base['legacy']}/tenants/{me['tenant_id']}/verification/{code}", headers=legacy)
            ).json()
            await call(
                "POST", f"{group}/certificates/primary/verify", params=version, json={"certificate": proof},
                headers=central,
            )  # fmt: skip
            await call("GET", group, params=version, headers=central)
            await call("DELETE", group, params=version, headers=central)
            out["workflows"] += 1


def _load(base: dict[str, str], clients: list[dict[str, Any]], verify: str, seconds: float, queue: Any) -> None:
    """The load generator's process: every client in one asyncio loop."""
    out: dict[str, Any] = {"latencies": [], "failures": 0, "workflows": 0}
    deadline = time.monotonic() + seconds

    async def main() -> None:
        await asyncio.gather(*(_client(base, me, verify, deadline, out) for me in clients))

    started = time.monotonic()
    asyncio.run(main())
    out["elapsed"] = time.monotonic() - started
    queue.put(out)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def soak(clients: int, seconds: float) -> dict[str, float]:
    """``clients`` clients × ``seconds`` of the trust workflow against a served world; the server is this process."""
    import httpx

    from simulator.clock import Clock
    from simulator.cloud import FakeCloud

    with FakeCloud(seed=3, clock=Clock()).serve(mqtt_port=None) as served:
        endpoints = served.endpoints
        control = endpoints["control_url"]
        people = []
        with httpx.Client(verify=served.client_ssl_context(), timeout=60) as client:
            for n in range(clients):
                made = client.post(f"{control}/tenants", json={"email": f"learner{n}@example.com"}).json()
                people.append({"n": n, "tenant_id": made["tenant_id"], "token": made["token"]})
        base = {
            "legacy": endpoints["sphere"]["legacy_url"],
            "central": endpoints["central"]["url"],
            "api_token": endpoints["central"]["api_token"],
        }
        gc.collect()
        before = rss_mib()
        spawn = multiprocessing.get_context("spawn")
        queue = spawn.Queue()
        worker = spawn.Process(target=_load, args=(base, people, endpoints["ca_bundle"], seconds, queue))
        worker.start()
        out = queue.get(timeout=seconds + 600)
        worker.join()
        gc.collect()
        time.sleep(1)
        after = rss_mib()
    latencies = sorted(out["latencies"])
    return {
        "workflows": out["workflows"],
        "requests": len(latencies),
        "elapsed": out["elapsed"],
        "failures": out["failures"],
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000,
        "rss_before": before,
        "rss_after": after,
    }


# -- rows ----------------------------------------------------------------------------------------------------------


def rows(
    small: int = 100,
    large: int = 10_000,
    clients: int = 200,
    seconds: float = 60.0,
    samples: int = SAMPLES,
    health_seconds: float = 3.0,
) -> list[Row]:
    found: list[Row] = []
    few, many = request_costs(small, samples), request_costs(large, samples)
    labels = {
        "upload": "IoT Central certificate upload (`PUT …/certificates/primary`)",
        "register": "DPS registration (`PUT …/register`, HTTPS)",
        "tenant": "`POST /_sim/tenants`",
    }
    for name, label in labels.items():
        found.append(
            (
                f"9. {label}, p50 on {large:,} vs {small:,} tenants",
                f"{many[name]:.2f} ms on {large:,} tenants",
                f"{few[name]:.2f} ms on {small:,} tenants",
                f"**{many[name] / few[name]:.2f}×** (goal ≤ 1.2)",
            )
        )
    health = health_while_connecting(large, seconds=health_seconds)
    found.append(
        (
            f"9. `GET /_sim/health` while 200 + 200 idle connections are opened and held ({large:,} tenants)",
            f"longest {health['busy_max']:.1f} ms, p50 {health['busy_p50']:.2f} ms ({health['requests']:.0f} requests)",
            f"no idle connections: longest {health['quiet_max']:.1f} ms, p50 {health['quiet_p50']:.2f} ms",
            "goal: longest < 100 ms",
        )
    )
    result = soak(clients, seconds)
    found.append(
        (
            f"9. soak: {clients} clients × {seconds:.0f} s of the trust workflow over HTTPS (7 requests each)",
            f"{result['workflows'] / result['elapsed']:.1f} workflows/s, {result['requests'] / result['elapsed']:.0f} "
            f"requests/s, p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, {result['failures']:.0f} failures",
            f"server RSS before {result['rss_before']:.0f} MiB",
            f"after {result['rss_after']:.0f} MiB ({result['rss_after'] - result['rss_before']:+.0f} MiB)",
        )
    )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.robustness", description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (10 vs 100 tenants, 10 clients × 2 s)")
    parser.add_argument("--write", action="store_true", help="write the rows into BENCHMARKS.md")
    args = parser.parse_args(argv)
    health_seconds = 3.0
    if args.quick:
        args.small, args.large, args.clients, args.seconds, health_seconds = 10, 100, 10, 2.0, 0.5
    started = time.monotonic()
    found = rows(args.small, args.large, args.clients, args.seconds, health_seconds=health_seconds)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = (
        f"{os.cpu_count()} cores, load average {load} at the end, {time.monotonic() - started:.0f} s "
        f"(`python -m bench.robustness --small {args.small} --large {args.large} --clients {args.clients} "
        f"--seconds {args.seconds:.0f}`).\n\n" + table(found) + "\n"
    )
    print(text)
    if args.write:
        write_section(
            Path(__file__).resolve().parents[1] / "BENCHMARKS.md",
            text,
            begin=BEGIN,
            end=END,
            heading="A world that holds (figure 9)",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

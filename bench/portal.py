"""Figure 6: how fast the IoT Central pages answer while a classroom of learners works through the unit.

``python -m bench.portal`` (or a row of ``python -m bench``) serves a classroom (``lab serve``'s world: a tenant and
an app per trainee), then lets ``learners`` learners run the whole unit at the same time over HTTPS, the way their
tools do: sign in through their link, ``azsphere``'s legacy-API calls for the CA, the pages for the group, the
upload, the code, the proof from the legacy API, Verify and Save, a claimed device registering with DPS over
MQTT/TLS, then the Devices page, refreshing the Checklist along the way. An instructor reloads the instructor page
(every trainee's checklist) throughout.

Every portal request is timed on its own, from the client, without following redirects: a **page** is a ``GET``
answering HTML, an **action** a form ``POST`` answering its 303. The figure is the p95 of the pages (goal < 50 ms)
with learners who pause about ``THINK_S`` between clicks (jittered, as people read a page at different speeds; real
learners take longer); its baseline, measured in the same run and the same world, is the same workflow by one more
trainee working alone just before (after an untimed warm-up trainee). A second row repeats it with no pause at all:
a stress figure, the server's queue under 30 clients that never wait.

The learners run in a worker process pinned to a CPU of its own (:func:`bench.figures._load_generator`) and the
served world in this process on the others, so the figure is the server's answer time, not the Python scheduling
of clients sharing its interpreter.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.figures import Sample, _load_generator, _percentile, _separate_cores
from bench.markdown import Row, render

GOAL_MS = 50.0
LEARNERS, REPETITIONS = 30, 3  # the classroom; each repetition is a fresh classroom and its baseline
THINK_S = 1.0  # a quick learner's pause between clicks (reading the page); real ones take longer
CODE = re.compile(r'id="verification-code" readonly value="([0-9A-Fa-f]+)"')


# -- the learners (worker process) --------------------------------------------------------------------------------


def run_learners(
    trainees: list[dict[str, Any]], mqtt_port: int, instructor_url: str, ca_pem: str, think_s: float
) -> dict[str, list[float]]:
    """Every trainee's whole unit at once, plus an instructor reloading their page until the learners are done.

    Runs in the worker process; returns the seconds of every timed request by kind (``page``, ``action``,
    ``instructor``). Raises ``RuntimeError`` when a learner's workflow does not end with the device Provisioned.
    """
    import asyncio

    return asyncio.run(_classroom(trainees, mqtt_port, instructor_url, ca_pem, think_s))


async def _classroom(
    trainees: list[dict[str, Any]], mqtt_port: int, instructor_url: str, ca_pem: str, think_s: float
) -> dict[str, list[float]]:
    import asyncio
    import ssl

    import httpx

    context = ssl.create_default_context(cadata=ca_pem)
    # idle connections are dropped before uvicorn closes them (5 s), so a reused one is never half-closed
    limits = httpx.Limits(keepalive_expiry=2)
    timings: dict[str, list[float]] = {"page": [], "action": [], "instructor": []}
    done = asyncio.Event()
    pace = random.Random(7)  # learners' reading times: jittered so they do not click in step, the same every run

    async def timed(
        client: httpx.AsyncClient, kind: str, method: str, url: str, *, think: bool = True, **kwargs: Any
    ) -> httpx.Response:
        if think and think_s and kind != "instructor":  # the learner reads the page before the next click
            await asyncio.sleep(think_s * (0.5 + pace.random()))
        began = time.perf_counter()
        response = await client.request(method, url, **kwargs)
        timings[kind].append(time.perf_counter() - began)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {url} answered {response.status_code}: {response.text[:200]}")
        return response

    async def follow(client: httpx.AsyncClient, response: httpx.Response) -> httpx.Response:
        """A form's 303 and then the page it names, each timed on its own (a browser does the same two requests)."""
        while response.status_code in (302, 303):
            response = await timed(client, "page", "GET", str(response.next_request.url), think=False)
        return response

    async def instructor() -> None:
        async with httpx.AsyncClient(verify=context, timeout=120, limits=limits) as client:
            await follow(client, await timed(client, "page", "GET", instructor_url))
            base = instructor_url.split("?")[0]
            while not done.is_set():
                await timed(client, "instructor", "GET", base)
                await asyncio.sleep(0.2)

    async def learner(ep: dict[str, Any]) -> None:
        central, sphere_url = ep["central"]["url"], ep["sphere"]["legacy_url"]
        tenant = ep["sphere"]["tenant_id"]
        bearer = {"Authorization": f"Bearer {ep['sphere']['token']}"}
        groups = f"{central}/admin/device-connection"
        entry = f"{groups}/groups/azure-sphere/primary"
        async with (
            httpx.AsyncClient(verify=context, timeout=120, limits=limits) as page,
            httpx.AsyncClient(verify=context, timeout=120, limits=limits, headers=bearer) as sphere,
        ):
            # azsphere login, ca-certificate download
            (await sphere.get(f"{sphere_url}/tenants")).raise_for_status()
            ca = await sphere.get(f"{sphere_url}/tenants/{tenant}/cert")
            ca.raise_for_status()
            ca_der = _der(ca.text)
            # the pages: sign in, Device Connection, + New, Save, + Manage primary, the file, the gear, the code
            await follow(page, await timed(page, "page", "GET", ep["central"]["portal_url"]))
            await timed(page, "page", "GET", groups)
            await timed(page, "page", "GET", f"{groups}/new")
            body = {"name": "Azure Sphere", "group_type": "iot", "attestation_type": "x509"}
            await follow(page, await timed(page, "action", "POST", f"{groups}/new", data=body))
            await timed(page, "page", "GET", f"{central}/checklist")
            await timed(page, "page", "GET", entry)
            upload = {"certificate": ("CAcertificate.cer", ca_der)}
            await follow(page, await timed(page, "action", "POST", f"{entry}/upload", files=upload))
            await timed(page, "page", "GET", f"{entry}?dialog=settings")
            dialog = await follow(page, await timed(page, "action", "POST", f"{entry}/generate"))
            match = CODE.search(dialog.text)
            if match is None:
                raise RuntimeError("the dialog shows no verification code")
            # azsphere ca-certificate download-proof
            proof = await sphere.get(f"{sphere_url}/tenants/{tenant}/verification/{match.group(1)}")
            proof.raise_for_status()
            files = {"certificate": ("ValidationCertification.cer", _der(proof.text))}
            await follow(page, await timed(page, "action", "POST", f"{entry}/verify", files=files))
            await follow(page, await timed(page, "action", "POST", f"{entry}/save"))
            await timed(page, "page", "GET", f"{central}/checklist")
            # a claimed device connects: DPS over MQTT/TLS
            claim = {"count": 1, "claim": True, "tenant_id": tenant}
            made = await page.post(f"{ep['control_url']}/devices", json=claim)
            made.raise_for_status()
            [device] = made.json()["devices"]
            status = await asyncio.to_thread(_register, ep, mqtt_port, device, ca_pem)
            if status != "assigned":
                raise RuntimeError(f"the device was not assigned: {status}")
            devices = await timed(page, "page", "GET", f"{central}/devices")
            if "Provisioned" not in devices.text:
                raise RuntimeError("the Devices page does not show the device Provisioned")
            await timed(page, "page", "GET", f"{central}/checklist")
            await timed(page, "page", "GET", f"{central}/")

    watcher = asyncio.create_task(instructor())
    try:
        await asyncio.gather(*(learner(ep) for ep in trainees))
    finally:
        done.set()
        await watcher
    return timings


def _der(body: str) -> bytes:
    """A legacy string body (a JSON string or raw base64) as DER bytes."""
    import base64

    text = body.strip()
    if text.startswith('"'):
        text = json.loads(text)
    return base64.b64decode(text)


def _register(ep: dict[str, Any], mqtt_port: int, device: dict[str, Any], ca_pem: str) -> str:
    import os
    import ssl

    from simulator.device import register_over_mqtt

    with tempfile.TemporaryDirectory() as folder:
        key, chain = os.path.join(folder, "key.pem"), os.path.join(folder, "chain.pem")
        Path(key).write_text(device["key_pem"])
        Path(chain).write_text(device["certificate_chain_pem"])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cadata=ca_pem)
        context.load_cert_chain(chain, key)
        result = register_over_mqtt(ep["dps"]["host"], mqtt_port, ep["dps"]["id_scope"], device["id"], context)
    return str(result.status)


# -- the figure (this process) ------------------------------------------------------------------------------------


Timings = dict[str, list[float]]


def classroom_timings(learners: int, seed: int, think_s: float) -> tuple[Timings, Timings]:
    """Serve a classroom of ``learners + 2`` trainees: the first runs the unit alone untimed (a warm-up: the server
    compiles its templates and the worker imports its modules on first use), the second alone (the baseline), then
    the other ``learners`` all at once, from one worker process. Returns the last two runs' timings by kind."""
    from harness.lab.classroom import serve_classroom
    from harness.lab.environment import resolve_bundle

    with (
        tempfile.TemporaryDirectory() as tmp,
        _separate_cores() as worker_cpus,
        serve_classroom(learners + 2, Path(tmp) / "lab", mqtt_port=0, seed=seed) as room,
        _load_generator(worker_cpus) as worker,
    ):
        trainees = [
            resolve_bundle(json.loads(t.endpoints_file.read_text(encoding="utf-8")), t.endpoints_file)
            for t in room.trainees
        ]
        ca_pem = Path(trainees[0]["ca_bundle"]).read_text(encoding="ascii")
        port, instructor = room.served.mqtt_port, room.instructor_url
        worker.submit(run_learners, trainees[:1], port, instructor, ca_pem, 0.0).result()
        alone = worker.submit(run_learners, trainees[1:2], port, instructor, ca_pem, think_s).result()
        loaded = worker.submit(run_learners, trainees[2:], port, instructor, ca_pem, think_s).result()
        return alone, loaded


def page_latency(learners: int, repetitions: int, think_s: float) -> tuple[Sample, Sample]:
    """The latencies under ``learners`` concurrent learners and of one learner alone, both at ``think_s``: every
    request of every repetition, as :class:`~bench.figures.Sample` (``extra``: percentiles by kind, counts, spread
    of the per-run page p95)."""
    loaded: dict[str, list[float]] = {"page": [], "action": [], "instructor": []}
    alone: dict[str, list[float]] = {"page": [], "action": [], "instructor": []}
    loaded_p95: list[float] = []
    for repetition in range(repetitions):
        solo, room = classroom_timings(learners, 700 + repetition, think_s)
        for kind in alone:
            alone[kind] += solo[kind]
            loaded[kind] += room[kind]
        loaded_p95.append(_percentile(room["page"], 95))
    return _sample(loaded, loaded_p95), _sample(alone, [])


def _sample(timings: dict[str, list[float]], per_run_p95: list[float]) -> Sample:
    sample = Sample(sorted(timings["page"]), 1)
    for kind, values in timings.items():
        if values:
            for pct in (50, 95, 99):
                sample.extra[f"{kind}_p{pct}_ms"] = _percentile(values, pct) * 1000
        sample.extra[f"{kind}_count"] = len(values)
    if len(per_run_p95) > 1:
        middle = statistics.median(per_run_p95)
        sample.extra["p95_spread"] = f"±{(max(per_run_p95) - min(per_run_p95)) / 2 / middle * 100:.0f}% over " + (
            f"{len(per_run_p95)} runs"
        )
    else:
        sample.extra["p95_spread"] = "1 run"
    return sample


def rows(learners: int, repetitions: int, think_s: float = THINK_S) -> list[Row]:
    """The figure's rows for ``BENCHMARKS.md``: ``(figure, measured, baseline, ratio / goal)``. First at a
    learner's pace (``think_s`` between clicks, jittered), then the same without any pause (a stress figure)."""
    out: list[Row] = []
    loaded, alone = page_latency(learners, repetitions, think_s)
    x, a = loaded.extra, alone.extra
    pace = f"~{think_s:g} s between clicks" if think_s else "no pause between clicks"
    out.append(
        (
            f"6. portal pages (`GET`), {learners} learners running the unit at once, {pace}",
            f"p95 {x['page_p95_ms']:.1f} ms, p50 {x['page_p50_ms']:.1f} ms, p99 {x['page_p99_ms']:.1f} ms "
            f"({x['page_count']} pages; p95 {x['p95_spread']})",
            f"one learner alone: p95 {a['page_p95_ms']:.1f} ms, p50 {a['page_p50_ms']:.1f} ms "
            f"({a['page_count']} pages)",
            f"**{x['page_p95_ms'] / a['page_p95_ms']:.1f}×** alone's p95 (goal p95 < {GOAL_MS:.0f} ms)",
        )
    )
    out.append(
        (
            f"6. portal form actions (`POST` → 303), {learners} learners, {pace}",
            f"p95 {x['action_p95_ms']:.1f} ms, p50 {x['action_p50_ms']:.1f} ms ({x['action_count']} actions)",
            f"one learner alone: p95 {a['action_p95_ms']:.1f} ms ({a['action_count']} actions)",
            f"{x['action_p95_ms'] / a['action_p95_ms']:.1f}× alone's p95",
        )
    )
    if x.get("instructor_count"):
        out.append(
            (
                f"6. instructor page ({learners + 2} trainees' checklists), reloaded through the run",
                f"p95 {x['instructor_p95_ms']:.1f} ms, p50 {x['instructor_p50_ms']:.1f} ms "
                f"({x['instructor_count']} loads)",
                f"while one learner works alone: p95 {a.get('instructor_p95_ms', float('nan')):.1f} ms",
                "—",
            )
        )
    if think_s:
        stress, stress_alone = page_latency(learners, repetitions, 0.0)
        y, b = stress.extra, stress_alone.extra
        out.append(
            (
                f"6. portal pages (`GET`), {learners} learners, no pause between clicks (stress)",
                f"p95 {y['page_p95_ms']:.1f} ms, p50 {y['page_p50_ms']:.1f} ms ({y['page_count']} pages; "
                f"p95 {y['p95_spread']}); actions p95 {y['action_p95_ms']:.1f} ms",
                f"one learner alone: p95 {b['page_p95_ms']:.1f} ms",
                f"{y['page_p95_ms'] / b['page_p95_ms']:.1f}× alone's p95",
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:

    parser = argparse.ArgumentParser(prog="python -m bench.portal", description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=LEARNERS, help=f"learners at once (default {LEARNERS})")
    parser.add_argument("--repetitions", type=int, default=REPETITIONS, help="classrooms, each with its solo baseline")
    parser.add_argument(
        "--think", type=float, default=THINK_S, help=f"seconds between a learner's clicks (default {THINK_S:g})"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    table_rows = rows(args.learners, args.repetitions, args.think)
    command = "python -m bench.portal " + " ".join(argv if argv is not None else sys.argv[1:])
    print(render(table_rows, command=command.strip(), seconds=time.perf_counter() - start))
    return 0


if __name__ == "__main__":  # a spawned worker imports this module again: only the parent runs main
    sys.exit(main())

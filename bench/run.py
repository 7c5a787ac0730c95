"""The benchmark runner: ``python -m bench`` measures the four figures and writes ``BENCHMARKS.md``.

Each figure's baseline is measured in the same run, on the same machine, so the ratios hold even when the absolute
numbers move with the load of a shared machine. Sizes are bounded by the options; ``--quick`` is the smoke size.
The 10⁵-device fleet runs only with ``--fleet-100k``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bench import figures
from bench.markdown import Row, render


@dataclass
class Sizes:
    workflows: int = 20
    worlds: int = 200
    repetitions: int = 5
    fleet: tuple[int, ...] = (1_000, 10_000)
    fleet_repetitions: int = 5
    served_concurrency: tuple[int, ...] = (1, 8, 64)
    served_per_run: int = 384  # long enough runs that one scheduling hiccup does not decide the figure
    verify_clients: int = 50
    verify_rounds: int = 10
    startup_repetitions: int = 5
    fleet_100k: bool = False

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            workflows=2,
            worlds=5,
            repetitions=1,
            fleet=(20,),
            fleet_repetitions=1,
            served_concurrency=(1, 4),
            served_per_run=8,
            verify_clients=4,
            verify_rounds=2,
            startup_repetitions=1,
        )


Say = Callable[[str], None]


def seed_rows(sizes: Sizes, say: Say) -> list[Row]:
    say(f"1. seed workflow ×{sizes.workflows}, {sizes.repetitions} repetitions …")
    ours, moto = figures.seed_workflow(sizes.workflows, sizes.repetitions)
    rows = [
        (
            "1. seed workflow in-process (`run_scenario('enable-trust')`)",
            f"{ours.rate:.1f} workflows/s, {ours.per_unit_ms:.1f} ms/workflow ({ours.spread}); "
            f"CPU {ours.cpu_per_unit_ms:.1f} ms",
            f"moto AWS IoT register-CA: {moto.per_unit_ms:.1f} ms/workflow ({moto.spread}); "
            f"CPU {moto.cpu_per_unit_ms:.1f} ms",
            f"**{ours.per_unit_ms / moto.per_unit_ms:.2f}×** moto's time, "
            f"{ours.cpu_per_unit_ms / moto.cpu_per_unit_ms:.2f}× its CPU (goal ≤ 1.0×)",
        )
    ]
    our_requests, moto_requests = ours.extra["requests"], moto.extra["requests"]
    our_per_request, moto_per_request = ours.per_unit_ms / our_requests, moto.per_unit_ms / moto_requests
    rows.append(
        (
            "1. the same, per HTTP request into the fake",
            f"{our_per_request:.2f} ms/request ({our_requests} requests per workflow, given set-up included)",
            f"moto: {moto_per_request:.2f} ms/request ({moto_requests} requests per workflow)",
            f"**{our_per_request / moto_per_request:.2f}×** moto's time per request (goal ≤ 0.5×)",
        )
    )
    return rows


def world_rows(sizes: Sizes, say: Say) -> list[Row]:
    say(f"1. fresh worlds ×{sizes.worlds}, {sizes.repetitions} repetitions …")
    found = figures.fresh_worlds(sizes.worlds, sizes.repetitions)
    long_way = found["long way"]
    rows = []
    for name, label in (
        ("defaults", "`FakeCloud(seed)` + `ensure_defaults` (default tenant, Administrator, app, tokens)"),
        ("fake_cloud", "the `fake_cloud` fixture: `FakeCloud(0)` with `cloud.mock()` entered and left"),
        ("fake_world", "the `fake_world` fixture: `fake_cloud` + `ensure_defaults`"),
    ):
        sample = found[name]
        rows.append(
            (
                f"1. a fresh world: {label}",
                f"{sample.per_unit_ms:.2f} ms/world ({sample.spread}); CPU {sample.cpu_per_unit_ms:.2f} ms",
                f"the long way (no template): {long_way.per_unit_ms:.2f} ms/world" if name != "fake_cloud" else "—",
                "goal ≤ 1 ms",
            )
        )
    return rows


def fleet_rows(sizes: Sizes, say: Say) -> list[Row]:
    rows: list[Row] = []
    for devices in sizes.fleet:
        say(f"2. fleet of {devices} devices, {sizes.fleet_repetitions} repetitions …")
        sample = figures.fleet(devices, sizes.fleet_repetitions)
        bound = figures.crypto_bound(devices, sizes.fleet_repetitions)
        rows.append(
            (
                f"2. fleet enrollment in-process, {devices:,} devices (claim → provisioned)",
                f"{sample.rate:,.0f} devices/s, {sample.per_unit_ms:.2f} ms/device ({sample.spread}); "
                f"max RSS {sample.extra['max_rss_mib']:.0f} MiB",
                f"P-256 sign+verify: {bound.rate:,.0f} /s ({bound.spread})",
                f"**{sample.rate / bound.rate:.2f}×** the crypto bound (goal ≥ 2,000 devices/s)",
            )
        )
    if sizes.fleet_100k:
        say("2. fleet of 100,000 devices (one run) …")
        sample = figures.fleet(100_000, 1)
        rows.append(
            (
                "2. fleet enrollment in-process, 100,000 devices",
                f"{sample.median:.1f} s, {sample.rate:,.0f} devices/s; max RSS {sample.extra['max_rss_mib']:.0f} MiB",
                "—",
                "goal < 60 s and < 1 GiB",
            )
        )
    return rows


def served_rows(sizes: Sizes, say: Say) -> list[Row]:
    rows: list[Row] = []
    for concurrency in sizes.served_concurrency:
        per_client = max(1, sizes.served_per_run // concurrency)
        say(f"3. served MQTT/TLS registrations, {concurrency} concurrent …")
        sample = figures.served_registrations(concurrency, per_client, sizes.repetitions)
        rows.append(
            (
                f"3. served DPS registrations over MQTT/TLS, {concurrency} concurrent device(s)",
                f"{sample.rate:.0f} registrations/s ({sample.units} per run, {sample.spread}); "
                f"CPU per registration: server {sample.extra['server_cpu_ms']:.2f} ms, "
                f"devices {sample.extra['client_cpu_ms']:.2f} ms",
                "—",
                "goal ≥ 400 registrations/s median (8 and 64 devices), never < 300",
            )
        )
    say(f"3. served verify latency, {sizes.verify_clients} clients …")
    latency = figures.served_verify_latency(sizes.verify_clients, sizes.verify_rounds)
    rows.append(
        (
            f"3. served HTTPS `verify` latency, {sizes.verify_clients} concurrent clients",
            f"p50 {latency.extra['p50_ms']:.1f} ms, p99 {latency.extra['p99_ms']:.1f} ms "
            f"({len(latency.seconds)} requests)",
            "—",
            "—",
        )
    )
    return rows


def startup_rows(sizes: Sizes, say: Say) -> list[Row]:
    say("4. start-up …")
    floor = figures.python_startup(sizes.startup_repetitions)
    ready = figures.serve_ready(sizes.startup_repetitions)
    run = figures.cli_run(sizes.startup_repetitions)
    return [
        (
            "4. `sphere-harness serve` until the endpoints file appears",
            f"{ready.median * 1000:.0f} ms ({ready.spread})"
            + (
                f"; {ready.extra['slow_exits']} run(s) killed: no exit 10 s after SIGTERM"
                if ready.extra["slow_exits"]
                else ""
            ),
            f"bare `python -c pass`: {floor.median * 1000:.0f} ms",
            f"{ready.median / floor.median:.1f}× the interpreter (goal < 1 s)",
        ),
        (
            "4. `sphere-harness run` (enable-trust, offline) end to end",
            f"{run.median * 1000:.0f} ms ({run.spread})",
            f"bare `python -c pass`: {floor.median * 1000:.0f} ms",
            f"{run.median / floor.median:.1f}× the interpreter",
        ),
    ]


def package_rows(sizes: Sizes, say: Say) -> list[Row]:
    say("5. package start-up (pytest plugin, CLI) …")
    from bench import startup

    return startup.rows(sizes.startup_repetitions, warm=sizes.startup_repetitions > 1)


def portal_rows(sizes: Sizes, say: Say) -> list[Row]:
    say("6. portal pages under a classroom of learners …")
    from bench import portal

    quick = sizes.repetitions == 1
    return portal.rows(2, 1, 0.0) if quick else portal.rows(portal.LEARNERS, portal.REPETITIONS)


def persistence_rows(sizes: Sizes, say: Say) -> list[Row]:
    say("7. persisted writes (state_dir) …")
    from bench import persistence

    return persistence.rows(20, 60, 5) if sizes.repetitions == 1 else persistence.rows()


def replay_rows(sizes: Sizes, say: Say) -> list[Row]:
    say("8. the seed workflow replayed from a recording …")
    from bench import replay

    return replay.rows(2, 1) if sizes.repetitions == 1 else replay.rows()


def robustness_rows(sizes: Sizes, say: Say) -> list[Row]:
    say("9. cost against the world's size, idle connections, a 200-client soak …")
    from bench import robustness

    quick = sizes.repetitions == 1
    return robustness.rows(10, 100, 10, 2.0, samples=10, health_seconds=0.5) if quick else robustness.rows()


#: the figures, in table order: ``(name for --only, rows(sizes, say))``. A new figure is a module of ``bench/``
#: with a rows function, and one line here.
SECTIONS: list[tuple[str, Callable[[Sizes, Say], list[Row]]]] = [
    ("seed", seed_rows),
    ("world", world_rows),
    ("fleet", fleet_rows),
    ("served", served_rows),
    ("startup", startup_rows),
    ("package", package_rows),
    ("portal", portal_rows),
    ("persistence", persistence_rows),
    ("replay", replay_rows),
    ("robustness", robustness_rows),
]


def measure(sizes: Sizes, *, log: bool = True, only: Iterable[str] | None = None) -> list[Row]:
    """Run every figure (or the sections named in ``only``); return the table rows."""

    def say(text: str) -> None:
        if log:
            print(text, file=sys.stderr, flush=True)

    wanted = set(only) if only else None
    rows: list[Row] = []
    for name, section in SECTIONS:
        if wanted is None or name in wanted:
            rows.extend(section(sizes, say))
    return rows


RESULTS_BEGIN = "<!-- bench:results:begin -->"
RESULTS_END = "<!-- bench:results:end -->"


def write_results(path: Path, text: str) -> None:
    """Put ``text`` between the result markers of ``path`` (the rest of the file — notes, history — is kept)."""
    block = f"{RESULTS_BEGIN}\n{text}{RESULTS_END}"
    if path.exists():
        current = path.read_text()
        if RESULTS_BEGIN in current and RESULTS_END in current:
            head, rest = current.split(RESULTS_BEGIN, 1)
            tail = rest.split(RESULTS_END, 1)[1]
            path.write_text(head + block + tail)
            return
        path.write_text(current.rstrip() + "\n\n## Latest run\n\n" + block + "\n")
        return
    path.write_text("# Benchmarks\n\n## Latest run\n\n" + block + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--workflows", type=int, help="seed workflows per repetition")
    parser.add_argument("--fleet", type=int, nargs="+", help="fleet sizes (default 1000 10000)")
    parser.add_argument("--fleet-100k", action="store_true", help="also enroll 10⁵ devices (one run)")
    parser.add_argument("--repetitions", type=int, help="repetitions per figure")
    parser.add_argument(
        "--out", type=Path, help="markdown file to update (default BENCHMARKS.md; with --quick, only when given)"
    )
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    names = [name for name, _ in SECTIONS]
    parser.add_argument(
        "--only", nargs="+", choices=names, metavar="FIGURE", help=f"run only these figures ({', '.join(names)})"
    )
    args = parser.parse_args(argv)

    sizes = Sizes.quick() if args.quick else Sizes()
    sizes.fleet_100k = args.fleet_100k
    if args.workflows:
        sizes.workflows = args.workflows
    if args.fleet:
        sizes.fleet = tuple(args.fleet)
    if args.repetitions:
        sizes.repetitions = sizes.fleet_repetitions = sizes.startup_repetitions = args.repetitions

    start = time.perf_counter()
    rows = measure(sizes, only=args.only)
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    text = render(rows, command=command.strip(), seconds=time.perf_counter() - start)
    print(text)
    # a smoke run never replaces real figures, nor does a partial one
    out = args.out or (None if args.quick or args.only else Path("BENCHMARKS.md"))
    if out is not None and not args.no_write:
        write_results(out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Figure 7: what persistence costs a request, and that the cost does not grow with the world.

``python -m bench.persistence`` (or a row of ``python -m bench``) builds worlds of ``small`` and ``large`` tenants
three ways — in memory, with a state directory at ``sqlite_synchronous=FULL`` (the default: a commit is on disk
before the response) and at ``NORMAL`` (survives a killed process, may lose the last commits on power loss) — and
times one IoT Central write, the certificate upload of the trust workflow (``put_group`` + ``set_certificate``
inside one ``with cloud.lock:``, whose end commits), ``uploads`` times per world. Figures are medians.

The baseline, measured in the same run, is the same upload on the world in memory. Two ratios matter: persisted ÷
in memory (the price of durability, mostly one ``fsync`` at FULL) and large ÷ small (goal ≤ 1.2: a commit writes the
rows a request changed, never the world). The commit's row count is reported too — the same on both sizes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from typing import Any

from bench.markdown import Row

UPLOADS = 40


def _world(tenants: int, mode: str, directory: str | None) -> Any:
    import simulator.state.database as database
    from simulator import control
    from simulator.cloud import FakeCloud

    default = database.DEFAULT_SETTINGS["sqlite_synchronous"]
    database.DEFAULT_SETTINGS["sqlite_synchronous"] = mode if mode != "memory" else default
    try:
        cloud = FakeCloud(seed=1, state_dir=directory if mode != "memory" else None)
    finally:
        database.DEFAULT_SETTINGS["sqlite_synchronous"] = default
    with cloud.lock:
        for n in range(tenants):
            cloud.sphere.create_tenant(name=f"t{n}")
        control.ensure_defaults(cloud)
    return cloud


def upload_ms(tenants: int, mode: str, uploads: int = UPLOADS) -> tuple[float, int]:
    """Median milliseconds of one certificate upload (group + entry, committed), and the objects one commit wrote."""
    from simulator import pki

    with tempfile.TemporaryDirectory() as directory:
        cloud = _world(tenants, mode, directory)
        try:
            app = cloud.central.default_app
            cas = [t.generations[0].certificate for t in list(cloud.sphere.tenants.values())[:uploads]]
            times, rows = [], 0
            for n, ca in enumerate(cas):
                body = {"certificate": pki.to_b64(ca)}
                group = {"displayName": f"g{n}", "type": "iot", "attestation": {"type": "x509"}}
                started = time.perf_counter()
                with cloud.lock:
                    app.put_group(f"g{n}", group)
                    app.set_certificate(f"g{n}", "primary", body)
                times.append(time.perf_counter() - started)
            if mode != "memory":  # how many objects one upload writes (measured outside the timing)
                app.put_group("count", {"displayName": "c", "type": "iot", "attestation": {"type": "x509"}})
                rows = cloud.commit()
        finally:
            cloud.close()
    return statistics.median(times) * 1000, rows


def rows(small: int = 100, large: int = 1000, uploads: int = UPLOADS) -> list[Row]:
    """Table rows for ``bench/run.py``."""
    measured = {
        (mode, size): upload_ms(size, mode, uploads) for mode in ("memory", "FULL", "NORMAL") for size in (small, large)
    }
    out = []
    for mode, meaning in (("FULL", "synchronous=FULL (default)"), ("NORMAL", "synchronous=NORMAL")):
        (ms_small, rows_small), (ms_large, rows_large) = measured[(mode, small)], measured[(mode, large)]
        base_small, base_large = measured[("memory", small)][0], measured[("memory", large)][0]
        out.append(
            (
                f"7. persisted certificate upload, {meaning}, {small:,} vs {large:,} tenants",
                f"p50 {ms_small:.2f} ms vs {ms_large:.2f} ms; {rows_small} vs {rows_large} objects per commit",
                f"in memory: {base_small:.2f} ms vs {base_large:.2f} ms",
                f"**{ms_large / ms_small:.2f}×** large ÷ small (goal ≤ 1.2); {ms_small / base_small:.0f}× in memory",
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.persistence", description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=1000, help="e.g. 10000 for the issue's 10⁴ (slow to build)")
    parser.add_argument("--uploads", type=int, default=UPLOADS)
    args = parser.parse_args(argv)
    for row in rows(args.small, args.large, args.uploads):
        print(" | ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())

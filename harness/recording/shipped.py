"""The recordings the project ships: every live-capable scenario, recorded against a served world posing as Azure.

``recordings/`` holds one recording per scenario that declares ``live`` (``targets: [..., live]``), made the way a
real one is: ``--target live`` with an allow-list, against a served world whose endpoints stand in for Azure's. The
world is deterministic — a fixed seed, a frozen clock at :data:`START`, a tenant and an app with their own names,
a fixed run prefix — so recording again gives the same files unless the fakes' answers changed, and a diff of
``recordings/`` shows exactly what changed on the wire.

Regenerate them with one command whenever a fake's response shape changes (and parity would otherwise differ)::

    sphere-harness recordings refresh          # rewrites recordings/*.json
    sphere-harness recordings check            # parity of each against the fake: all must be equal

A recording made against real Azure (see ``recordings/README.md``) replaces the served one of the same name; the
``check`` then compares the fakes with Azure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SEED = 7
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
RUN_PREFIX = "sh-20260105090000-0000"
TENANT_NAME = "Contoso Devices"
USER = "operator@contoso.example"
RESOURCE_GROUP = "contoso-devices-rg"
CATALOG = "contoso-catalog"
APP_SUBDOMAIN = "contoso-scratch"
APP_NAME = "Contoso Scratch"


def default_folder() -> Path:
    """``recordings/`` of the project (beside ``scenarios/``), else ``./recordings``."""
    here = Path(__file__).resolve().parents[2] / "recordings"
    return here if here.is_dir() else Path.cwd() / "recordings"


def live_capable() -> list[tuple[str, Path]]:
    """(name, path) of every known scenario that declares the ``live`` target."""
    from harness.scenario import list_scenarios, load_scenario

    return [(name, path) for name, path in list_scenarios() if "live" in load_scenario(path).targets]


@dataclass
class Recorded:
    name: str
    path: Path
    passed: bool
    error: str | None = None


def refresh(
    folder: str | Path | None = None,
    *,
    names: list[str] | None = None,
    report: Callable[[Recorded], None] | None = None,
) -> list[Recorded]:
    """Record each live-capable scenario (or ``names``) into ``folder`` against a fresh served world."""
    import tempfile

    from harness.config import LiveConfig
    from harness.recording.recorder import RecordingTarget
    from harness.runner import run
    from harness.scenario import load_scenario
    from harness.targets import LiveTarget
    from simulator import control
    from simulator.clock import Clock
    from simulator.cloud import FakeCloud

    out = Path(folder) if folder is not None else default_folder()
    out.mkdir(parents=True, exist_ok=True)
    chosen = [(n, p) for n, p in live_capable() if names is None or n in names]
    cloud = FakeCloud(SEED, clock=Clock(start=START, frozen=True))
    tenant = control.create_tenant(cloud, name=TENANT_NAME, email=USER, resource_group=RESOURCE_GROUP, catalog=CATALOG)
    app = control.create_app(cloud, subdomain=APP_SUBDOMAIN, name=APP_NAME)
    done: list[Recorded] = []
    with cloud.serve(port=0, mqtt_port=None) as served:
        config = LiveConfig.model_validate(
            {
                **served.endpoints,
                "allow": {"tenants": [tenant.tenant_id], "apps": [app.subdomain]},
                "run_prefix": RUN_PREFIX,
            }
        )
        for name, path in chosen:
            scenario = load_scenario(path)
            target = RecordingTarget(LiveTarget(config), out / f"{name}.json")
            with tempfile.TemporaryDirectory(prefix=f"sphere-harness-record-{name}-") as workdir:
                result = run(scenario, target, workdir=workdir)
            failed = result.failed_step
            error = result.error or (f"step {failed.index + 1}: {failed.error}" if failed else None)
            item = Recorded(name, out / f"{name}.json", result.passed, error)
            done.append(item)
            if report is not None:
                report(item)
    return done


def check(folder: str | Path | None = None, *, report: Callable[[Any], None] | None = None) -> list[Any]:
    """Parity of every recording in ``folder`` against the fake (a list of :class:`ParityReport`)."""
    from harness.recording.parity import parity

    source = Path(folder) if folder is not None else default_folder()
    reports = []
    for path in sorted(source.glob("*.json")):
        result = parity(path)
        reports.append(result)
        if report is not None:
            report(result)
    return reports


__all__ = ["Recorded", "check", "default_folder", "live_capable", "refresh"]

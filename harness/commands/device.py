"""``sphere-harness device new``: mint simulated Sphere devices through a served world's control API."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from harness.cli import LazyGroup
from harness.commands._common import EXIT_FAILED, fail

#: ``device`` subcommands that live in other modules (imported when used), as in :data:`harness.cli.COMMANDS`
DEVICE_COMMANDS: dict[str, tuple[str, str]] = {
    "connect": ("harness.commands.lab:device_connect_app", "Connect simulated devices (DPS over MQTT/TLS)."),
}


@click.group(cls=LazyGroup, lazy=DEVICE_COMMANDS, no_args_is_help=True)
def device() -> None:
    """Simulated Sphere devices of a served world."""


@device.command("new")
@click.option(
    "--endpoints-file", required=True, type=click.Path(path_type=Path), help="the served world's endpoints file"
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="folder for the key, certificate chain and devices.json",
)
@click.option("--count", type=click.IntRange(1, 1000), default=1, show_default=True, help="how many devices")
@click.option("--claim/--no-claim", default=False, help="claim them into the world's tenant (gives them certificates)")
def device_new(endpoints_file: Path, out: Path, count: int, claim: bool) -> None:
    """Mint simulated Sphere devices through the served world's control API (POST /_sim/devices)."""
    from harness.clients import ControlClient, HarnessClientError
    from harness.lab.environment import resolve_bundle

    try:
        # a classroom's trainee file names its bundle relative to itself ("ca.pem"): resolve it against the file
        endpoints = resolve_bundle(json.loads(endpoints_file.read_text(encoding="utf-8")), endpoints_file)
        control = ControlClient.for_endpoints(endpoints)
        tenant_id = (endpoints.get("sphere") or {}).get("tenant_id") if claim else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise fail(f"{endpoints_file} is not a usable endpoints file: {exc}") from None
    try:
        with control:
            devices = control.create_devices(count, claim=claim, tenant_id=tenant_id)
    except HarnessClientError as exc:
        raise fail(str(exc), EXIT_FAILED) from None
    written = write_devices(devices, out)
    for entry in written:  # the whole ID: a learner copies it into 'azsphere device claim --device <id>'
        click.echo(f"device {entry['id']}")
        click.echo(f"  key {entry['key_file']}  chain {entry['cert_file'] or '(unclaimed)'}")
    click.echo(f"wrote {out / 'devices.json'}")


def write_devices(devices: list[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """Each device's ``<id>.key.pem`` and ``<id>.chain.pem`` (leaf first) plus ``devices.json`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in devices:
        device_id = entry["id"]
        key_file = out / f"{device_id}.key.pem"
        key_file.write_text(entry["key_pem"], encoding="ascii")
        os.chmod(key_file, 0o600)
        cert_file = None
        if entry.get("certificate_chain_pem"):
            cert_file = out / f"{device_id}.chain.pem"
            cert_file.write_text(entry["certificate_chain_pem"], encoding="ascii")
        written.append({"id": device_id, "key_file": str(key_file), "cert_file": str(cert_file) if cert_file else None})
    (out / "devices.json").write_text(json.dumps(written, indent=2) + "\n", encoding="utf-8")
    return written

"""``sphere-harness serve``: the whole fake world over HTTPS and MQTT/TLS on loopback until interrupted."""

from __future__ import annotations

import json
import logging
import secrets
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from harness.commands._common import EXIT_FAILED, EXIT_PASSED, fail


def parse_settings(items: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``("central.code_reuse=true", "dps.retry_after_s=1")`` → ``{"central": {"code_reuse": True}, …}``: each
    value is read as YAML (``true``, ``3``, ``[a, b]``, ``null``), then the whole is checked as settings are
    (:meth:`simulator.settings.Settings.from_mapping`: unknown names and wrong types refused, with the close name)."""
    import yaml

    from simulator.settings import Settings

    found: dict[str, dict[str, Any]] = {}
    for item in items:
        name, equals, raw = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not equals or not dot or not section or not key:
            raise ValueError(f"--setting {item!r}: expected SECTION.NAME=VALUE, e.g. central.code_reuse=true")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise ValueError(f"--setting {item!r}: the value is not YAML ({exc.problem})") from None
        found.setdefault(section, {})[key] = value
    Settings.from_mapping(found)
    return found


def port_hint(message: str) -> str:
    """How to get past a listener that could not start: name the option that picks its port."""
    if "in use" not in message.lower():
        return ""
    if "MQTT" in message:
        return " (another MQTT broker or served world holds it: choose another with --mqtt-port, 0 for a free one)"
    return " (choose another first port with --port, or --port 0 for free ports)"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=int, default=0, show_default=True, help="first HTTPS port (0: free ports)")
@click.option(
    "--mqtt-port",
    type=int,
    default=8883,
    show_default=True,
    help="MQTT/TLS port for DPS and the hub (the device SDK needs 8883; 0: a free port)",
)
@click.option("--seed", type=int, default=None, help="seed of the world (default: a random one, printed)")
@click.option(
    "--endpoints-file", type=click.Path(path_type=Path), default=None, help="write the endpoints JSON here once ready"
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="keep the world in this directory (SQLite) and resume the one it holds",
)
@click.option(
    "--from-snapshot",
    type=click.Path(path_type=Path),
    default=None,
    help="start from a world file ('state export'); with --state-dir only into an empty directory",
)
@click.option(
    "--setting",
    "settings",
    multiple=True,
    metavar="SECTION.NAME=VALUE",
    help="change one of the fakes' settings (docs/fidelity.md), e.g. central.code_reuse=true; repeatable",
)
@click.option(
    "--control",
    type=click.Choice(["auto", "token", "off"]),
    default="auto",
    show_default=True,
    help="the /_sim control API: auto = open on loopback, needs the printed control token on any other --host; "
    "token = always needs it; off = not served",
)
def serve(
    host: str,
    port: int,
    mqtt_port: int,
    seed: int | None,
    endpoints_file: Path | None,
    state_dir: Path | None,
    from_snapshot: Path | None,
    settings: tuple[str, ...],
    control: str,
) -> None:
    """Serve the whole fake world over HTTPS and MQTT/TLS until interrupted (Ctrl-C, SIGTERM or SIGHUP → exit 0)."""
    from harness.commands.state import open_world

    try:
        chosen_settings = parse_settings(settings)
    except ValueError as exc:
        raise fail(str(exc)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)  # its start/stop chatter, once per listener
    chosen = seed if seed is not None else secrets.randbelow(2**31)
    if state_dir is None and from_snapshot is None:
        how = "" if seed is not None else f" (random; --seed {chosen} serves the same world again)"
        click.echo(f"starting the fake world, seed {chosen}{how}", err=True)
    else:
        source = f" kept in {state_dir}" if state_dir is not None else ""
        source += f" from {from_snapshot}" if from_snapshot is not None else ""
        click.echo(f"starting the fake world{source}", err=True)
    stop = threading.Event()
    signals = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
    cloud = None
    try:
        try:
            cloud = open_world(
                seed, state_dir=state_dir, snapshot=from_snapshot, new_seed=chosen, settings=chosen_settings
            )
            served = cloud.serve(
                host=host,
                port=port,
                mqtt_port=mqtt_port,
                endpoints_file=endpoints_file,
                log_requests=True,
                control=control,
            )
        except (OSError, RuntimeError, ValueError) as exc:
            why = str(exc) if "could not start" in str(exc) else f"the world did not start: {exc}"
            raise fail(f"{why}{port_hint(str(exc))}", EXIT_FAILED) from None
        with served:
            where = f"endpoints in {endpoints_file}" if endpoints_file else "endpoints on stdout"
            how = "" if seed is not None else f" (--seed {cloud.seed} serves the same world again)"
            if state_dir is not None:
                how = f", kept in {cloud.state_dir}"
            click.echo(f"serving the fake world, seed {cloud.seed}{how}; {where}; Ctrl-C to stop", err=True)
            if settings:
                click.echo(f"settings: {', '.join(settings)}", err=True)
            if served.control_token:  # printed once; also in the endpoints file as control_token
                click.echo(f"control API {served.urls['control']} needs: Bearer {served.control_token}", err=True)
            if endpoints_file is None:
                click.echo(json.dumps(served.endpoints))
                sys.stdout.flush()
            while not stop.wait(0.5):
                pass
            click.echo("stopping", err=True)
    finally:
        if cloud is not None:
            cloud.close()  # commits and frees the state directory (a world in memory: nothing)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    raise click.exceptions.Exit(EXIT_PASSED)

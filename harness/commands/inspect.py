"""``sphere-harness inspect``: what a served world holds and what it was asked, as tables.

Reads ``GET /_sim/state`` and ``GET /_sim/requests`` of the world named by an endpoints file (``serve
--endpoints-file``) and prints tenants with their CA generations, enrollment groups with their certificate entries
and pending codes, devices, DPS registrations, and the most recent requests with their status and timing.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import click

from harness.commands._common import EXIT_FAILED, EXIT_INVALID, EXIT_PASSED, fail


def fetch(endpoints_file: Path, *, service: str | None, limit: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The world's state view and its recent requests, over the control API the endpoints file names."""
    import httpx

    try:
        endpoints = json.loads(endpoints_file.read_text(encoding="utf-8"))
        control_url, ca_bundle = endpoints["control_url"], endpoints["ca_bundle"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise fail(f"{endpoints_file} is not a usable endpoints file: {exc}") from None
    params: dict[str, Any] = {"limit": limit}
    if service:
        params["service"] = service
    token = endpoints.get("control_token")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(verify=ssl.create_default_context(cafile=ca_bundle), timeout=10, headers=headers) as client:
            state = client.get(f"{control_url}/state")
            state.raise_for_status()
            requests = client.get(f"{control_url}/requests", params=params)
            if requests.status_code == 400:  # a filter the world refused (an unknown --service): say why
                raise fail(requests.json().get("error", {}).get("message", requests.text), EXIT_INVALID)
            requests.raise_for_status()
    except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
        raise fail(f"the world at {control_url} did not answer: {exc}", EXIT_FAILED) from None
    return state.json(), requests.json()


def render(state: dict[str, Any], journal: dict[str, Any], console: Any) -> None:
    """Print the state view and the journal as rich tables."""
    from rich.table import Table

    console.print(f"[bold]world[/] seed {state.get('seed')} · now {state['clock']['now']}")
    changed = [f"{section}.{name}={json.dumps(value)}" for section, values in state.get("settings", {}).items()
               for name, value in values.items()]  # fmt: skip
    if changed:
        console.print(f"settings changed from the defaults: {', '.join(changed)}", highlight=False)
    tenants = Table(title="Sphere tenants and CA generations", title_justify="left")
    for column in ("tenant", "name", "gen", "status", "thumbprint", "not after", "devices"):
        tenants.add_column(column)
    for tenant in state["tenants"]:
        for generation in tenant["ca_generations"] or [{}]:
            tenants.add_row(
                tenant["id"],
                tenant["name"],
                str(generation.get("index", "")),
                generation.get("status", ""),
                generation.get("thumbprint", ""),
                generation.get("not_after", ""),
                str(len(tenant["devices"])),
            )
    console.print(tenants)
    groups = Table(title="IoT Central enrollment groups and certificate entries", title_justify="left")
    for column in ("app", "group", "enabled", "entry", "thumbprint", "verified", "pending code"):
        groups.add_column(column)
    for app in state["apps"]:
        for group in app["enrollment_groups"] or [{"id": "(none)", "entries": {}}]:
            entries = list(group["entries"].values()) or [{}]
            for entry in entries:
                groups.add_row(
                    app["subdomain"],
                    group["id"],
                    str(group.get("enabled", "")),
                    entry.get("name", ""),
                    entry.get("thumbprint", ""),
                    str(entry.get("verified", "")),
                    entry.get("verification_code") or "",
                )
    console.print(groups)
    devices = Table(title="IoT Central devices and DPS registrations", title_justify="left")
    for column in ("app", "device", "status", "provisioned", "messages"):
        devices.add_column(column)
    for app in state["apps"]:
        for device in app["devices"]:
            devices.add_row(
                app["subdomain"], device["id"], device["status"], str(device["provisioned"]), str(device["messages"])
            )
    console.print(devices)
    console.print(f"{len(state['dps']['registrations'])} DPS registration(s)")
    requests = Table(title="Recent requests (GET /_sim/requests)", title_justify="left")
    for column in ("#", "world time", "service", "operation", "request", "status", "ms"):
        requests.add_column(column)
    for entry in journal["requests"]:
        target = entry["path"] + (f"?{entry['query']}" if entry["query"] else "")
        status = "dropped" if entry["status"] is None else str(entry["status"])
        style = "red" if entry["status"] is None or entry["status"] >= 400 else None
        requests.add_row(
            str(entry["id"]),
            entry["at"][11:23],
            entry["service"],
            entry["operation"],
            f"{entry['method']} {target}",
            status,
            f"{entry['ms']:.1f}",
            style=style,
        )
    console.print(requests)


@click.command()
@click.option("--endpoints-file", required=True, type=click.Path(path_type=Path), help="the served world's endpoints")
@click.option(
    "--service",
    default=None,
    help="only this service's requests: sphere-legacy, sphere-arm, central, dps or hub (globs: sphere-*)",
)
@click.option("--limit", type=click.IntRange(0, 10_000), default=30, show_default=True, help="how many recent requests")
@click.option("--json", "as_json", is_flag=True, help="print {state, requests} as JSON instead of tables")
def inspect(endpoints_file: Path, service: str | None, limit: int, as_json: bool) -> None:
    """Show what a served world holds and the requests it answered (GET /_sim/state and /_sim/requests)."""
    state, journal = fetch(endpoints_file, service=service, limit=limit)
    if as_json:
        click.echo(json.dumps({"state": state, "requests": journal["requests"]}, indent=2))
    else:
        from rich.console import Console

        render(state, journal, Console(highlight=False, soft_wrap=False, width=200))
    raise click.exceptions.Exit(EXIT_PASSED)

"""``sphere-harness lab serve``: one served world for a classroom, a tenant and an IoT Central app per trainee.

::

    sphere-harness lab serve --trainees 20 --out lab/                  # this machine only (loopback)
    sphere-harness lab serve --trainees 20 --out lab/ --host 0.0.0.0   # a room: classmates' machines connect

writes::

    lab/roster.csv                    trainee, user, tenant, app, sign-in link, endpoints file
    lab/instructor.json               the instructor's link (every trainee's checklist) and the world's endpoints
    lab/<trainee>/endpoints.json      the trainee's own tenant, tokens, app, sign-in link (central.portal_url)
    lab/<trainee>/ca.pem              the lab's local CA ("ca_bundle" in the file names it relative to the file)
    lab/tls/                          the local CA and the server certificate

Each trainee gets a tenant whose only user is the trainee (``trainee-07@lab.sphere-harness.local``, Administrator of
that tenant alone), an app with the trainee's name as its subdomain, and tokens for both. A trainee's token, cookie
or shim reaches only their own tenant and app: the Sphere model authorises by role per tenant, IoT Central tokens
belong to one app, and the portal's session names one app (:mod:`simulator.portal.signin`).

**A room.** With ``--host 0.0.0.0`` (or one interface's address) the server certificate carries every address of
this machine's interfaces and its host name as SANs, and the endpoints files name ``--advertise`` (default: the
first non-loopback address, IPv4 first) instead of the wildcard; devices are told that address as their hub. Off
loopback the simulator control API (``/_sim``) answers only requests bearing the world's control token
(:mod:`simulator.control_guard`); each trainee's file carries it as ``control_token``, because ``device new`` and
``device connect`` use the control API. A trainee on another machine needs only their folder: ``endpoints.json``
and ``ca.pem``.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.control_guard import is_loopback

LAB_USER_DOMAIN = "lab.sphere-harness.local"
WILDCARDS = ("0.0.0.0", "::")
MAX_TRAINEES = 1000


class ClassroomError(Exception):
    """A classroom that cannot be served as asked."""


@dataclass
class TraineeAccess:
    """What one trainee gets."""

    name: str
    user: str
    tenant_id: str
    tenant_name: str
    app_subdomain: str
    portal_url: str
    endpoints_file: Path


@dataclass
class Classroom:
    """A served classroom: the world, its trainees, the instructor's link. Stop it with :meth:`stop`."""

    served: Any
    trainees: list[TraineeAccess] = field(default_factory=list)
    instructor_url: str = ""
    out: Path = Path(".")

    def stop(self) -> None:
        self.served.stop()

    def __enter__(self) -> Classroom:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def machine_names() -> list[str]:
    """This machine's host name and the addresses of its interfaces (what a classmate may dial): the names a room's
    server certificate carries. Link-local IPv6 addresses are left out (they need a zone, which a URL cannot carry
    portably)."""
    import psutil

    names = [socket.gethostname()]
    fqdn = socket.getfqdn()
    if fqdn and fqdn not in names:
        names.append(fqdn)
    for addresses in psutil.net_if_addrs().values():
        for entry in addresses:
            if entry.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                address = ipaddress.ip_address(entry.address.split("%", 1)[0])
            except ValueError:
                continue
            if address.is_link_local or str(address) in names:
                continue
            names.append(str(address))
    return names


def advertised_address(host: str, names: list[str]) -> str:
    """The address the endpoints files name: the host itself, or for a wildcard this machine's first non-loopback
    address (IPv4 first: people type those)."""
    if host.strip("[]") not in WILDCARDS:
        return host
    addresses = []
    for name in names:
        try:
            addresses.append(ipaddress.ip_address(name))
        except ValueError:
            continue
    for address in sorted((a for a in addresses if not a.is_loopback), key=lambda a: a.version):
        return str(address)
    return "127.0.0.1"


def url_host(address: str) -> str:
    """``address`` as the host part of a URL (an IPv6 address in brackets)."""
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def _rehost(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(f"://{url_host(old)}:", f"://{url_host(new)}:")
    if isinstance(value, dict):
        return {k: _rehost(v, old, new) for k, v in value.items()}
    return value


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.chmod(path, 0o600)  # tokens


def serve_classroom(
    trainees: int,
    out: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    mqtt_port: int | None = 8883,
    seed: int | None = None,
    advertise: str | None = None,
) -> Classroom:
    """Create the world, serve it, write the roster and every trainee's files; return the running classroom."""
    from simulator import control
    from simulator.cloud import FakeCloud
    from simulator.tls import local_tls

    if not 1 <= trainees <= MAX_TRAINEES:
        raise ClassroomError(f"--trainees must be from 1 to {MAX_TRAINEES}")
    room = not is_loopback(host)
    names = machine_names() if room else []
    address = (advertise or advertised_address(host, names)).strip("[]")
    if room and is_loopback(address):
        raise ClassroomError(
            f"serving on {host}, but no address of this machine other than loopback was found for the trainees' "
            "files: name the one classmates can reach with --advertise"
        )
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    tls = local_tls(out / "tls", names=[n for n in dict.fromkeys([*names, address]) if n not in WILDCARDS])

    cloud = FakeCloud(seed)
    if room:  # a device on a classmate's machine must dial a hub it can reach, not the listener's wildcard
        cloud.settings.dps.assigned_hub_host = address
    width = max(2, len(str(trainees)))
    made: list[tuple[str, Any, Any]] = []
    with cloud.lock:
        control.ensure_defaults(cloud)  # the instructor's own tenant and app: the world's defaults
        for number in range(1, trainees + 1):
            name = f"trainee-{number:0{width}d}"
            tenant = control.create_tenant(cloud, name=f"{name}-tenant", email=f"{name}@{LAB_USER_DOMAIN}")
            app = control.create_app(cloud, subdomain=name, name=f"{name} app")
            made.append((name, tenant, app))
    # off loopback the control API answers only requests bearing the world's control token (control "auto"); each
    # trainee's file carries it, since 'device new' and 'device connect' use /_sim
    served = cloud.serve(host=host, port=port, mqtt_port=mqtt_port, workdir=tls.directory, control="auto")
    if room and not served.control_token:
        served.stop()
        raise ClassroomError(f"the control API on {host} is not guarded by a token; refusing to serve a room")
    classroom = Classroom(served, out=out)
    try:
        portal = served.portal
        portal.trainees.clear()  # the instructor page lists the trainees, not the world's default user
        base = _rehost(served.endpoints, host, address) if address != host else dict(served.endpoints)
        if base["dps"]["host"] in (host, url_host(host)):
            base["dps"]["host"] = address
        central_url = base["central"]["url"]
        for name, tenant, app in made:
            portal.add_trainee(name, app.subdomain, tenant.tenant_id, tenant.user)
            folder = out / name
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tls.ca_pem, folder / "ca.pem")
            link = portal.signin_link(central_url, app.subdomain, tenant.user)
            endpoints = json.loads(json.dumps(base))
            endpoints["ca_bundle"] = "ca.pem"
            endpoints["sphere"].update(
                token=tenant.token,
                arm_token=tenant.arm_token,
                tenant_id=tenant.tenant_id,
                subscription_id=tenant.subscription_id,
                resource_group=tenant.resource_group,
                catalog=tenant.catalog,
                user=tenant.user,
            )
            endpoints["central"].update(
                subdomain=app.subdomain, api_token=app.api_token, id_scope=app.id_scope, portal_url=link
            )
            endpoints["dps"]["id_scope"] = app.id_scope
            _write_json(folder / "endpoints.json", endpoints)
            classroom.trainees.append(
                TraineeAccess(
                    name, tenant.user, tenant.tenant_id, tenant.name, app.subdomain, link, folder / "endpoints.json"
                )
            )
        classroom.instructor_url = portal.instructor_link(central_url)
        _write_json(out / "instructor.json", {"instructor_url": classroom.instructor_url, "endpoints": base})
        with (out / "roster.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["trainee", "user", "tenant_id", "tenant", "app", "portal_url", "endpoints_file"])
            for t in classroom.trainees:
                rel = t.endpoints_file.relative_to(out)
                writer.writerow([t.name, t.user, t.tenant_id, t.tenant_name, t.app_subdomain, t.portal_url, rel])
    except BaseException:
        served.stop()
        raise
    return classroom

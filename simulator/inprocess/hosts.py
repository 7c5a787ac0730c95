"""Which service of the world answers a host (names: :mod:`simulator.hosts`, re-exported here)."""

from __future__ import annotations

import functools
import re

from simulator.hosts import ARM_HOST, CENTRAL_DOMAIN, CONTROL_HOST, DPS_HOST, SPHERE_LEGACY_HOST

__all__ = [
    "ARM_HOST",
    "CENTRAL_DOMAIN",
    "CENTRAL_HOST_PATTERN",
    "CONTROL_HOST",
    "DPS_HOST",
    "SERVICE_APPS",
    "SPHERE_LEGACY_HOST",
    "service_for_host",
    "world_service",
]

#: service name → the FakeCloud attribute holding its ASGI app (``control`` is built by the router itself)
SERVICE_APPS: dict[str, str] = {
    "sphere-legacy": "legacy_app",
    "sphere-arm": "arm_app",
    "central": "central_app",
    "dps": "dps_app",
}

CENTRAL_HOST_PATTERN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+" + re.escape(CENTRAL_DOMAIN) + r"$")


@functools.lru_cache(maxsize=1024)
def service_for_host(host: str) -> str | None:
    """Which service of the world answers ``host`` (case-insensitive), or None for a host the world does not own."""
    host = host.lower().rstrip(".")
    if host == SPHERE_LEGACY_HOST:
        return "sphere-legacy"
    if host == ARM_HOST:
        return "sphere-arm"
    if host == DPS_HOST:
        return "dps"
    if host == CONTROL_HOST:
        return "control"
    if CENTRAL_HOST_PATTERN.match(host):
        return "central"
    return None


def world_service(scheme: str, host: str) -> str | None:
    """The service answering ``scheme://host``: the services only over ``https`` (Azure has no plain-HTTP
    endpoint), the control surface over either; None when the world does not own the URL."""
    service = service_for_host(host)
    if service is None or (scheme != "https" and service != "control"):
        return None
    return service

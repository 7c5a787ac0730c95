"""The allow-list, checked before a live run sends anything and again on every request it sends.

A live configuration names one Sphere tenant and one IoT Central app, and an allow-list
(:class:`harness.config.AllowList`: ``allow: {tenants: [...], apps: [...]}`` or ``SPHERE_HARNESS_LIVE_ALLOW``) of
what it may touch. :func:`check_allowed` refuses a configuration whose tenant or app is not on the list — before the
first request, naming what was not allowed (exit 2). :class:`LiveGuard` then sits in front of every wire client of
the run (``Session.guard``) and refuses, before it is sent, any request that does not address the configured
tenant (legacy ``/v2/tenants/{id}``), catalog (ARM ``/subscriptions/{sub}/resourceGroups/{rg}/…/catalogs/{name}``,
and the subscription's own operation-status URLs) or app host — a scenario or a bug that builds another tenant's URL
gets a step failure, not a request. With ``reads_only`` (``run --plan``) it also refuses every method but ``GET``
and ``HEAD``.

Why both: the pre-check is the promise ("anything else is refused before the first request"); the guard is what
keeps it when a URL is built at run time (a ``nextLink``, an ARM ``Location``, a tenant ID saved from a response).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from harness.clients.errors import HarnessClientError
from harness.config import ALLOW_ENV, LiveConfig

READ_METHODS = frozenset({"GET", "HEAD"})


class NotAllowed(HarnessClientError):
    """A live request (or configuration) outside the allow-list, or a write during ``--plan``."""


def app_host(config: LiveConfig) -> str | None:
    """The host of the configured IoT Central app (``<subdomain>.<suffix>``, or the override URL's host)."""
    if config.central.url:
        return (urlsplit(config.central.url).netloc or "").lower() or None
    if config.central.subdomain:
        return f"{config.central.subdomain}.{config.central.dns_suffix}".lower()
    return None


def check_allowed(config: LiveConfig) -> None:
    """Raise :class:`NotAllowed` naming every configured tenant or app that the allow-list does not contain."""
    problems = []
    tenant = config.sphere.tenant_id
    if not config.allow.allows_tenant(tenant):
        problems.append(f"tenant {tenant}")
    app = config.central.subdomain
    host = app_host(config)
    if not config.allow.allows_app(app, host, config.central.url):
        problems.append(f"app {app or host}")
    if problems:
        tenants, apps = ", ".join(config.allow.tenants), ", ".join(config.allow.apps)
        listed = (
            f"the allow-list holds tenants [{tenants}] and apps [{apps}]"
            if config.allow.tenants or config.allow.apps
            else "the allow-list is empty"
        )
        raise NotAllowed(
            f"refusing to run live: {' and '.join(problems)} not allowed ({listed}); add them to `allow:` in the "
            f"live configuration or to {ALLOW_ENV} (e.g. {ALLOW_ENV}=tenant:{tenant},app:{app or host})"
        )


class LiveGuard:
    """``guard(method, url)`` for the clients of a live session: only the configured tenant, catalog and app."""

    def __init__(self, config: LiveConfig, *, reads_only: bool = False) -> None:
        self.config = config
        self.reads_only = reads_only
        self.legacy = _prefix(config.sphere.legacy_url)
        self.arm = _prefix(config.sphere.arm_url)
        self.app_host = app_host(config)
        self.app_base = _prefix(config.central.url) if config.central.url else None

    def __call__(self, method: str, url: str) -> None:
        if self.reads_only and method.upper() not in READ_METHODS:
            raise NotAllowed(f"--plan sends only reads; refused {method} {url}")
        where = _prefix(url)
        if where.startswith(self.legacy + "/") or where == self.legacy:
            return self._legacy(method, url, where[len(self.legacy) :])
        if self.app_base is not None and where.startswith(self.app_base):
            return None
        parts = urlsplit(url)
        if self.app_host and parts.netloc.lower() == self.app_host:
            return None
        if where.startswith(self.arm + "/"):
            return self._arm(method, url, where[len(self.arm) :])
        raise NotAllowed(
            f"refused {method} {url}: not an endpoint of the configured Sphere tenant or IoT Central app "
            f"({self.legacy}, {self.arm}, https://{self.app_host})"
        )

    def _legacy(self, method: str, url: str, path: str) -> None:
        segments = [unquote(s) for s in path.split("/") if s]
        if len(segments) >= 2 and segments[0].lower() == "tenants":
            tenant = segments[1]
            if not self.config.allow.allows_tenant(tenant) or tenant.lower() != self.config.sphere.tenant_id.lower():
                raise NotAllowed(f"refused {method} {url}: tenant {tenant} is not the configured, allowed tenant")

    def _arm(self, method: str, url: str, path: str) -> None:
        sphere = self.config.sphere
        segments = [unquote(s) for s in path.split("/") if s]
        wanted = {
            "subscriptions": sphere.subscription_id,
            "resourcegroups": sphere.resource_group,
            "catalogs": sphere.catalog,
        }
        for i, segment in enumerate(segments[:-1]):
            expected = wanted.get(segment.lower())
            if expected is not None and segments[i + 1].lower() != expected.lower():
                raise NotAllowed(
                    f"refused {method} {url}: {segment} {segments[i + 1]} is not the configured tenant's ({expected})"
                )
        if not segments or segments[0].lower() != "subscriptions":
            raise NotAllowed(f"refused {method} {url}: not under the configured subscription")


def _prefix(url: str) -> str:
    """``url`` without query, fragment or trailing slash, scheme and host lower-cased."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}".rstrip("/")


__all__ = ["LiveGuard", "NotAllowed", "app_host", "check_allowed"]

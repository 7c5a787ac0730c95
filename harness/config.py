"""Live configuration: which real tenant, catalog and IoT Central app a ``--target live`` run uses, and how.

A live run talks to Azure (or to anything that answers like it — a served fake world, by overriding the URLs).
It needs an explicit opt-in: ``--i-understand-this-touches-real-resources`` on the command line or
``SPHERE_HARNESS_LIVE=1`` in the environment. Configuration comes from a YAML (or JSON) file named by
``--live-config PATH`` or ``SPHERE_HARNESS_LIVE_CONFIG``, and/or from environment variables, which win over the
file.

Each file key, its environment variable, and its meaning:

* ``sphere.tenant_id`` / ``SPHERE_TENANT_ID`` — the Azure Sphere tenant (GUID); required.
* ``sphere.token`` / ``SPHERE_TOKEN`` — a bearer token for the legacy API; without it ``DefaultAzureCredential``
  is asked for ``sphere.scope``.
* ``sphere.scope`` / ``SPHERE_SCOPE`` — default ``https://sphere.azure.net/api/user_impersonation``; service
  principals use ``https://firstparty.sphere.azure.net/api/.default``.
* ``sphere.legacy_url`` / ``SPHERE_LEGACY_URL`` — default ``https://prod.core.sphere.azure.net/v2``.
* ``sphere.arm_url`` / ``SPHERE_ARM_URL`` — default ``https://management.azure.com``.
* ``sphere.arm_token`` / ``SPHERE_ARM_TOKEN`` — a bearer token for ARM; else ``DefaultAzureCredential``.
* ``sphere.subscription_id``, ``sphere.resource_group``, ``sphere.catalog`` / ``SPHERE_SUBSCRIPTION_ID``,
  ``SPHERE_RESOURCE_GROUP``, ``SPHERE_CATALOG`` — where the tenant's catalog lives (for ``api: arm`` steps).
* ``sphere.user`` / ``SPHERE_USER`` — shown by ``sphere.login`` (informational).
* ``central.subdomain`` / ``CENTRAL_APP_SUBDOMAIN`` — the IoT Central app (``<subdomain>.azureiotcentral.com``).
* ``central.url`` / ``CENTRAL_URL`` — an override of the app's base URL (without ``/api``).
* ``central.api_token`` / ``CENTRAL_API_TOKEN`` — ``SharedAccessSignature sr=…``; else a bearer token from
  ``DefaultAzureCredential`` for ``https://apps.azureiotcentral.com``.
* ``central.dns_suffix`` / ``CENTRAL_DNS_SUFFIX`` — default ``azureiotcentral.com``.
* ``ca_bundle`` / ``SPHERE_HARNESS_CA_BUNDLE`` — a PEM CA bundle to trust instead of the system store.
* ``run_prefix`` / ``SPHERE_HARNESS_RUN_PREFIX`` — prefix of the resources the run creates (default
  ``sh-<UTC time>-<4 hex>-``); they are deleted when the run ends, even after a failure.
* ``allow: {tenants: [...], apps: [...]}`` / ``SPHERE_HARNESS_LIVE_ALLOW`` (``tenant:<id>,app:<subdomain>,…``;
  joined with the file's) — the **allow-list**: the tenant IDs and app subdomains this configuration may touch.
  A live run whose tenant or app is not on it is refused before its first request (exit 2), and every request
  of a run must address them (:mod:`harness.live.guard`). There is no default: an empty allow-list allows nothing.
* ``sanitize: [...]`` — more values to keep out of recordings (besides tokens, IDs, names and subdomains).
* ``cleanup_timeout`` / ``SPHERE_HARNESS_CLEANUP_TIMEOUT`` — seconds the cleanup of a run may take (default 60).

An endpoints file written by ``sphere-harness serve`` has exactly this shape (its ``dps``, ``control_url``, ``pid``
and ``state_dir`` keys are ignored), so ``--live-config endpoints.json`` points a live run at a served fake "as if
it were Azure"::

    sphere-harness serve --endpoints-file endpoints.json &
    SPHERE_HARNESS_LIVE_ALLOW=tenant:<its tenant_id>,app:<its subdomain> \
      sphere-harness run --target live --live-config endpoints.json --i-understand-this-touches-real-resources

An example for Azure (tokens from ``az login`` via ``DefaultAzureCredential``)::

    sphere:
      tenant_id: 768c2cd6-1bf0-4521-9f53-084a331d81cb
    central:
      subdomain: contoso-devices
      api_token: "SharedAccessSignature sr=…&sig=…&skn=operator-token&se=…"
    allow:
      tenants: [768c2cd6-1bf0-4521-9f53-084a331d81cb]
      apps: [contoso-devices]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.clients.auth import SPHERE_USER_SCOPE
from harness.clients.central import DNS_SUFFIX
from harness.clients.sphere_arm import DEFAULT_URL as ARM_URL
from harness.clients.sphere_legacy import DEFAULT_URL as LEGACY_URL

OPT_IN_FLAG = "--i-understand-this-touches-real-resources"
OPT_IN_ENV = "SPHERE_HARNESS_LIVE"
CONFIG_ENV = "SPHERE_HARNESS_LIVE_CONFIG"
ALLOW_ENV = "SPHERE_HARNESS_LIVE_ALLOW"

ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "SPHERE_TENANT_ID": ("sphere", "tenant_id"),
    "SPHERE_TOKEN": ("sphere", "token"),
    "SPHERE_SCOPE": ("sphere", "scope"),
    "SPHERE_LEGACY_URL": ("sphere", "legacy_url"),
    "SPHERE_ARM_URL": ("sphere", "arm_url"),
    "SPHERE_ARM_TOKEN": ("sphere", "arm_token"),
    "SPHERE_SUBSCRIPTION_ID": ("sphere", "subscription_id"),
    "SPHERE_RESOURCE_GROUP": ("sphere", "resource_group"),
    "SPHERE_CATALOG": ("sphere", "catalog"),
    "SPHERE_USER": ("sphere", "user"),
    "CENTRAL_APP_SUBDOMAIN": ("central", "subdomain"),
    "CENTRAL_URL": ("central", "url"),
    "CENTRAL_API_TOKEN": ("central", "api_token"),
    "CENTRAL_DNS_SUFFIX": ("central", "dns_suffix"),
    "SPHERE_HARNESS_CA_BUNDLE": ("ca_bundle",),
    "SPHERE_HARNESS_RUN_PREFIX": ("run_prefix",),
    "SPHERE_HARNESS_CLEANUP_TIMEOUT": ("cleanup_timeout",),
}


class LiveConfigError(Exception):
    """The live configuration is missing, unreadable or incomplete (the message says what and where)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SphereLive(_Section):
    tenant_id: str = Field(min_length=1)
    token: str | None = None
    scope: str = SPHERE_USER_SCOPE
    legacy_url: str = LEGACY_URL
    arm_url: str = ARM_URL
    arm_token: str | None = None
    subscription_id: str | None = None
    resource_group: str | None = None
    catalog: str | None = None
    user: str | None = None
    name: str | None = None


class CentralLive(_Section):
    subdomain: str | None = None
    url: str | None = None
    api_token: str | None = None
    dns_suffix: str = DNS_SUFFIX
    id_scope: str | None = None
    portal_url: str | None = None  # a served world's portal sign-in link (training); a live run does not use it


class AllowList(_Section):
    """What a live configuration may touch: tenant IDs and IoT Central app subdomains (or app hosts)."""

    tenants: list[str] = Field(default_factory=list)
    apps: list[str] = Field(default_factory=list)

    def allows_tenant(self, tenant_id: str) -> bool:
        return tenant_id.strip().lower() in {t.strip().lower() for t in self.tenants}

    def allows_app(self, *names: str | None) -> bool:
        allowed = {a.strip().lower() for a in self.apps}
        return any(name and name.strip().lower() in allowed for name in names)


class LiveConfig(_Section):
    sphere: SphereLive
    central: CentralLive = Field(default_factory=CentralLive)
    ca_bundle: str | None = None
    run_prefix: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,40}$")
    allow: AllowList = Field(default_factory=AllowList)
    sanitize: list[str] = Field(default_factory=list)
    cleanup_timeout: float = Field(default=60.0, gt=0, le=3600)
    # keys of a served world's endpoints file that a live run does not use
    dps: dict[str, Any] | None = None
    control_url: str | None = None
    pid: int | None = None
    state_dir: str | None = None
    control_token: str | None = None

    def __repr__(self) -> str:  # keep tokens out of logs and tracebacks
        return f"LiveConfig(tenant={self.sphere.tenant_id}, app={self.central.subdomain or self.central.url})"


def opted_in(flag: bool, env: Mapping[str, str] | None = None) -> bool:
    """True when the user said a live run may touch real resources."""
    env = os.environ if env is None else env
    return flag or env.get(OPT_IN_ENV, "").strip().lower() in ("1", "true", "yes")


def load_live_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> LiveConfig:
    """The live configuration from ``path`` (or ``$SPHERE_HARNESS_LIVE_CONFIG``) overlaid with the environment."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    source = str(path) if path is not None else env.get(CONFIG_ENV)
    if source:
        try:
            loaded = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        except OSError as exc:
            raise LiveConfigError(f"{source}: cannot read the live configuration: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise LiveConfigError(f"{source}: not valid YAML/JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise LiveConfigError(f"{source}: expected a mapping with `sphere:` and `central:`")
        data = loaded
    for variable, keys in ENVIRONMENT.items():
        value = env.get(variable)
        if value:
            target = data
            for key in keys[:-1]:
                target = target.setdefault(key, {})
                if not isinstance(target, dict):
                    raise LiveConfigError(f"{source}: `{key}` must be a mapping")
            target[keys[-1]] = value
    if not data:
        raise LiveConfigError(
            f"no live configuration: pass --live-config PATH, set {CONFIG_ENV}, or set SPHERE_TENANT_ID, "
            "CENTRAL_APP_SUBDOMAIN and friends (see `harness.config`)"
        )
    if env.get(ALLOW_ENV, "").strip():
        allow = data.setdefault("allow", {})
        if not isinstance(allow, dict):
            raise LiveConfigError(f"{source}: `allow` must be a mapping with `tenants:` and `apps:`")
        for kind, value in parse_allow(env[ALLOW_ENV]):
            allow.setdefault(kind, [])
            if isinstance(allow[kind], list):
                allow[kind].append(value)
    try:
        config = LiveConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise LiveConfigError(f"{source or 'environment'}: invalid live configuration: {problems}") from None
    if not config.central.subdomain and not config.central.url:
        raise LiveConfigError("the live configuration needs central.subdomain (or central.url)")
    return config


def parse_allow(text: str) -> list[tuple[str, str]]:
    """``tenant:<id>,app:<subdomain>`` (commas or spaces between items) → ``[("tenants", id), ("apps", sub)]``."""
    items = []
    for item in text.replace(",", " ").split():
        kind, sep, value = item.partition(":")
        kinds = {"tenant": "tenants", "tenants": "tenants", "app": "apps", "apps": "apps"}
        if not sep or kind.strip().lower() not in kinds or not value.strip():
            raise LiveConfigError(
                f"{ALLOW_ENV}: {item!r} is not `tenant:<tenant id>` or `app:<app subdomain>` "
                f"(e.g. {ALLOW_ENV}=tenant:768c2cd6-1bf0-4521-9f53-084a331d81cb,app:contoso-devices)"
            )
        items.append((kinds[kind.strip().lower()], value.strip()))
    return items

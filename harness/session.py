"""A run's connection to a target: the scenario's tenants and apps, clients of the wire contracts, and its cleanups.

A :class:`Session` is what the steps see of the target (``ctx.session``): it hands out one client per tenant and app
(:meth:`Session.sphere`, :meth:`Session.arm`, :meth:`Session.central`), names the resources a run creates
(:meth:`Session.resource_name`: the run prefix on live targets) and remembers how to undo them
(:meth:`Session.add_cleanup`). The targets in :mod:`harness.targets` open sessions; this module knows nothing of
scenarios or targets, so the steps can depend on it without an import circle.

**Observing a run.** Every client the session makes reports each HTTP exchange to the session's exchange
listeners (:meth:`Session.add_exchange_listener`), tagged with the step that was running; step hooks
(:meth:`Session.add_step_hook`) hear a step start and end and may fail it (a replay that was not asked for a
recorded exchange does). ``guard`` is asked before any request is sent and may refuse it (the live allow-list and
``--plan``); ``transport`` replaces the network (replay).

**Cleanups** run in reverse order when a live session ends, whatever ended it, within ``time_limit`` seconds; a
cleanup registered *before* its resource's create request was sent (:meth:`Session.add_cleanup` returns a
:class:`Cleanup` that the step marks ``created`` or drops) also covers a run killed mid-request, when nobody knows
whether the service acted: after deleting, it watches for ``settle_s`` seconds that the resource did not appear
after all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from harness.clients import (
    ARM_SCOPE,
    CENTRAL_SCOPE,
    SPHERE_USER_SCOPE,
    CentralClient,
    ControlClient,
    RetryPolicy,
    SphereArmClient,
    SphereLegacyClient,
    auth_from,
)
from harness.clients.exchange import Exchange, ExchangeListener, RequestGuard
from harness.clients.sphere_arm import DEFAULT_URL as ARM_URL
from harness.clients.sphere_legacy import DEFAULT_URL as LEGACY_URL

CENTRAL_DOMAIN = "azureiotcentral.com"
#: how long the cleanups of a live run may take in all (seconds), unless the configuration says otherwise
CLEANUP_TIME_LIMIT_S = 60.0
#: how long a cleanup watches a resource whose create was interrupted mid-request (seconds)
SETTLE_S = 2.0


@dataclass
class TenantBinding:
    """A Sphere tenant of the run and how to act in it."""

    key: str
    tenant_id: str
    name: str | None
    user: str | None
    token: str | None = None
    arm_token: str | None = None
    subscription_id: str | None = None
    resource_group: str | None = None
    catalog: str | None = None
    scope: str | None = None

    def variable(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "id": self.tenant_id,
            "name": self.name,
            "user": self.user,
            "catalog": self.catalog,
            "subscription_id": self.subscription_id,
            "resource_group": self.resource_group,
        }


@dataclass
class AppBinding:
    """An IoT Central application of the run and how to reach it."""

    key: str
    subdomain: str | None
    name: str | None
    id_scope: str | None
    api_token: str | None
    base_url: str | None = None
    host_header: str | None = None
    dns_suffix: str = CENTRAL_DOMAIN

    def variable(self) -> dict[str, Any]:
        return {"key": self.key, "subdomain": self.subdomain, "name": self.name, "id_scope": self.id_scope}


@dataclass
class Cleanup:
    """How to undo one thing a live run did, and — once the run ended — how that went.

    ``created`` is ``None`` while the create request is out (registered first, so a run killed mid-request still
    cleans up), ``True`` once the service confirmed it. ``exists`` (optional) answers whether the resource is there
    now; a cleanup whose create was never confirmed uses it to watch for a create that lands late.
    """

    description: str
    action: Callable[[], Any]
    exists: Callable[[], bool] | None = None
    created: bool | None = True
    ok: bool | None = None
    error: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"description": self.description, "ok": self.ok, "error": self.error}


class StepHook(Protocol):
    """Hears the steps of a run: ``start(index)`` before step ``index`` (0-based) runs, ``end(index, result)``
    after; ``end`` may fail the step by setting ``result.outcome``/``result.error`` (a
    :class:`harness.runner.StepResult`)."""

    def start(self, index: int) -> None: ...

    def end(self, index: int, result: Any) -> None: ...


class _Fanout:
    """The exchange listener a session gives its clients: false while nobody listens, so a client does not even
    build the :class:`Exchange` of a request nobody will look at (the common case of a plain run)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def __bool__(self) -> bool:
        return bool(self.session.exchange_listeners)

    def __call__(self, exchange: Exchange) -> None:
        self.session._exchange(exchange)


@dataclass
class Session:
    """One run's connection to a target: clients per tenant and app, the control surface, the work folder."""

    target: str
    live: bool
    workdir: Path
    seed: int
    run_prefix: str = ""
    legacy_url: str = LEGACY_URL
    arm_url: str = ARM_URL
    verify: bool | str = True
    control: ControlClient | None = None
    endpoints: dict[str, Any] = field(default_factory=dict)
    tenants: dict[str, TenantBinding] = field(default_factory=dict)
    apps: dict[str, AppBinding] = field(default_factory=dict)
    cleanups: list[Cleanup] = field(default_factory=list)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    given_hook: Callable[[Session], None] | None = None
    credential: Any = None
    #: the offline world behind a fake or served target (``None`` live): simulated devices live in it
    cloud: Any = None
    #: replaces the network for every client of the session (a recording's replay)
    transport: httpx.BaseTransport | None = None
    #: asked before every request; raises to refuse it (live allow-list, ``--plan``)
    guard: RequestGuard | None = None
    #: live runs: irreversible steps (device claim) run only when this is set
    allow_irreversible: bool = False
    #: values to keep out of recordings and reports besides what the bindings hold (the config's ``sanitize:``)
    sanitize: list[str] = field(default_factory=list)
    #: the index of the step that is running (``None`` while ``given`` is set up)
    step: int | None = None
    exchange_listeners: list[ExchangeListener] = field(default_factory=list)
    step_hooks: list[StepHook] = field(default_factory=list)
    _selected: str | None = None
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._fanout = _Fanout(self)
        if self.control is not None:
            self.control.on_exchange = self._fanout

    # -- the scenario's tenants and apps --

    def tenant(self, key: str | None = None) -> TenantBinding:
        key = key or self._selected or next(iter(self.tenants), None)
        if key is None or key not in self.tenants:
            known = ", ".join(self.tenants) or "none"
            raise KeyError(f"no tenant {key!r} in this run (given tenants: {known})")
        return self.tenants[key]

    def app(self, key: str | None = None) -> AppBinding:
        key = key or next(iter(self.apps), None)
        if key is None or key not in self.apps:
            known = ", ".join(self.apps) or "none"
            raise KeyError(f"no app {key!r} in this run (given apps: {known})")
        return self.apps[key]

    def select_tenant(self, key: str) -> None:
        self._selected = key

    def reapply_given(self) -> None:
        """Set up ``given`` again (after ``sim.reset``); clients are rebuilt with the new tokens."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        self.tenants.clear()
        self.apps.clear()
        self._selected = None
        if self.given_hook is not None:
            self.given_hook(self)

    def builtin_variables(self) -> dict[str, Any]:
        tenants = {key: binding.variable() for key, binding in self.tenants.items()}
        apps = {key: binding.variable() for key, binding in self.apps.items()}
        return {
            "tenant": next(iter(tenants.values()), None),
            "tenants": tenants,
            "app": next(iter(apps.values()), None),
            "apps": apps,
            "workdir": str(self.workdir),
            "run_prefix": self.run_prefix,
            "target": self.target,
            "seed": self.seed,
        }

    # -- observing the run --

    def add_exchange_listener(self, listener: ExchangeListener) -> None:
        """Hear every HTTP exchange of the session's clients (raw: sanitize before showing or storing it)."""
        self.exchange_listeners.append(listener)

    def add_step_hook(self, hook: StepHook) -> None:
        self.step_hooks.append(hook)

    def start_step(self, index: int) -> None:
        """The runner calls this before step ``index`` runs."""
        self.step = index
        for hook in self.step_hooks:
            hook.start(index)

    def end_step(self, index: int, result: Any) -> None:
        """The runner calls this once step ``index`` has an outcome; a hook may still fail it."""
        for hook in self.step_hooks:
            hook.end(index, result)
        self.step = None

    def _exchange(self, exchange: Exchange) -> None:
        exchange.step = self.step
        for listener in self.exchange_listeners:
            listener(exchange)

    def _wire(self) -> dict[str, Any]:
        """What every client of the session is built with."""
        return {
            "verify": self.verify,
            "retry": self.retry,
            "on_exchange": self._fanout,
            "guard": self.guard,
            "transport": self.transport,
        }

    # -- clients --

    def sphere(self, key: str | None = None) -> SphereLegacyClient:
        binding = self.tenant(key)
        cache = ("sphere", binding.key)
        if cache not in self._clients:
            auth = auth_from(binding.token, scope=binding.scope or SPHERE_USER_SCOPE, credential=self.credential)
            self._clients[cache] = SphereLegacyClient(auth, self.legacy_url, **self._wire())
        return self._clients[cache]

    def arm(self, key: str | None = None) -> SphereArmClient:
        binding = self.tenant(key)
        cache = ("arm", binding.key)
        if cache not in self._clients:
            missing = [n for n in ("subscription_id", "resource_group", "catalog") if not getattr(binding, n)]
            if missing:
                raise KeyError(f"tenant {binding.key!r} has no ARM placement ({', '.join(missing)}) for api: arm")
            self._clients[cache] = SphereArmClient(
                auth_from(binding.arm_token, scope=ARM_SCOPE, credential=self.credential),
                subscription_id=str(binding.subscription_id),
                resource_group=str(binding.resource_group),
                catalog=str(binding.catalog),
                base_url=self.arm_url,
                **self._wire(),
            )
        return self._clients[cache]

    def central(self, key: str | None = None) -> CentralClient:
        binding = self.app(key)
        cache = ("central", binding.key)
        if cache not in self._clients:
            self._clients[cache] = CentralClient(
                auth_from(binding.api_token, scope=CENTRAL_SCOPE, credential=self.credential),
                subdomain=binding.subdomain,
                base_url=binding.base_url,
                dns_suffix=binding.dns_suffix,
                host_header=binding.host_header,
                **self._wire(),
            )
        return self._clients[cache]

    # -- resources the run creates --

    def resource_name(self, name: str) -> str:
        """The name a resource gets on this target: with the run prefix when there is one (live), else as written."""
        prefix = self.run_prefix
        return f"{prefix}{name}" if prefix and not name.startswith(prefix) else name

    def add_cleanup(
        self,
        description: str,
        action: Callable[[], Any],
        *,
        exists: Callable[[], bool] | None = None,
        created: bool | None = True,
    ) -> Cleanup | None:
        """Undo something at the end of a live run (in reverse order, whatever happened); ``None`` off live.

        Register *before* sending a create (``created=None``), then :meth:`Cleanup` ``.created = True`` once the
        service confirmed it, or :meth:`drop_cleanup` when it refused — so a run killed while the request is out
        still deletes what the service may have made.
        """
        if not self.live:
            return None
        cleanup = Cleanup(description, action, exists=exists, created=created)
        self.cleanups.append(cleanup)
        return cleanup

    def drop_cleanup(self, cleanup: Cleanup | None) -> None:
        """Forget a cleanup whose create the service refused (nothing was made)."""
        if cleanup is not None and cleanup in self.cleanups:
            self.cleanups.remove(cleanup)

    def run_cleanups(
        self,
        time_limit: float = CLEANUP_TIME_LIMIT_S,
        *,
        settle_s: float = SETTLE_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> list[Cleanup]:
        """Run every cleanup once, newest first, all within ``time_limit`` seconds; return them with outcomes.

        A resource that is already gone (404) counts as cleaned up. Requests get a timeout and a retry budget that
        fit in what is left of the limit; a cleanup not reached in time is reported as not attempted (``live
        sweep`` finds what it leaves).
        """
        from harness.clients.errors import HarnessClientError

        deadline = clock() + time_limit
        saved = (self.retry.attempts, self.retry.max_retry_after_s, self.retry.max_backoff_s)
        try:
            for cleanup in reversed(self.cleanups):
                if cleanup.ok is not None:
                    continue  # already ran (cleanups run once)
                remaining = deadline - clock()
                if remaining <= 0:
                    cleanup.ok = False
                    cleanup.error = (
                        f"not attempted: the cleanup time limit ({time_limit:g}s) ran out; "
                        "`sphere-harness live sweep` finds what is left"
                    )
                    continue
                self._fit_requests(remaining)
                started = clock()
                try:
                    cleanup.action()
                    cleanup.ok = True
                except HarnessClientError as exc:
                    if getattr(exc, "status", None) == 404:  # already gone (e.g. the scenario deleted it)
                        cleanup.ok = True
                    else:
                        cleanup.ok, cleanup.error = False, str(exc)
                if cleanup.ok and cleanup.created is None and cleanup.exists is not None:
                    self._settle(cleanup, min(settle_s, max(0.0, deadline - clock())), clock, sleep)
                cleanup.seconds = clock() - started
        finally:
            self.retry.attempts, self.retry.max_retry_after_s, self.retry.max_backoff_s = saved
        return self.cleanups

    def _fit_requests(self, remaining: float) -> None:
        """Make every client's next requests end within ``remaining`` seconds (timeouts, retries, waits)."""
        self.retry.attempts = min(self.retry.attempts, 3)
        self.retry.max_retry_after_s = min(self.retry.max_retry_after_s, max(0.0, remaining / 4))
        self.retry.max_backoff_s = min(self.retry.max_backoff_s, max(0.0, remaining / 4))
        timeout = httpx.Timeout(max(0.1, min(remaining / (self.retry.attempts + 1), 15.0)))  # every try fits
        for client in self._clients.values():
            http = getattr(client, "http", None)
            if http is not None:
                http.timeout = timeout

    def _settle(self, cleanup: Cleanup, window: float, clock: Callable[[], float], sleep: Callable[[float], None]):
        """A create that was still out when the run stopped may land after the delete: watch, delete again."""
        from harness.clients.errors import HarnessClientError

        assert cleanup.exists is not None
        until = clock() + window
        while True:
            try:
                if cleanup.exists():
                    cleanup.action()
            except HarnessClientError as exc:
                if getattr(exc, "status", None) != 404:
                    cleanup.ok, cleanup.error = False, f"after the interrupted create: {exc}"
                    return
            if clock() >= until:
                return
            sleep(min(0.25, max(0.0, until - clock())))

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self.control is not None:
            self.control.close()

"""Where a scenario runs: ``fake`` (in-process), ``served`` (HTTPS on loopback) or ``live`` (real endpoints).

One world, three ways in. The steps do not know which: they get a :class:`Session` with
clients of the wire contracts and the scenario's tenants and apps.

=========  ==========================================================================================================
``fake``   A fresh :class:`~simulator.cloud.FakeCloud` seeded with the run's seed; ``cloud.mock()`` routes the real
           host names (``prod.core.sphere.azure.net``, ``management.azure.com``, ``<app>.azureiotcentral.com``) into
           it, so the clients run with their default URLs. ``given`` goes through ``/_sim`` (in-process host).
``served`` The same world served over HTTPS on loopback (``cloud.serve()``). Clients use the endpoints' URLs and
           trust the generated CA (``verify=ca_bundle``); IoT Central apps are addressed by ``Host:
           <subdomain>.azureiotcentral.com`` on the Central port. ``given`` goes through ``control_url``.
``live``   Real endpoints (or URL overrides) and credentials from :mod:`harness.config`; needs the explicit opt-in.
           ``given`` tenants and apps are *bound* to the configured ones, fake-only steps are skipped, resources a
           run creates carry the run prefix and are deleted when it ends, even after a failure.
=========  ==========================================================================================================
"""

from __future__ import annotations

import functools
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.clients import ControlClient
from harness.config import OPT_IN_ENV, OPT_IN_FLAG, LiveConfig, load_live_config, opted_in
from harness.session import CENTRAL_DOMAIN, AppBinding, Session, TenantBinding

if TYPE_CHECKING:
    from harness.scenario import Given, Scenario

TARGETS = ("fake", "served", "live", "replay")


class TargetError(Exception):
    """The target cannot be used as asked (no opt-in, bad configuration, a world that will not start)."""


# -- targets ---------------------------------------------------------------------------------------------------


class Target:
    """A way into a world. :meth:`session` sets up ``given`` and yields a :class:`Session` for the steps."""

    name = "target"
    live = False

    @contextmanager
    def session(self, scenario: Scenario, *, seed: int, workdir: Path) -> Iterator[Session]:
        raise NotImplementedError
        yield  # pragma: no cover


_FAKERS = threading.local()


def _fake_names(seed: int) -> Any:
    """This thread's Faker, reseeded: same seed, same names (building a Faker costs ~5 ms per run)."""
    faker = getattr(_FAKERS, "faker", None)
    if faker is None:
        from faker import Faker

        faker = _FAKERS.faker = Faker()
    faker.seed_instance(seed)
    return faker


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "app"


@dataclass(frozen=True)
class GivenPlan:
    """What ``given`` asks of a fake world, names filled in: each tenant's ``/_sim/tenants`` body and each app's
    ``/_sim/apps`` body, by key (faker names from the seed, so the same seed gives the same plan)."""

    tenants: tuple[tuple[str, dict[str, Any]], ...]
    apps: tuple[tuple[str, dict[str, Any]], ...]


def given_plan(given: Given, seed: int) -> GivenPlan:
    """The plan of ``given`` under ``seed`` (remembered per process: drawing faker names costs ~0.3 ms a run)."""
    tenants = tuple((t.key, t.name, t.tenant_id) for t in given.tenants)
    apps = tuple((a.key, a.subdomain, a.name, a.auto_approve) for a in given.apps)
    return _plan(seed, tenants, apps)


@functools.lru_cache(maxsize=256)
def _plan(seed: int, tenants: tuple[Any, ...], apps: tuple[Any, ...]) -> GivenPlan:
    faker = _fake_names(seed)
    tenant_bodies = []
    for key, name, tenant_id in tenants:
        name = name or faker.company()
        body = {"name": name, "tenant_id": tenant_id, "email": f"admin-{key.lower()}@sphere-harness.local"}
        tenant_bodies.append((key, {k: v for k, v in body.items() if v is not None}))
    app_bodies = []
    for key, subdomain, name, auto_approve in apps:
        name = name or faker.company()
        subdomain = subdomain or f"{_slug(name, 30)}-{faker.hexify('^^^^')}"
        body = {"subdomain": subdomain, "name": name, "auto_approve": auto_approve}
        app_bodies.append((key, {k: v for k, v in body.items() if v is not None}))
    return GivenPlan(tuple(tenant_bodies), tuple(app_bodies))


def given_through_control(given: Given, seed: int) -> Callable[[Session], None]:
    """Set up ``given`` tenants and apps in a fake world through ``/_sim`` (faker names from the seed)."""

    def apply(session: Session) -> None:
        assert session.control is not None
        plan = given_plan(given, seed)
        for key, body in plan.tenants:
            session.tenants[key] = _tenant_binding(key, body, session.control.create_tenant(**body))
        for key, body in plan.apps:
            session.apps[key] = _app_binding(session, key, session.control.create_app(**body))

    return apply


def given_from_template(session: Session, given: Given, seed: int) -> bool:
    """Set up ``given`` in the session's in-process world as :func:`given_through_control` would — the same world,
    the same bindings — from a per-process template (:func:`simulator.control.arrange_from_template`): no
    ``/_sim`` request, no tenant CA signed again. False (nothing done) when no template fits the world."""
    from simulator.control import arrange_from_template

    plan = given_plan(given, seed)
    made = arrange_from_template(session.cloud, [body for _, body in plan.tenants], [body for _, body in plan.apps])
    if made is None:
        return False
    tenants, apps = made
    for (key, body), access in zip(plan.tenants, tenants, strict=True):
        session.tenants[key] = _tenant_binding(key, body, access.to_json())
    for (key, _), access in zip(plan.apps, apps, strict=True):
        session.apps[key] = _app_binding(session, key, access.to_json())
    return True


def _tenant_binding(key: str, body: dict[str, Any], made: dict[str, Any]) -> TenantBinding:
    return TenantBinding(
        key=key,
        tenant_id=made["tenant_id"],
        name=made.get("name", body.get("name")),
        user=made.get("user"),
        token=made["token"],
        arm_token=made.get("arm_token"),
        subscription_id=made.get("subscription_id"),
        resource_group=made.get("resource_group"),
        catalog=made.get("catalog"),
    )


def _app_binding(session: Session, key: str, made: dict[str, Any]) -> AppBinding:
    central_url = (session.endpoints.get("central") or {}).get("url")
    return AppBinding(
        key=key,
        subdomain=made["subdomain"],
        name=made.get("name"),
        id_scope=made.get("id_scope"),
        api_token=made["api_token"],
        # served: dial the Central port and name the app in Host, as Azure's DNS would
        base_url=central_url,
        host_header=f"{made['subdomain']}.{CENTRAL_DOMAIN}" if central_url else None,
    )


def _new_cloud(scenario: Scenario, seed: int) -> Any:
    from simulator.cloud import FakeCloud

    try:
        return FakeCloud(seed, settings=scenario.given.settings or None)
    except ValueError as exc:
        raise TargetError(f"given.settings: {exc}") from None


class FakeTarget(Target):
    """The offline world in this process. ``cloud`` reuses a world (its ``cloud.mock()`` must then be active
    already when ``mocked=True``)."""

    name = "fake"

    def __init__(self, cloud: Any = None, *, mocked: bool = False) -> None:
        self.cloud = cloud
        self.mocked = mocked

    @contextmanager
    def session(self, scenario: Scenario, *, seed: int, workdir: Path) -> Iterator[Session]:
        if self.cloud is not None and scenario.given.settings:
            raise TargetError("given.settings needs a fresh world; this target reuses one")
        cloud = self.cloud if self.cloud is not None else _new_cloud(scenario, seed)
        with ExitStack() as stack:
            if not self.mocked:
                stack.enter_context(cloud.mock())
            session = Session(
                target=self.name, live=False, workdir=workdir, seed=seed, control=ControlClient(), cloud=cloud
            )
            session.given_hook = given_through_control(scenario.given, seed)
            stack.callback(session.close)
            # a fresh world takes its ``given`` from a template when one fits (after sim.reset: the long way)
            if not given_from_template(session, scenario.given, seed):
                session.given_hook(session)
            yield session


class ServedTarget(Target):
    """The offline world over HTTPS on loopback. ``served`` reuses a running :class:`ServedCloud`."""

    name = "served"

    def __init__(self, served: Any = None, *, mqtt_port: int | None = None) -> None:
        self.served = served
        self.mqtt_port = mqtt_port

    @contextmanager
    def session(self, scenario: Scenario, *, seed: int, workdir: Path) -> Iterator[Session]:
        if self.served is not None and scenario.given.settings:
            raise TargetError("given.settings needs a fresh world; this target reuses a served one")
        with ExitStack() as stack:
            served = self.served
            if served is None:
                cloud = _new_cloud(scenario, seed)
                # MQTT (DPS and the IoT hub) only when asked for, or when the scenario has device steps
                mqtt_port = self.mqtt_port if self.mqtt_port is not None else _mqtt_port_for(scenario)
                try:
                    served = stack.enter_context(cloud.serve(port=0, mqtt_port=mqtt_port))
                except (OSError, RuntimeError) as exc:
                    raise TargetError(f"the served world did not start: {exc}") from exc
            endpoints = served.endpoints
            ca_bundle = endpoints["ca_bundle"]
            session = Session(
                target=self.name,
                live=False,
                workdir=workdir,
                seed=seed,
                legacy_url=endpoints["sphere"]["legacy_url"],
                arm_url=endpoints["sphere"]["arm_url"],
                verify=ca_bundle,
                control=ControlClient.for_endpoints(endpoints),
                endpoints=endpoints,
                cloud=served.cloud,
            )
            session.given_hook = given_through_control(scenario.given, seed)
            stack.callback(session.close)
            session.given_hook(session)
            yield session


def _mqtt_port_for(scenario: Scenario) -> int | None:
    """A free MQTT port (0) when ``scenario`` connects simulated devices (``device.*`` steps), else no listener."""
    return 0 if any(spec.kind.startswith("device.") for spec in scenario.steps) else None


class LiveTarget(Target):
    """Real endpoints (or a served world posing as them) from a :class:`~harness.config.LiveConfig`.

    Every request goes through :class:`~harness.live.guard.LiveGuard` (the configured, allowed tenant and app
    only; reads only with ``plan=True``). SIGINT and SIGTERM end the run through its cleanup
    (:mod:`harness.live.interrupt`), which runs within ``config.cleanup_timeout`` seconds whatever ended the run.
    Irreversible steps run only with ``allow_irreversible=True``.
    """

    name = "live"
    live = True

    def __init__(
        self, config: LiveConfig, *, credential: Any = None, plan: bool = False, allow_irreversible: bool = False
    ) -> None:
        self.config = config
        self.credential = credential
        self.plan = plan
        self.allow_irreversible = allow_irreversible

    def run_prefix(self) -> str:
        """This run's prefix: the configured one, else ``sh-<UTC yyyymmddHHMMSS>-<4 hex>-`` (``live sweep`` reads
        the time back from it)."""
        prefix = self.config.run_prefix or f"sh-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(2)}"
        return prefix if prefix.endswith("-") else prefix + "-"

    @contextmanager
    def session(self, scenario: Scenario, *, seed: int, workdir: Path) -> Iterator[Session]:
        from harness.live.guard import LiveGuard
        from harness.live.interrupt import Interruptible

        config = self.config
        given = scenario.given
        if len(given.tenants) > 1 or len(given.apps) > 1:
            raise TargetError(
                f"the scenario needs {len(given.tenants)} tenant(s) and {len(given.apps)} app(s); "
                "a live configuration provides one of each"
            )
        with Interruptible() as interrupts:
            session = Session(
                target=self.name,
                live=True,
                workdir=workdir,
                seed=seed,
                run_prefix=self.run_prefix(),
                legacy_url=config.sphere.legacy_url,
                arm_url=config.sphere.arm_url,
                verify=config.ca_bundle or True,
                credential=self.credential,
                guard=LiveGuard(config, reads_only=self.plan),
                allow_irreversible=self.allow_irreversible,
                sanitize=list(config.sanitize),
            )

            def bind(session: Session) -> None:
                for tenant in given.tenants:
                    s = config.sphere
                    session.tenants[tenant.key] = TenantBinding(
                        key=tenant.key,
                        tenant_id=s.tenant_id,
                        name=s.name or tenant.name,
                        user=s.user,
                        token=s.token,
                        arm_token=s.arm_token,
                        subscription_id=s.subscription_id,
                        resource_group=s.resource_group,
                        catalog=s.catalog,
                        scope=s.scope,
                    )
                for app in given.apps:
                    c = config.central
                    session.apps[app.key] = AppBinding(
                        key=app.key,
                        subdomain=c.subdomain,
                        name=app.name,
                        id_scope=c.id_scope,
                        api_token=c.api_token,
                        base_url=c.url,
                        dns_suffix=c.dns_suffix,
                    )

            session.given_hook = bind
            bind(session)
            try:
                yield session
            finally:
                with interrupts.deferred():  # a signal now waits for the (bounded) cleanup
                    session.run_cleanups(config.cleanup_timeout)
                    session.close()
                interrupts.raise_pending()


def make_target(
    name: str,
    *,
    live_config: str | Path | None = None,
    opt_in: bool = False,
    env: dict[str, str] | None = None,
    plan: bool = False,
    allow_irreversible: bool = False,
    recording: str | Path | None = None,
) -> Target:
    """The target called ``name``; ``live`` refuses without the opt-in and validates its configuration."""
    from harness.config import LiveConfigError

    if plan and name != "live":
        raise TargetError("--plan shows what a live run would do: use it with --target live")
    if name == "replay":
        return _replay_target(recording)
    if recording is not None:
        raise TargetError("--recording names the recording to replay: use it with --target replay")
    if name == "fake":
        return FakeTarget()
    if name == "served":
        return ServedTarget()
    if name == "live":
        if not opted_in(opt_in, env):
            raise TargetError(
                f"refusing to run against live endpoints without the opt-in: pass {OPT_IN_FLAG} "
                f"or set {OPT_IN_ENV}=1 (a live run creates and deletes real resources)"
            )
        from harness.live.guard import NotAllowed, check_allowed

        try:
            config = load_live_config(live_config, env)
            check_allowed(config)
        except (LiveConfigError, NotAllowed) as exc:
            raise TargetError(str(exc)) from None
        return LiveTarget(config, plan=plan, allow_irreversible=allow_irreversible)
    raise TargetError(f"unknown target {name!r}; expected one of {', '.join(TARGETS)}")


def _replay_target(recording: str | Path | None) -> Any:
    """The replay target of ``recording`` (read now, so a bad file is refused before anything runs)."""
    from harness.recording.format import RecordingError
    from harness.recording.replay import ReplayTarget

    if recording is None:
        raise TargetError("--target replay needs --recording FILE (a recording made with run --record)")
    target = ReplayTarget(recording)
    try:
        target.cassette()
    except RecordingError as exc:
        raise TargetError(str(exc)) from None
    return target

"""Fake-only ``sim.*`` steps: what Azure cannot do, done through the simulator control surface ``/_sim``.

=========================  ================================================================================
``sim.clock.advance``      travel the world's clock forward (``by: 90d``) — rotation, expiry, code lifetimes
``sim.clock.set``          set the clock to an instant (forward only)
``sim.reset``              forget everything, then set up ``given`` again (fresh tenants, apps and tokens)
``sim.devices.create``     mint simulated Sphere devices (optionally claimed) → ``[{id, key_pem, …}]``
``sim.fault.add``          add a fault rule (:mod:`simulator.faults`) → the rule with its ``id`` and counters
``sim.fault.list``         the world's fault rules, with ``calls`` (matching requests) and ``fired`` counts
``sim.fault.clear``        remove one rule (``id``) or all of them → ``{"removed": n}``
``sim.token``              a fresh token for a tenant's user (Sphere) or an app (Central API token), optionally
                           short-lived (``lifetime: 1h``) — the harness "signs in again" after token expiry
=========================  ================================================================================

Fault steps go through the Python API (``cloud.faults``) on the ``fake`` target and through ``/_sim/faults`` on a
served world; both take the rule exactly as :meth:`simulator.faults.FaultInjector.add` does, for example::

    - sim.fault.add:
        service: central
        operation: verify
        count: 2
        effect: {kind: status, status: 503, retry_after: 0}

A live run skips these steps with a reason (and a scenario that depends on their results will then fail at the
first step that needs them).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from harness.steps.base import NoArgs, StepArgs, StepContext, StepFailure, step


class AdvanceArgs(StepArgs):
    by: str = Field(min_length=1, description='a duration such as "90d", "12h", "30m"')


class SetArgs(StepArgs):
    to: str = Field(min_length=1, description="an ISO 8601 instant")


class DevicesArgs(StepArgs):
    count: int = Field(default=1, ge=1, le=1000)
    claim: bool = True
    tenant: str | None = None


@step("sim.clock.advance", AdvanceArgs, fake_only=True)
def clock_advance(ctx: StepContext, args: AdvanceArgs) -> str:
    """Move the world's clock forward."""
    return ctx.control.travel(advance=args.by)["now"]


@step("sim.clock.set", SetArgs, fake_only=True)
def clock_set(ctx: StepContext, args: SetArgs) -> str:
    """Set the world's clock to an instant (never backwards)."""
    return ctx.control.travel(set=args.to)["now"]


@step("sim.reset", NoArgs, fake_only=True)
def reset(ctx: StepContext, args: NoArgs) -> dict[str, Any]:
    """Reset the world and set up the scenario's ``given`` again."""
    ctx.control.reset()
    ctx.session.reapply_given()
    ctx.variables.update(ctx.session.builtin_variables())
    return {"reset": True}


@step("sim.devices.create", DevicesArgs, fake_only=True)
def devices_create(ctx: StepContext, args: DevicesArgs) -> list[dict[str, Any]]:
    """Mint simulated devices; with ``claim`` they are claimed into the tenant and hold certificate chains."""
    tenant_id = ctx.tenant(args.tenant).tenant_id if args.claim else None
    return ctx.control.create_devices(args.count, claim=args.claim, tenant_id=tenant_id)


class FaultArgs(StepArgs):
    """A fault rule as :meth:`simulator.faults.FaultInjector.add` reads it, checked as the world checks it (so
    ``validate`` catches a misspelt effect field or service) and with an operation some request can have."""

    service: str = Field(min_length=1, description="`sphere-legacy`, `sphere-arm`, `central`, `dps`, `hub` or `*`")
    operation: str | None = Field(
        default=None,
        description="the operation name (docs/faults.md lists them; globs match several); any when omitted",
    )
    id: str | None = None
    app: str | None = None
    tenant: str | None = None
    nth: int | None = Field(default=None, ge=1)
    count: int | None = Field(default=None, ge=1)
    probability: float | None = Field(default=None, ge=0, le=1)
    effect: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "what happens when it fires: `{kind: status|latency|drop|connack|dps_failed, …}` with the kind's fields "
            "(docs/faults.md); default a 503"
        ),
    )

    @model_validator(mode="after")
    def _a_rule_the_world_accepts(self) -> FaultArgs:
        from simulator.faults import FaultRuleError, parse_rule

        try:
            parse_rule(self.model_dump(exclude_none=True))
        except FaultRuleError as exc:
            raise ValueError(f"invalid fault rule: {exc}") from None
        _check_operation(self.service, self.operation)
        return self


#: the operation names each service's requests can have (generated by ``python -m harness.docgen``)
FAULT_OPERATIONS = Path(__file__).resolve().parent.parent / "fault_operations.json"


def _check_operation(service: str, operation: str | None) -> None:
    """A rule naming one operation (no glob) of one service must name one that service has: else it never fires."""
    if operation is None or service == "*" or any(c in operation for c in "*?["):
        return
    known = json.loads(FAULT_OPERATIONS.read_text(encoding="utf-8")).get(service, [])
    if known and operation not in known:
        from simulator.suggest import did_you_mean

        raise ValueError(
            f"{service} has no operation {operation!r}{did_you_mean(operation, known)}, so the rule would never "
            "fire; docs/faults.md lists the operations of each service (globs like `get_*` match several)"
        )


class FaultClearArgs(StepArgs):
    id: str | None = Field(default=None, description="the rule to remove; all rules when omitted")


class TokenArgs(StepArgs):
    tenant: str | None = Field(default=None, description="a given tenant: a fresh Sphere token for its user")
    app: str | None = Field(default=None, description="a given app: a fresh Central API token")
    api: Literal["sphere", "arm"] = "sphere"
    lifetime: str | None = Field(default=None, description='e.g. "1h"; the service default when omitted')


def _served(ctx: StepContext) -> bool:
    return ctx.session.target != "fake" or ctx.session.cloud is None


@step("sim.fault.add", FaultArgs, fake_only=True)
def fault_add(ctx: StepContext, args: FaultArgs) -> dict[str, Any]:
    """Make a service misbehave on purpose: add one fault rule to the world."""
    spec = args.model_dump(exclude_none=True)
    if _served(ctx):
        return ctx.control.request("POST", "/faults", json=spec, ok=(201,)).json()
    from simulator.faults import FaultRuleError

    try:
        return ctx.session.cloud.faults.add(spec).to_dict()
    except FaultRuleError as exc:
        raise StepFailure(f"invalid fault rule: {exc}") from None


@step("sim.fault.list", NoArgs, fake_only=True)
def fault_list(ctx: StepContext, args: NoArgs) -> list[dict[str, Any]]:
    """The world's fault rules with how often each matched (``calls``) and fired (``fired``)."""
    if _served(ctx):
        return ctx.control.request("GET", "/faults").json()["rules"]
    return [rule.to_dict() for rule in ctx.session.cloud.faults.list()]


@step("sim.fault.clear", FaultClearArgs, fake_only=True)
def fault_clear(ctx: StepContext, args: FaultClearArgs) -> dict[str, Any]:
    """Remove one fault rule, or every rule: the services behave again."""
    if _served(ctx):
        path = "/faults" if args.id is None else f"/faults/{args.id}"
        return ctx.control.request("DELETE", path).json()
    removed = ctx.session.cloud.faults.clear(args.id)
    if args.id is not None and removed == 0:
        raise StepFailure(f"no fault rule {args.id!r}")
    return {"removed": removed}


@step("sim.token", TokenArgs, fake_only=True)
def token(ctx: StepContext, args: TokenArgs) -> dict[str, Any]:
    """Sign in again: issue a fresh token on the world's clock and make the run's clients use it.

    Sphere bearer tokens and Central API tokens expire on the world's clock (``se`` / the grant's expiry); after
    ``sim.clock.advance`` past it every call answers 401 until the harness holds a new token. ``lifetime`` makes a
    short-lived one, to watch it expire. The token is minted in the world behind the target (fake or served).
    """
    from simulator.clock import parse_duration

    if (args.tenant is None) == (args.app is None):
        raise StepFailure("sim.token needs exactly one of tenant or app")
    cloud = ctx.session.cloud
    if cloud is None:
        raise StepFailure("this target has no simulated world to issue tokens in")
    lifetime: timedelta | None = parse_duration(args.lifetime) if args.lifetime else None
    session = ctx.session
    if args.tenant is not None:
        binding = ctx.tenant(args.tenant)
        with cloud.lock:
            fresh = cloud.sphere.issue_token(str(binding.user), args.api, lifetime)
        if args.api == "arm":
            binding.arm_token = fresh
        else:
            binding.token = fresh
        stale = ("arm" if args.api == "arm" else "sphere", binding.key)
        result = {"tenant": binding.key, "api": args.api}
    else:
        app_binding = ctx.app(args.app)
        with cloud.lock:
            fresh = cloud.central.app_by_subdomain(app_binding.subdomain).issue_api_token(lifetime=lifetime)
        app_binding.api_token = fresh
        stale = ("central", app_binding.key)
        result = {"app": app_binding.key}
    client = session._clients.pop(stale, None)
    if client is not None:
        client.close()
    with cloud.lock:
        result["expires"] = (cloud.clock.now() + lifetime).isoformat() if lifetime else None
    return result

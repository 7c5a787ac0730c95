"""Fake-only ``sim.*`` steps: what Azure cannot do, done through the simulator control surface ``/_sim``.

=========================  ================================================================================
``sim.clock.advance``      travel the world's clock forward (``by: 90d``) — rotation, expiry, code lifetimes
``sim.clock.set``          set the clock to an instant (forward only)
``sim.reset``              forget everything, then set up ``given`` again (fresh tenants, apps and tokens)
``sim.devices.create``     mint simulated Sphere devices (optionally claimed) → ``[{id, key_pem, …}]``
=========================  ================================================================================

A live run skips these steps with a reason (and a scenario that depends on their results will then fail at the
first step that needs them).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from harness.steps.base import NoArgs, StepArgs, StepContext, step


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

"""``run --target live --plan``: what a live run would create, change and delete — found out with reads only.

A plan opens the live session exactly as a run would (same configuration, allow-list and run prefix), but its
guard refuses every method except ``GET`` and ``HEAD``, and no step runs. It sends a few reads that a run's first
failures usually come from, then lists each step with what it would do::

    plan for enable-trust on live — tenant 768c2cd6-…, app contoso-devices, run prefix sh-20261130101500-ab12-
      reads sent:
        ✓ GET /v2/tenants — tenant 768c2cd6-… is listed (roles: Administrator)
        ✓ GET /v2/tenants/…/certificates — the active tenant CA is 3A11914F…
        ✓ GET /api/enrollmentGroups — 2 groups; none left behind by earlier runs
      would:
         1  read    sphere.login
         3  create  enrollment group sh-20261130101500-ab12-azure-sphere (Azure Sphere)
         4  change  set the primary certificate of group sh-…-azure-sphere from CAcertificate.cer
        …
      when the run ends: delete enrollment group sh-20261130101500-ab12-azure-sphere (and anything else it created)

**Problems** are what the reads show will make the run fail: the tenant is not among the token's tenants, the app
does not answer, or another enrollment group of the app already holds this tenant's CA (IoT Central lets a
certificate stand in one group of an app only, so ``enable-trust`` needs a scratch app). **Notices** do not stop a
run: groups with the run prefix left by killed runs (``live sweep`` deletes them), an irreversible step that will be
skipped without ``--allow-irreversible``. ``run --plan`` exits 0 when the plan has no problem, 1 when it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.clients.errors import HarnessClientError
from harness.scenario import Scenario, StepSpec
from harness.session import Session
from harness.steps import registry

#: the prefix every default run prefix starts with (see LiveTarget.run_prefix)
RUN_PREFIX_STEM = "sh-"


@dataclass
class PlannedStep:
    index: int
    kind: str
    effect: str
    description: str
    note: str | None = None


@dataclass
class Plan:
    """What a live run of ``scenario`` would do, and what the reads found."""

    scenario: str
    tenant: str
    app: str
    run_prefix: str
    reads: list[tuple[bool, str]] = field(default_factory=list)
    steps: list[PlannedStep] = field(default_factory=list)
    at_end: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [
            f"plan for {self.scenario} on live — tenant {self.tenant}, app {self.app}, run prefix {self.run_prefix}",
            "  reads sent:",
        ]
        out += [f"    {'✓' if ok else '✗'} {text}" for ok, text in self.reads]
        out.append("  would:")
        for step in self.steps:
            note = f"  ({step.note})" if step.note else ""
            out.append(f"    {step.index + 1:>2}  {step.effect:<7} {step.description}{note}")
        if self.at_end:
            out.append(f"  when the run ends: {'; '.join(self.at_end)}")
        out += [f"  problem: {text}" for text in self.problems]
        out += [f"  notice: {text}" for text in self.notices]
        out.append("  nothing was created, changed or deleted" + ("" if self.ok else "; the run would fail as above"))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "tenant": self.tenant,
            "app": self.app,
            "run_prefix": self.run_prefix,
            "reads": [{"ok": ok, "what": text} for ok, text in self.reads],
            "steps": [step.__dict__ for step in self.steps],
            "at_end": self.at_end,
            "problems": self.problems,
            "notices": self.notices,
        }


def make_plan(scenario: Scenario, target: Any, *, seed: int = 0, workdir: str | Path = ".") -> Plan:
    """The plan of ``scenario`` on ``target`` (a :class:`~harness.targets.LiveTarget` made with ``plan=True``)."""
    if not getattr(target, "plan", False):
        raise ValueError("make_plan needs a LiveTarget made with plan=True (its guard lets only reads through)")
    with target.session(scenario, seed=seed, workdir=Path(workdir)) as session:
        tenant, app = session.tenant(), session.app()
        plan = Plan(scenario.name, tenant.tenant_id, app.subdomain or str(app.base_url), session.run_prefix)
        uploads = any(spec.kind == "central.certificate.set" for spec in scenario.steps)
        _read(plan, session, uploads=uploads)
        for spec in scenario.steps:
            plan.steps.append(_planned(spec, session))
        creates = [s for s in scenario.steps if registry()[s.kind].effect == "create"]
        if creates:
            plan.at_end.append(
                "delete " + ", ".join(_target_of(s, session) for s in creates) + " (and anything else it created)"
            )
        return plan


def _read(plan: Plan, session: Session, *, uploads: bool) -> None:
    tenant = session.tenant()
    active: str | None = None
    try:
        tenants = session.sphere().list_tenants()
        match = next((t for t in tenants if str(t.get("Id", "")).lower() == tenant.tenant_id.lower()), None)
        if match is None:
            plan.reads.append((False, f"GET /v2/tenants — tenant {tenant.tenant_id} is not listed"))
            plan.problems.append(f"the Sphere token's user cannot see tenant {tenant.tenant_id}")
        else:
            roles = ", ".join(match.get("Roles") or []) or "none"
            plan.reads.append((True, f"GET /v2/tenants — tenant {tenant.tenant_id} is listed (roles: {roles})"))
            certificates = session.sphere().list_certificates(tenant.tenant_id)
            active = next((c.get("Thumbprint") for c in certificates if c.get("IsActive")), None)
            where = f"GET /v2/tenants/{tenant.tenant_id}/certificates"
            plan.reads.append((True, f"{where} — the active tenant CA is {active or 'missing'}"))
    except HarnessClientError as exc:
        plan.reads.append((False, f"the Sphere API: {exc}"))
        plan.problems.append(f"the Sphere API refused a read: {exc}")
    try:
        groups = session.central().list_groups()
    except HarnessClientError as exc:
        plan.reads.append((False, f"IoT Central: {exc}"))
        plan.problems.append(f"the IoT Central app refused a read: {exc}")
        return
    leftovers = [g.get("id") for g in groups if str(g.get("id", "")).startswith(RUN_PREFIX_STEM)]
    summary = f"{len(leftovers)} left behind by earlier runs" if leftovers else "none left behind by earlier runs"
    plan.reads.append((True, f"GET /api/enrollmentGroups — {len(groups)} group(s); {summary}"))
    if leftovers:
        plan.notices.append(
            f"enrollment groups left by earlier runs: {', '.join(map(str, leftovers))} — "
            "`sphere-harness live sweep` lists and deletes them"
        )
    if uploads and active:
        holders = [g.get("id") for g in groups if active.upper() in _thumbprints(g)]
        if holders:
            plan.problems.append(
                f"enrollment group(s) {', '.join(map(str, holders))} of this app already hold the tenant CA "
                f"{active}: a certificate can stand in one group of an app only, so the upload would be refused "
                "(409) — use a scratch app, or delete that group"
            )


def _thumbprints(group: dict[str, Any]) -> set[str]:
    entries = (((group.get("attestation") or {}).get("x509") or {}).get("signingCertificates") or {}).values()
    return {str((e.get("info") or {}).get("sha1Thumbprint", "")).upper() for e in entries if isinstance(e, dict)}


def _planned(spec: StepSpec, session: Session) -> PlannedStep:
    step_type = registry()[spec.kind]
    effect = "fake-only" if step_type.fake_only else str(step_type.effect)
    note = None
    if step_type.irreversible:
        effect = "IRREVERSIBLE"
        note = "runs only with --allow-irreversible" if not session.allow_irreversible else "allowed"
    return PlannedStep(spec.index, spec.kind, effect, _describe(spec, session), note)


def _target_of(spec: StepSpec, session: Session) -> str:
    group = spec.args.get("id") or spec.args.get("group")
    return f"enrollment group {session.resource_name(str(group))}" if group is not None else spec.kind


def _describe(spec: StepSpec, session: Session) -> str:
    """One line of what the step would do, from its arguments as written (placeholders left as ``{name}``)."""
    a = spec.args
    group = session.resource_name(str(a.get("group") or a.get("id") or "?"))
    entry = a.get("entry", "primary")
    source = a.get("path") or ("an inline certificate" if a.get("certificate") else "?")
    table = {
        "central.enrollment-group.create": f"enrollment group {group} ({a.get('display_name', '')})",
        "central.enrollment-group.update": f"group {group}: "
        + ", ".join(f"{k}={a[k]}" for k in ("display_name", "enabled") if k in a),
        "central.enrollment-group.delete": f"enrollment group {group}",
        "central.certificate.set": f"set the {entry} certificate of group {group} from {source}",
        "central.certificate.remove": f"remove the {entry} certificate of group {group}",
        "central.verification-code.generate": f"generate a verification code for the {entry} certificate of {group}",
        "central.certificate.verify": f"verify the {entry} certificate of group {group} with {source}",
        "sphere.device.claim": f"claim device {a.get('device')} into the tenant, for good",
    }
    return table.get(spec.kind, spec.kind if spec.name == spec.kind else f"{spec.kind} — {spec.name}")


__all__ = ["Plan", "PlannedStep", "make_plan"]

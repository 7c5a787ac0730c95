"""A readable view of what the world holds, for people: ``GET /_sim/state``, ``FakeCloud.state()``, ``inspect``.

Not a dump — :mod:`simulator.state` has the complete, restorable encoding of a world (keys, random streams and
all). This is the part a person debugging their onboarding code asks about, in the domain's words, and nothing
secret: no private keys, no tokens, no group symmetric keys.

=============  ==================================================================================================
``tenants``    id, name, catalog placement, CA generations (index, thumbprint, serial, status now, validity),
               claimed devices, users and their roles
``apps``       subdomain, id, ID scope, hub host, enrollment groups (enabled, type, attestation) with their
               certificate entries (thumbprint, subject, verified, the pending verification code and when it was
               issued), devices (status, provisioned, attestation thumbprint, messages)
``dps``        registrations (ID scope, registration ID, device, group, hub, status) and operations in flight
``clock``      the world's now and its offset from real time
``settings``   the settings that differ from the defaults (docs/fidelity.md), e.g. ``serve --setting`` ones
=============  ==================================================================================================
"""

from __future__ import annotations

from typing import Any


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _tenant(tenant: Any, sphere: Any, now: Any) -> dict[str, Any]:
    generations = []
    for generation in tenant.generations:
        generations.append(
            {
                "index": generation.index,
                "thumbprint": generation.thumbprint,
                "serial": generation.serial,
                "status": str(tenant.generation_status(generation, now)),
                "not_before": _iso(generation.not_before),
                "not_after": _iso(generation.not_after),
                "subject": generation.certificate.subject.rfc4514_string(),
            }
        )
    devices = sorted(record.id for record in sphere.devices.values() if record.tenant_id == tenant.id)
    users = sorted(
        ({"email": user.email, "roles": list(user.roles_in(tenant.id))} for user in sphere.users.values()),
        key=lambda item: item["email"],
    )
    return {
        "id": tenant.id,
        "name": tenant.name,
        "catalog": tenant.catalog,
        "subscription_id": tenant.subscription_id,
        "resource_group": tenant.resource_group,
        "created_at": _iso(tenant.created_at),
        "ca_generations": generations,
        "devices": devices,
        "users": [user for user in users if user["roles"]],
    }


def _entry(entry: Any) -> dict[str, Any]:
    return {
        "name": entry.name,
        "thumbprint": entry.thumbprint,
        "subject": entry.certificate.subject.rfc4514_string(),
        "verified": entry.verified,
        "verification_code": entry.code,
        "code_issued": _iso(entry.code_issued),
    }


def _app(app: Any) -> dict[str, Any]:
    groups = []
    for group in app.enrollment.groups.values():
        groups.append(
            {
                "id": group.id,
                "display_name": group.display_name,
                "enabled": group.enabled,
                "type": group.type,
                "attestation": group.attestation_type,
                "entries": {name: _entry(entry) for name, entry in sorted(group.entries.items())},
            }
        )
    devices = []
    for device in app.devices.values():
        devices.append(
            {
                "id": device.id,
                "display_name": device.display_name,
                "status": device.status,
                "enabled": device.enabled,
                "provisioned": device.provisioned,
                "template": device.template,
                "attestation_thumbprint": device.attestation_thumbprint,
                "messages": device.messages,
            }
        )
    return {
        "subdomain": app.subdomain,
        "id": app.id,
        "name": app.name,
        "id_scope": app.id_scope,
        "hub_host": app.hub_host,
        "auto_approve": app.auto_approve,
        "enrollment_groups": groups,
        "devices": devices,
    }


def _dps(dps: Any) -> dict[str, Any]:
    registrations = [
        {
            "id_scope": r.id_scope,
            "registration_id": r.registration_id,
            "device_id": r.device_id,
            "enrollment_group_id": r.enrollment_group_id,
            "assigned_hub": r.assigned_hub,
            "status": r.status,
            "substatus": r.substatus,
            "last_updated": _iso(r.last_updated),
        }
        for r in dps.registrations.values()
    ]
    in_flight = [
        {"operation_id": op.operation_id, "id_scope": op.id_scope, "registration_id": op.registration_id}
        for op in getattr(dps, "_assigning", {}).values()
    ]
    return {"registrations": registrations, "operations_in_flight": in_flight}


def changed_settings(settings: Any) -> dict[str, dict[str, Any]]:
    """The settings that differ from the defaults, by section (``{"central": {"code_reuse": true}}``): what makes
    this world behave otherwise than a fresh one (docs/fidelity.md explains each)."""
    from dataclasses import fields

    from simulator.settings import Settings

    defaults = Settings()
    changed: dict[str, dict[str, Any]] = {}
    for section in fields(settings):
        mine, default = getattr(settings, section.name), getattr(defaults, section.name)
        for item in fields(mine):
            value = getattr(mine, item.name)
            if value != getattr(default, item.name):
                changed.setdefault(section.name, {})[item.name] = list(value) if isinstance(value, tuple) else value
    return changed


def world_view(cloud: Any) -> dict[str, Any]:
    """The view of ``cloud`` (call it holding ``cloud.lock``)."""
    now = cloud.clock.now()
    sphere = cloud.sphere
    return {
        # to the millisecond: a fresh world's offset is a few microseconds of start-up, not a clock that travelled
        "clock": {"now": now.isoformat(), "offset_s": round(cloud.clock.offset.total_seconds(), 3) + 0.0},
        "seed": cloud.seed,
        "settings": changed_settings(cloud.settings),
        "tenants": [_tenant(tenant, sphere, now) for tenant in sphere.tenants.values()],
        "apps": [_app(app) for app in cloud.central.apps.values()],
        "dps": _dps(cloud.dps),
        "fault_rules": [rule.to_dict() for rule in cloud.faults.list()],
    }

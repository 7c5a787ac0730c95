"""What an IoT Central caller may do: the permission each API operation needs and the permissions each role grants.

Every request carries a token, and every API token has **role assignments** (``[{"role": <role ID>,
"organization"?: <ID>}]``). Microsoft's documentation says what the role is for: "You'll be prompted to give it a
name and choose a role. The role determines what a client using this token is authorized to do in this
application", and creating API tokens needs "an API token or bearer with permissions to create new API tokens"
(REST API reference, *Authentication and authorization*). API tokens, users, roles, organizations and device
connection groups live in the application's *Permissions* (formerly *Administration*) section, which only the
**App Administrator** role — or a custom role with administration permissions — may use (*Manage users and roles
in your IoT Central application*). Nothing published lists, operation by operation, what App Builder, App Operator
or the organization roles may do over the REST API, so the rest of the matrix below is this project's reading of
the role descriptions, and a setting (``central.role_permissions``) — change it where a live application answers
otherwise; ``central.token_roles = "record"`` turns the check off (roles are then only recorded, as before).

Permissions are ``<area>.<access>``; a role grants a list of them (``"*"``: all):

=====================  ==========================================================================================
permission             operations
=====================  ==========================================================================================
``apiTokens.read``     list and get API tokens
``apiTokens.write``    create and remove API tokens
``enrollmentGroups.*`` enrollment groups and their certificate entries (``read``: list/get; ``write``: the rest)
``organizations.*``    organizations
``roles.read``         list and get roles
``devices.read``       list and get devices, their components, properties and last telemetry
``devices.write``      create, update and delete devices and their properties
``devices.credentials`` a device's attestation (get, create, update, remove) and credentials
``deviceTemplates.*``  device templates
``deviceGroups.*``     device groups and their members
=====================  ==========================================================================================

A refusal is ``403 Forbidden`` in IoT Central's error shape, raised before anything is read or changed.
Bearer tokens stand for the application's own user (its creator), an App Administrator. Organization scoping is
not modelled: a token whose assignment names an organization is judged by its role alone and sees the whole
application (``docs/contracts.md`` lists the gap).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: the permission each operation of :mod:`simulator.central.api` needs (keyed by the operation's name)
OPERATION_PERMISSIONS: dict[str, str] = {
    "list_groups": "enrollmentGroups.read",
    "get_group": "enrollmentGroups.read",
    "create_group": "enrollmentGroups.write",
    "update_group": "enrollmentGroups.write",
    "delete_group": "enrollmentGroups.write",
    "get_certificate": "enrollmentGroups.read",
    "set_certificate": "enrollmentGroups.write",
    "remove_certificate": "enrollmentGroups.write",
    "generate_code": "enrollmentGroups.write",
    "verify": "enrollmentGroups.write",
    "list_devices": "devices.read",
    "get_device": "devices.read",
    "create_device": "devices.write",
    "update_device": "devices.write",
    "delete_device": "devices.write",
    "get_device_attestation": "devices.credentials",
    "create_device_attestation": "devices.credentials",
    "update_device_attestation": "devices.credentials",
    "remove_device_attestation": "devices.credentials",
    "get_device_credentials": "devices.credentials",
    "list_device_components": "devices.read",
    "get_device_properties": "devices.read",
    "replace_device_properties": "devices.write",
    "update_device_properties": "devices.write",
    "get_device_telemetry": "devices.read",
    "list_device_templates": "deviceTemplates.read",
    "get_device_template": "deviceTemplates.read",
    "create_device_template": "deviceTemplates.write",
    "update_device_template": "deviceTemplates.write",
    "remove_device_template": "deviceTemplates.write",
    "list_organizations": "organizations.read",
    "get_organization": "organizations.read",
    "create_organization": "organizations.write",
    "update_organization": "organizations.write",
    "remove_organization": "organizations.write",
    "list_api_tokens": "apiTokens.read",
    "get_api_token": "apiTokens.read",
    "create_api_token": "apiTokens.write",
    "remove_api_token": "apiTokens.write",
    "list_roles": "roles.read",
    "get_role": "roles.read",
    "list_device_groups": "deviceGroups.read",
    "get_device_group": "deviceGroups.read",
    "create_device_group": "deviceGroups.write",
    "update_device_group": "deviceGroups.write",
    "remove_device_group": "deviceGroups.write",
    "list_device_group_devices": "deviceGroups.read",
}

PERMISSIONS: frozenset[str] = frozenset(OPERATION_PERMISSIONS.values())

_OPERATE = ("devices.read", "devices.write", "devices.credentials", "deviceGroups.read", "deviceGroups.write")

#: role display name → permissions (the default of ``central.role_permissions``)
DEFAULT_ROLE_PERMISSIONS: dict[str, list[str]] = {
    # "manage and control every part of the application"
    "Administrator": ["*"],
    # every part of the application except the Permissions section
    "Builder": [*_OPERATE, "deviceTemplates.read", "deviceTemplates.write", "roles.read"],
    # devices and device groups; device templates read-only; no administration
    "Operator": [*_OPERATE, "deviceTemplates.read", "roles.read"],
    "Org Administrator": [*_OPERATE, "deviceTemplates.read", "organizations.read", "roles.read"],
    "Org Operator": [*_OPERATE, "deviceTemplates.read", "roles.read"],
    # reads what the operators work on, changes nothing, sees no credentials
    "Org Viewer": ["devices.read", "deviceGroups.read", "deviceTemplates.read", "roles.read"],
}


def check_role_permissions(matrix: Mapping[str, Iterable[str]], role_names: Iterable[str]) -> None:
    """A ``central.role_permissions`` value must name known roles and known permissions (``ValueError``)."""
    names = set(role_names)
    for role, granted in matrix.items():
        if role not in names:
            raise ValueError(f"central.role_permissions: no role {role!r} (roles: {', '.join(sorted(names))})")
        unknown = sorted(set(granted) - PERMISSIONS - {"*"})
        if unknown:
            raise ValueError(f"central.role_permissions[{role!r}]: unknown permission(s) {', '.join(unknown)}")


def grants(matrix: Mapping[str, Iterable[str]], role_name: str, permission: str) -> bool:
    """Whether the role called ``role_name`` holds ``permission`` under ``matrix`` (a role it omits holds none)."""
    granted = set(matrix.get(role_name, ()))
    return "*" in granted or permission in granted

"""Organizations of an IoT Central application: a tree that scopes devices, users and API tokens.

An organization (``Organization`` in the 2022-07-31 document) has an ``id`` (1–49 lower-case letters, digits
and ``-``, not starting with ``-`` or ending in one — the document's pattern), a ``displayName`` and optionally a
``parent``. The fake keeps the tree sound: a parent must exist, an organization cannot become its own ancestor,
and one that still has child organizations, devices or API-token role assignments cannot be removed (409).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from simulator.central.errors import CentralError
from simulator.settings import Settings

ORGANIZATION_PATTERN = re.compile(r"^(?!-)[a-z0-9-]{1,48}[a-z0-9]$")


@dataclass
class Organization:
    id: str
    display_name: str
    parent: str | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "displayName": self.display_name}
        if self.parent is not None:
            body["parent"] = self.parent
        return body


class OrganizationTree:
    """The organizations of one application (``in`` works by ID)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.organizations: dict[str, Organization] = {}

    def __contains__(self, organization_id: object) -> bool:
        return organization_id in self.organizations

    def _error(self, situation: str, message: str) -> CentralError:
        return CentralError.of(situation, message, self.settings.central.error_codes)

    def get(self, organization_id: str) -> Organization:
        found = self.organizations.get(organization_id)
        if found is None:
            raise self._error("not_found", f"organization {organization_id!r} was not found")
        return found

    def list(self) -> list[Organization]:
        return list(self.organizations.values())

    def _check(self, organization_id: str, display_name: Any, parent: Any) -> None:
        if not ORGANIZATION_PATTERN.match(organization_id):
            raise self._error(
                "bad_request",
                f"organization ID {organization_id!r} must be 2-49 lower-case letters, digits or '-', "
                "not starting or ending with '-'",
            )
        if not isinstance(display_name, str) or not display_name.strip():
            raise self._error("bad_request", "'displayName' must be a non-empty string")
        if parent is None:
            return
        if not isinstance(parent, str) or parent not in self.organizations:
            raise self._error("bad_request", f"the parent organization {parent!r} does not exist")
        ancestor: str | None = parent
        while ancestor is not None:
            if ancestor == organization_id:
                raise self._error("bad_request", f"organization {organization_id!r} cannot be its own ancestor")
            ancestor = self.organizations[ancestor].parent

    def put(self, organization_id: str, body: Any) -> Organization:
        if not isinstance(body, dict):
            raise self._error("bad_request", "the organization must be a JSON object")
        unknown = set(body) - {"id", "displayName", "parent"}
        if unknown:
            raise self._error("bad_request", f"an organization has no member {sorted(unknown)[0]!r}")
        display_name = body.get("displayName", organization_id)
        self._check(organization_id, display_name, body.get("parent"))
        found = Organization(organization_id, display_name, body.get("parent"))
        self.organizations[organization_id] = found
        return found

    def patch(self, organization_id: str, patch: Any) -> Organization:
        found = self.get(organization_id)
        if not isinstance(patch, dict):
            raise self._error("bad_request", "a merge patch must be a JSON object")
        unknown = set(patch) - {"id", "displayName", "parent"}
        if unknown:
            raise self._error("bad_request", f"an organization has no member {sorted(unknown)[0]!r}")
        display_name = patch.get("displayName", found.display_name)
        parent = patch.get("parent", found.parent)
        self._check(organization_id, display_name, parent)
        found.display_name, found.parent = display_name, parent
        return found

    def remove(self, organization_id: str, *, in_use: bool) -> None:
        self.get(organization_id)
        children = [o.id for o in self.organizations.values() if o.parent == organization_id]
        if children:
            raise self._error("conflict", f"organization {organization_id!r} has child organizations ({children[0]!r})")
        if in_use:
            raise self._error("conflict", f"organization {organization_id!r} still has devices or API tokens")
        del self.organizations[organization_id]

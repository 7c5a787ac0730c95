"""``live sweep``: find what live runs left behind, and delete it (a dry run unless told ``--yes``).

A live run deletes what it created when it ends — after a failure, an exception, SIGINT or SIGTERM. A run killed
with SIGKILL, a machine that lost power or a cleanup that ran out of time cannot, and what it leaves holds the
tenant CA, so every later run fails at the upload with 409. Everything a run creates carries its run prefix,
``sh-<UTC yyyymmddHHMMSS>-<4 hex>-``, so the leftovers are easy to tell from anything else: :func:`find_leftovers`
lists the app's enrollment groups whose ID starts with the prefix stem (``sh-``) and reads their age back from the
name; :func:`sweep` deletes those older than ``older_than`` (default one hour, so runs still going are left alone).
A group whose name has the stem but no readable time (a configured ``run_prefix``) has no age: only
``--older-than 0`` sweeps it.

The sweep talks to the configured, allowed app only, through the same guard as a live run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.clients import CENTRAL_SCOPE, CentralClient, auth_from
from harness.clients.errors import HarnessClientError
from harness.config import LiveConfig
from harness.live.guard import LiveGuard

STEM = "sh-"
_STAMP = re.compile(r"^sh-(\d{14})-[0-9a-fA-F]{4}-")


@dataclass
class Leftover:
    """An enrollment group a run left behind, and what the sweep did with it."""

    group_id: str
    created: datetime | None
    age: timedelta | None
    due: bool
    deleted: bool = False
    error: str | None = None

    def describe(self) -> str:
        when = f"created {self.created:%Y-%m-%d %H:%M} UTC, {_human(self.age)} ago" if self.created else "age unknown"
        return f"enrollment group {self.group_id} ({when})"


def created_at(group_id: str) -> datetime | None:
    """The UTC time a default run prefix carries (``sh-20261130101500-ab12-…``), else ``None``."""
    match = _STAMP.match(group_id)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def central_client(config: LiveConfig, *, credential: Any = None) -> CentralClient:
    """A client of the configured app, guarded like a live run's."""
    c = config.central
    return CentralClient(
        auth_from(c.api_token, scope=CENTRAL_SCOPE, credential=credential),
        subdomain=c.subdomain,
        base_url=c.url,
        dns_suffix=c.dns_suffix,
        verify=config.ca_bundle or True,
        guard=LiveGuard(config),
    )


def find_leftovers(
    central: CentralClient, *, older_than: timedelta, prefix: str = STEM, now: datetime | None = None
) -> list[Leftover]:
    """Every group whose ID starts with ``prefix``, with its age and whether it is due (older than ``older_than``)."""
    now = now or datetime.now(UTC)
    found = []
    for group in central.list_groups():
        group_id = str(group.get("id", ""))
        if not group_id.startswith(prefix):
            continue
        created = created_at(group_id)
        age = now - created if created is not None else None
        due = age >= older_than if age is not None else older_than <= timedelta(0)
        found.append(Leftover(group_id, created, age, due))
    return sorted(found, key=lambda item: (item.created or now, item.group_id))


def sweep(
    central: CentralClient,
    *,
    older_than: timedelta = timedelta(hours=1),
    delete: bool = False,
    prefix: str = STEM,
    now: datetime | None = None,
    report: Callable[[Leftover], None] | None = None,
) -> list[Leftover]:
    """List the leftovers and, with ``delete``, delete the due ones (a group already gone counts as deleted)."""
    leftovers = find_leftovers(central, older_than=older_than, prefix=prefix, now=now)
    for item in leftovers:
        if delete and item.due:
            try:
                central.delete_group(item.group_id)
                item.deleted = True
            except HarnessClientError as exc:
                if getattr(exc, "status", None) == 404:
                    item.deleted = True
                else:
                    item.error = str(exc)
        if report is not None:
            report(item)
    return leftovers


def _human(age: timedelta | None) -> str:
    if age is None:
        return "?"
    seconds = int(age.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


__all__ = ["Leftover", "central_client", "created_at", "find_leftovers", "sweep"]

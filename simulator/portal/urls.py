"""Every link of the portal, built in one place (datasette's ``Urls``): templates, redirects and tests use it."""

from __future__ import annotations

from urllib.parse import quote, urlencode

ENTRY_ACTIONS = ("upload", "generate", "verify", "save")


def _seg(value: str) -> str:
    return quote(value, safe="")


def _fmt(path: str, fmt: str | None) -> str:
    return f"{path}.{fmt}" if fmt else path


class Urls:
    """Paths of one portal (relative to the app's origin)."""

    def home(self, fmt: str | None = None) -> str:
        return "/" if not fmt else f"/index.{fmt}"

    def static(self, name: str) -> str:
        return f"/static/{_seg(name)}"

    def signin(self, token: str | None = None) -> str:
        return "/signin" + (f"?{urlencode({'token': token})}" if token else "")

    def signout(self) -> str:
        return "/signout"

    def device_connection(self, fmt: str | None = None) -> str:
        return _fmt("/admin/device-connection", fmt)

    def new_group(self) -> str:
        return "/admin/device-connection/new"

    def group(self, group_id: str, fmt: str | None = None) -> str:
        return _fmt(f"/admin/device-connection/groups/{_seg(group_id)}", fmt)

    def entry(self, group_id: str, entry: str, *, dialog: bool = False, fmt: str | None = None) -> str:
        path = _fmt(f"/admin/device-connection/groups/{_seg(group_id)}/{_seg(entry)}", fmt)
        return path + ("?dialog=settings" if dialog else "")

    def entry_action(self, group_id: str, entry: str, action: str) -> str:
        if action not in ENTRY_ACTIONS:
            raise ValueError(f"unknown entry action {action!r}")
        return f"/admin/device-connection/groups/{_seg(group_id)}/{_seg(entry)}/{action}"

    def devices(self, fmt: str | None = None) -> str:
        return _fmt("/devices", fmt)

    def checklist(self, fmt: str | None = None) -> str:
        return _fmt("/checklist", fmt)

    def instructor(self, token: str | None = None, fmt: str | None = None) -> str:
        return _fmt("/instructor", fmt) + (f"?{urlencode({'token': token})}" if token else "")

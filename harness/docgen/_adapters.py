"""Reaching a service's Starlette app through the layers a world wraps around it (journal, observers, faults)."""

from __future__ import annotations

from typing import Any


def starlette_app(adapter: Any) -> Any:
    """The innermost app of ``adapter`` that has a router: each wrapper keeps what it wraps in ``.app``."""
    app = adapter
    while not hasattr(app, "router"):
        app = app.app
    return app

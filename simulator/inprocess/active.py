"""The stack of active cloud routers; the oldest answers (respx's rule when several of its routers are active)."""

from __future__ import annotations

from typing import Any

#: started routers, oldest first (changed only by :mod:`simulator.inprocess.activation`, under its lock)
ROUTERS: list[Any] = []


def current() -> Any:
    """The router answering now, or None outside every ``cloud.mock()`` block."""
    routers = ROUTERS
    return routers[0] if routers else None

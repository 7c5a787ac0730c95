"""What every part of the ``/_sim`` control surface shares: its path prefix and its error.

:mod:`simulator.control` builds the surface and mounts routes defined elsewhere (the snapshot and restore routes of
:mod:`simulator.state.routes`); those routes raise the same :class:`ControlError` under the same prefix, and take
both from here, so they need not import the module that mounts them.
"""

from __future__ import annotations

__all__ = ["CONTROL_PREFIX", "ControlError"]

CONTROL_PREFIX = "/_sim"


class ControlError(Exception):
    """A control request that cannot be honoured; becomes ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

"""Who may use the served world's control API ``/_sim`` — it can mint tokens for any user, reset the world and inject
faults, so it is only open where only this machine can reach it.

============  ==============================================================================================
``auto``       (default) open on a loopback address (``127.0.0.1``, ``::1``, ``localhost``); on any other address
               the ``token`` mode, with a warning in the log that the control API is exposed
``token``      every ``/_sim`` request needs ``Authorization: Bearer <control token>``; the token is random per
               start, written to the endpoints file as ``control_token`` and printed once by ``serve``
``off``        no ``/_sim`` at all: the path reaches the service behind the port, which answers 404 in its shape
============  ==============================================================================================

A refused request is 401 ``{"error": {"code": "Unauthorized", "message": …}}`` with ``WWW-Authenticate: Bearer``,
the control API's own error shape. In-process (``sim.sphere-harness.local``) nothing is guarded: no socket is open.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Callable
from typing import Any, Literal

from starlette.responses import JSONResponse

ControlMode = Literal["auto", "token", "off"]
CONTROL_MODES: tuple[str, ...] = ("auto", "token", "off")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address only this machine can reach."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_mode(mode: str, host: str) -> Literal["open", "token", "off"]:
    """What ``mode`` means on ``host``: ``auto`` is open on loopback and token-guarded anywhere else."""
    if mode not in CONTROL_MODES:
        raise ValueError(f"control must be one of {', '.join(CONTROL_MODES)}, not {mode!r}")
    if mode == "auto":
        return "open" if is_loopback(host) else "token"
    return mode  # type: ignore[return-value]


def exposure_warning(host: str, access: str) -> str | None:
    """The log line a world served off loopback owes its operator (None when nothing is exposed)."""
    if access == "off" or is_loopback(host):
        return None
    return (
        f"the simulator control API (/_sim) is exposed on {host}: anyone who can reach it and holds the control token "
        "can mint tokens, reset the world and inject faults; requests need 'Authorization: Bearer <control_token>' "
        "(in the endpoints file). Serve on 127.0.0.1, or with --control off, to close it."
    )


def new_control_token() -> str:
    """A fresh control token (256 random bits, URL-safe): never derived from the world's seed."""
    return secrets.token_urlsafe(32)


class ControlGuard:
    """ASGI middleware in front of the control app: only requests bearing the control token get through."""

    def __init__(self, app: Callable[..., Any], token: str) -> None:
        if not token:
            raise ValueError("a control guard needs a token")
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                message = (
                    "the simulator control API needs 'Authorization: Bearer <control_token>' "
                    "(the control_token of the endpoints file)"
                )
                response = JSONResponse(
                    {"error": {"code": "Unauthorized", "message": message}},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

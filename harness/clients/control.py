"""A client of the simulator control surface ``/_sim`` — the explicit way to do what Azure cannot.

Creating a tenant or an app out of thin air, minting a simulated device, travelling the clock, resetting the
world: none of that exists on the real services (DESIGN.md principle 4), so scenario steps that need it are
*fake-only* and go through this client, never through the service clients. The same HTTP API answers in-process
(``https://sim.sphere-harness.local/_sim``, routed by respx) and on a served world (``control_url`` in the
endpoints file); see :mod:`simulator.control` for the routes.
"""

from __future__ import annotations

from typing import Any

from harness.clients.base import WireClient
from harness.clients.errors import ControlError

IN_PROCESS_URL = "https://sim.sphere-harness.local/_sim"


class ControlClient(WireClient):
    """``/_sim`` of one fake world (no authentication: it only ever listens on loopback or in-process)."""

    error_type = ControlError
    service = "control"

    def __init__(self, base_url: str = IN_PROCESS_URL, **kwargs: Any) -> None:
        super().__init__(base_url, None, **kwargs)

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/health").json()

    def reset(self) -> dict[str, Any]:
        return self.request("POST", "/reset", json={}).json()

    def clock(self) -> dict[str, Any]:
        return self.request("GET", "/clock").json()

    def travel(self, *, advance: str | None = None, set: str | None = None) -> dict[str, Any]:
        body = {"advance": advance} if advance is not None else {"set": set}
        return self.request("POST", "/clock", json=body).json()

    def create_tenant(self, **fields: Any) -> dict[str, Any]:
        body = {k: v for k, v in fields.items() if v is not None}
        return self.request("POST", "/tenants", json=body, ok=(201, 200)).json()

    def issue_token(self, email: str, audience: str = "sphere") -> str:
        body = self.request("POST", "/tokens", json={"email": email, "audience": audience}, ok=(201, 200)).json()
        return body["token"]

    def create_app(self, **fields: Any) -> dict[str, Any]:
        body = {k: v for k, v in fields.items() if v is not None}
        return self.request("POST", "/apps", json=body, ok=(201, 200)).json()

    def create_devices(self, count: int = 1, *, claim: bool = True, tenant_id: str | None = None) -> list[dict]:
        body: dict[str, Any] = {"count": count, "claim": claim}
        if tenant_id is not None:
            body["tenant_id"] = tenant_id
        return self.request("POST", "/devices", json=body, ok=(201, 200)).json()["devices"]

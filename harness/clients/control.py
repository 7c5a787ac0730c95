"""A client of the simulator control surface ``/_sim`` — the explicit way to do what Azure cannot.

Creating a tenant or an app out of thin air, minting a simulated device, travelling the clock, resetting the
world: none of that exists on the real services, so scenario steps that need it are
*fake-only* and go through this client, never through the service clients. The same HTTP API answers in-process
(``https://sim.sphere-harness.local/_sim``, routed by respx) and on a served world (``control_url`` in the
endpoints file); see :mod:`simulator.control` for the routes.
"""

from __future__ import annotations

from typing import Any

from harness.clients.auth import StaticToken
from harness.clients.base import WireClient
from harness.clients.errors import ControlError

IN_PROCESS_URL = "https://sim.sphere-harness.local/_sim"


class ControlClient(WireClient):
    """``/_sim`` of one fake world. In-process and on loopback it is open; a world served on another address guards
    it with a control token (``control_token`` in the endpoints file), sent as ``Authorization: Bearer <token>``."""

    error_type = ControlError
    service = "control"

    def __init__(self, base_url: str = IN_PROCESS_URL, token: str | None = None, **kwargs: Any) -> None:
        super().__init__(base_url, StaticToken(token) if token else None, **kwargs)

    @classmethod
    def for_endpoints(cls, endpoints: dict[str, Any], **kwargs: Any) -> ControlClient:
        """The control API an endpoints file names (its ``control_url``, ``ca_bundle`` and ``control_token``)."""
        url = endpoints.get("control_url")
        if not url:
            raise ValueError("this world serves no control API (it was started with --control off)")
        kwargs.setdefault("verify", endpoints["ca_bundle"])
        return cls(url, endpoints.get("control_token"), **kwargs)

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

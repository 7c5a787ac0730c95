"""State machine over IoT Central's API tokens and organizations, through the wire: whatever order tokens are
created, removed and re-created in, exactly the current strings of existing records authenticate, ``/apiTokens``
lists exactly the existing records, and an organization that a token's role names cannot be removed.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from refusals import watch_client
from test_central_world import API, CentralWorld, client

OPERATOR = "ae2c9854-393b-4f97-8c42-479d70ce626e"
IDS = st.sampled_from(["ci", "ops", "reader"])
ORGS = st.sampled_from([None, "contoso"])


class TokenLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = CentralWorld()
        self.app = self.world.central.create_app("contoso")
        self.admin = watch_client(self.world, client(self.world, self.app))  # a refusal changes nothing
        self.admin.put("/api/organizations/contoso" + API, json={"displayName": "Contoso"})
        self.live: dict[str, str] = {}  # token id → its newest string
        self.dead: list[str] = []  # strings that must never work again
        self.org_roles: dict[str, bool] = {}

    def teardown(self) -> None:
        self.admin.close()

    def works(self, token: str) -> bool:
        status = self.admin.get("/api/roles" + API, headers={"Authorization": token}).status_code
        assert status in (200, 401)
        return status == 200

    @rule(token_id=IDS, organization=ORGS)
    def create(self, token_id: str, organization: Any) -> None:
        role = {"role": OPERATOR, **({"organization": organization} if organization else {})}
        response = self.admin.put(f"/api/apiTokens/{token_id}" + API, json={"roles": [role]})
        assert response.status_code == 200
        if token_id in self.live:
            self.dead.append(self.live[token_id])  # a replaced record's strings stop working
        self.live[token_id] = response.json()["token"]
        self.org_roles[token_id] = organization is not None

    @rule(token_id=IDS)
    def remove(self, token_id: str) -> None:
        response = self.admin.delete(f"/api/apiTokens/{token_id}" + API)
        if token_id in self.live:
            assert response.status_code == 204
            self.dead.append(self.live.pop(token_id))
            self.org_roles.pop(token_id)
        else:
            assert response.status_code == 404

    @rule()
    def remove_organization(self) -> None:
        response = self.admin.delete("/api/organizations/contoso" + API)
        assert response.status_code == 409 if any(self.org_roles.values()) else response.status_code == 204
        if response.status_code == 204:
            self.admin.put("/api/organizations/contoso" + API, json={"displayName": "Contoso"})

    @invariant()
    def exactly_the_live_tokens_work_and_are_listed(self) -> None:
        listed = {t["id"] for t in self.admin.get("/api/apiTokens" + API).json()["value"]}
        assert listed == {"operator-token", *self.live}
        assert all(self.works(token) for token in self.live.values())
        assert not any(self.works(token) for token in self.dead[-3:])


TestTokenLifecycle = TokenLifecycle.TestCase
TestTokenLifecycle.settings = settings(max_examples=6, stateful_step_count=8, deadline=None)

"""What an IoT Central API token may do follows its role (``simulator/central/permissions.py``).

Documented: API tokens belong to the application's Permissions section, which needs an App Administrator, so an
Operator token cannot list, create or remove API tokens. The rest is the fake's default matrix (a setting): no
administration (enrollment groups, organizations) below Administrator, device templates written by Administrator
and Builder, devices and device groups by every role but Org Viewer, credentials never to Org Viewer. A refusal is
403 ``Forbidden`` in IoT Central's error shape and leaves the world exactly as it was (``dump_world``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_central_world import assert_error

from simulator.central import permissions
from simulator.central.api import ROUTES
from simulator.central.tokens import ROLES
from simulator.cloud import FakeCloud
from simulator.state import describe_differences, dump_world

API = "?api-version=2022-07-31"
ROLE_IDS = {name: role_id for role_id, name in ROLES.items()}
GROUP = {"displayName": "Sphere devices", "type": "iot", "attestation": {"type": "x509"}}
TEMPLATE = {"@type": ["ModelDefinition", "DeviceModel"], "capabilityModel": {"contents": []}}

#: (method, path, body, permission it needs) — one operation of each area and access
PROBES = [
    ("GET", "/api/apiTokens", None, "apiTokens.read"),
    ("PUT", "/api/apiTokens/made-by-probe", {"roles": [{"role": ROLE_IDS["Operator"]}]}, "apiTokens.write"),
    ("GET", "/api/enrollmentGroups", None, "enrollmentGroups.read"),
    ("PUT", "/api/enrollmentGroups/probe-group", GROUP, "enrollmentGroups.write"),
    ("GET", "/api/organizations", None, "organizations.read"),
    ("PUT", "/api/organizations/probe-org", {"displayName": "Probe"}, "organizations.write"),
    ("GET", "/api/roles", None, "roles.read"),
    ("GET", "/api/devices", None, "devices.read"),
    ("PUT", "/api/devices/probe-device", {"displayName": "probe"}, "devices.write"),
    ("GET", "/api/devices/existing/attestation", None, "devices.credentials"),
    ("GET", "/api/deviceTemplates", None, "deviceTemplates.read"),
    ("PUT", "/api/deviceTemplates/dtmi:probe:thing;1", TEMPLATE, "deviceTemplates.write"),
    ("GET", "/api/deviceGroups", None, "deviceGroups.read"),
    (
        "PUT",
        "/api/deviceGroups/probe-dg",
        {"displayName": "dg", "filter": "SELECT * FROM devices"},
        "deviceGroups.write",
    ),
]


class World:
    def __init__(self, **central: Any) -> None:
        self.cloud = FakeCloud(seed=21, settings={"central": central} if central else None)
        self.app = self.cloud.central.default_app
        self.http = httpx.Client(base_url=self.app.base_url, timeout=5)  # one client: making one loads the CA store
        self.admin = self.app.issue_api_token("admin")
        assert call(self, self.admin, "PUT", "/api/devices/existing", {"displayName": "existing"}).status_code == 200

    def token(self, role: str) -> str:
        """A fresh API token of ``role`` (created the way a client would: by an Administrator through the API)."""
        token_id = role.lower().replace(" ", "-")
        response = call(self, self.admin, "PUT", f"/api/apiTokens/{token_id}", {"roles": [{"role": ROLE_IDS[role]}]})
        assert response.status_code == 200, response.text
        return response.json()["token"]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    made = World()
    yield made
    made.http.close()


def call(world: World, token: str, method: str, path: str, body: Any) -> httpx.Response:
    with world.cloud.mock():
        return world.http.request(method, path + API, json=body, headers={"Authorization": token})


@pytest.mark.parametrize("role", sorted(permissions.DEFAULT_ROLE_PERMISSIONS))
def test_each_role_may_do_what_its_permissions_grant_and_nothing_else(world: World, role: str) -> None:
    token = world.token(role)
    granted = permissions.DEFAULT_ROLE_PERMISSIONS[role]
    for method, path, body, needed in PROBES:
        if "*" in granted or needed in granted:
            response = call(world, token, method, path, body)
            assert response.status_code < 300, (role, method, path, response.text)
            if method == "PUT":  # undo, so the next role's probe creates again
                call(world, world.admin, "DELETE", path, None)
        else:
            before = dump_world(world.cloud.central)  # the IoT Central side of the world, all of it
            error = assert_error(call(world, token, method, path, body), 403, "Forbidden")
            assert needed in error["message"] and role in error["message"]
            assert describe_differences(before, dump_world(world.cloud.central)) == []


def test_an_operator_token_cannot_manage_api_tokens_or_enrollment_groups(world: World) -> None:
    """The workflow's own case: onboarding automation holding an Operator token fails at the first step."""
    operator = world.token("Operator")
    before = dump_world(world.cloud.central)
    assert_error(call(world, operator, "PUT", "/api/enrollmentGroups/sphere", GROUP), 403, "Forbidden")
    assert_error(call(world, operator, "DELETE", "/api/apiTokens/admin", None), 403, "Forbidden")
    assert_error(call(world, operator, "GET", "/api/apiTokens/admin", None), 403, "Forbidden")
    assert describe_differences(before, dump_world(world.cloud.central)) == []
    assert call(world, operator, "GET", "/api/devices/existing", None).status_code == 200


def test_a_bearer_token_is_the_application_owner(world: World) -> None:
    bearer = world.app.issue_bearer_token()
    assert call(world, bearer, "GET", "/api/apiTokens", None).status_code == 200


def test_authentication_still_comes_first(world: World) -> None:
    assert_error(
        call(world, "SharedAccessSignature sr=x&sig=y&skn=z&se=1", "GET", "/api/apiTokens", None), 401, "Unauthorized"
    )


def test_roles_can_be_only_recorded() -> None:
    recorded = World(token_roles="record")
    operator = recorded.token("Operator")
    assert call(recorded, operator, "PUT", "/api/enrollmentGroups/sphere", GROUP).status_code == 200


def test_the_matrix_is_a_setting() -> None:
    widened = World(role_permissions={**permissions.DEFAULT_ROLE_PERMISSIONS, "Operator": ["enrollmentGroups.write"]})
    operator = widened.token("Operator")
    assert call(widened, operator, "PUT", "/api/enrollmentGroups/sphere", GROUP).status_code == 200
    assert_error(call(widened, operator, "GET", "/api/devices", None), 403, "Forbidden")  # only what it lists
    with pytest.raises(ValueError, match="unknown permission"):
        FakeCloud(settings={"central": {"role_permissions": {"Operator": ["devices.fly"]}}})
    with pytest.raises(ValueError, match="no role"):
        FakeCloud(settings={"central": {"role_permissions": {"Janitor": ["devices.read"]}}})


def test_every_operation_names_the_permission_it_needs() -> None:
    assert {operation.__name__ for _, _, operation, _, _ in ROUTES} == set(permissions.OPERATION_PERMISSIONS)
    for granted in permissions.DEFAULT_ROLE_PERMISSIONS.values():
        assert set(granted) <= permissions.PERMISSIONS | {"*"}
    assert set(permissions.DEFAULT_ROLE_PERMISSIONS) == set(ROLES.values())

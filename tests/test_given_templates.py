"""A scenario's ``given`` from a template (``simulator.control.arrange_from_template``, used by
``harness.targets.given_from_template``): the world it makes is the world the ``/_sim`` requests make — compared
whole with the world codec — with the same answers; worlds from one template never see each other's changes; and
an arrangement the long way refuses gets no template (the long way then answers, with its real refusal).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harness.clients import ControlClient
from harness.clients.errors import ControlError
from harness.scenario import parse_scenario
from harness.targets import FakeTarget, given_plan
from simulator import control, templates
from simulator.clock import Clock
from simulator.cloud import FakeCloud
from simulator.state import describe_differences, dump_world

SECRET = b"\x05" * 16
IDS = [str(uuid.UUID(int=n, version=4)) for n in (1, 2)]

names = st.none() | st.text("abc XYZ-", min_size=0, max_size=12)
tenant_bodies = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text("abcdefgh -", min_size=0, max_size=55),
        "tenant_id": st.sampled_from([*IDS, "not-a-guid"]),
        "email": st.sampled_from(["a@example.com", "b@example.com", "A@example.com"]),
    },
)
app_bodies = st.fixed_dictionaries(
    {},
    optional={
        "subdomain": st.sampled_from(["contoso", "fabrikam", "contoso", "Bad_Name", "x-1"]),
        "name": st.text("abc ", min_size=1, max_size=10),
        "auto_approve": st.booleans(),
    },
)


def new_world(seed: int, central: dict[str, Any], at: datetime) -> FakeCloud:
    return FakeCloud(seed, settings={"central": central}, clock=Clock(at, frozen=True), identity=SECRET)


def the_long_way(cloud: FakeCloud, tenants: list[dict[str, Any]], apps: list[dict[str, Any]]) -> Any:
    """What the harness sends without a template: one ``/_sim`` request per tenant, then per app."""
    with cloud.mock():
        client = ControlClient()
        try:
            made = [client.create_tenant(**body) for body in tenants], [client.create_app(**body) for body in apps]
        except ControlError:
            return None
        finally:
            client.close()
    return made


def same(a: FakeCloud, b: FakeCloud | dict[str, Any]) -> None:
    left, right = dump_world(a), b if isinstance(b, dict) else dump_world(b)
    assert left == right, describe_differences(left, right)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    central=st.sampled_from([{}, {"auto_approve": True}]),
    at=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    tenants=st.lists(tenant_bodies, max_size=2),
    apps=st.lists(app_bodies, max_size=2),
)
def test_given_from_a_template_is_the_world_the_control_requests_make(seed, central, at, tenants, apps) -> None:
    slow, fast = new_world(seed, central, at), new_world(seed, central, at)
    pristine = dump_world(fast)
    answers = the_long_way(slow, tenants, apps)
    made = control.arrange_from_template(fast, tenants, apps)
    event("refused" if answers is None else f"made {len(tenants)} tenant(s), {len(apps)} app(s)")
    if answers is None:  # the long way refused one of the requests: no template, and nothing changed
        assert made is None
        same(fast, pristine)
        return
    assert made is not None
    same(fast, slow)
    assert ([t.to_json() for t in made[0]], [a.to_json() for a in made[1]]) == answers


def test_worlds_from_one_given_template_are_independent() -> None:
    tenants, apps = [{"name": "Contoso", "email": "ops@example.com"}], [{"subdomain": "contoso"}]
    at = datetime(2026, 3, 1, tzinfo=UTC)
    first, second = new_world(3, {}, at), new_world(3, {}, at)
    made = control.arrange_from_template(first, tenants, apps)
    assert made is not None and control.arrange_from_template(second, tenants, apps) is not None
    before = dump_world(second)
    tenant_id = made[0][0].tenant_id
    control.create_devices(first, 2, tenant_id=tenant_id)
    control.travel(first, advance="30d")
    control.issue_token(first, "ops@example.com", "arm")
    control.create_tenant(first, name="Other")
    with first.lock:
        first.sphere.get_tenant(tenant_id).name = "renamed"
        first.sphere.users["ops@example.com"].roles[tenant_id].append("Contributor")
    same(second, before)
    third = new_world(3, {}, at)  # the template itself never changed
    assert control.arrange_from_template(third, tenants, apps) is not None
    same(third, before)


def test_a_world_that_is_not_pristine_takes_the_long_way() -> None:
    cloud = new_world(4, {}, datetime(2026, 3, 1, tzinfo=UTC))
    control.create_app(cloud, subdomain="already")
    before = dump_world(cloud)
    assert control.arrange_from_template(cloud, [{"name": "Contoso"}], []) is None
    same(cloud, before)
    with templates.disabled():
        fresh = new_world(4, {}, datetime(2026, 3, 1, tzinfo=UTC))
        assert control.arrange_from_template(fresh, [{"name": "Contoso"}], []) is None


SCENARIO = """
name: given-template
seed: 11
given:
  tenants: [{key: one}, {key: two, name: Fabrikam}]
  apps: [{key: central}, {key: other, subdomain: other-app, auto_approve: true}]
steps:
  - sphere.login: {tenant: two}
  - central.enrollment-group.create: {app: other, id: g, display_name: G, type: iot, attestation: x509}
"""


def test_the_fake_target_binds_the_same_tenants_and_apps_either_way(tmp_path) -> None:
    scenario = parse_scenario(SCENARIO)

    def bindings() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        with FakeTarget().session(scenario, seed=11, workdir=tmp_path) as session:
            for key in session.tenants:  # the tokens are the world's own: they work in it
                session.sphere(key).list_tenants()
            for key in session.apps:
                session.central(key).list_groups()
            world = dump_world(session.cloud)
            tenants = {k: {**vars(b), "token": None, "arm_token": None} for k, b in session.tenants.items()}
            apps = {k: {**vars(b), "api_token": None} for k, b in session.apps.items()}
        return tenants, apps, world

    fast = bindings()
    with templates.disabled():
        slow = bindings()
    assert fast[:2] == slow[:2]
    assert set(fast[1]) == {"central", "other"} and fast[1]["other"]["subdomain"] == "other-app"
    plan = given_plan(scenario.given, 11)
    assert [key for key, _ in plan.tenants] == ["one", "two"] and plan.tenants[1][1]["name"] == "Fabrikam"


def test_a_refused_given_fails_the_run_as_the_long_way_does(tmp_path) -> None:
    from harness.runner import run

    broken = parse_scenario(SCENARIO.replace("subdomain: other-app", "subdomain: Not_Valid"))
    result = run(broken, FakeTarget(), workdir=tmp_path)
    with templates.disabled():
        expected = run(broken, FakeTarget(), workdir=tmp_path)
    assert result.error is not None and result.error == expected.error
    assert "setting up `given` failed" in result.error


@pytest.mark.parametrize("seed", [0, 7])
def test_the_seed_scenario_passes_from_a_template(seed, tmp_path) -> None:
    import harness

    assert harness.run_scenario("enable-trust", seed=seed, workdir=tmp_path).passed
    assert harness.run_scenario("enable-trust", seed=seed, workdir=tmp_path).passed

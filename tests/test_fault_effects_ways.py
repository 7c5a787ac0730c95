"""Fault rules set, listed and cleared through every way in — where the existing tests leave a gap.

The Python API (``cloud.faults``) is covered by ``test_faults_rules.py`` and the fault-effect matrices; raw ``/_sim``
requests by ``test_control_api.py``. Here: the harness's own :class:`~harness.clients.control.ControlClient`
(in-process and served), the ``sim.fault.*`` scenario steps on both targets including clearing one rule by id and
an ``nth`` rule that the clients' retries ride out, and the ``faults`` pytest fixture used from a separate project.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.clients.control import ControlClient
from harness.clients.errors import ControlError
from harness.runner import run_scenario
from simulator.cloud import FakeCloud
from simulator.server import ServedCloud, serve_cloud

pytest_plugins = ["pytester"]
CENTRAL_VERSION = {"api-version": "2022-07-31"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedCloud]:
    with serve_cloud(FakeCloud(seed=71), mqtt_port=None, workdir=tmp_path_factory.mktemp("ways")) as world:
        yield world


@pytest.mark.parametrize("kind", ["in-process", pytest.param("served", marks=pytest.mark.served)])
def test_the_control_client_sets_lists_and_clears_rules(served: ServedCloud, kind: str) -> None:
    cloud, central = served.cloud, served.endpoints["central"]
    if kind == "served":
        control = ControlClient(served.endpoints["control_url"], verify=served.ca_bundle)
        http = httpx.Client(verify=ssl.create_default_context(cafile=served.ca_bundle))
        groups_url = central["url"] + "/api/enrollmentGroups"
        mock = None
    else:
        mock = cloud.mock()
        mock.__enter__()
        control, http = ControlClient(), httpx.Client()
        groups_url = f"https://{central['subdomain']}.azureiotcentral.com/api/enrollmentGroups"

    def list_groups() -> int:
        return http.get(groups_url, params=CENTRAL_VERSION, headers={"Authorization": central["api_token"]}).status_code

    try:
        rule = {"id": "busy", "service": "central", "operation": "list_groups", "effect": {"status": 503}}
        assert control.request("POST", "/faults", json=rule, ok=(201,)).json()["id"] == "busy"
        assert list_groups() == 503
        listed = control.request("GET", "/faults").json()["rules"]
        assert [(r["id"], r["calls"], r["fired"]) for r in listed] == [("busy", 1, 1)]

        with pytest.raises(ControlError) as refused:  # a bad rule: refused, and the list is as it was
            control.request("POST", "/faults", json={"service": "central", "nth": 0}, ok=(201,))
        assert (refused.value.status, refused.value.code) == (400, "InvalidFaultRule")
        assert [r["id"] for r in control.request("GET", "/faults").json()["rules"]] == ["busy"]

        assert control.request("DELETE", "/faults/busy").json() == {"removed": 1}
        with pytest.raises(ControlError) as missing:
            control.request("DELETE", "/faults/busy")
        assert (missing.value.status, missing.value.code) == (404, "FaultRuleNotFound")
        assert list_groups() == 200

        control.request("POST", "/faults", json={"service": "central", "effect": {"kind": "drop"}}, ok=(201,))
        control.request("POST", "/faults", json={"service": "*", "effect": {"status": 500}}, ok=(201,))
        assert control.request("DELETE", "/faults").json() == {"removed": 2}
        assert list_groups() == 200
        assert cloud.faults.list() == []
    finally:
        control.close()
        http.close()
        cloud.faults.clear()
        if mock is not None:
            mock.__exit__(None, None, None)


SCENARIO = """\
name: fault-ways
description: sim.fault steps add, list and clear rules (one by id, then all); a cleared rule stops firing.
seed: 5
given:
  tenants: [{key: contoso}]
  apps: [{key: central}]
steps:
  - sim.fault.add:
      id: refuse-list
      service: central
      operation: list_groups
      effect: {kind: status, status: 400, code: InjectedBadRequest}
    save_as: added
  - expect: {actual: "{added.id}", equals: refuse-list}
  - central.enrollment-group.list:
    expect_error: {status: 400, code: InjectedBadRequest}
  - central.enrollment-group.list:
    expect_error: {status: 400, code: InjectedBadRequest}
  - sim.fault.add:
      id: second-create
      service: central
      operation: create_group
      nth: 2
      effect: {kind: status, status: 503, retry_after: 0}
  - sim.fault.list:
    save_as: rules
  - expect:
      actual: "{rules}"
      matches:
        - {id: refuse-list, calls: 2, fired: 2}
        - {id: second-create, calls: 0, fired: 0}
  - sim.fault.clear: {id: refuse-list}
    save_as: cleared
  - expect: {actual: "{cleared.removed}", equals: 1}
  - central.enrollment-group.list:
    name: listed once the rule is cleared
  - central.enrollment-group.create: {id: first, display_name: First}
  - central.enrollment-group.create: {id: second, display_name: Second}
    name: created through one retry of the nth rule
  - sim.fault.list:
    save_as: left
  - expect:
      actual: "{left}"
      matches:
        - {id: second-create, calls: 3, fired: 1}
  - sim.fault.clear
  - sim.fault.list:
    save_as: none
  - expect: {actual: "{none}", equals: []}
  - central.enrollment-group.list:
    save_as: groups
  - expect: {actual: "{groups}", length: 2}
"""


@pytest.mark.parametrize("target", ["fake", pytest.param("served", marks=pytest.mark.served)])
def test_fault_steps_add_list_and_clear_on_both_targets(tmp_path: Path, target: str) -> None:
    path = tmp_path / "fault-ways.yaml"
    path.write_text(SCENARIO)
    result = run_scenario(path, target, workdir=tmp_path / "work")
    assert result.passed, result.failed_step
    assert result.variables["cleared"] == {"removed": 1}
    assert [step.outcome for step in result.steps].count("passed") == len(result.steps)


def test_the_faults_fixture_from_a_separate_project(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user_faults="""
        import httpx

        from simulator.control import create_tenant

        URL = "https://prod.core.sphere.azure.net/v2/tenants"
        WORLDS = []


        def test_set_list_fire_and_clear(fake_cloud, faults):
            access = create_tenant(fake_cloud, name="Contoso")
            auth = {"Authorization": f"Bearer {access.token}"}
            rule = faults.add({"service": "sphere-legacy", "operation": "list_tenants", "effect": {"status": 503}})
            assert [r.id for r in faults.list()] == [rule.id]
            assert httpx.get(URL, headers=auth).status_code == 503
            assert faults.clear(rule.id) == 1
            assert httpx.get(URL, headers=auth).status_code == 200


        def test_rules_left_behind_are_removed_at_teardown(fake_cloud, faults):
            faults.add({"service": "*", "effect": {"kind": "drop"}})
            WORLDS.append(fake_cloud)


        def test_the_world_of_the_previous_test_has_no_rules_left():
            assert [world.faults.list() for world in WORLDS] == [[]]
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)

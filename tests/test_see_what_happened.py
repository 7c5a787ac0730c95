"""See what happened: the request journal (``/_sim/requests``) and the state view (``/_sim/state``), in-process and
served, from Python, and ``sphere-harness inspect``."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest

from harness.cli import main
from simulator import control
from simulator.cloud import FakeCloud
from simulator.journal import RequestJournal

SIM = "https://sim.sphere-harness.local/_sim"
LEGACY = "https://prod.core.sphere.azure.net/v2"


def test_every_service_request_is_journaled_with_operation_status_and_timing() -> None:
    cloud = FakeCloud(seed=1)
    world = control.ensure_defaults(cloud)
    auth = {"Authorization": f"Bearer {world.tenant.token}"}
    central = f"https://{world.app.subdomain}.azureiotcentral.com/api"
    with cloud.mock():
        assert httpx.get(f"{LEGACY}/tenants", headers=auth).status_code == 200
        assert httpx.get(f"{LEGACY}/tenants/{world.tenant.tenant_id}/cert", headers=auth).status_code == 200
        assert httpx.get(f"{central}/enrollmentGroups?api-version=2022-07-31").status_code == 401  # no token
        cloud.faults.add({"service": "central", "operation": "list_groups", "effect": {"status": 503}})
        headers = {"Authorization": world.app.api_token}
        assert httpx.get(f"{central}/enrollmentGroups?api-version=2022-07-31", headers=headers).status_code == 503
        cloud.faults.clear()
        cloud.faults.add({"service": "sphere-legacy", "operation": "list_tenants", "effect": {"kind": "drop"}})
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{LEGACY}/tenants", headers=auth)
        cloud.faults.clear()

        everything = httpx.get(f"{SIM}/requests").json()
        assert [(r["service"], r["operation"], r["status"]) for r in everything["requests"]] == [
            ("sphere-legacy", "list_tenants", 200),
            ("sphere-legacy", "get_certificate", 200),
            ("central", "list_groups", 401),
            ("central", "list_groups", 503),  # a faulted request is journaled too
            ("sphere-legacy", "list_tenants", None),  # dropped: no status
        ]
        first = everything["requests"][0]
        assert first["method"] == "GET" and first["path"] == "/v2/tenants" and first["ms"] >= 0
        assert first["host"] == "prod.core.sphere.azure.net" and first["at"].startswith(str(cloud.clock.now().year))
        assert "Authorization" not in json.dumps(everything) and world.tenant.token not in json.dumps(everything)

        def ops(**query: object) -> list[str]:
            found = httpx.get(f"{SIM}/requests", params=query).json()["requests"]
            return [f"{r['id']}:{r['operation']}" for r in found]

        assert ops(service="central") == ["3:list_groups", "4:list_groups"]
        assert ops(status=503) == ["4:list_groups"]
        assert ops(operation="get_*") == ["2:get_certificate"]
        assert ops(path="/cert") == ["2:get_certificate"]
        assert ops(since=3) == ["4:list_groups", "5:list_tenants"]
        assert ops(limit=1) == ["5:list_tenants"]
        assert httpx.get(f"{SIM}/requests", params={"status": "x"}).status_code == 400
        assert httpx.get(f"{SIM}/requests", params={"sevrice": "central"}).json()["error"]["code"] == "UnknownField"

        assert cloud.requests(service="sphere-legacy", status=200)[1]["operation"] == "get_certificate"
        # a service filter must name a service: a typo is not "nothing happened"
        refused = httpx.get(f"{SIM}/requests", params={"service": "sphere"})
        assert refused.status_code == 400 and "sphere-legacy" in refused.json()["error"]["message"]
        assert "did you mean central?" in httpx.get(f"{SIM}/requests", params={"service": "centrl"}).text
        with pytest.raises(ValueError, match="unknown service"):
            cloud.requests(service="sphere")
        assert [e["service"] for e in cloud.requests(service="sphere-*")] == ["sphere-legacy"] * 3
        for bad in ("-1", "+3", " 3", "٣", "1e3"):  # counts are ASCII digits only, as everywhere in the world
            assert httpx.get(f"{SIM}/requests", params={"limit": bad}).status_code == 400, bad
        assert httpx.delete(f"{SIM}/requests", params={"service": "central"}).json() == {"cleared": 2}
        assert httpx.get(f"{SIM}/requests").json()["counts"] == {"sphere-legacy": 3}
        assert httpx.delete(f"{SIM}/requests").json() == {"cleared": 3}
        assert cloud.requests() == []


def test_the_journal_is_bounded_per_service() -> None:
    journal = RequestJournal(capacity=3)
    base = {
        "operation": "op",
        "method": "GET",
        "path": "/",
        "query": "",
        "status": 200,
        "ms": 0.1,
        "at": "",
        "host": "",
    }
    for _ in range(5):
        journal.record({**base, "service": "central"})
    journal.record({**base, "service": "dps"})
    assert journal.counts() == {"central": 3, "dps": 1}
    assert [e.id for e in journal.entries(service="central")] == [3, 4, 5]  # the oldest were forgotten
    with pytest.raises(ValueError):
        RequestJournal(capacity=0)


def test_the_state_view_shows_the_workflow_and_no_secrets() -> None:
    # the trust workflow through the models, then the view of it
    cloud = FakeCloud(seed=4)
    world = control.ensure_defaults(cloud)
    app = cloud.central.app_by_subdomain(world.app.subdomain)
    tenant = cloud.sphere.get_tenant(world.tenant.tenant_id)
    generation = tenant.generations[0]
    import base64

    from cryptography.hazmat.primitives.serialization import Encoding

    ca = base64.b64encode(generation.certificate.public_bytes(Encoding.DER)).decode()
    app.put_group("azure-sphere", {"displayName": "Azure Sphere", "type": "iot", "attestation": {"type": "x509"}})
    app.set_certificate("azure-sphere", "primary", {"certificate": ca})
    code = app.generate_verification_code("azure-sphere", "primary")
    proof = cloud.sphere.issue_proof(tenant.id, code)
    app.verify_certificate(
        "azure-sphere", "primary", {"certificate": base64.b64encode(proof.public_bytes(Encoding.DER)).decode()}
    )
    with cloud.mock():
        view = httpx.get(f"{SIM}/state").json()
    python_view = json.loads(json.dumps(cloud.state()))
    assert {k: v for k, v in view.items() if k != "clock"} == {k: v for k, v in python_view.items() if k != "clock"}
    (tenant_view,) = view["tenants"]
    assert tenant_view["ca_generations"][0]["thumbprint"] == generation.thumbprint
    assert tenant_view["ca_generations"][0]["status"] == "Active"
    assert tenant_view["users"] == [{"email": control.DEFAULT_USER_EMAIL, "roles": ["Administrator"]}]
    entry = view["apps"][0]["enrollment_groups"][0]["entries"]["primary"]
    assert entry["verified"] is True and entry["thumbprint"] == generation.thumbprint
    text = json.dumps(view)
    for secret in (world.tenant.token, world.tenant.arm_token, world.app.api_token, "PRIVATE KEY"):
        assert secret not in text
    with cloud.mock():
        assert httpx.get(f"{SIM}/state", params={"x": 1}).status_code == 400


@pytest.mark.served
def test_served_world_journal_state_and_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    endpoints_file = tmp_path / "ep.json"
    with FakeCloud(seed=6).serve(port=0, mqtt_port=None, endpoints_file=endpoints_file) as served:
        endpoints = served.endpoints
        trust = ssl.create_default_context(cafile=endpoints["ca_bundle"])
        sphere = endpoints["sphere"]
        answer = httpx.get(
            f"{sphere['legacy_url']}/tenants", headers={"Authorization": f"Bearer {sphere['token']}"}, verify=trust
        )
        assert answer.status_code == 200
        served_journal = httpx.get(f"{endpoints['control_url']}/requests", verify=trust).json()["requests"]
        assert [(r["service"], r["operation"], r["status"]) for r in served_journal] == [
            ("sphere-legacy", "list_tenants", 200)
        ]
        assert served.cloud.requests()[0]["path"] == "/v2/tenants"  # the same journal from Python
        assert main(["inspect", "--endpoints-file", str(endpoints_file), "--limit", "5"]) == 0
        out = capsys.readouterr().out
        assert "Sphere tenants and CA generations" in out and sphere["tenant_id"] in out
        assert "list_tenants" in out and "GET /v2/tenants" in out
        assert main(["inspect", "--endpoints-file", str(endpoints_file), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["state"]["tenants"][0]["id"] == sphere["tenant_id"]
        assert main(["inspect", "--endpoints-file", str(endpoints_file), "--service", "sphere"]) == 2
        assert "unknown service 'sphere'" in capsys.readouterr().err
    assert main(["inspect", "--endpoints-file", str(tmp_path / "missing.json")]) == 2


@pytest.mark.served
def test_mqtt_registrations_and_hub_traffic_are_journaled_too() -> None:
    from test_dps_model import World

    from simulator.dps.mqtt import MqttServerThread, standalone_server_context

    context, ca_pem = standalone_server_context()
    world = World(frozen=False, assigned_hub_host="served")
    tenant, app = world.tenant(), world.app()
    world.enroll(app, tenant)
    device = world.device(tenant)
    with MqttServerThread(world.cloud, context, host="127.0.0.1", port=0) as server:
        result = device.provision_over_mqtt("127.0.0.1", server.port, app.id_scope, ca_pem, poll_interval=0.01)
        assert result.status == "assigned"
        with device.open_hub_over_mqtt(server.port, ca_pem) as hub:
            hub.send_telemetry({"temperature": 21.5})
            assert hub.report_properties({"firmware": "1.2.3"})[0] == 204
    seen = [(e["service"], e["method"], e["operation"], e["status"]) for e in world.cloud.requests()]
    assert seen[0] == ("dps", "CONNECT", "connect", 200)
    assert ("dps", "PUBLISH", "register", 202) in seen
    assert ("dps", "PUBLISH", "operation_status", 200) in seen
    assert ("hub", "CONNECT", "connect", 200) in seen
    assert ("hub", "PUBLISH", "telemetry", None) in seen  # telemetry gets no reply, only a PUBACK
    assert seen[-1] == ("hub", "PUBLISH", "twin_patch", 204)
    assert all(e["host"] == "mqtt" for e in world.cloud.requests())

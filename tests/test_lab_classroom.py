"""A classroom: one served world, a tenant and an app per trainee, isolation, and 30 learners at once.

The concurrency test drives 30 learners' whole workflow at the same time through the HTTP surfaces a learner's
tools use — the Sphere legacy API (what ``azsphere`` calls), the portal pages (what the browser sends), the control
surface and DPS over MQTT/TLS (what ``device new`` / ``device connect`` do) — then checks that nothing leaked from one
trainee to another and that the instructor page shows all 30 done. No timing is asserted (bench/ measures it).
"""

from __future__ import annotations

import csv
import ipaddress
import json
import re
import shutil
import ssl
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from harness.clients import ControlClient, SphereLegacyClient, StaticToken
from harness.lab.classroom import ClassroomError, advertised_address, machine_names, serve_classroom, url_host
from harness.lab.environment import resolve_bundle
from simulator.device import register_over_mqtt
from simulator.pki import get_common_name, thumbprint, to_b64

pytestmark = [pytest.mark.served]


def trainee_endpoints(trainee) -> dict:
    return resolve_bundle(json.loads(trainee.endpoints_file.read_text()), trainee.endpoints_file)


#: drop an idle kept-alive connection before the server does (uvicorn closes after 5 s): a learner idles while their
#: device registers, and reusing a connection the server is closing at that instant fails without an answer
CLIENT_LIMITS = httpx.Limits(keepalive_expiry=2)


def portal_client(endpoints: dict) -> httpx.Client:
    context = ssl.create_default_context(cafile=endpoints["ca_bundle"])
    client = httpx.Client(verify=context, timeout=30, limits=CLIENT_LIMITS)
    response = client.get(endpoints["central"]["portal_url"], follow_redirects=True)
    assert response.status_code == 200, response.text
    return client


def test_the_classroom_writes_a_roster_and_one_isolated_folder_per_trainee(tmp_path: Path) -> None:
    with serve_classroom(3, tmp_path / "lab", mqtt_port=None, seed=1) as room:
        rows = list(csv.DictReader((tmp_path / "lab" / "roster.csv").read_text().splitlines()))
        assert [r["trainee"] for r in rows] == ["trainee-01", "trainee-02", "trainee-03"]
        assert rows[0]["endpoints_file"] == "trainee-01/endpoints.json"
        a, b = (trainee_endpoints(t) for t in room.trainees[:2])
        assert a["ca_bundle"].endswith("trainee-01/ca.pem") and Path(a["ca_bundle"]).is_file()
        assert a["central"]["subdomain"] == "trainee-01"
        assert a["sphere"]["user"] == "trainee-01@lab.sphere-harness.local"
        assert len({a["sphere"]["token"], b["sphere"]["token"]}) == 2

        # Sphere: A's token sees A's tenant only, and is refused on B's
        with SphereLegacyClient(StaticToken(a["sphere"]["token"]), base_url=a["sphere"]["legacy_url"],
                                verify=a["ca_bundle"]) as sphere:  # fmt: skip
            assert [t["Id"] for t in sphere.list_tenants()] == [a["sphere"]["tenant_id"]]
            with pytest.raises(Exception) as refused:
                sphere.get_certificate(b["sphere"]["tenant_id"])
            assert refused.value.status in (403, 404)

        # IoT Central API: A's token on B's app is a 401
        api = httpx.get(
            f"{a['central']['url']}/api/enrollmentGroups?api-version=2022-07-31",
            headers={"Authorization": a["central"]["api_token"], "Host": "trainee-02.azureiotcentral.com"},
            verify=ssl.create_default_context(cafile=a["ca_bundle"]),
        )
        assert api.status_code == 401

        # the portal: A's cookie never shows B's app
        browser = portal_client(a)
        instructor = httpx.Client(verify=ssl.create_default_context(cafile=a["ca_bundle"]))
        assert browser.get(f"{a['central']['url']}/index.json").status_code == 200
        home = browser.get(f"{a['central']['url']}/", headers={"Host": "trainee-02.azureiotcentral.com"})
        assert home.status_code == 401 and "trainee-02 app" not in home.text
        assert browser.get(f"{a['central']['url']}/instructor").status_code == 401
        page = instructor.get(room.instructor_url, follow_redirects=True)
        assert page.status_code == 200 and page.text.count('data-trainee="trainee-') == 3
        browser.close()
        instructor.close()


def test_device_new_reads_a_trainee_file_whose_bundle_is_relative_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ca_bundle`` is "ca.pem" in a trainee's file: ``device new`` finds it beside the file, from any folder; and
    ``device connect`` says which step is missing when DPS refuses a device of a tenant not yet verified."""
    from harness.cli import main

    with serve_classroom(2, tmp_path / "lab", mqtt_port=0, seed=6) as room:
        trainee = room.trainees[1]
        assert json.loads(trainee.endpoints_file.read_text())["ca_bundle"] == "ca.pem"
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)  # no ca.pem here
        args = ["device", "new", "--claim", "--endpoints-file", str(trainee.endpoints_file), "--out", "devices"]
        assert main(args) == 0
        [entry] = json.loads((elsewhere / "devices" / "devices.json").read_text())
        record = room.served.cloud.sphere.devices[entry["id"].lower()]
        assert record.tenant_id == trainee.tenant_id  # claimed into the trainee's own tenant
        assert f"device {entry['id']}\n" in capsys.readouterr().out  # the whole ID, to copy into a claim
        args = ["device", "connect", "--endpoints-file", str(trainee.endpoints_file), "--device-dir", "devices"]
        assert main(args) == 1
        out = capsys.readouterr().out
        assert "NOT provisioned" in out and "verify the tenant CA in your app (checklist step 6)" in out


def room_address() -> str | None:
    """A non-loopback IPv4 address of this machine's interfaces (where a classmate would dial), if any."""
    for name in machine_names():
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            continue
        if address.version == 4 and not address.is_loopback:
            return str(address)
    return None


def test_the_advertised_address_of_a_wildcard_prefers_ipv4_and_urls_bracket_ipv6() -> None:
    names = ["vm", "127.0.0.1", "::1", "fd00::2", "192.0.2.2"]
    assert advertised_address("0.0.0.0", names) == "192.0.2.2"
    assert advertised_address("::", ["vm", "::1", "fd00::2"]) == "fd00::2"
    assert advertised_address("192.0.2.9", names) == "192.0.2.9"  # a named interface is its own address
    assert url_host("fd00::2") == "[fd00::2]" and url_host("192.0.2.2") == "192.0.2.2"


def test_a_room_without_a_reachable_address_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClassroomError, match="--advertise"):
        serve_classroom(1, tmp_path / "lab", host="0.0.0.0", advertise="127.0.0.1", mqtt_port=None)


@pytest.mark.skipif(room_address() is None, reason="this machine has no non-loopback IPv4 address to serve a room on")
def test_a_room_off_loopback_guards_the_control_api_and_a_copied_folder_is_all_a_classmate_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Served on this machine's own interface address: the trainee's folder, copied to "another machine" (another
    folder, nothing else), reaches everything through that address — TLS verified with only its ca.pem, the shims,
    the portal, ``device new``/``device connect`` with the control token — while /_sim refuses anyone without it."""
    from harness.cli import main
    from harness.lab.shim import run as shim

    address = room_address()
    assert address is not None
    with serve_classroom(2, tmp_path / "lab", host=address, mqtt_port=0, seed=8) as room:
        cloud = room.served.cloud
        trainee = room.trainees[0]
        laptop = tmp_path / "laptop"
        laptop.mkdir()
        for name in ("endpoints.json", "ca.pem"):
            shutil.copyfile(trainee.endpoints_file.parent / name, laptop / name)
        raw = (laptop / "endpoints.json").read_text(encoding="utf-8")
        assert "127.0.0.1" not in raw and "localhost" not in raw and f"https://{address}:" in raw
        ep = resolve_bundle(json.loads(raw), laptop / "endpoints.json")
        assert ep["dps"]["host"] == address and ep["control_token"] == room.served.control_token
        context = ssl.create_default_context(cafile=ep["ca_bundle"])  # the certificate must name this address

        # the control API: refused without the token, answered with it
        health = f"{ep['control_url']}/health"
        assert httpx.get(health, verify=context).status_code == 401
        assert httpx.get(health, verify=context, headers={"Authorization": "Bearer nope"}).status_code == 401
        bearer = {"Authorization": f"Bearer {ep['control_token']}"}
        assert httpx.get(health, verify=context, headers=bearer).status_code == 200

        # the shims, from the copied folder
        ep_file = laptop / "endpoints.json"
        env = {"SPHERE_HARNESS_LAB": str(laptop / ".lab"), "SPHERE_HARNESS_LAB_ENDPOINTS": str(ep_file)}
        assert shim("azsphere", ["login"], environ=env) == 0
        download = ["ca-certificate", "download", "--destination", str(laptop / "CA.cer")]
        assert shim("azsphere", download, environ=env) == 0
        tenant = cloud.sphere.get_tenant(trainee.tenant_id)
        ca = tenant.active_generation().certificate
        assert x509.load_der_x509_certificate((laptop / "CA.cer").read_bytes()) == ca

        # the portal: the trainee's link signs them in to their own app
        with httpx.Client(verify=context, limits=CLIENT_LIMITS) as browser:
            home = browser.get(ep["central"]["portal_url"], follow_redirects=True)
            assert home.status_code == 200 and f"{trainee.app_subdomain} app" in home.text

        # device new and device connect send the control token; DPS assigns the device to a hub it can reach
        with cloud.lock:  # the portal part of the unit, done through the model (the pages are tested elsewhere)
            app = cloud.central.app_by_subdomain(trainee.app_subdomain)
            app.put_group(
                "azure-sphere", {"displayName": "Azure Sphere", "type": "iot", "attestation": {"type": "x509"}}
            )
            ca = tenant.active_generation().certificate
            app.set_certificate("azure-sphere", "primary", {"certificate": to_b64(ca)})
            code = app.generate_verification_code("azure-sphere", "primary")
            proof = cloud.sphere.issue_proof(tenant.id, code)
            app.verify_certificate("azure-sphere", "primary", {"certificate": to_b64(proof)})
        devices = laptop / "devices"
        assert main(["device", "new", "--claim", "--endpoints-file", str(ep_file), "--out", str(devices)]) == 0
        args = ["device", "connect", "--endpoints-file", str(ep_file), "--device-dir", str(devices)]
        assert main(args) == 0
        assert f"provisioned: assigned to {address}" in capsys.readouterr().out


def _learner(trainee, mqtt_port: int) -> dict:
    """One learner's whole unit over HTTP: sign in, CA, group, upload, code, proof, verify, claim, connect."""
    ep = trainee_endpoints(trainee)
    central = ep["central"]["url"]
    tenant_id = ep["sphere"]["tenant_id"]
    with SphereLegacyClient(StaticToken(ep["sphere"]["token"]), base_url=ep["sphere"]["legacy_url"],
                            verify=ep["ca_bundle"]) as sphere:  # fmt: skip
        assert [t["Id"] for t in sphere.list_tenants()] == [tenant_id]
        ca_der = sphere.get_certificate(tenant_id)
        browser = portal_client(ep)
        groups = f"{central}/admin/device-connection"
        created = browser.post(f"{groups}/new", data={"name": "Azure Sphere", "group_type": "iot",
                                                       "attestation_type": "x509"}, follow_redirects=True)  # fmt: skip
        assert created.url.path.endswith("/groups/azure-sphere"), created.text
        entry = f"{groups}/groups/azure-sphere/primary"
        browser.post(f"{entry}/upload", files={"certificate": ("CAcertificate.cer", ca_der)}, follow_redirects=True)
        dialog = browser.post(f"{entry}/generate", follow_redirects=True).text
        code = re.search(r'id="verification-code" readonly value="([0-9A-Fa-f]+)"', dialog).group(1)
        proof_der = sphere.get_proof(tenant_id, code)
        verified = browser.post(f"{entry}/verify", files={"certificate": ("ValidationCertification.cer", proof_der)},
                                follow_redirects=True)  # fmt: skip
        assert "Verified." in verified.text
    with ControlClient(ep["control_url"], verify=ep["ca_bundle"]) as control:
        [device] = control.create_devices(1, claim=True, tenant_id=tenant_id)
    with tempfile.TemporaryDirectory() as folder:
        key, chain = Path(folder, "key.pem"), Path(folder, "chain.pem")
        key.write_text(device["key_pem"])
        chain.write_text(device["certificate_chain_pem"])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=ep["ca_bundle"])
        context.load_cert_chain(chain, key)
        result = register_over_mqtt(ep["dps"]["host"], mqtt_port, ep["dps"]["id_scope"], device["id"], context)
    assert result.status == "assigned", result
    try:
        devices = browser.get(f"{central}/devices.json").json()["devices"]
        checklist = browser.get(f"{central}/checklist.json").json()
    finally:
        browser.close()
    return {"ca": thumbprint(x509.load_der_x509_certificate(ca_der)), "code": code, "device": device["id"],
            "devices": devices, "checklist": checklist,
            "proof_cn": get_common_name(x509.load_der_x509_certificate(proof_der))}  # fmt: skip


@pytest.mark.slow
def test_thirty_learners_run_the_whole_unit_at_once_without_a_leak(tmp_path: Path) -> None:
    with serve_classroom(30, tmp_path / "lab", mqtt_port=0, seed=30) as room:
        mqtt_port = room.served.mqtt_port
        with ThreadPoolExecutor(max_workers=30) as pool:
            outcomes = list(pool.map(lambda t: _learner(t, mqtt_port), room.trainees))
        cloud = room.served.cloud
        for trainee, outcome in zip(room.trainees, outcomes, strict=True):
            assert outcome["proof_cn"] == outcome["code"]
            assert outcome["ca"] == cloud.sphere.get_tenant(trainee.tenant_id).active_generation().thumbprint
            assert [d["id"] for d in outcome["devices"]] == [outcome["device"]]  # only their own device
            assert [d["status"] for d in outcome["devices"]] == ["Provisioned"]
            assert outcome["checklist"]["done"] == 7, outcome["checklist"]
            app = cloud.central.app_by_subdomain(trainee.app_subdomain)
            assert list(app.enrollment.groups) == ["azure-sphere"]
            assert app.get_certificate("azure-sphere", "primary").thumbprint == outcome["ca"]
        assert len({o["ca"] for o in outcomes}) == 30 and len({o["code"] for o in outcomes}) == 30
        ca_bundle = trainee_endpoints(room.trainees[0])["ca_bundle"]
        with httpx.Client(verify=ssl.create_default_context(cafile=ca_bundle)) as instructor:
            page = instructor.get(room.instructor_url, follow_redirects=True)
            rows = instructor.get(room.instructor_url.split("/instructor")[0] + "/instructor.json").json()["trainees"]
        assert page.status_code == 200
        assert [(r["name"], r["done"]) for r in rows] == [(t.name, 7) for t in room.trainees]

"""Acceptance 1: the trust workflow end to end against the whole fake world — Sphere signs, IoT Central verifies.

The same steps run twice: in-process, with unmodified httpx code addressed to
``https://<subdomain>.azureiotcentral.com`` routed by respx into the adapter (``cloud.mock()``), and over real
HTTPS sockets on loopback (``cloud.serve()``), trusting the served local CA.
"""

from __future__ import annotations

import base64
import re
import ssl
from typing import Any

import httpx
import pytest

from simulator import pki
from simulator.clock import Clock
from simulator.cloud import FakeCloud

API = {"api-version": "2022-07-31"}


def trust_workflow(http: httpx.Client, cloud: FakeCloud, tenant_id: str, group_id: str = "sphere-devices") -> None:
    """What a user does in the seed unit, as HTTP calls; the proof comes from the Sphere model."""
    group = f"/api/enrollmentGroups/{group_id}"
    entry = f"{group}/certificates/primary"
    with cloud.lock:
        tenant_ca = cloud.sphere.get_tenant(tenant_id).generations[0].certificate
    created = http.put(
        group, params=API, json={"displayName": "Sphere devices", "type": "iot", "attestation": {"type": "x509"}}
    )
    assert created.status_code == 200, created.text
    # `azsphere ca-certificate download` writes DER; the docs' sample uploads base64 of a PEM file
    pem = pki.to_pem(tenant_ca)
    uploaded = http.put(entry, params=API, json={"certificate": base64.b64encode(pem).decode()})
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["verified"] is False
    thumbprint = uploaded.json()["info"]["sha1Thumbprint"]
    assert thumbprint == pki.thumbprint(tenant_ca)

    code = http.post(f"{entry}/generateVerificationCode", params=API).json()["verificationCode"]
    assert re.fullmatch(r"[0-9A-F]{48}", code)
    with cloud.lock:  # `azsphere ca-certificate download-proof --verification-code <code>`
        proof = cloud.sphere.issue_proof(tenant_id, code, thumbprint)
    verified = http.post(f"{entry}/verify", params=API, json={"certificate": pki.to_b64(proof)})
    assert (verified.status_code, verified.content) == (204, b"")

    assert http.get(entry, params=API).json() == {
        "verified": True,
        "info": {"sha1Thumbprint": thumbprint},
        "etag": http.get(entry, params=API).json()["etag"],
    }
    body = http.get(group, params=API).json()
    assert body["attestation"]["x509"]["signingCertificates"]["primary"]["verified"] is True


def _world() -> tuple[FakeCloud, Any, Any]:
    cloud = FakeCloud(seed=21, clock=Clock(frozen=True))
    tenant = cloud.sphere.create_tenant(name="Contoso")
    app = cloud.central.create_app(subdomain="contoso")
    return cloud, tenant, app


def test_the_trust_workflow_in_process_through_the_respx_mock() -> None:
    cloud, tenant, app = _world()
    with (
        cloud.mock(),
        httpx.Client(
            base_url="https://contoso.azureiotcentral.com", headers={"Authorization": app.issue_api_token()}
        ) as http,
    ):
        trust_workflow(http, cloud, tenant.id)
    [anchor] = app.trust_anchors()
    assert anchor.certificate == tenant.generations[0].certificate
    # the verified tenant CA is exactly what DPS will chain device certificates to
    identity = cloud.sphere.create_device()
    cloud.sphere.claim_device(tenant.id, identity.id)
    chain = cloud.sphere.device_certificate_chain(identity.id)
    assert pki.chain_to_anchor(chain[:2], [a.certificate for a in app.trust_anchors()], cloud.clock.now()) is not None


def test_a_proof_from_another_tenant_fails_in_the_full_world() -> None:
    cloud, tenant, app = _world()
    other = cloud.sphere.create_tenant(name="Fabrikam")
    app.put_group("g", {"displayName": "g", "type": "iot", "attestation": {"type": "x509"}})
    app.set_certificate("g", "primary", {"certificate": pki.to_b64(tenant.generations[0].certificate)})
    code = app.generate_verification_code("g", "primary")
    with cloud.mock(), httpx.Client(headers={"Authorization": app.issue_api_token()}) as http:
        response = http.post(
            "https://contoso.azureiotcentral.com/api/enrollmentGroups/g/certificates/primary/verify",
            params=API,
            json={"certificate": pki.to_b64(cloud.sphere.issue_proof(other.id, code))},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidProofOfPossession"
    assert app.get_certificate("g", "primary").verified is False


@pytest.mark.served
def test_the_trust_workflow_over_real_https_sockets() -> None:
    cloud, tenant, app = _world()
    with cloud.serve(port=0, mqtt_port=None) as served:
        url = served.endpoints["central"]["url"]
        trust = ssl.create_default_context(cafile=served.ca_bundle)
        # the served port has no subdomain: the Host header picks the app (as a hosts-file entry would)
        port = httpx.URL(url).port
        with httpx.Client(
            base_url=url,
            verify=trust,
            headers={"Authorization": app.issue_api_token(), "Host": f"contoso.azureiotcentral.com:{port}"},
            timeout=10,
        ) as http:
            trust_workflow(http, cloud, tenant.id)
        assert app.trust_anchors()[0].group.id == "sphere-devices"
        # a Host without a subdomain reaches the world's default app: serving adopted the existing app
        default = served.endpoints["central"]
        with httpx.Client(
            base_url=url, verify=trust, headers={"Authorization": default["api_token"]}, timeout=10
        ) as http:
            listed = http.get("/api/enrollmentGroups", params=API)
            assert listed.status_code == 200
            assert default["subdomain"] == "contoso"
            assert [g["id"] for g in listed.json()["value"]] == ["sphere-devices"]

"""Acceptance 3: the enrollment lifecycle as a hypothesis state machine, driven through the HTTP adapter.

The machine keeps its own expectation of every group (its attestation kind, which CA sits in which entry,
whether it is verified, which code is current) and checks after every step, over the wire:

* an entry is verified only after a successful verify with its current code (or self-attestation);
* a replaced certificate is unverified;
* etags change on every successful write — of the touched group, and only of it — and never otherwise;
* deleted groups answer 404;
* no response ever contains certificate text.

CA material is made once per process (:func:`material`); the codes are whatever the fake issues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from refusals import watch_client
from test_central_world import API, CentralWorld, b64_der, b64_pem, client, material

from simulator import pki

GROUP_IDS = st.sampled_from(["alpha", "Beta-1", "gamma"])
ENTRIES = st.sampled_from(["primary", "secondary"])
CA_NAMES = ["tenant", "successor", "other_tenant", "look_alike"]
CAS = st.sampled_from(CA_NAMES)


@dataclass
class ExpectedEntry:
    ca: str
    verified: bool
    code: str | None = None


@dataclass
class ExpectedGroup:
    kind: str  # "x509" | "symmetricKey"
    enabled: bool = True
    entries: dict[str, ExpectedEntry] = field(default_factory=dict)


class EnrollmentLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = CentralWorld(seed=3)
        self.app = self.world.central.create_app("contoso")
        # every answer of 400 or more must leave the whole world as it was (tests/refusals.py)
        self.http: httpx.Client = watch_client(self.world, client(self.world, self.app))
        self.groups: dict[str, ExpectedGroup] = {}
        self.forbidden = [
            "BEGIN CERTIFICATE",
            *(b64_der(getattr(material(), n).certificate)[30:90] for n in CA_NAMES),
            *(b64_pem(getattr(material(), n).certificate)[30:90] for n in CA_NAMES),
        ]
        self.etags = self.wire_etags()

    def teardown(self) -> None:
        self.http.close()

    # -- helpers ---------------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path + API, **kwargs)
        for fragment in self.forbidden:
            assert fragment not in response.text, f"certificate text leaked by {method} {path}"
        if response.status_code >= 400:
            assert response.json()["error"]["code"] == response.headers["x-ms-error-code"]
        return response

    def wire_etags(self) -> dict[str, tuple[str, dict[str, str]]]:
        """Every group's etag and entry etags, read over HTTP (a read: must not change them)."""
        listed = self.request("GET", "/api/enrollmentGroups").json()["value"]
        result = {}
        for group in listed:
            certs = group["attestation"].get("x509", {}).get("signingCertificates", {})
            result[group["id"]] = (group["etag"], {name: entry["etag"] for name, entry in certs.items()})
        return result

    def wrote(self, group_id: str | None) -> None:
        """Check etags after a step: only ``group_id`` (None = nothing) changed, and it did change."""
        now = self.wire_etags()
        for gid, (etag, entries) in now.items():
            if gid == group_id:
                assert gid not in self.etags or etag != self.etags[gid][0], f"{gid}: a write kept the etag"
            else:
                assert self.etags.get(gid) == (etag, entries), f"{gid}: etag changed without a write"
        self.etags = now

    def pick(self, data: st.DataObject) -> str:
        """Mostly an existing group (so steps do something), sometimes one that does not exist."""
        return data.draw(st.sampled_from([*sorted(self.groups), "missing"]) if self.groups else GROUP_IDS)

    def holder(self, ca: str) -> tuple[str, str] | None:
        for gid, group in self.groups.items():
            for name, entry in group.entries.items():
                if entry.ca == ca:
                    return gid, name
        return None

    # -- rules -----------------------------------------------------------------------------------------

    @initialize(ca=CAS)
    def start_with_an_x509_group_holding_a_ca(self, ca: str) -> None:
        """Most interesting steps need a group with a certificate: start from one, as the seed workflow does."""
        self.put_group("alpha", "x509", True)
        self._set_certificate("alpha", "primary", ca, False)

    @rule(group_id=GROUP_IDS, kind=st.sampled_from(["x509", "x509", "symmetricKey"]), enabled=st.booleans())
    def put_group(self, group_id: str, kind: str, enabled: bool) -> None:
        body = {"displayName": f"group {group_id}", "type": "iot", "enabled": enabled, "attestation": {"type": kind}}
        response = self.request("PUT", f"/api/enrollmentGroups/{group_id}", json=body)
        existing = self.groups.get(group_id)
        if existing is not None and existing.kind != kind:
            assert response.status_code == 400
            self.wrote(None)
            return
        assert response.status_code == 200, response.text
        if existing is None:
            self.groups[group_id] = ExpectedGroup(kind, enabled)
        else:
            existing.enabled = enabled
        self.wrote(group_id)

    @rule(data=st.data(), enabled=st.booleans(), stale=st.booleans())
    def patch_group(self, data: st.DataObject, enabled: bool, stale: bool) -> None:
        group_id = self.pick(data)
        headers = {"If-Match": '"stale"'} if stale else {}
        response = self.request(
            "PATCH", f"/api/enrollmentGroups/{group_id}", json={"enabled": enabled}, headers=headers
        )
        if group_id not in self.groups:
            assert response.status_code == 404
        elif stale:
            assert response.status_code == 412
        else:
            assert response.status_code == 200
            assert response.json()["enabled"] is enabled
            self.groups[group_id].enabled = enabled
            self.wrote(group_id)
            return
        self.wrote(None)

    @rule(data=st.data())
    def delete_group(self, data: st.DataObject) -> None:
        group_id = self.pick(data)
        response = self.request("DELETE", f"/api/enrollmentGroups/{group_id}")
        if group_id in self.groups:
            assert response.status_code == 204
            del self.groups[group_id]
            self.etags.pop(group_id, None)
        else:
            assert response.status_code == 404
        self.wrote(None)
        assert self.request("GET", f"/api/enrollmentGroups/{group_id}").status_code == (
            200 if group_id in self.groups else 404
        )

    @rule(data=st.data(), entry=ENTRIES, ca=CAS, attest=st.booleans())
    def set_certificate(self, data: st.DataObject, entry: str, ca: str, attest: bool) -> None:
        self._set_certificate(self.pick(data), entry, ca, attest)

    def _set_certificate(self, group_id: str, entry: str, ca: str, attest: bool) -> None:
        text = b64_pem(getattr(material(), ca).certificate)
        response = self.request(
            "PUT",
            f"/api/enrollmentGroups/{group_id}/certificates/{entry}",
            json={"certificate": text, "verified": attest},
        )
        group = self.groups.get(group_id)
        holder = self.holder(ca)
        if group is None:
            assert response.status_code == 404
        elif group.kind != "x509":
            assert response.status_code == 400
        elif holder is not None and holder != (group_id, entry):
            assert response.status_code == 409
        else:
            assert response.status_code == 200, response.text
            assert response.json()["verified"] is attest  # a replaced certificate is unverified unless attested
            assert response.json()["info"]["sha1Thumbprint"] == pki.thumbprint(getattr(material(), ca).certificate)
            group.entries[entry] = ExpectedEntry(ca, attest)
            self.wrote(group_id)
            return
        self.wrote(None)

    @rule(data=st.data(), entry=ENTRIES)
    def remove_certificate(self, data: st.DataObject, entry: str) -> None:
        group_id = self.pick(data)
        response = self.request("DELETE", f"/api/enrollmentGroups/{group_id}/certificates/{entry}")
        group = self.groups.get(group_id)
        if group is not None and group.kind == "x509" and entry in group.entries:
            assert response.status_code == 204
            del group.entries[entry]
            self.wrote(group_id)
            return
        assert response.status_code == (400 if group is not None and group.kind != "x509" else 404)
        self.wrote(None)

    @rule(data=st.data(), entry=ENTRIES)
    def generate_code(self, data: st.DataObject, entry: str) -> None:
        self._generate_code(self.pick(data), entry)

    def _generate_code(self, group_id: str, entry: str) -> None:
        response = self.request(
            "POST", f"/api/enrollmentGroups/{group_id}/certificates/{entry}/generateVerificationCode"
        )
        group = self.groups.get(group_id)
        if group is None or (group.kind == "x509" and entry not in group.entries):
            assert response.status_code == 404
        elif group.kind != "x509":
            assert response.status_code == 400
        else:
            assert response.status_code == 200
            code = response.json()["verificationCode"]
            assert code != group.entries[entry].code
            group.entries[entry].code = code
            self.wrote(group_id)
            return
        self.wrote(None)

    @precondition(lambda self: any(e.code for g in self.groups.values() for e in g.entries.values()))
    @rule(
        data=st.data(),
        forgery=st.sampled_from([None, "wrong-code", "other-signer", "look-alike-signer", "garbage"]),
    )
    def verify(self, data: st.DataObject, forgery: str | None) -> None:
        candidates = sorted((gid, n) for gid, g in self.groups.items() for n, e in g.entries.items() if e.code)
        group_id, entry_name = data.draw(st.sampled_from(candidates))
        self._verify(group_id, entry_name, forgery)

    @rule(data=st.data(), entry=ENTRIES, ca=CAS)
    def seed_workflow(self, data: st.DataObject, entry: str, ca: str) -> None:
        """Upload, generate, verify — the whole trust workflow in one step, when the slot can take the CA."""
        group_id = self.pick(data)
        group = self.groups.get(group_id)
        holder = self.holder(ca)
        if group is None or group.kind != "x509" or (holder is not None and holder != (group_id, entry)):
            return
        self._set_certificate(group_id, entry, ca, False)
        self._generate_code(group_id, entry)
        self._verify(group_id, entry, None)
        assert self.groups[group_id].entries[entry].verified

    def _verify(self, group_id: str, entry_name: str, forgery: str | None) -> None:
        entry = self.groups[group_id].entries[entry_name]
        signer = getattr(material(), entry.ca)
        assert entry.code is not None
        if forgery == "wrong-code":
            body = {"certificate": b64_der(material().proof(signer, "0" * 48))}
        elif forgery == "other-signer":
            other = "other_tenant" if entry.ca != "other_tenant" else "tenant"
            body = {"certificate": b64_der(material().proof(getattr(material(), other), entry.code))}
        elif forgery == "look-alike-signer":
            impostor = "look_alike" if entry.ca == "tenant" else "tenant"
            body = {"certificate": b64_der(material().proof(getattr(material(), impostor), entry.code))}
        elif forgery == "garbage":
            body = {"certificate": "bm90IGEgY2VydGlmaWNhdGU="}
        else:
            body = {"certificate": b64_pem(material().proof(signer, entry.code))}
        response = self.request("POST", f"/api/enrollmentGroups/{group_id}/certificates/{entry_name}/verify", json=body)
        if forgery is None:
            assert (response.status_code, response.content) == (204, b"")
            entry.verified, entry.code = True, None
            self.wrote(group_id)
        else:
            assert response.status_code == 400
            self.wrote(None)

    @rule(data=st.data(), entry=ENTRIES)
    def verify_without_code(self, data: st.DataObject, entry: str) -> None:
        group_id = self.pick(data)
        group = self.groups.get(group_id)
        if group is None or group.kind != "x509" or entry not in group.entries or group.entries[entry].code:
            return
        proof = material().proof(getattr(material(), group.entries[entry].ca), "A" * 48)
        response = self.request(
            "POST",
            f"/api/enrollmentGroups/{group_id}/certificates/{entry}/verify",
            json={"certificate": b64_der(proof)},
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "VerificationCodeNotFound"
        self.wrote(None)

    # -- invariants ------------------------------------------------------------------------------------

    @invariant()
    def wire_matches_expectation(self) -> None:
        listed = {g["id"]: g for g in self.request("GET", "/api/enrollmentGroups").json()["value"]}
        assert set(listed) == set(self.groups)
        for gid, expected in self.groups.items():
            wire = listed[gid]
            assert wire["attestation"]["type"] == expected.kind
            assert wire["enabled"] is expected.enabled
            if expected.kind == "x509":
                certs = wire["attestation"]["x509"]["signingCertificates"]
                assert set(certs) == set(expected.entries)
                for name, entry in expected.entries.items():
                    assert certs[name]["verified"] is entry.verified
                    assert self.app.get_certificate(gid, name).code == entry.code

    @invariant()
    def trust_anchors_are_exactly_the_verified_entries(self) -> None:
        anchors = {(a.group.id, a.entry.name) for a in self.app.trust_anchors()}
        expected = {(gid, n) for gid, g in self.groups.items() for n, e in g.entries.items() if e.verified}
        assert anchors == expected


EnrollmentLifecycle.TestCase.settings = settings(
    max_examples=20, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestEnrollmentLifecycle = EnrollmentLifecycle.TestCase

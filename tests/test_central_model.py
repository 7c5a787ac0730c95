"""Unit tests of the IoT Central model: applications, enrollment groups, certificate entries, codes, devices.

Every refusal is checked for its situation *and* for leaving the app exactly as it was (``snapshot``).
"""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from test_central_world import (
    START,
    X509_GROUP,
    CentralWorld,
    b64_der,
    b64_pem,
    material,
    raw_pem,
    snapshot,
    x509_group,
)

from simulator import pki
from simulator.central.errors import CentralError
from simulator.central.model import App

SCOPE = re.compile(r"^0ne[0-9A-F]{8}$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
CODE = re.compile(r"^[0-9A-F]{48}$")


def make_app(**settings: Any) -> tuple[CentralWorld, App]:
    world = CentralWorld(settings=settings or None)
    return world, world.central.create_app("contoso")


def refused(app: App, situation: str, call: Any) -> CentralError:
    """``call`` must raise the situation's error and change nothing."""
    before = snapshot(app)
    with pytest.raises(CentralError) as caught:
        call()
    assert caught.value.situation == situation, caught.value
    assert snapshot(app) == before
    return caught.value


# -- applications ------------------------------------------------------------------------------------------


def test_an_app_has_a_guid_an_id_scope_a_hub_and_auto_approve_on() -> None:
    _, app = make_app()
    assert GUID.match(app.id)
    assert SCOPE.match(app.id_scope)
    assert re.fullmatch(r"iotc-[0-9a-f-]{36}\.azure-devices\.net", app.hub_host)
    assert app.auto_approve is True
    assert app.base_url == "https://contoso.azureiotcentral.com"


def test_the_same_seed_makes_the_same_apps() -> None:
    a = CentralWorld(seed=5).central.create_app("x")
    b = CentralWorld(seed=5).central.create_app("x")
    c = CentralWorld(seed=6).central.create_app("x")
    assert (a.id, a.id_scope, a.hub_host) == (b.id, b.id_scope, b.hub_host)
    assert a.id != c.id


def test_subdomains_are_unique_and_well_formed() -> None:
    world = CentralWorld()
    world.central.create_app("contoso")
    with pytest.raises(ValueError, match="already exists"):
        world.central.create_app("Contoso")
    with pytest.raises(ValueError, match="subdomain"):
        world.central.create_app("not a subdomain")
    generated = world.central.create_app()
    assert generated.subdomain.startswith("app-")
    assert world.central.app_by_scope(generated.id_scope.lower()) is generated


# -- enrollment groups -----------------------------------------------------------------------------------


def test_an_x509_group_starts_with_no_signing_certificates() -> None:
    _, app = make_app()
    group = app.put_group("myx509eg", dict(X509_GROUP))
    body = app.group_body(group, "2022-07-31")
    assert body == {
        "id": "myx509eg",
        "displayName": "Sphere devices",
        "enabled": True,
        "type": "iot",
        "attestation": {"type": "x509", "x509": {"signingCertificates": {}}},
        "etag": group.etag,
    }
    assert re.fullmatch(r'"[0-9a-f]{8}-0000-0700-0000-[0-9a-f]{12}"', base64.b64decode(group.etag).decode())


def test_id_scope_is_in_preview_bodies_and_only_on_request_in_ga_ones() -> None:
    _, app = make_app()  # the published GA document has no idScope
    group = app.put_group("g", dict(X509_GROUP))
    assert "idScope" not in app.group_body(group, "2022-07-31")
    assert app.group_body(group, "2022-10-31-preview")["idScope"] == app.id_scope
    _, app = make_app(id_scope_in_ga=True)
    group = app.put_group("g", dict(X509_GROUP))
    assert app.group_body(group, "2022-07-31")["idScope"] == app.id_scope


def test_symmetric_key_groups_get_generated_keys_unless_given() -> None:
    _, app = make_app()
    generated = app.put_group("sk", {"displayName": "SK", "type": "iot", "attestation": {"type": "symmetricKey"}})
    assert len(base64.b64decode(generated.primary_key or "")) == 64
    assert generated.primary_key != generated.secondary_key
    keys = {"primaryKey": base64.b64encode(b"p" * 32).decode(), "secondaryKey": base64.b64encode(b"s" * 32).decode()}
    given = app.put_group(
        "sk2", {"displayName": "SK", "type": "iotEdge", "attestation": {"type": "symmetricKey", "symmetricKey": keys}}
    )
    assert app.group_body(given)["attestation"] == {"type": "symmetricKey", "symmetricKey": keys}


@pytest.mark.parametrize("group_id", ["", "a" * 256, "has space", "under_score", "dot.ted", "ünï"])
def test_bad_group_ids_are_refused(group_id: str) -> None:
    _, app = make_app()
    refused(app, "bad_request", lambda: app.put_group(group_id, dict(X509_GROUP)))


def test_the_longest_group_id_is_255_characters() -> None:
    _, app = make_app()
    assert app.put_group("A-9" * 85, dict(X509_GROUP)).id == "A-9" * 85


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"type": "iot", "attestation": {"type": "x509"}},
        {"displayName": "x", "attestation": {"type": "x509"}},
        {"displayName": "x", "type": "iot"},
        {"displayName": "", "type": "iot", "attestation": {"type": "x509"}},
        {"displayName": 5, "type": "iot", "attestation": {"type": "x509"}},
        {"displayName": "x", "type": "edge", "attestation": {"type": "x509"}},
        {"displayName": "x", "type": "iot", "attestation": {"type": "tpm"}},
        {"displayName": "x", "type": "iot", "attestation": "x509"},
        {"displayName": "x", "type": "iot", "enabled": "yes", "attestation": {"type": "x509"}},
        {"displayName": "x", "type": "iot", "attestation": {"type": "x509", "symmetricKey": {}}},
        {"displayName": "x", "type": "iot", "attestation": {"type": "symmetricKey", "symmetricKey": {"primaryKey": 1}}},
        {
            "displayName": "x",
            "type": "iot",
            "attestation": {"type": "symmetricKey", "symmetricKey": {"primaryKey": "c2hvcnQ=", "secondaryKey": "eA=="}},
        },
        {
            "displayName": "x",
            "type": "iot",
            "attestation": {"type": "x509", "x509": {"signingCertificates": {"primary": {"certificate": "AAAA"}}}},
        },
    ],
)
def test_invalid_group_bodies_are_refused(body: Any) -> None:
    _, app = make_app()
    x509_group(app, "existing")
    refused(app, "bad_request", lambda: app.put_group("g", body))
    refused(app, "bad_request", lambda: app.put_group("existing", body))


def test_put_on_an_existing_group_replaces_its_settings_and_keeps_its_certificates() -> None:
    _, app = make_app()
    x509_group(app, "g", material().tenant.certificate)
    before = app.get_group("g").etag
    group = app.put_group("g", {"displayName": "Renamed", "type": "iotEdge", "attestation": {"type": "x509"}})
    assert (group.display_name, group.type, group.enabled) == ("Renamed", "iotEdge", True)
    assert "primary" in group.entries
    assert group.etag != before
    refused(app, "bad_request", lambda: app.put_group("g", {**X509_GROUP, "attestation": {"type": "symmetricKey"}}))


def test_patch_merges_name_switch_and_type_and_ignores_read_only_members() -> None:
    _, app = make_app()
    x509_group(app, "g")
    etag = app.get_group("g").etag
    group = app.patch_group("g", {"enabled": False, "id": "other", "idScope": "0ne00000000"})
    assert (group.id, group.display_name, group.enabled) == ("g", "Sphere devices", False)
    assert group.etag != etag
    group = app.patch_group("g", {"displayName": "New", "type": "iotEdge", "enabled": None})
    assert (group.display_name, group.type, group.enabled) == ("New", "iotEdge", True)
    same = app.group_body(group)["attestation"]
    assert app.patch_group("g", {"attestation": same}).attestation_type == "x509"
    for bad in ({"attestation": {"type": "symmetricKey"}}, {"displayName": None}, {"type": "x"}, {"enabled": 1}, []):
        refused(app, "bad_request", lambda bad=bad: app.patch_group("g", bad))
    refused(app, "not_found", lambda: app.patch_group("missing", {"enabled": True}))


def test_etag_preconditions_on_patch_put_and_delete() -> None:
    _, app = make_app()
    x509_group(app, "g")
    etag = app.get_group("g").etag
    refused(app, "precondition_failed", lambda: app.patch_group("g", {"displayName": "x", "etag": "stale"}))
    refused(app, "precondition_failed", lambda: app.patch_group("g", {"displayName": "x"}, if_match='"stale"'))
    refused(app, "precondition_failed", lambda: app.put_group("g", {**X509_GROUP, "etag": "stale"}))
    refused(app, "precondition_failed", lambda: app.put_group("new", {**X509_GROUP, "etag": "*"}))
    refused(app, "precondition_failed", lambda: app.delete_group("g", if_match="stale"))
    refused(app, "bad_request", lambda: app.patch_group("g", {"etag": 5}))
    # the header wins over the body
    app.patch_group("g", {"displayName": "x", "etag": "stale"}, if_match=f'"other", "{etag}"')
    etag = app.get_group("g").etag
    app.patch_group("g", {"displayName": "y", "etag": etag})
    app.patch_group("g", {"displayName": "z"}, if_match="*")
    app.put_group("g", {**X509_GROUP, "etag": "*"})
    app.delete_group("g", if_match="*")
    refused(app, "not_found", lambda: app.get_group("g"))


def test_body_etags_can_be_made_advisory() -> None:
    _, app = make_app(body_etag_is_precondition=False)
    x509_group(app, "g")
    assert app.patch_group("g", {"displayName": "x", "etag": "stale"}).display_name == "x"
    refused(app, "precondition_failed", lambda: app.patch_group("g", {"displayName": "y"}, if_match="stale"))


# -- certificate entries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("encode", [b64_pem, b64_der, raw_pem], ids=["base64-pem", "base64-der", "raw-pem"])
def test_the_three_client_encodings_are_accepted(encode: Any) -> None:
    _, app = make_app()
    x509_group(app, "g")
    ca = material().tenant.certificate
    entry = app.set_certificate("g", "primary", {"certificate": encode(ca)})
    assert entry.thumbprint == pki.thumbprint(ca)
    assert re.fullmatch(r"[0-9A-F]{40}", entry.thumbprint)
    assert entry.as_dict() == {"verified": False, "info": {"sha1Thumbprint": entry.thumbprint}, "etag": entry.etag}


def test_base64_with_line_breaks_is_accepted() -> None:
    _, app = make_app()
    x509_group(app, "g")
    wrapped = "\n".join(re.findall(".{1,64}", b64_der(material().tenant.certificate)))
    assert app.set_certificate("g", "primary", {"certificate": wrapped}).verified is False


def _invalid_certificates() -> dict[str, str]:
    ca = material().tenant.certificate
    der = ca.public_bytes(Encoding.DER)
    two = ca.public_bytes(Encoding.PEM) + material().other_tenant.certificate.public_bytes(Encoding.PEM)
    return {
        "empty": "",
        "spaces": "   ",
        "not-base64": "this is not a certificate!",
        "truncated-der": base64.b64encode(der[:-20]).decode(),
        "trailing-bytes": base64.b64encode(der + b"\0").decode(),
        "two-certificates": base64.b64encode(two).decode(),
        "private-key": material().tenant.private_key_pem.decode(),
        "base64-of-garbage": base64.b64encode(b"hello world").decode(),
    }


@pytest.mark.parametrize("name", list(_invalid_certificates()))
def test_anything_but_one_certificate_is_an_invalid_certificate(name: str) -> None:
    _, app = make_app()
    x509_group(app, "g", material().successor.certificate)
    app.generate_verification_code("g", "primary")
    text = _invalid_certificates()[name]
    refused(app, "invalid_certificate", lambda: app.set_certificate("g", "primary", {"certificate": text}))
    refused(app, "invalid_certificate", lambda: app.set_certificate("g", "secondary", {"certificate": text}))


@pytest.mark.parametrize(
    "body", [None, {}, {"certificate": 5}, {"certificate": "x", "verified": "yes"}], ids=["null", "{}", "int", "flag"]
)
def test_malformed_certificate_bodies_are_bad_requests(body: Any) -> None:
    _, app = make_app()
    x509_group(app, "g")
    refused(app, "bad_request", lambda: app.set_certificate("g", "primary", body))


def test_entries_exist_only_on_x509_groups_and_are_named_primary_or_secondary() -> None:
    _, app = make_app()
    x509_group(app, "g")
    app.put_group("sk", {"displayName": "SK", "type": "iot", "attestation": {"type": "symmetricKey"}})
    text = b64_pem(material().tenant.certificate)
    refused(app, "bad_request", lambda: app.set_certificate("g", "None", {"certificate": text}))
    refused(app, "bad_request", lambda: app.set_certificate("sk", "primary", {"certificate": text}))
    refused(app, "not_found", lambda: app.set_certificate("nope", "primary", {"certificate": text}))
    refused(app, "not_found", lambda: app.get_certificate("g", "primary"))
    refused(app, "not_found", lambda: app.remove_certificate("g", "secondary"))


def test_a_certificate_may_be_used_by_only_one_entry_of_the_app() -> None:
    world, app = make_app()
    ca = material().tenant.certificate
    x509_group(app, "a", ca)
    x509_group(app, "b")
    refused(app, "conflict", lambda: app.set_certificate("b", "primary", {"certificate": b64_der(ca)}))
    refused(app, "conflict", lambda: app.set_certificate("a", "secondary", {"certificate": b64_der(ca)}))
    # re-uploading to the same entry is a replacement, not a conflict; another app is unaffected
    app.set_certificate("a", "primary", {"certificate": raw_pem(ca)})
    other = world.central.create_app("fabrikam")
    x509_group(other, "a", ca)
    # deleting the holder releases it (``central.unique_certificates``)
    app.remove_certificate("a", "primary")
    assert app.set_certificate("b", "primary", {"certificate": b64_der(ca)}).thumbprint == pki.thumbprint(ca)
    app.delete_group("b")
    app.set_certificate("a", "secondary", {"certificate": b64_der(ca)})


def test_uniqueness_can_be_switched_off() -> None:
    _, app = make_app(unique_certificates=False)
    ca = material().tenant.certificate
    x509_group(app, "a", ca)
    x509_group(app, "b", ca)
    assert app.get_certificate("b", "primary").thumbprint == app.get_certificate("a", "primary").thumbprint


def test_self_attestation_verifies_on_upload_unless_forbidden() -> None:
    _, app = make_app()
    x509_group(app, "g")
    body = {"certificate": b64_pem(material().tenant.certificate), "verified": True}
    assert app.set_certificate("g", "primary", body).verified is True
    _, strict = make_app(allow_self_attestation=False)
    x509_group(strict, "g")
    refused(strict, "bad_request", lambda: strict.set_certificate("g", "primary", body))


def test_replacing_a_verified_certificate_resets_verified_and_the_code() -> None:
    _, app = make_app()
    x509_group(app, "g")
    app.set_certificate("g", "primary", {"certificate": b64_pem(material().tenant.certificate), "verified": True})
    group_etag = app.get_group("g").etag
    app.generate_verification_code("g", "primary")
    entry = app.set_certificate("g", "primary", {"certificate": b64_pem(material().successor.certificate)})
    assert (entry.verified, entry.code) == (False, None)
    assert app.get_group("g").etag != group_etag


def test_entry_preconditions() -> None:
    _, app = make_app()
    x509_group(app, "g", material().tenant.certificate)
    etag = app.get_certificate("g", "primary").etag
    text = b64_pem(material().successor.certificate)
    refused(app, "precondition_failed", lambda: app.set_certificate("g", "primary", {"certificate": text, "etag": "x"}))
    refused(
        app, "precondition_failed", lambda: app.set_certificate("g", "secondary", {"certificate": text, "etag": "*"})
    )
    refused(app, "precondition_failed", lambda: app.remove_certificate("g", "primary", if_match="x"))
    assert app.set_certificate("g", "primary", {"certificate": text, "etag": etag}).etag != etag


# -- verification codes and proofs --------------------------------------------------------------------------


def test_each_generate_issues_a_new_48_hex_code_and_a_new_etag() -> None:
    _, app = make_app()
    x509_group(app, "g", material().tenant.certificate)
    etag = app.get_certificate("g", "primary").etag
    first = app.generate_verification_code("g", "primary")
    second = app.generate_verification_code("g", "primary")
    assert CODE.match(first) and CODE.match(second) and first != second
    entry = app.get_certificate("g", "primary")
    assert entry.code == second and entry.etag != etag


def test_code_reuse_and_lower_case_settings() -> None:
    _, app = make_app(code_reuse=True, code_case="lower", code_bytes=8)
    x509_group(app, "g", material().tenant.certificate)
    code = app.generate_verification_code("g", "primary")
    assert re.fullmatch(r"[0-9a-f]{16}", code)
    before = snapshot(app)
    assert app.generate_verification_code("g", "primary") == code
    assert snapshot(app) == before  # returning the current code is not a write


def test_generate_needs_a_certificate_and_an_x509_group() -> None:
    _, app = make_app()
    x509_group(app, "g")
    app.put_group("sk", {"displayName": "SK", "type": "iot", "attestation": {"type": "symmetricKey"}})
    refused(app, "not_found", lambda: app.generate_verification_code("g", "primary"))
    refused(app, "bad_request", lambda: app.generate_verification_code("sk", "primary"))
    refused(app, "not_found", lambda: app.generate_verification_code("nope", "primary"))


@pytest.mark.parametrize("signer", ["tenant", "rsa"])
def test_a_proof_signed_by_the_ca_verifies_the_entry_and_consumes_the_code(signer: str) -> None:
    _, app = make_app()
    issuer = getattr(material(), signer)
    x509_group(app, "g", issuer.certificate)
    code = app.generate_verification_code("g", "primary")
    proof = material().proof(issuer, code)
    etags = (app.get_group("g").etag, app.get_certificate("g", "primary").etag)
    entry = app.verify_certificate("g", "primary", {"certificate": pki.to_b64(proof)})
    assert (entry.verified, entry.code) == (True, None)
    assert (app.get_group("g").etag, entry.etag) != etags
    # the code is spent: the same proof cannot be replayed
    refused(app, "code_not_found", lambda: app.verify_certificate("g", "primary", {"certificate": pki.to_b64(proof)}))


def test_a_verified_entry_becomes_a_trust_anchor_and_every_upload_a_known_ca() -> None:
    _, app = make_app()
    x509_group(app, "g", material().tenant.certificate)
    app.set_certificate("g", "secondary", {"certificate": b64_pem(material().successor.certificate)})
    assert app.trust_anchors() == []
    assert {pki.thumbprint(c) for c in app.known_cas()} == {
        pki.thumbprint(material().tenant.certificate),
        pki.thumbprint(material().successor.certificate),
    }
    code = app.generate_verification_code("g", "primary")
    app.verify_certificate("g", "primary", {"certificate": b64_pem(material().proof(material().tenant, code))})
    app.patch_group("g", {"enabled": False})
    [anchor] = app.trust_anchors()
    assert (anchor.group.id, anchor.entry.name, anchor.group_enabled) == ("g", "primary", False)
    assert anchor.certificate == material().tenant.certificate


def test_codes_can_expire() -> None:
    world, app = make_app(code_ttl_s=60)
    x509_group(app, "g", material().tenant.certificate)
    code = app.generate_verification_code("g", "primary")
    proof = b64_der(material().proof(material().tenant, code))
    world.clock.advance(seconds=61)
    error = refused(app, "code_not_found", lambda: app.verify_certificate("g", "primary", {"certificate": proof}))
    assert "expired" in error.message
    fresh = app.generate_verification_code("g", "primary")
    good = b64_der(material().proof(material().tenant, fresh, world.clock.now()))
    assert app.verify_certificate("g", "primary", {"certificate": good}).verified


def test_proof_validity_is_checked_on_the_world_clock_with_configurable_skew() -> None:
    _, app = make_app(proof_clock_skew_s=120)
    x509_group(app, "g", material().tenant.certificate)
    code = app.generate_verification_code("g", "primary")
    # valid from START + 1 min: inside the two-minute skew
    early = material().proof(material().tenant, code, START + timedelta(minutes=1), backdate=timedelta(0))
    assert app.verify_certificate("g", "primary", {"certificate": b64_der(early)}).verified
    _, lax = make_app(proof_check_validity=False)
    x509_group(lax, "g", material().tenant.certificate)
    code = lax.generate_verification_code("g", "primary")
    old = material().proof(material().tenant, code, START - timedelta(days=30))
    assert lax.verify_certificate("g", "primary", {"certificate": b64_der(old)}).verified


def test_error_codes_can_be_overridden() -> None:
    _, app = make_app(error_codes={"not_found": "ResourceNotFound"})
    with pytest.raises(CentralError) as caught:
        app.get_group("missing")
    assert (caught.value.status, caught.value.code) == (404, "ResourceNotFound")


# -- devices -----------------------------------------------------------------------------------------------

SPHERE_ID = "A1B2" * 32  # 128 hex characters, mixed case as azsphere prints it


def test_auto_enrollment_creates_a_provisioned_lower_case_device() -> None:
    _, app = make_app()
    device = app.provision_device(SPHERE_ID, attestation_thumbprint="AB" * 20)
    assert device.id == SPHERE_ID.lower()
    assert device.as_dict() == {
        "id": SPHERE_ID.lower(),
        "etag": device.etag,
        "displayName": SPHERE_ID.lower(),
        "simulated": False,
        "provisioned": True,
        "enabled": True,
    }
    assert (device.status, device.cli_status) == ("Provisioned", "unassociated")
    assert app.get_device(SPHERE_ID) is device  # case-insensitive lookup
    assert app.device_attestation(device.id)["x509"]["clientCertificates"]["primary"]["info"] == {
        "sha1Thumbprint": "AB" * 20
    }


def test_device_id_case_can_be_preserved() -> None:
    _, app = make_app(device_id_case="preserve")
    assert app.provision_device(SPHERE_ID).id == SPHERE_ID


def test_a_known_model_id_assigns_the_template_and_an_unknown_one_leaves_it_unassigned() -> None:
    _, app = make_app()
    app.add_template("dtmi:com:example:Thermometer;1")
    known = app.provision_device("dev-1", model_id="dtmi:com:example:Thermometer;1")
    unknown = app.provision_device("dev-2", model_id="dtmi:com:example:Other;1")
    assert known.as_dict()["template"] == "dtmi:com:example:Thermometer;1"
    assert known.cli_status == "provisioned"
    assert "template" not in unknown.as_dict()


def test_without_auto_approve_devices_wait_until_an_operator_enables_them() -> None:
    world = CentralWorld()
    app = world.central.create_app("manual", auto_approve=False)
    device = app.provision_device("dev-1")
    assert (device.enabled, device.provisioned, device.status) == (False, False, "Waiting for approval")
    app.provision_device("dev-1")  # re-registering changes nothing while waiting
    assert device.status == "Waiting for approval"
    app.patch_device("dev-1", {"enabled": True})
    assert device.status == "Registered"
    app.provision_device("dev-1")
    assert device.status == "Provisioned"
    app.patch_device("dev-1", {"enabled": False})
    assert (device.status, device.provisioned) == ("Blocked", True)


def test_devices_created_through_the_api_are_registered_until_they_connect() -> None:
    _, app = make_app()
    app.add_template("dtmi:contoso:thermostat;1")
    device = app.put_device("thermo-1", {"displayName": "Thermostat", "template": "dtmi:contoso:thermostat;1"})
    assert (device.status, device.cli_status) == ("Registered", "registered")
    for bad in ({"template": "dtmi:contoso:unknown;1"}, {"template": "nope"}, {"enabled": "x"}, {"organizations": 1}):
        refused(app, "bad_request", lambda bad=bad: app.put_device("thermo-2", bad))
    refused(app, "bad_request", lambda: app.put_device("bad id", {}))
    refused(app, "bad_request", lambda: app.patch_device("thermo-1", {"simulated": True}))
    refused(app, "precondition_failed", lambda: app.patch_device("thermo-1", {"displayName": "x"}, if_match="stale"))
    app.delete_device("THERMO-1")
    refused(app, "not_found", lambda: app.get_device("thermo-1"))


def test_telemetry_reported_properties_and_the_twin() -> None:
    world, app = make_app()
    app.provision_device("dev-1")
    app.record_telemetry("dev-1", b'{"temperature": 21.5, "humidity": 40}', {"$.ct": "application/json"})
    app.record_telemetry("dev-1", b"\xff not json", {})
    point = app.device_telemetry("dev-1", "temperature")
    assert (point.timestamp, point.value) == (world.clock.now(), 21.5)
    refused(app, "not_found", lambda: app.device_telemetry("dev-1", "pressure"))
    assert app.get_device("dev-1").messages == 2
    app.record_reported("dev-1", {"firmware": {"version": "1.0", "channel": "beta"}, "led": True})
    app.record_reported("dev-1", {"firmware": {"channel": None}, "led": None})
    twin = app.device_twin("dev-1")
    assert twin["reported"] == {"firmware": {"version": "1.0"}, "$version": 3}
    assert twin["desired"] == {"$version": 1}
    props = app.device_properties("dev-1")
    assert props["firmware"] == {"version": "1.0"}
    assert set(props["$metadata"]) == {"firmware"}
    app.update_device_properties("dev-1", {"interval": 5})
    assert app.device_twin("dev-1")["desired"] == {"interval": 5, "$version": 2}
    refused(app, "bad_request", lambda: app.update_device_properties("dev-1", {"$version": 9}))
    refused(app, "not_found", lambda: app.record_telemetry("ghost", b"{}", {}))


def test_lists_page_with_an_opaque_skiptoken() -> None:
    _, app = make_app(page_size=2)
    for n in range(5):
        app.provision_device(f"dev-{n}")
    seen, token = [], None
    while True:
        page = app.list_devices(token)
        seen += [d.id for d in page.items]
        token = page.next_token
        if token is None:
            break
    assert seen == [f"dev-{n}" for n in range(5)]
    refused(app, "bad_request", lambda: app.list_devices("garbage!"))

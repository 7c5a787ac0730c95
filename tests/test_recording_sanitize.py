"""The sanitizers: each one on a constructed exchange (exact output), idempotence, certificates rewritten so their
thumbprints still line up, and a hypothesis test that puts random secrets in every field an exchange can carry and
finds none of them in the written recording."""

from __future__ import annotations

import base64
import json
import string
from types import SimpleNamespace
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from recording_helpers import b64, der, leaks, tenant_ca

from harness.clients.exchange import Exchange
from harness.recording.format import RecordingDocument, dumps, loads
from harness.recording.sanitize import Placeholders, Sanitizer, is_placeholder
from harness.session import AppBinding, TenantBinding

TENANT = "768c2cd6-1bf0-4521-9f53-084a331d81cb"
JSON = [("content-type", "application/json")]


def exchange(**fields) -> Exchange:
    base = {
        "service": "central",
        "method": "GET",
        "url": "https://contoso.azureiotcentral.com/api/devices",
        "status": 200,
    }
    return Exchange(**{**base, **fields})


def session(**overrides) -> SimpleNamespace:
    tenant = TenantBinding(
        key="contoso",
        tenant_id=TENANT,
        name="Contoso Devices",
        user="ops@contoso.example",
        token="sphere-user-token-123",
        arm_token="arm-token-456789",
        subscription_id="9f2d6f2c-0000-4000-8000-123456789abc",
        resource_group="contoso-rg",
        catalog="contoso-catalog",
    )
    app = AppBinding(
        key="central",
        subdomain="contoso-prod",
        name="Contoso Production",
        id_scope="0ne00ABCDEF",
        api_token="SharedAccessSignature sr=abc&sig=xyz%3D&skn=operator-token&se=1",
    )
    values = {
        "tenants": {"contoso": tenant},
        "apps": {"central": app},
        "legacy_url": "https://prod.core.sphere.azure.net/v2",
        "arm_url": "https://management.azure.com",
    }
    return SimpleNamespace(**{**values, **overrides})


# -- each sanitizer on its own -------------------------------------------------------------------------------


def test_sh001_the_host_header_names_the_app_and_is_dropped() -> None:
    sanitizer = Sanitizer()
    clean = sanitizer.sanitize(
        exchange(
            url="https://127.0.0.1:4443/api/enrollmentGroups?api-version=2022-07-31",
            request_headers=[("host", "contoso.azureiotcentral.com"), ("accept", "application/json")],
        )
    )
    assert clean.url == "https://contoso.azureiotcentral.com/api/enrollmentGroups?api-version=2022-07-31"
    assert clean.request_headers == [("accept", "application/json")]


def test_sh002_a_served_base_url_becomes_the_real_service() -> None:
    sanitizer = Sanitizer(rebase=[("https://127.0.0.1:5555/v2", "https://prod.core.sphere.azure.net/v2")])
    clean = sanitizer.sanitize(
        exchange(
            url="https://127.0.0.1:5555/v2/tenants",
            response_headers=JSON,
            response_body=b'{"next": "https://127.0.0.1:5555/v2/tenants?page=2"}',
        )
    )
    assert clean.url == "https://prod.core.sphere.azure.net/v2/tenants"
    assert json.loads(clean.response_body) == {"next": "https://prod.core.sphere.azure.net/v2/tenants?page=2"}


def test_sh010_to_sh013_headers() -> None:
    clean = Sanitizer().sanitize(
        exchange(
            request_headers=[
                ("authorization", "SharedAccessSignature sr=a&sig=b&skn=operator-token&se=1"),
                ("cookie", "session=abc123"),
                ("user-agent", "sphere-harness/0.1"),
            ],
            response_headers=[
                ("date", "Mon, 30 Nov 2026 09:33:45 GMT"),
                ("x-ms-request-id", "742b433d-d3af-463d-b13a-187c2404ed8b"),
                ("set-cookie", "ARRAffinity=deadbeef; path=/"),
                ("content-length", "12"),
            ],
        )
    )
    assert clean.request_headers == [
        ("authorization", "SharedAccessSignature Sanitized-1"),
        ("cookie", "Sanitized-2"),
        ("user-agent", "sphere-harness/0.1"),
    ]
    assert clean.response_headers == [
        ("x-ms-request-id", "00000000-0000-0000-0000-c00000000001"),
        ("set-cookie", "Sanitized-3"),
    ]


def test_sh020_request_ids_in_bodies() -> None:
    body = {"error": {"code": "NotFound", "message": "gone", "requestId": "742b433d-d3af-463d-b13a-187c2404ed8b"}}
    clean = Sanitizer().sanitize(exchange(status=404, response_headers=JSON, response_body=json.dumps(body).encode()))
    assert json.loads(clean.response_body)["error"] == {
        "code": "NotFound",
        "message": "gone",
        "requestId": "00000000-0000-0000-0000-c00000000001",
    }


def test_sh030_known_values_everywhere_same_secret_same_placeholder() -> None:
    sanitizer = Sanitizer.for_session(session(), extra=["project-falcon"])
    clean = sanitizer.sanitize(
        exchange(
            service="sphere-legacy",
            url=f"https://prod.core.sphere.azure.net/v2/tenants/{TENANT.upper()}/devices?user={quote('ops@contoso.example')}",
            response_headers=JSON,
            response_body=json.dumps(
                {"Id": TENANT, "Name": "Contoso Devices", "Note": "codename project-falcon, ask ops@contoso.example"}
            ).encode(),
        )
    )
    tenant = "00000000-0000-0000-0000-a00000000001"
    assert (
        clean.url == f"https://prod.core.sphere.azure.net/v2/tenants/{tenant}/devices?user=user-1%40sanitized.example"
    )
    assert json.loads(clean.response_body) == {
        "Id": tenant,
        "Name": "tenant-name-1",
        "Note": "codename sanitized-1, ask user-1@sanitized.example",
    }


def test_short_known_values_are_replaced_only_where_they_stand_alone() -> None:
    sanitizer = Sanitizer()
    sanitizer.add("t", "tenant")
    clean = sanitizer.sanitize(
        exchange(
            url="https://prod.core.sphere.azure.net/v2/tenants/t/cert",
            response_headers=JSON,
            response_body=b'{"Id": "t", "Name": "the tenant"}',
        )
    )
    assert clean.url == "https://prod.core.sphere.azure.net/v2/tenants/00000000-0000-0000-0000-a00000000001/cert"
    assert json.loads(clean.response_body) == {"Id": "00000000-0000-0000-0000-a00000000001", "Name": "the tenant"}


def test_sh040_token_shapes_anywhere() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"
    body = {"token": jwt, "link": "https://x.example/a?sv=1&sig=AbCd%2B%3D&se=2", "sas": "SharedAccessSignature sr=q"}
    clean = Sanitizer().sanitize(exchange(response_headers=JSON, response_body=json.dumps(body).encode()))
    assert json.loads(clean.response_body) == {
        "token": "Sanitized-1",
        "link": "https://x.example/a?sv=1&sig=Sanitized-2&se=2",
        "sas": "SharedAccessSignature Sanitized-3",
    }


def test_sh031_sh050_a_tenant_ca_is_rewritten_and_its_thumbprint_follows() -> None:
    ca = tenant_ca(TENANT)
    old_thumbprint = ca.fingerprint(__import__("cryptography.hazmat.primitives.hashes", fromlist=["SHA1"]).SHA1())
    old = old_thumbprint.hex().upper()
    listing = exchange(
        service="sphere-legacy",
        response_headers=JSON,
        response_body=json.dumps([{"Thumbprint": old, "IsActive": True}]).encode(),
    )
    download = exchange(service="sphere-legacy", response_headers=JSON, response_body=json.dumps(b64(der(ca))).encode())
    pem = ca.public_bytes(Encoding.PEM).decode()
    upload = exchange(
        method="PUT",
        request_headers=JSON,
        request_body=json.dumps({"certificate": pem}).encode(),
        response_headers=JSON,
        response_body=json.dumps({"info": {"sha1Thumbprint": old}}).encode(),
    )
    chain = pkcs7.serialize_certificates([ca], Encoding.DER)
    arm = exchange(
        service="sphere-arm", response_headers=JSON, response_body=json.dumps({"certificateChain": b64(chain)}).encode()
    )
    sanitizer = Sanitizer()
    sanitizer.add(TENANT, "tenant")
    clean = sanitizer.sanitize_all([listing, download, upload, arm])

    rewritten = x509.load_der_x509_certificate(base64.b64decode(json.loads(clean[1].response_body)))
    cn = rewritten.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "Microsoft Azure Sphere 00000000-0000-0000-0000-a00000000001"
    assert rewritten.not_valid_after_utc == ca.not_valid_after_utc and rewritten.serial_number == ca.serial_number
    new = rewritten.fingerprint(__import__("cryptography.hazmat.primitives.hashes", fromlist=["SHA1"]).SHA1())
    assert sanitizer.thumbprints == {old: new.hex().upper()}
    # the list before the download, the upload's answer after it: both name the certificate the recording holds
    assert json.loads(clean[0].response_body) == [{"Thumbprint": new.hex().upper(), "IsActive": True}]
    assert json.loads(clean[2].response_body) == {"info": {"sha1Thumbprint": new.hex().upper()}}
    uploaded = x509.load_pem_x509_certificate(json.loads(clean[2].request_body)["certificate"].encode())
    assert uploaded == rewritten
    bundle = pkcs7.load_der_pkcs7_certificates(base64.b64decode(json.loads(clean[3].response_body)["certificateChain"]))
    assert bundle == [rewritten]


def test_a_private_key_never_survives() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    clean = Sanitizer().sanitize(
        exchange(response_headers=JSON, response_body=json.dumps({"key": key.decode()}).encode())
    )
    assert json.loads(clean.response_body) == {"key": "-----BEGIN PRIVATE KEY-----Sanitized-----END PRIVATE KEY-----\n"}


def test_sanitizing_twice_changes_nothing_and_placeholders_are_never_secrets() -> None:
    ca = tenant_ca(TENANT)
    raw = exchange(
        url=f"https://contoso-prod.azureiotcentral.com/api/x/{TENANT}",
        request_headers=[("authorization", "Bearer sphere-user-token-123")],
        response_headers=[*JSON, ("x-ms-request-id", "742b433d-d3af-463d-b13a-187c2404ed8b")],
        response_body=json.dumps({"cert": b64(der(ca)), "Id": TENANT}).encode(),
    )
    sanitizer = Sanitizer.for_session(session())
    once = sanitizer.sanitize(raw)
    assert sanitizer.sanitize(once) == once
    fresh = Sanitizer()  # a replay's sanitizer knows no secrets: the recording must already be clean for it
    assert fresh.sanitize(once) == once
    assert is_placeholder("00000000-0000-0000-0000-a00000000001") and not is_placeholder(TENANT)


def test_placeholders_keep_their_shape() -> None:
    placeholders = Placeholders()
    assert placeholders.get("tenant", TENANT) == "00000000-0000-0000-0000-a00000000001"
    assert placeholders.get("tenant", TENANT.upper()) == "00000000-0000-0000-0000-a00000000001"
    assert placeholders.get("app", "contoso") == "app-sanitized-1"
    assert placeholders.get("id-scope", "0ne00ABCDEF") == "0neSANI0001"
    assert placeholders.get("hub", "iotc-1f2e.azure-devices.net") == "iotc-sanitized-1.azure-devices.net"
    assert placeholders.get("user", "a@b.example") == "user-1@sanitized.example"
    assert len(placeholders.fitted("contoso")) == len("contoso") and placeholders.fitted("contoso") != "contoso"
    assert placeholders.fitted(TENANT) == "00000000-0000-0000-0000-a00000000001"


def test_an_id_scope_of_digits_only_is_a_secret_not_a_placeholder() -> None:
    """Regression: ID scopes are ``0ne`` + 8 hex digits, so ``0ne33698258`` is a real one (the fake's generator and
    Azure both make such scopes). The placeholder shape once was ``0ne`` + 8 digits, which took it for a placeholder
    and left it in the recording."""
    scope = "0ne33698258"
    assert not is_placeholder(scope)
    app = AppBinding("central", "contoso-prod", None, scope, None)
    sanitizer = Sanitizer.for_session(session(apps={"central": app}))
    clean = sanitizer.sanitize(
        exchange(
            url=f"https://global.azure-devices-provisioning.net/{scope}/registrations/dev-1/register",
            response_headers=JSON,
            response_body=json.dumps({"idScope": scope, "note": f"scope {scope}"}).encode(),
        )
    )
    text = dumps(RecordingDocument(entries=[clean]))
    assert scope not in text
    assert json.loads(clean.response_body) == {"idScope": "0neSANI0001", "note": "scope 0neSANI0001"}
    assert is_placeholder("0neSANI0001") and Sanitizer().sanitize(clean) == clean


HUB = "iotc-5f4a9d1e-7c1b-4c55-9a9e-1d2b3c4d5e6f.azure-devices.net"


def test_sh033_the_assigned_hub_is_learnt_from_dps_and_replaced_everywhere() -> None:
    registration = {"operationId": "5.x", "status": "assigned", "registrationState": {"assignedHub": HUB}}
    dps = exchange(
        service="dps",
        method="GET",
        url="https://global.azure-devices-provisioning.net/0ne00ABCDEF/registrations/dev-1/operations/5.x",
        response_headers=JSON,
        response_body=json.dumps(registration).encode(),
    )
    later = exchange(url=f"https://contoso-prod.azureiotcentral.com/api/devices?hub={HUB.upper()}")
    sanitizer = Sanitizer.for_session(session())
    first, second = sanitizer.sanitize_all([later, dps])
    placeholder = "iotc-sanitized-1.azure-devices.net"
    assert json.loads(second.response_body)["registrationState"]["assignedHub"] == placeholder
    assert first.url == f"https://app-sanitized-1.azureiotcentral.com/api/devices?hub={placeholder}"


def test_sh033_a_served_world_names_its_hub_unless_it_is_loopback() -> None:
    lan = Sanitizer.for_session(session(endpoints={"dps": {"host": "sphere-lab.contoso.example"}}))
    assert lan.text("wss://sphere-lab.contoso.example:8883") == "wss://iotc-sanitized-1.azure-devices.net:8883"
    for host in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        local = Sanitizer.for_session(session(endpoints={"dps": {"host": host}}))
        assert local.known == Sanitizer.for_session(session()).known, host


def test_sh033_the_mqtt_section_carries_no_hub_and_no_id_scope() -> None:
    """The device path's packets as the recorder writes them: DPS CONNECT (the ID scope in the username), the
    registration result naming the hub, then the hub CONNECT (``<hub>/<deviceId>/?api-version=…``) and telemetry."""
    from harness.recording.recorder import Recorder
    from simulator.dps.mqtt_codec import Connect, Publish

    scope, device = "0ne33698258", "contoso-device-01"
    result = {"status": "assigned", "registrationState": {"assignedHub": HUB, "deviceId": device}}
    scenario = SimpleNamespace(name="device", source="device.yaml", steps=[], vars={})
    run = session(apps={"central": AppBinding("central", "contoso-prod", None, scope, None)}, seed=7, run_prefix="r")
    recorder = Recorder(scenario, target="served")
    recorder.session = run  # type: ignore[assignment]
    recorder.packets = [
        (1, "out", Connect(client_id=device, username=f"{scope}/registrations/{device}/api-version=2019-03-31")),
        (1, "in", Publish(topic="$dps/registrations/res/200/?$rid=1", payload=json.dumps(result).encode())),
        (1, "out", Connect(client_id=device, username=f"{HUB}/{device}/?api-version=2021-04-12", password=b"x")),
        (1, "out", Publish(topic=f"devices/{device}/messages/events/", payload=json.dumps({"via": HUB}).encode())),
    ]
    text = dumps(recorder.document())
    assert leaks(text, [scope, HUB, HUB.split(".")[0]]) == []
    packets = json.loads(text)["SphereHarness"]["MqttEntries"]
    assert packets[0]["Username"] == "0neSANI0001/registrations/contoso-device-01/api-version=2019-03-31"
    assert packets[1]["Payload"]["registrationState"]["assignedHub"] == "iotc-sanitized-1.azure-devices.net"
    assert packets[2]["Username"] == "iotc-sanitized-1.azure-devices.net/contoso-device-01/?api-version=2021-04-12"
    assert packets[3]["Payload"] == {"via": "iotc-sanitized-1.azure-devices.net"}


# -- random secrets in every field --------------------------------------------------------------------------

_SECRET = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=10, max_size=24).filter(
    lambda s: s.strip("-_.") == s
)
_GUID = st.uuids().map(str)
#: stand-ins for the secrets, found in no protocol text: the recording they make is the baseline
_DUMMIES = [f"Qz{i}xDummyValueQz" for i in range(9)]


def _recording_carrying(
    tenant_id: str, subscription: str, names: list[str], upper: bool, hub: str = HUB, id_scope: str = "0neFEDCBA98"
) -> str:
    """A recording whose exchanges carry every value a run knows in every place an exchange has: URL path, query,
    host, request and response headers, JSON keys and values at depth, a text body, and a tenant CA (CN and O) as
    base64 DER, PKCS#7 and base64 of PEM; the app's ID scope and the IoT hub a DPS answer names travel the same way.
    Returns the written file's text."""
    (tenant_name, user, token, arm_token, group, catalog, subdomain, api_token, extra) = names
    email = f"{user}@example.org"
    sess = session(
        tenants={
            "t": TenantBinding("t", tenant_id, tenant_name, email, token, arm_token, subscription, group, catalog)
        },
        apps={"a": AppBinding("a", subdomain.lower(), None, id_scope, f"SharedAccessSignature sr={api_token}&se=1")},
        legacy_url="https://127.0.0.1:4443/v2",
        arm_url="https://127.0.0.1:4443",
    )
    shown = tenant_id.upper() if upper else tenant_id
    ca = tenant_ca(shown, organization=tenant_name)
    everything = " ".join([tenant_id, tenant_name, email, token, arm_token, subscription, group, catalog, subdomain])
    everything += f" {extra} {id_scope} {hub}"
    arm = f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.AzureSphere/catalogs/{catalog}"
    chain = b64(pkcs7.serialize_certificates([ca], Encoding.DER))
    exchanges = [
        exchange(
            service="sphere-legacy",
            url=f"https://127.0.0.1:4443/v2/tenants/{shown}/cert?note={quote(everything)}",
            request_headers=[("authorization", f"Bearer {token}"), ("x-custom", everything), ("cookie", token)],
            response_headers=[*JSON, ("x-ms-request-id", tenant_id), ("location", f"https://127.0.0.1:4443{arm}")],
            response_body=json.dumps(b64(der(ca))).encode(),
        ),
        exchange(
            service="sphere-arm",
            method="POST",
            url=f"https://127.0.0.1:4443{arm}/certificates/.default/retrieveCertChain",
            request_headers=[("authorization", f"Bearer {arm_token}"), *JSON],
            request_body=json.dumps({everything: [everything, {"deep": shown}], tenant_name: extra}).encode(),
            response_headers=JSON,
            response_body=json.dumps({"certificateChain": chain, "user": email}).encode(),
        ),
        exchange(
            method="PUT",
            url=f"https://127.0.0.1:4443/api/enrollmentGroups/{group}",
            request_headers=[
                ("host", f"{subdomain.lower()}.azureiotcentral.com"),
                ("authorization", f"SharedAccessSignature sr={api_token}&se=1"),
                *JSON,
            ],
            request_body=json.dumps(
                {"certificate": base64.b64encode(ca.public_bytes(Encoding.PEM)).decode(), "note": everything}
            ).encode(),
            response_headers=[("content-type", "text/plain; charset=utf-8")],
            response_body=f"{everything}\nline two {shown}".encode(),
        ),
        exchange(  # the hub is learnt from here, the last exchange: sanitize_all learns before it rewrites
            service="dps",
            url=f"https://global.azure-devices-provisioning.net/{id_scope}/registrations/d/operations/5.x",
            response_headers=JSON,
            response_body=json.dumps({"status": "assigned", "registrationState": {"assignedHub": hub}}).encode(),
        ),
    ]
    sanitizer = Sanitizer.for_session(sess, extra=[extra])
    document = RecordingDocument(
        entries=sanitizer.sanitize_all(exchanges),
        variables=sanitizer.variables({"tenant": tenant_id, "note": everything}),
    )
    text = dumps(document)
    assert len(loads(text).entries) == 4  # the written file reads back
    return text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tenant_id=_GUID,
    subscription=_GUID,
    names=st.lists(_SECRET, min_size=9, max_size=9, unique_by=str.lower),
    upper=st.booleans(),
    hub_name=st.text(alphabet=string.ascii_lowercase + string.digits, min_size=10, max_size=30),
    id_scope=st.text(alphabet="0123456789ABCDEF", min_size=8, max_size=8).map(lambda s: "0ne" + s),
)
@example(  # an ID scope of digits only once looked like a placeholder and stayed in the file
    tenant_id=TENANT,
    subscription=TENANT[::-1],
    names=[f"secret-value-{i}" for i in range(9)],
    upper=False,
    hub_name="a1b2c3d4e5f6",
    id_scope="0ne33698258",
)
def test_no_injected_secret_reaches_the_recording(tenant_id, subscription, names, upper, hub_name, id_scope) -> None:
    hub = f"iotc-{hub_name}.azure-devices.net"
    secrets = [tenant_id, subscription, *names, id_scope, hub, f"iotc-{hub_name}"]
    # A "secret" that a recording of stand-in values contains anyway is a word of the protocol or of a placeholder
    # ("CERTIFICATE", "LS0tLS1CRU" = base64 of "-----BEGIN", "0000000000"): no sanitizer can tell it apart.
    baseline = _recording_carrying(
        "11111111-2222-4333-8444-555555555555", "66666666-7777-4888-9999-aaaaaaaaaaaa", _DUMMIES, upper
    )
    assume(not leaks(baseline, secrets))
    text = _recording_carrying(tenant_id, subscription, names, upper, hub, id_scope)
    assert leaks(text, secrets) == []

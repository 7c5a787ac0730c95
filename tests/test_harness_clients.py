"""The harness's wire clients against respx mocks of the reference wire facts (no fake world needed).

Each test pins one wire fact of the services: URL and query, headers, string-body forms, error shapes (legacy
``PublicApiErrorDetails``, ARM common types, IoT Central's ``error`` object), the ARM claim long-running operation,
retries with Retry-After.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx
from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.clients import (
    ArmError,
    CentralApiError,
    CentralClient,
    CredentialToken,
    OperationFailed,
    RetryPolicy,
    SphereArmClient,
    SphereLegacyClient,
    SphereLegacyError,
    StaticToken,
    TransportFailure,
    UnexpectedResponse,
    certificate_string,
    parse_retry_after,
)

LEGACY = "https://prod.core.sphere.azure.net/v2"
ARM = "https://management.azure.com"
TENANT = "768c2cd6-1bf0-4521-9f53-084a331d81cb"
CATALOG = f"{ARM}/subscriptions/sub/resourceGroups/rg/providers/Microsoft.AzureSphere/catalogs/cat"
CENTRAL = "https://contoso.azureiotcentral.com/api"


@pytest.fixture(scope="module")
def certificate() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Microsoft Azure Sphere " + TENANT)])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


@pytest.fixture
def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def no_sleep() -> tuple[list[float], RetryPolicy]:
    slept: list[float] = []
    return slept, RetryPolicy(sleep=slept.append, jitter=lambda: 0.0)


def legacy(**kwargs) -> SphereLegacyClient:
    return SphereLegacyClient(StaticToken("tok"), retry=kwargs.pop("retry", None) or no_sleep()[1], **kwargs)


# -- Sphere legacy v2 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "content_type"),
    [("json", "application/json; charset=utf-8"), ("text", "text/plain; charset=utf-8"), ("pem", "text/plain")],
)
def test_legacy_cert_accepts_every_string_body_form(der: bytes, certificate, form: str, content_type: str) -> None:
    b64 = base64.b64encode(der).decode()
    body = {
        "json": json.dumps(b64),
        "text": b64,
        "pem": certificate.public_bytes(serialization.Encoding.PEM).decode(),
    }[form]
    with respx.mock:
        route = respx.get(f"{LEGACY}/tenants/{TENANT}/cert").mock(
            return_value=httpx.Response(200, text=body, headers={"Content-Type": content_type})
        )
        assert legacy().get_certificate(TENANT) == der
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == "Bearer tok"
    assert "thumbprint" not in sent.url.params


def test_legacy_proof_passes_code_in_path_and_thumbprint_in_query(der: bytes) -> None:
    with respx.mock:
        route = respx.get(f"{LEGACY}/tenants/{TENANT}/verification/ABC123").mock(
            return_value=httpx.Response(200, json=base64.b64encode(der).decode())
        )
        assert legacy().get_proof(TENANT, "ABC123", thumbprint="A" * 40) == der
    assert route.calls.last.request.url.params["thumbprint"] == "A" * 40


def test_legacy_chain_is_pkcs7_der(certificate) -> None:
    p7b = pkcs7.serialize_certificates([certificate], serialization.Encoding.DER)
    with respx.mock:
        respx.get(f"{LEGACY}/tenants/{TENANT}/certchain").mock(
            return_value=httpx.Response(200, json=base64.b64encode(p7b).decode())
        )
        assert legacy().get_certificate_chain(TENANT) == p7b


def test_legacy_null_body_is_not_found() -> None:
    with respx.mock:
        respx.get(f"{LEGACY}/tenants/{TENANT}/cert").mock(return_value=httpx.Response(200, text="null"))
        with pytest.raises(SphereLegacyError) as caught:
            legacy().get_certificate(TENANT, "B" * 40)
    assert (caught.value.status, caught.value.code) == (404, "NotFound")


def test_legacy_object_body_is_not_a_string_body() -> None:
    with respx.mock:
        respx.get(f"{LEGACY}/tenants/{TENANT}/cert").mock(return_value=httpx.Response(200, json={"x": 1}))
        with pytest.raises(UnexpectedResponse):
            legacy().get_certificate(TENANT)


@pytest.mark.parametrize("as_array", [True, False])
def test_legacy_error_shapes_become_typed_errors(as_array: bool) -> None:
    details = {
        "Type": "about:blank",
        "Title": "Not Found",
        "Status": 404,
        "Detail": "tenant not found",
        "Instance": f"/v2/tenants/{TENANT}",
        "ErrorCode": "NotFound",
        "Extensions": {},
    }
    with respx.mock:
        respx.get(f"{LEGACY}/tenants/{TENANT}/certificates").mock(
            return_value=httpx.Response(404, json=[details] if as_array else details, headers={"x-ms-request-id": "r1"})
        )
        with pytest.raises(SphereLegacyError) as caught:
            legacy().list_certificates(TENANT)
    error = caught.value
    assert (error.status, error.code, error.message, error.request_id) == (404, "NotFound", "tenant not found", "r1")
    assert error.to_dict()["status"] == 404


def test_legacy_certificate_list_accepts_array_and_envelope() -> None:
    entry = {"Certificate": "MIIB", "IsActive": True, "IsRevoked": False, "Thumbprint": "C" * 40}
    with respx.mock:
        respx.get(f"{LEGACY}/tenants/{TENANT}/certificates").mock(
            side_effect=[httpx.Response(200, json=[entry]), httpx.Response(200, json={"Items": [entry]})]
        )
        client = legacy()
        assert client.list_certificates(TENANT) == [entry]
        assert client.active_certificate(TENANT)["Thumbprint"] == "C" * 40


def test_legacy_claim_polls_the_operation_until_complete() -> None:
    device = "a" * 128
    op = {"OperationId": "op1", "OperationType": 0, "State": 0, "TenantId": TENANT}
    with respx.mock:
        claim = respx.put(f"{LEGACY}/tenants/{TENANT}/devices/{device}/claim").mock(
            return_value=httpx.Response(202, json=op)
        )
        respx.get(f"{LEGACY}/tenants/{TENANT}/operations/op1").mock(
            side_effect=[httpx.Response(200, json={**op, "State": 1}), httpx.Response(200, json={**op, "State": 2})]
        )
        slept: list[float] = []
        done = legacy().claim_device_and_wait(TENANT, device, interval_s=0.5, sleep=slept.append)
    assert done["State"] == 2
    assert claim.calls.last.request.content == b""
    assert slept == [0.5]


def test_legacy_failed_operation_raises_with_its_error_response() -> None:
    op = {"OperationId": "op1", "State": 3, "Error": {"Code": 7, "Message": "already claimed"}}
    with respx.mock:
        respx.put(f"{LEGACY}/tenants/{TENANT}/devices/d/claim").mock(return_value=httpx.Response(202, json=op))
        with pytest.raises(OperationFailed) as caught:
            legacy().claim_device_and_wait(TENANT, "d")
    assert (caught.value.status, caught.value.code) == (409, "Conflict")


def test_legacy_device_list_follows_the_continuation_header() -> None:
    with respx.mock:
        route = respx.get(f"{LEGACY}/tenants/{TENANT}/devices").mock(
            side_effect=[
                httpx.Response(200, json={"Items": [{"DeviceId": "1"}], "ContinuationToken": "next"}),
                httpx.Response(200, json={"Items": [{"DeviceId": "2"}], "ContinuationToken": None}),
            ]
        )
        assert [d["DeviceId"] for d in legacy().list_devices(TENANT, page_size=1)] == ["1", "2"]
    assert route.calls[1].request.headers["Sphere-Continuation"] == "next"
    assert route.calls[0].request.url.params["maxPageSize"] == "1"


# -- retries ---------------------------------------------------------------------------------------------------


def test_429_is_retried_after_the_retry_after_seconds() -> None:
    slept, retry = no_sleep()
    with respx.mock:
        route = respx.get(f"{LEGACY}/tenants").mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "7"}),
                httpx.Response(503),
                httpx.Response(200, json=[]),
            ]
        )
        assert legacy(retry=retry).list_tenants() == []
    assert route.call_count == 3
    assert slept == [7.0, 1.0]  # Retry-After honoured; then exponential backoff (0.5 * 2)


def test_retries_are_bounded_and_then_raise_the_last_error() -> None:
    slept, retry = no_sleep()
    retry.attempts = 3
    with respx.mock:
        route = respx.get(f"{LEGACY}/tenants").mock(
            return_value=httpx.Response(429, headers={"Retry-After": "100000"}, json=[{"ErrorCode": "Throttled"}])
        )
        with pytest.raises(SphereLegacyError) as caught:
            legacy(retry=retry).list_tenants()
    assert route.call_count == 3
    assert slept == [60.0, 60.0]  # capped at max_retry_after_s
    assert (caught.value.status, caught.value.code) == (429, "Throttled")


def test_transport_failures_are_retried_only_for_idempotent_methods() -> None:
    slept, retry = no_sleep()
    with respx.mock:
        get = respx.get(f"{LEGACY}/tenants").mock(
            side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=[])]
        )
        assert legacy(retry=retry).list_tenants() == []
        post = respx.post(f"{CENTRAL}/enrollmentGroups/g/certificates/primary/generateVerificationCode").mock(
            side_effect=httpx.ReadError("dropped")
        )
        with pytest.raises(TransportFailure):
            CentralClient(StaticToken("SharedAccessSignature sr=x"), subdomain="contoso", retry=retry)\
                .generate_verification_code("g")  # fmt: skip
    assert get.call_count == 2 and post.call_count == 1
    assert slept == [0.5]


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_retry_after_seconds_round_trip(seconds: float) -> None:
    assert parse_retry_after(repr(seconds)) == seconds


@given(st.integers(min_value=0, max_value=10**6))
def test_retry_after_http_date(offset: int) -> None:
    now = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    header = (now + timedelta(seconds=offset)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(header, now=now) == offset


@settings(max_examples=50)
@given(st.text(max_size=30))
def test_retry_after_never_crashes(text: str) -> None:
    value = parse_retry_after(text)
    assert value is None or value >= 0


# -- ARM -------------------------------------------------------------------------------------------------------


def arm(**kwargs) -> SphereArmClient:
    return SphereArmClient(
        StaticToken("arm"), subscription_id="sub", resource_group="rg", catalog="cat", retry=no_sleep()[1], **kwargs
    )


def test_arm_proof_posts_the_nonce_with_the_api_version(der: bytes) -> None:
    with respx.mock:
        route = respx.post(f"{CATALOG}/certificates/.default/retrieveProofOfPossessionNonce").mock(
            return_value=httpx.Response(200, json={"certificate": base64.b64encode(der).decode(), "status": "Active"})
        )
        assert arm().proof_der(".default", "ABC123") == der
    request = route.calls.last.request
    assert request.url.params["api-version"] == "2024-04-01"
    assert json.loads(request.content) == {"proofOfPossessionNonce": "ABC123"}
    assert request.headers["Authorization"] == "Bearer arm"


def test_arm_chain_accepts_pkcs7_base64_and_pem(certificate) -> None:
    p7b = pkcs7.serialize_certificates([certificate], serialization.Encoding.DER)
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    with respx.mock:
        respx.post(f"{CATALOG}/certificates/.default/retrieveCertChain").mock(
            side_effect=[
                httpx.Response(200, json={"certificateChain": base64.b64encode(p7b).decode()}),
                httpx.Response(200, json={"certificateChain": pem}),
            ]
        )
        client = arm()
        assert client.retrieve_cert_chain() == p7b
        assert pkcs7.load_der_pkcs7_certificates(client.retrieve_cert_chain()) == [certificate]


@pytest.mark.contract_exempt("the hand-made Location has no api-version; the client must follow it as given")
def test_arm_claim_polls_location_until_200() -> None:
    location = f"{ARM}/subscriptions/sub/providers/Microsoft.AzureSphere/locations/global/operationStatuses/o1"
    headers = {"Location": location, "Retry-After": "0"}
    with respx.mock:
        claim = respx.post(f"{CATALOG}/products/.default/deviceGroups/.default/claimDevices").mock(
            return_value=httpx.Response(202, headers=headers)
        )
        poll = respx.get(location).mock(
            side_effect=[httpx.Response(202, headers=headers), httpx.Response(200, json={})]
        )
        slept: list[float] = []
        arm().claim_devices(["a" * 128], default_interval_s=0.25, sleep=slept.append)
    assert json.loads(claim.calls.last.request.content) == {"deviceIdentifiers": ["a" * 128]}
    assert poll.call_count == 2 and slept == [0.0, 0.25]


def test_arm_error_shape() -> None:
    body = {"error": {"code": "ResourceNotFound", "message": "no catalog", "target": None, "details": []}}
    with respx.mock:
        respx.get(f"{CATALOG}/certificates/nope").mock(
            return_value=httpx.Response(404, json=body, headers={"x-ms-request-id": "arm-1"})
        )
        with pytest.raises(ArmError) as caught:
            arm().get_certificate("nope")
    assert (caught.value.status, caught.value.code, caught.value.request_id) == (404, "ResourceNotFound", "arm-1")


# -- IoT Central -----------------------------------------------------------------------------------------------


def central(token: str = "SharedAccessSignature sr=app&sig=s&skn=operator-token&se=1") -> CentralClient:
    return CentralClient(StaticToken(token), subdomain="contoso", retry=no_sleep()[1])


def test_central_workflow_requests_match_the_spec(der: bytes) -> None:
    group = f"{CENTRAL}/enrollmentGroups/azure-sphere"
    with respx.mock:
        put_group = respx.put(group).mock(return_value=httpx.Response(200, json={"id": "azure-sphere"}))
        put_cert = respx.put(f"{group}/certificates/primary").mock(
            return_value=httpx.Response(200, json={"verified": False, "info": {"sha1Thumbprint": "AB"}})
        )
        respx.post(f"{group}/certificates/primary/generateVerificationCode").mock(
            return_value=httpx.Response(200, json={"verificationCode": "CODE"})
        )
        verify = respx.post(f"{group}/certificates/primary/verify").mock(return_value=httpx.Response(204))
        client = central()
        client.create_group("azure-sphere", display_name="Azure Sphere")
        client.set_certificate("azure-sphere", "primary", certificate=certificate_string(der))
        assert client.generate_verification_code("azure-sphere") == "CODE"
        assert client.verify_certificate("azure-sphere", certificate="proof") is None
    assert json.loads(put_group.calls.last.request.content) == {
        "displayName": "Azure Sphere",
        "enabled": True,
        "type": "iot",
        "attestation": {"type": "x509"},
    }
    assert json.loads(put_cert.calls.last.request.content) == {
        "certificate": base64.b64encode(der).decode(),
        "verified": False,
    }
    request = verify.calls.last.request
    assert request.url.params["api-version"] == "2022-07-31"
    assert request.headers["Authorization"].startswith("SharedAccessSignature sr=app")


def test_central_error_shape_and_header_code() -> None:
    body = {"error": {"code": "InvalidProofOfPossession", "message": "CN mismatch", "requestId": "req-9"}}
    with respx.mock:
        respx.post(f"{CENTRAL}/enrollmentGroups/g/certificates/primary/verify").mock(
            return_value=httpx.Response(400, json=body, headers={"x-ms-error-code": "InvalidProofOfPossession"})
        )
        with pytest.raises(CentralApiError) as caught:
            central().verify_certificate("g", certificate="x")
    error = caught.value
    assert (error.status, error.code, error.request_id) == (400, "InvalidProofOfPossession", "req-9")
    assert "CN mismatch" in str(error)


def test_central_host_header_reaches_an_app_by_subdomain_on_another_url() -> None:
    with respx.mock:
        route = respx.get("https://127.0.0.1:9443/api/devices").mock(
            return_value=httpx.Response(200, json={"value": []})
        )
        client = CentralClient(
            StaticToken("t"), base_url="https://127.0.0.1:9443", host_header="contoso.azureiotcentral.com"
        )
        assert client.list_devices() == []
    assert route.calls.last.request.headers["Host"] == "contoso.azureiotcentral.com"


@pytest.mark.contract_exempt("the hand-made nextLink has no api-version; the client must follow it as given")
def test_central_pages_follow_next_link() -> None:
    with respx.mock:
        respx.get(f"{CENTRAL}/enrollmentGroups", params={"api-version": "2022-07-31"}).mock(
            return_value=httpx.Response(
                200, json={"value": [{"id": "a"}], "nextLink": f"{CENTRAL}/enrollmentGroups?x=1"}
            )
        )
        respx.get(f"{CENTRAL}/enrollmentGroups", params={"x": "1"}).mock(
            return_value=httpx.Response(200, json={"value": [{"id": "b"}]})
        )
        assert [g["id"] for g in central().list_groups()] == ["a", "b"]


@pytest.mark.parametrize("encoding", ["der-base64", "pem-base64", "pem"])
def test_certificate_string_forms_decode_back(der: bytes, certificate, encoding: str) -> None:
    text = certificate_string(der, encoding)
    if encoding == "der-base64":
        assert base64.b64decode(text) == der
    elif encoding == "pem-base64":
        assert x509.load_pem_x509_certificate(base64.b64decode(text)) == certificate
    else:
        assert x509.load_pem_x509_certificate(text.encode()) == certificate


# -- auth ------------------------------------------------------------------------------------------------------


def test_static_tokens_get_bearer_unless_they_name_a_scheme() -> None:
    assert StaticToken("abc").header() == "Bearer abc"
    assert StaticToken("SharedAccessSignature sr=1").header() == "SharedAccessSignature sr=1"
    assert "abc" not in repr(StaticToken("abc"))
    with pytest.raises(ValueError):
        StaticToken("  ")


def test_credential_tokens_are_cached_until_near_expiry() -> None:
    now = [1000.0]
    asked: list[str] = []

    class Credential:
        def get_token(self, *scopes: str, **kwargs) -> AccessToken:
            asked.append(scopes[0])
            return AccessToken(f"t{len(asked)}", int(now[0]) + 3600)

    auth = CredentialToken(Credential(), "https://management.azure.com/.default", clock=lambda: now[0])
    assert auth.header() == "Bearer t1"
    now[0] += 3000
    assert auth.header() == "Bearer t1"
    now[0] += 400  # within five minutes of expiry
    assert auth.header() == "Bearer t2"
    assert asked == ["https://management.azure.com/.default"] * 2

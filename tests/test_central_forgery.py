"""Acceptance 2: forged, stale and malformed proofs of possession are refused over HTTP and change nothing.

The arrangement is the Sphere one: enrollment group ``sphere`` holds the tenant CA as ``primary`` and its
successor generation as ``secondary``, each with a current verification code. Every row builds one bad
``verify`` request; the test checks the status, IoT Central's error shape, and that the group etag, the entry
etags, ``verified`` and the current codes are exactly as before. Finally the genuine proof still verifies —
so the refusal did not consume or disturb the code either.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from test_central_world import (
    API,
    START,
    X509_GROUP,
    CentralWorld,
    assert_error,
    b64_der,
    b64_pem,
    client,
    material,
    snapshot,
)

from simulator.central.model import App

GROUP = "/api/enrollmentGroups/sphere"
PRIMARY = GROUP + "/certificates/primary"


@dataclass
class Arranged:
    world: CentralWorld
    app: App
    http: httpx.Client
    code: str  # the primary entry's current code
    secondary_code: str


@dataclass(frozen=True)
class Row:
    """Arrange (may issue requests), then return the verify request: (path, JSON body or raw bytes)."""

    arrange: Callable[[Arranged], tuple[str, Any]]
    status: int
    code: str
    reason: str = ""  # a fragment of the message: which check refused it


def proof_json(signer: Any, code: str, **kwargs: Any) -> dict[str, str]:
    return {"certificate": b64_der(material().proof(signer, code, **kwargs))}


def _stale(a: Arranged) -> tuple[str, Any]:
    stale = a.code
    a.code = a.http.post(PRIMARY + "/generateVerificationCode" + API).json()["verificationCode"]
    return PRIMARY, proof_json(material().tenant, stale)


def _truncated(a: Arranged) -> tuple[str, Any]:
    der = material().proof(material().tenant, a.code).public_bytes(Encoding.DER)
    return PRIMARY, {"certificate": base64.b64encode(der[: len(der) // 2]).decode()}


def _no_code_yet(a: Arranged) -> tuple[str, Any]:
    a.http.put("/api/enrollmentGroups/fresh" + API, json=X509_GROUP)
    a.http.put(
        "/api/enrollmentGroups/fresh/certificates/primary" + API,
        json={"certificate": b64_pem(material().rsa.certificate)},
    )
    return "/api/enrollmentGroups/fresh/certificates/primary", proof_json(material().rsa, "0" * 48)


def _no_certificate(a: Arranged) -> tuple[str, Any]:
    a.http.put("/api/enrollmentGroups/empty" + API, json=X509_GROUP)
    return "/api/enrollmentGroups/empty/certificates/primary", proof_json(material().tenant, a.code)


ROWS: dict[str, Row] = {
    "cn-is-a-wrong-code": Row(
        lambda a: (PRIMARY, proof_json(material().tenant, "F" * 48)), 400, "InvalidProofOfPossession", "subject CN"
    ),
    "cn-in-lower-case": Row(
        lambda a: (PRIMARY, proof_json(material().tenant, a.code.lower())),
        400,
        "InvalidProofOfPossession",
        "subject CN",
    ),
    "stale-code-after-regeneration": Row(_stale, 400, "InvalidProofOfPossession", "subject CN"),
    "the-other-entrys-code": Row(
        lambda a: (PRIMARY, proof_json(material().tenant, a.secondary_code)),
        400,
        "InvalidProofOfPossession",
        "subject CN",
    ),
    "proof-from-another-tenant": Row(
        lambda a: (PRIMARY, proof_json(material().other_tenant, a.code)), 400, "InvalidProofOfPossession", "issued by"
    ),
    "self-made-ca-with-the-tenant-ca-name": Row(
        lambda a: (PRIMARY, proof_json(material().look_alike, a.code)), 400, "InvalidProofOfPossession", "signature"
    ),
    "successor-generation-signs-for-primary": Row(
        lambda a: (PRIMARY, proof_json(material().successor, a.code)), 400, "InvalidProofOfPossession", "signature"
    ),
    "the-ca-certificate-itself": Row(
        lambda a: (PRIMARY, {"certificate": b64_der(material().tenant.certificate)}),
        400,
        "InvalidProofOfPossession",
        "subject CN",
    ),
    "expired-proof": Row(
        lambda a: (PRIMARY, proof_json(material().tenant, a.code, now=START - timedelta(days=2))),
        400,
        "InvalidProofOfPossession",
        "valid from",
    ),
    "not-yet-valid-proof": Row(
        lambda a: (
            PRIMARY,
            proof_json(material().tenant, a.code, now=START + timedelta(hours=1), backdate=timedelta(0)),
        ),
        400,
        "InvalidProofOfPossession",
        "valid from",
    ),
    "verify-before-any-code-exists": Row(_no_code_yet, 400, "VerificationCodeNotFound"),
    "verify-on-an-entry-with-no-certificate": Row(_no_certificate, 404, "NotFound"),
    "truncated-der": Row(_truncated, 400, "InvalidCertificate"),
    "not-base64": Row(lambda a: (PRIMARY, {"certificate": "%%% not base64 %%%"}), 400, "InvalidCertificate"),
    "empty-certificate": Row(lambda a: (PRIMARY, {"certificate": ""}), 400, "InvalidCertificate"),
    "empty-body": Row(lambda a: (PRIMARY, b""), 400, "BadRequest"),
    "no-certificate-member": Row(lambda a: (PRIMARY, {"cert": "x"}), 400, "BadRequest"),
    "one-megabyte-body": Row(lambda a: (PRIMARY, {"certificate": "A" * 1_048_576}), 413, "RequestEntityTooLarge"),
}


@pytest.mark.parametrize("row", list(ROWS))
def test_bad_proofs_are_refused_and_change_nothing(row: str) -> None:
    world = CentralWorld()
    app = world.central.create_app("contoso")
    with client(world, app) as http:
        http.put(GROUP + API, json=X509_GROUP)
        http.put(PRIMARY + API, json={"certificate": b64_pem(material().tenant.certificate)})
        http.put(
            GROUP + "/certificates/secondary" + API, json={"certificate": b64_pem(material().successor.certificate)}
        )
        code = http.post(PRIMARY + "/generateVerificationCode" + API).json()["verificationCode"]
        secondary = http.post(GROUP + "/certificates/secondary/generateVerificationCode" + API).json()
        arranged = Arranged(world, app, http, code, secondary["verificationCode"])

        path, body = ROWS[row].arrange(arranged)
        before = snapshot(app)
        wire_before = http.get("/api/enrollmentGroups" + API).json()
        if isinstance(body, bytes):
            response = http.post(path + "/verify" + API, content=body, headers={"content-type": "application/json"})
        else:
            response = http.post(path + "/verify" + API, json=body)
        error = assert_error(response, ROWS[row].status, ROWS[row].code, world)
        assert ROWS[row].reason in error["message"]
        assert snapshot(app) == before
        assert http.get("/api/enrollmentGroups" + API).json() == wire_before
        assert app.get_certificate("sphere", "primary").verified is False

        genuine = http.post(PRIMARY + "/verify" + API, json=proof_json(material().tenant, arranged.code))
        assert genuine.status_code == 204
        assert http.get(PRIMARY + API).json()["verified"] is True

"""Parity: every shipped recording equals the fake (0 differences), and a recording edited in one place — a status,
an error code, a dropped field, a certificate's CN — shows exactly that one difference; the CLI's exit statuses
and JSON report; what normalisation keeps and what it ignores."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from harness.cli import main
from harness.clients.exchange import Exchange
from harness.recording.normalize import Normaliser
from harness.recording.parity import parity

SHIPPED = Path(__file__).resolve().parent.parent / "recordings"
NAMES = sorted(p.stem for p in SHIPPED.glob("*.json"))


def test_every_live_capable_scenario_has_a_shipped_recording() -> None:
    from harness.recording.shipped import live_capable

    assert sorted(name for name, _ in live_capable()) == NAMES
    assert len(NAMES) >= 6


@pytest.mark.parametrize("name", NAMES)
def test_every_shipped_recording_equals_the_fake(name: str, tmp_path: Path) -> None:
    report = parity(SHIPPED / f"{name}.json", workdir=tmp_path)
    assert report.equal, report.text()
    assert report.fake_outcome == "passed" and len(report.exchanges) >= 8


def edited(tmp_path: Path, name: str, edit: Any) -> Path:
    """A copy of a shipped recording with ``edit(entries)`` applied to its entries."""
    target = tmp_path / f"{name}.json"
    shutil.copy(SHIPPED / f"{name}.json", target)
    data = json.loads(target.read_text())
    edit(data["Entries"])
    target.write_text(json.dumps(data, indent=2))
    return target


def entry(entries: list[dict[str, Any]], method: str, path_end: str, nth: int = 0) -> dict[str, Any]:
    found = [e for e in entries if e["RequestMethod"] == method and e["RequestUri"].split("?")[0].endswith(path_end)]
    return found[nth]


def only_difference(report: Any) -> tuple[str, Any, Any]:
    (exchange,) = report.differences
    (difference,) = exchange.differences
    return difference.path, difference.recorded, difference.fake


def test_an_edited_status_is_exactly_the_difference(tmp_path: Path) -> None:
    def edit(entries: list[dict[str, Any]]) -> None:
        entry(entries, "POST", "/verify")["StatusCode"] = 200  # the real service said 200, the fake says 204

    report = parity(edited(tmp_path, "enable-trust", edit), workdir=tmp_path / "w")
    assert only_difference(report) == ("status", 200, 204)
    assert report.differences[0].request.endswith("/certificates/primary/verify?api-version=2022-07-31")


def test_an_edited_error_code_is_exactly_the_difference(tmp_path: Path) -> None:
    def edit(entries: list[dict[str, Any]]) -> None:
        refusal = entry(entries, "POST", "/verify", nth=0)
        assert refusal["StatusCode"] == 400
        refusal["ResponseBody"]["error"]["code"] = "InvalidCertificate"

    report = parity(edited(tmp_path, "wrong-verification-code", edit), workdir=tmp_path / "w")
    assert only_difference(report) == ("body.error.code", "InvalidCertificate", "InvalidProofOfPossession")


def test_a_dropped_field_is_exactly_the_difference(tmp_path: Path) -> None:
    def edit(entries: list[dict[str, Any]]) -> None:
        del entry(entries, "PUT", "/certificates/primary")["ResponseBody"]["etag"]

    report = parity(edited(tmp_path, "enable-trust", edit), workdir=tmp_path / "w")
    assert only_difference(report) == ("body.etag", "missing", "<string>")


def test_a_changed_certificate_cn_is_exactly_the_difference(tmp_path: Path) -> None:
    def edit(entries: list[dict[str, Any]]) -> None:
        proof = entry(entries, "GET", "/verification/" + _code(entries))
        original = x509.load_der_x509_certificate(base64.b64decode(json.loads(proof["ResponseBody"])))
        proof["ResponseBody"] = json.dumps(base64.b64encode(_with_cn(original, "NOT-THE-CODE")).decode())

    report = parity(edited(tmp_path, "enable-trust", edit), workdir=tmp_path / "w")
    path, recorded, fake = only_difference(report)
    assert path == "body.certificate.subject_cn" and recorded == "NOT-THE-CODE" and fake.startswith("{hex#")


def _code(entries: list[dict[str, Any]]) -> str:
    return entry(entries, "POST", "/generateVerificationCode")["ResponseBody"]["verificationCode"]


def _with_cn(original: x509.Certificate, cn: str) -> bytes:
    """``original`` re-issued with another subject CN: same issuer name, key type, validity and extensions."""
    key = ec.generate_private_key(original.public_key().curve)  # type: ignore[union-attr]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(original.issuer)
        .public_key(key.public_key())
        .serial_number(original.serial_number)
        .not_valid_before(original.not_valid_before_utc)
        .not_valid_after(original.not_valid_after_utc)
    )
    for extension in original.extensions:
        if extension.oid != x509.ExtensionOID.AUTHORITY_KEY_IDENTIFIER:
            builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def test_the_cli_exits_0_equal_1_different_2_bad_and_writes_a_json_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "parity.json"
    assert main(["parity", str(SHIPPED / "enable-trust.json"), "--report-json", str(report)]) == 0
    assert "EQUAL: 8 exchange(s) compared, no difference" in capsys.readouterr().out
    assert json.loads(report.read_text())["equal"] is True

    def edit(entries: list[dict[str, Any]]) -> None:
        entry(entries, "POST", "/verify")["StatusCode"] = 202

    changed = edited(tmp_path, "enable-trust", edit)
    assert main(["parity", str(changed), "--report-json", str(report)]) == 1
    out = capsys.readouterr().out
    assert (
        "exchange 7 (step 9): POST https://{id}.azureiotcentral.com/api/enrollmentGroups/{prefix}azure-sphere/" in out
    )
    assert "    status: recorded 202, fake 204" in out
    assert "DIFFERENT: 1 of 8 exchange(s) compared differ" in out
    document = json.loads(report.read_text())
    assert document["equal"] is False
    differing = [e for e in document["recordings"][0]["exchanges"] if not e["equal"]]
    assert differing == [
        {
            "request": differing[0]["request"],
            "recorded_entry": 7,
            "fake_exchange": 7,
            "step": 8,
            "equal": False,
            "differences": [{"path": "status", "recorded": 202, "fake": 204}],
        }
    ]
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["parity", str(bad)]) == 2
    assert "expected a test-proxy recording" in capsys.readouterr().err


def test_an_exchange_only_one_side_made_does_not_shift_the_rest(tmp_path: Path) -> None:
    def edit(entries: list[dict[str, Any]]) -> None:
        extra = dict(entries[0])  # the real service needed a second tenant listing
        entries.insert(1, extra)

    report = parity(edited(tmp_path, "enable-trust", edit), workdir=tmp_path / "w")
    assert only_difference(report) == ("exchange", "made", "not made")


def test_normalisation_keeps_what_must_agree_and_drops_what_is_random() -> None:
    def exchange(body: dict[str, Any], url: str, **headers: str) -> Exchange:
        response = [("content-type", "application/json; charset=utf-8"), *headers.items()]
        return Exchange(
            "central", "GET", url, status=200, response_headers=response, response_body=json.dumps(body).encode()
        )

    left = Normaliser(run_prefix="sh-1-")
    a = left.exchange(
        exchange(
            {"id": "sh-1-g", "enabled": True, "type": "iot", "count": 3, "when": "2026-01-05T09:00:00Z",
             "requestId": "00000000-0000-0000-0000-c00000000001", "error": {"code": "NotFound", "message": "x"}},
            "https://app-sanitized-1.azureiotcentral.com/api/enrollmentGroups/sh-1-g?api-version=2022-07-31",
            etag="abc",
        )
    )  # fmt: skip
    assert a["request"] == "GET https://{id}.azureiotcentral.com/api/enrollmentGroups/{prefix}g?api-version=2022-07-31"
    assert a["body"] == {
        "id": "{prefix}g", "enabled": True, "type": "iot", "count": "<int>", "when": "<datetime>",
        "requestId": "{id}", "error": {"code": "NotFound", "message": "<string>"},
    }  # fmt: skip
    assert a["headers"] == {
        "content-type": "application/json", "location": None, "x-ms-error-code": None, "retry-after": False,
        "etag": True,
    }  # fmt: skip

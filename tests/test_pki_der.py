"""The hand-written DER reads and writes (simulator/pki/der.py) agree with ``cryptography``'s encoder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from simulator import pki
from simulator.entropy import Entropy
from simulator.pki import der

NOW = datetime(2026, 11, 29, tzinfo=UTC)
_ENTROPY = Entropy(21)
ROOT = pki.make_root_ca(_ENTROPY, NOW)
POLICY = pki.make_policy_ca(ROOT, _ENTROPY, NOW)
TENANT_CA = pki.make_tenant_ca(POLICY, "d6a1c2b4-1bf0-4521-9f53-084a331d81cb", _ENTROPY, NOW)


@pytest.mark.parametrize("certificate", [ROOT.certificate, POLICY.certificate, TENANT_CA.certificate])
def test_tbs_names_are_the_names_cryptography_encodes(certificate: x509.Certificate) -> None:
    issuer, subject = der.tbs_names(certificate.tbs_certificate_bytes)
    assert issuer == certificate.issuer.public_bytes()
    assert subject == certificate.subject.public_bytes()


def test_tbs_names_of_a_long_cn_leaf() -> None:
    """A 128-character CN makes the subject's length two octets long (0x81 …)."""
    key = Entropy(1).ec_private_key(ec.SECP256R1())
    leaf = pki.make_device_certificate(TENANT_CA, "f" * 128, key.public_key(), Entropy(2), NOW)
    issuer, subject = der.tbs_names(leaf.tbs_certificate_bytes)
    assert issuer == TENANT_CA.certificate.subject.public_bytes()
    assert subject == pki.cn_name("f" * 128).public_bytes()


@pytest.mark.parametrize("garbage", [b"", b"\x02\x01\x01", b"\x30\x05\x02\x01", b"\x30\x82\xff\xff\x00"])
def test_truncated_or_wrong_input_is_a_der_error(garbage: bytes) -> None:
    with pytest.raises(der.DerError):
        der.tbs_names(garbage)


@given(st.integers(min_value=0, max_value=70_000))
def test_lengths_round_trip_through_element_end(size: int) -> None:
    header = bytes((der.OCTET_STRING,)) + der.length(size)
    assert len(header) == (2 if size < 0x80 else 3 if size < 0x100 else 4 if size < 0x10000 else 5)
    assert der.element_end(header + b"\x00" * size, 0) == (len(header), len(header) + size)
    assert der.tlv(der.OCTET_STRING, b"\x00" * size) == header + b"\x00" * size


@given(st.integers(min_value=1, max_value=2**159 - 1), st.integers(min_value=0, max_value=86400 * 365 * 60))
def test_serials_and_times_match_the_builder(serial: int, seconds: int) -> None:
    moment = datetime(1990, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(pki.cn_name("x"))
        .issuer_name(pki.cn_name("x"))
        .public_key(ROOT.private_key.public_key())
        .serial_number(serial)
        .not_valid_before(moment)
        .not_valid_after(moment)
        .sign(ROOT.private_key, hashes.SHA384())
    )
    tbs = certificate.tbs_certificate_bytes
    assert der.serial_integer(serial) in tbs
    assert der.tlv(der.SEQUENCE, der.time(moment) + der.time(moment)) in tbs

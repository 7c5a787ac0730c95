"""The leaf template issues the very bytes ``CertificateBuilder`` issues (simulator/pki/leaf_template.py).

With deterministic ECDSA (RFC 6979) the same key and the same to-be-signed bytes give the same signature, so the
fast path and the builder path must agree on the whole DER — serial, dates (UTCTime and GeneralizedTime), a CN of
any length or script, P-256 and P-384 issuers, with and without clientAuth.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from simulator import pki
from simulator.entropy import Entropy
from simulator.pki.leaf_template import LeafTemplate

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
_ENTROPY = Entropy(11)
ROOT = pki.make_root_ca(_ENTROPY, NOW)  # P-384, valid 30 years: reaches past 2050 (GeneralizedTime)
POLICY = pki.make_policy_ca(ROOT, _ENTROPY, NOW)
TENANT_CA = pki.make_tenant_ca(POLICY, "768c2cd6-1bf0-4521-9f53-084a331d81cb", _ENTROPY, NOW)  # P-256
SUBJECT_KEYS = [_ENTROPY.ec_private_key(curve).public_key() for curve in (ec.SECP256R1(), ec.SECP384R1())]

common_names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=128)
serials = st.integers(min_value=1, max_value=2**159 - 1)


def _both(issuer: pki.Issuer, cn: str, key, not_before: datetime, lifetime: timedelta, serial: int, client_auth):
    common = {"public_key": key, "not_before": not_before, "not_after": not_before + lifetime, "serial": serial}
    built = issuer.sign(subject=pki.cn_name(cn), client_auth=client_auth, **common)
    templated = issuer.sign_leaf(common_name=cn, client_auth=client_auth, **common)
    return built, templated


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    cn=common_names,
    serial=serials,
    offset=st.integers(min_value=0, max_value=700 * 86400),
    microsecond=st.integers(min_value=0, max_value=999_999),
    lifetime=st.integers(min_value=0, max_value=3 * 86400),
    client_auth=st.booleans(),
    issuer=st.sampled_from([TENANT_CA, POLICY]),
    key=st.sampled_from(SUBJECT_KEYS),
)
# 17 characters outside the BMP: 68 UTF-8 bytes, over cryptography's 64-byte bound though under 64 characters
@example(
    cn="\U00010000" * 17,
    serial=1,
    offset=0,
    microsecond=0,
    lifetime=60,
    client_auth=False,
    issuer=TENANT_CA,
    key=SUBJECT_KEYS[0],
)
def test_template_and_builder_issue_identical_der(
    cn, serial, offset, microsecond, lifetime, client_auth, issuer, key
) -> None:
    not_before = NOW + timedelta(seconds=offset, microseconds=microsecond)
    built, templated = _both(issuer, cn, key, not_before, timedelta(seconds=lifetime), serial, client_auth)
    assert pki.to_der(templated) == pki.to_der(built)
    assert pki.is_issued_by(templated, issuer.certificate)
    assert pki.get_common_name(templated) == cn


def test_generalized_time_after_2049_and_the_cap_at_the_issuers_expiry() -> None:
    """From 2050 on, RFC 5280 dates are GeneralizedTime; notAfter never outlives the issuer."""
    late = datetime(2051, 3, 4, 5, 6, 7, tzinfo=UTC)
    built, templated = _both(ROOT, "late", SUBJECT_KEYS[0], late, timedelta(days=365 * 40), 77, True)
    assert pki.to_der(templated) == pki.to_der(built)
    assert templated.not_valid_before_utc == late
    assert templated.not_valid_after_utc == ROOT.certificate.not_valid_after_utc


def test_the_device_profile_goes_through_the_template() -> None:
    """``make_device_certificate`` uses the fast path and still yields the device profile (extensions included)."""
    key = SUBJECT_KEYS[0]
    device_id = "ab" * 64
    certificate = pki.make_device_certificate(TENANT_CA, device_id, key, Entropy(3), NOW)
    assert TENANT_CA._leaf_templates[True] is not None
    extensions = [e.oid for e in certificate.extensions]
    assert extensions == [
        x509.oid.ExtensionOID.BASIC_CONSTRAINTS,
        x509.oid.ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        x509.oid.ExtensionOID.KEY_USAGE,
        x509.oid.ExtensionOID.EXTENDED_KEY_USAGE,
        x509.oid.ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ]
    ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key)
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == pki.DEVICE_CERT_LIFETIME


def test_an_rsa_subject_key_falls_back_to_the_builder() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    built, templated = _both(TENANT_CA, "rsa subject", rsa_key, NOW, timedelta(hours=1), 5, False)
    assert pki.to_der(templated) == pki.to_der(built)


def test_bad_input_is_refused_like_the_builder_refuses_it() -> None:
    template = LeafTemplate(TENANT_CA, client_auth=False)
    common = {"public_key": SUBJECT_KEYS[0], "serial": 1}
    with pytest.raises(ValueError, match="after the not valid before"):
        template.sign(common_name="x", not_before=NOW, not_after=NOW - timedelta(seconds=1), **common)
    with pytest.raises(ValueError, match="after the not valid before"):
        TENANT_CA.sign(subject=pki.cn_name("x"), not_before=NOW, not_after=NOW - timedelta(seconds=1), **common)
    with pytest.raises(ValueError, match="empty"):
        template.sign(common_name="", not_before=NOW, not_after=NOW, **common)
    for serial in (0, -1, 2**159):
        with pytest.raises(ValueError, match="positive and at most 159 bits"):
            template.sign(common_name="x", not_before=NOW, not_after=NOW, public_key=SUBJECT_KEYS[0], serial=serial)
    rsa_issuer = pki.Issuer(TENANT_CA.certificate, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(TypeError, match="EC issuer"):
        LeafTemplate(rsa_issuer, client_auth=False)

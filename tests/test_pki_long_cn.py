"""Pins the behaviour of the pinned ``cryptography``: a 128-character CN (a Sphere device ID) is over RFC
5280's bound of 64, refused by the public API, accepted with the private ``_validate=False`` plus a warning, and
kept whole by the parser. If an upgrade changes any of this, these tests fail before the fakes misbehave.
"""

from __future__ import annotations

import contextlib
import warnings
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from simulator import pki
from simulator.entropy import Entropy
from simulator.pki.names import LONG_CN_WARNING

DEVICE_ID = "0123456789abcdef" * 8
NOW = datetime(2026, 11, 29, tzinfo=UTC)


def test_public_api_refuses_a_128_character_cn() -> None:
    with pytest.raises(ValueError, match="length"):
        x509.NameAttribute(NameOID.COMMON_NAME, DEVICE_ID)


def test_private_switch_accepts_it_with_a_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attribute = x509.NameAttribute(NameOID.COMMON_NAME, DEVICE_ID, _validate=False)
    assert attribute.value == DEVICE_ID
    assert any(issubclass(w.category, UserWarning) and "64" in str(w.message) for w in caught)
    assert "64" in LONG_CN_WARNING


def test_our_pki_builds_and_parses_a_128_character_cn_certificate() -> None:
    entropy = Entropy(3)
    root = pki.make_root_ca(entropy, NOW)
    policy = pki.make_policy_ca(root, entropy, NOW)
    tenant_ca = pki.make_tenant_ca(policy, "768c2cd6-1bf0-4521-9f53-084a331d81cb", entropy, NOW)
    key = entropy.ec_private_key(ec.SECP256R1())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # our builder hides the one expected warning, nothing else
        certificate = pki.make_device_certificate(tenant_ca, DEVICE_ID, key.public_key(), entropy, NOW)
    parsed = pki.load_der(pki.to_der(certificate))
    assert pki.get_common_name(parsed.subject) == DEVICE_ID
    assert len(pki.get_common_name(parsed.subject)) == 128
    assert pki.is_issued_by(parsed, tenant_ca.certificate)


def test_64_characters_still_go_through_the_public_api() -> None:
    attribute = pki.common_name_attribute("a" * 64)
    assert attribute.value == "a" * 64
    with pytest.raises(ValueError):
        pki.common_name_attribute("")


def _device_certificate() -> x509.Certificate:
    """Freshly parsed and never read: its subject Name is built (and would warn) on first access."""
    entropy = Entropy(5)
    root = pki.make_root_ca(entropy, NOW)
    key = entropy.ec_private_key(ec.SECP256R1())
    issued = pki.make_device_certificate(root, DEVICE_ID, key.public_key(), entropy, NOW)
    return x509.load_der_x509_certificate(pki.to_der(issued))


def test_reading_a_long_cn_is_quiet_even_where_warnings_are_errors() -> None:
    """Under ``-W error`` (pytest's own filters included) every name read still hides exactly that warning."""
    from simulator.pki.names import long_cn_quiet

    certificate = _device_certificate()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not isinstance(long_cn_quiet(), type(contextlib.nullcontext()))  # ours is not first: a real block
        assert pki.get_common_name(certificate) == DEVICE_ID  # the certificate: its subject is read quietly too
        assert pki.subject_string(_device_certificate()) == f"CN={DEVICE_ID}"
        assert pki.issuer_string(certificate) == "CN=Azure Sphere Root CA (simulated), O=Sphere Harness"
        with pytest.raises(UserWarning, match="64"):  # outside our helpers the warning is still an error
            x509.NameAttribute(NameOID.COMMON_NAME, DEVICE_ID, _validate=False)


def test_with_the_process_filter_first_no_block_is_needed() -> None:
    """The fast path: when the filter installed on import is first, the warning is ignored already."""
    from simulator.pki.names import long_cn_quiet

    certificate = _device_certificate()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=LONG_CN_WARNING, category=UserWarning)
        assert isinstance(long_cn_quiet(), type(contextlib.nullcontext()))
        assert pki.get_common_name(certificate.subject) == DEVICE_ID  # even a bare .subject read is quiet
        warnings.filterwarnings("error", message="unrelated")  # something else goes in front: back to a block
        assert not isinstance(long_cn_quiet(), type(contextlib.nullcontext()))
        assert pki.get_common_name(_device_certificate()) == DEVICE_ID

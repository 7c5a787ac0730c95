"""PKI encodings and proofs as properties (acceptance 6).

Every certificate the Sphere service hands out travels as DER, PEM, base64 and PKCS#7;
each must round-trip exactly. A proof for *any* verification code IoT Central might generate must carry that code
as its CN and verify under the tenant CA's key. And whatever bytes a client uploads, the readers answer
:class:`~simulator.pki.CertificateFormatError` — never a stray ``ValueError`` from deep inside a parser.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import pki
from simulator.entropy import Entropy

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def chain() -> dict[str, object]:
    entropy = Entropy(11)
    root = pki.make_root_ca(entropy, NOW)
    policy = pki.make_policy_ca(root, entropy, NOW)
    tenant_ca = pki.make_tenant_ca(policy, "768c2cd6-1bf0-4521-9f53-084a331d81cb", entropy, NOW)
    device_key = entropy.ec_private_key(pki.profiles.ec.SECP256R1())
    device = pki.make_device_certificate(tenant_ca, "ab" * 64, device_key.public_key(), entropy, NOW)
    return {"root": root, "policy": policy, "tenant_ca": tenant_ca, "device": device, "entropy": entropy}


def all_certificates(chain: dict[str, object]) -> list:
    return [chain["device"], chain["tenant_ca"].certificate, chain["policy"].certificate, chain["root"].certificate]


def test_every_profile_round_trips_through_every_encoding(chain) -> None:
    for cert in all_certificates(chain):
        der = pki.to_der(cert)
        assert pki.load_der(der) == cert
        assert pki.load_pem(pki.to_pem(cert)) == cert
        assert pki.load_certificate(der) == cert
        assert pki.load_certificate(pki.to_pem(cert)) == cert
        assert pki.b64_to_certificate(pki.to_b64(cert)) == cert
        assert pki.load_certificate_string(pki.to_b64(cert)) == cert
        assert pki.load_certificate_string(base64.b64encode(pki.to_pem(cert)).decode()) == cert


@HYPOTHESIS
@given(order=st.permutations(range(4)), size=st.integers(1, 4))
def test_p7b_keeps_the_certificates_and_pem_keeps_their_order(chain, order: list[int], size: int) -> None:
    """PKCS#7 holds a DER ``SET OF`` certificates, which DER sorts: a ``.p7b`` keeps *which* certificates, not
    their order, so chain readers must sort by issuer. PEM concatenation keeps the order."""
    certs = [all_certificates(chain)[i] for i in order[:size]]
    ders = sorted(pki.to_der(c) for c in certs)
    assert sorted(pki.to_der(c) for c in pki.p7b_to_chain(pki.chain_to_p7b(certs))) == ders
    decoded = pki.b64_to_p7b_chain(base64.b64encode(pki.chain_to_p7b(certs)).decode())
    assert sorted(pki.to_der(c) for c in decoded) == ders
    assert pki.load_pem_chain(pki.chain_to_pem(certs)) == certs


codes = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=64),
    st.text(alphabet="0123456789abcdef", min_size=128, max_size=128),
    st.text(alphabet="0123456789ABCDEF", min_size=48, max_size=48),
)


@HYPOTHESIS
@given(code=codes)
def test_proof_for_any_code_parses_and_verifies_under_the_tenant_ca(chain, code: str) -> None:
    tenant_ca = chain["tenant_ca"]
    proof = pki.make_proof_certificate(tenant_ca, code, chain["entropy"], NOW)
    parsed = pki.load_der(pki.to_der(proof))
    assert pki.get_common_name(parsed.subject) == code
    assert pki.is_signed_by(parsed, tenant_ca.certificate.public_key())
    assert pki.is_issued_by(parsed, tenant_ca.certificate)
    assert not pki.is_signed_by(parsed, chain["policy"].certificate.public_key())
    assert pki.is_valid_at(parsed, NOW)


def assert_format_error(data: bytes) -> None:
    """Each reader either parses ``data`` or raises CertificateFormatError; any other exception fails the test."""
    for reader in (pki.load_der, pki.load_certificate, pki.p7b_to_chain, pki.load_pem_chain):
        try:
            reader(data)
        except pki.CertificateFormatError:
            continue


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_only_ever_raise_certificate_format_error(data: bytes) -> None:
    assert_format_error(data)
    try:
        pki.load_certificate_string(data.decode("latin-1"))
    except pki.CertificateFormatError:
        pass


@HYPOTHESIS
@given(data=st.data())
def test_mutated_real_der_only_ever_raises_certificate_format_error(chain, data) -> None:
    der = pki.to_der(data.draw(st.sampled_from(all_certificates(chain))))
    kind = data.draw(st.sampled_from(["truncate", "flip", "append", "splice"]))
    if kind == "truncate":
        mutated = der[: data.draw(st.integers(0, len(der) - 1))]
    elif kind == "flip":
        index = data.draw(st.integers(0, len(der) - 1))
        bit = data.draw(st.integers(0, 7))
        mutated = der[:index] + bytes([der[index] ^ (1 << bit)]) + der[index + 1 :]
    elif kind == "append":
        mutated = der + data.draw(st.binary(min_size=1, max_size=8))
    else:
        index = data.draw(st.integers(0, len(der) - 1))
        mutated = der[:index] + data.draw(st.binary(min_size=1, max_size=8)) + der[index:]
    try:
        parsed = pki.load_der(mutated)
    except pki.CertificateFormatError:
        return
    # a flipped bit inside the signature or a name can still be a well-formed certificate, byte for byte
    assert pki.to_der(parsed) == mutated
    if kind == "flip":
        assert mutated != der


def test_truncations_and_trailing_bytes_are_format_errors(chain) -> None:
    der = pki.to_der(chain["device"])
    for cut in (0, 1, 10, len(der) // 2, len(der) - 1):
        with pytest.raises(pki.CertificateFormatError):
            pki.load_der(der[:cut])
    with pytest.raises(pki.CertificateFormatError):
        pki.load_der(der + b"\x00")
    with pytest.raises(pki.CertificateFormatError):
        pki.b64_to_certificate("not base64 at all!")
    with pytest.raises(pki.CertificateFormatError):
        pki.p7b_to_chain(der)

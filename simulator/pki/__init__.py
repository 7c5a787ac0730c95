"""The Sphere PKI: certificate profiles, encodings and the checks the services apply.

A tiny, obvious API in the spirit of ``trustme``::

    from simulator import pki
    from simulator.entropy import Entropy

    e = Entropy(seed=1)
    root = pki.make_root_ca(e, now)
    policy = pki.make_policy_ca(root, e, now)
    tenant_ca = pki.make_tenant_ca(policy, tenant_id, e, now)
    proof = pki.make_proof_certificate(tenant_ca, "75B86466…", e, now)
    assert pki.is_signed_by(proof, tenant_ca.certificate.public_key())
"""

from simulator.pki.checks import (
    chain_to_anchor,
    is_issued_by,
    is_signed_by,
    is_valid_at,
    issued_by,
    issuer_der,
    proven_links,
    serial_hex,
    subject_der,
    thumbprint,
    walk_to_anchor,
)
from simulator.pki.encoding import (
    CertificateFormatError,
    PKIError,
    b64_to_certificate,
    b64_to_p7b_chain,
    chain_to_p7b,
    chain_to_pem,
    load_certificate,
    load_certificate_string,
    load_der,
    load_pem,
    load_pem_chain,
    p7b_to_chain,
    to_b64,
    to_der,
    to_pem,
)
from simulator.pki.names import (
    cn_name,
    common_name_attribute,
    get_common_name,
    issuer_string,
    subject_string,
    tenant_ca_name,
)
from simulator.pki.profiles import (
    DEVICE_CERT_LIFETIME,
    PROOF_LIFETIME,
    TENANT_CA_LIFETIME,
    Issuer,
    make_device_certificate,
    make_policy_ca,
    make_proof_certificate,
    make_root_ca,
    make_self_signed_ca,
    make_tenant_ca,
)

__all__ = [
    "DEVICE_CERT_LIFETIME",
    "PROOF_LIFETIME",
    "TENANT_CA_LIFETIME",
    "CertificateFormatError",
    "Issuer",
    "PKIError",
    "b64_to_certificate",
    "b64_to_p7b_chain",
    "chain_to_anchor",
    "chain_to_p7b",
    "chain_to_pem",
    "cn_name",
    "common_name_attribute",
    "get_common_name",
    "is_issued_by",
    "is_signed_by",
    "is_valid_at",
    "issued_by",
    "issuer_der",
    "issuer_string",
    "load_certificate",
    "load_certificate_string",
    "load_der",
    "load_pem",
    "load_pem_chain",
    "make_device_certificate",
    "make_policy_ca",
    "make_proof_certificate",
    "make_root_ca",
    "make_self_signed_ca",
    "make_tenant_ca",
    "p7b_to_chain",
    "proven_links",
    "serial_hex",
    "subject_der",
    "subject_string",
    "tenant_ca_name",
    "thumbprint",
    "to_b64",
    "to_der",
    "to_pem",
    "walk_to_anchor",
]

"""The signing rules every Sphere certificate follows: which digest a key signs with and the key usages.

Both ways of issuing a certificate use them — :mod:`simulator.pki.profiles` (``cryptography``'s builder) and
:mod:`simulator.pki.leaf_template` (the pre-encoded end-entity template) — so they live here, below both.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    """The key usages these profiles use: signing data, and/or signing certificates and CRLs (a CA)."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def hash_for(key: PrivateKey) -> hashes.HashAlgorithm:
    """The digest a key signs certificates with: SHA-384 for P-384 and larger curves, SHA-256 otherwise."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()

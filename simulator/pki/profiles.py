"""Certificate profiles of the Sphere chain, issued the way the real security service issues them.

::

    Azure Sphere root CA          EC P-384, self-signed                      (simulated name, ``pki.root_common_name``)
     └─ policy CA                 EC P-384, ecdsa-with-SHA384, pathlen 1
         └─ tenant CA generation  EC P-256, ecdsa-with-SHA384, pathlen 0, 2 years,
            │                     C=US, ST=Washington, L=Redmond, O=Microsoft Corporation,
            │                     CN=Microsoft Azure Sphere <tenantId>
            ├─ device certificate EC P-256 (the device's own key), CN=<128-hex device id>, 24 hours
            └─ proof certificate  fresh EC P-256 key, CN=<verification code>, 24 hours (``pki.proof_hours``)

An :class:`Issuer` pairs a certificate with its private key — like ``trustme.CA`` — and issues the next
certificate down. Signature algorithm follows the signing key's curve; extensions (basic constraints, key usages)
are chosen so that OpenSSL can build and verify the chain and accept device certificates for TLS client authentication.
All dates come from the caller (the world's clock), all randomness from an :class:`~simulator.entropy.Entropy`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from simulator.entropy import Entropy
from simulator.pki.encoding import to_der, to_pem
from simulator.pki.leaf_template import LeafTemplate
from simulator.pki.names import cn_name, simulated_name, tenant_ca_name
from simulator.pki.signing import PrivateKey, hash_for, key_usage

__all__ = [
    "DEVICE_CERT_LIFETIME",
    "PROOF_BACKDATE",
    "PROOF_LIFETIME",
    "TENANT_CA_LIFETIME",
    "Issuer",
    "PrivateKey",
    "hash_for",
    "key_usage",
    "make_device_certificate",
    "make_policy_ca",
    "make_proof_certificate",
    "make_root_ca",
    "make_self_signed_ca",
    "make_tenant_ca",
]

TENANT_CA_LIFETIME = timedelta(days=730)
DEVICE_CERT_LIFETIME = timedelta(hours=24)
PROOF_LIFETIME = timedelta(hours=24)
PROOF_BACKDATE = timedelta(minutes=5)


@dataclass(frozen=True)
class Issuer:
    """A certificate together with its private key: something that can sign further certificates."""

    certificate: x509.Certificate
    private_key: PrivateKey

    @property
    def private_key_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def cert_pem(self) -> bytes:
        return to_pem(self.certificate)

    @property
    def cert_der(self) -> bytes:
        return to_der(self.certificate)

    @functools.cached_property
    def authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        """The AKI extension of every certificate this issuer signs (a SHA-1 of its key: computed once)."""
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(self.private_key.public_key())

    @functools.cached_property
    def _leaf_templates(self) -> dict[bool, LeafTemplate]:
        return {}

    def sign_leaf(
        self,
        *,
        common_name: str,
        public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
        not_before: datetime,
        not_after: datetime,
        serial: int,
        client_auth: bool = False,
    ) -> x509.Certificate:
        """Issue an end-entity certificate ``CN=<common_name>``: the same bytes as :meth:`sign` with
        ``subject=cn_name(common_name)``, made from a per-issuer template when both keys are EC (twice as fast,
        which is what a 10⁵-device rollout from one tenant CA needs; see :mod:`simulator.pki.leaf_template`)."""
        fields = {"public_key": public_key, "not_before": not_before, "not_after": not_after, "serial": serial}
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey) and isinstance(
            public_key, ec.EllipticCurvePublicKey
        ):
            template = self._leaf_templates.get(client_auth)
            if template is None:
                template = self._leaf_templates[client_auth] = LeafTemplate(self, client_auth=client_auth)
            return template.sign(common_name=common_name, **fields)
        return self.sign(subject=cn_name(common_name), client_auth=client_auth, **fields)

    def sign(
        self,
        *,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
        not_before: datetime,
        not_after: datetime,
        serial: int,
        ca_path_length: int | bool | None = False,
        client_auth: bool = False,
    ) -> x509.Certificate:
        """Issue a certificate under this issuer. ``ca_path_length=False`` makes an end-entity certificate."""
        not_after = min(not_after, self.certificate.not_valid_after_utc)
        return _build(
            subject=subject,
            issuer_name=self.certificate.subject,
            public_key=public_key,
            signing_key=self.private_key,
            issuer_public_key=self.private_key.public_key(),
            authority_key_identifier=self.authority_key_identifier,
            not_before=not_before,
            not_after=not_after,
            serial=serial,
            ca_path_length=ca_path_length,
            client_auth=client_auth,
        )


def _build(
    *,
    subject: x509.Name,
    issuer_name: x509.Name,
    public_key,
    signing_key: PrivateKey,
    issuer_public_key,
    not_before: datetime,
    not_after: datetime,
    serial: int,
    ca_path_length: int | bool | None,
    client_auth: bool = False,
    authority_key_identifier: x509.AuthorityKeyIdentifier | None = None,
) -> x509.Certificate:
    is_ca = ca_path_length is not False
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=ca_path_length if is_ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if is_ca:
        builder = builder.add_extension(
            key_usage(cert_sign=True),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            key_usage(digital_signature=True),
            critical=True,
        )
        if client_auth:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    if issuer_public_key is not public_key:
        builder = builder.add_extension(
            authority_key_identifier or x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key),
            critical=False,
        )
    # RFC 6979 deterministic ECDSA: with a seeded Entropy the same world yields byte-identical certificates
    # (and so the same thumbprints); a random ECDSA nonce would change every signature between runs.
    deterministic = True if isinstance(signing_key, ec.EllipticCurvePrivateKey) else None
    return builder.sign(signing_key, hash_for(signing_key), ecdsa_deterministic=deterministic)


def make_root_ca(
    entropy: Entropy,
    now: datetime,
    *,
    common_name: str = "Azure Sphere Root CA (simulated)",
    years: int = 30,
) -> Issuer:
    """The self-signed P-384 Sphere root CA (simulated name, ``pki.root_common_name``)."""
    key = entropy.ec_private_key(ec.SECP384R1())
    name = simulated_name(common_name)
    cert = _build(
        subject=name,
        issuer_name=name,
        public_key=key.public_key(),
        signing_key=key,
        issuer_public_key=key.public_key(),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=365 * years),
        serial=entropy.serial(),
        ca_path_length=None,
    )
    return Issuer(cert, key)


def make_policy_ca(
    root: Issuer,
    entropy: Entropy,
    now: datetime,
    *,
    common_name: str = "Azure Sphere Policy CA (simulated)",
    years: int = 20,
) -> Issuer:
    """The P-384 policy CA under the root; it signs every tenant CA generation."""
    key = entropy.ec_private_key(ec.SECP384R1())
    cert = root.sign(
        subject=simulated_name(common_name),
        public_key=key.public_key(),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=365 * years),
        serial=entropy.serial(),
        ca_path_length=1,
    )
    return Issuer(cert, key)


def make_tenant_ca(
    policy: Issuer,
    tenant_id: str,
    entropy: Entropy,
    not_before: datetime,
    *,
    lifetime: timedelta = TENANT_CA_LIFETIME,
) -> Issuer:
    """One tenant CA generation: P-256, ``CN=Microsoft Azure Sphere <tenantId>``, two years."""
    key = entropy.ec_private_key(ec.SECP256R1())
    cert = policy.sign(
        subject=tenant_ca_name(tenant_id),
        public_key=key.public_key(),
        not_before=not_before,
        not_after=not_before + lifetime,
        serial=entropy.serial(),
        ca_path_length=0,
    )
    return Issuer(cert, key)


def make_device_certificate(
    tenant_ca: Issuer,
    device_id: str,
    device_public_key: ec.EllipticCurvePublicKey,
    entropy: Entropy,
    now: datetime,
    *,
    lifetime: timedelta = DEVICE_CERT_LIFETIME,
) -> x509.Certificate:
    """A 24-hour device certificate: ``CN=<device id>`` (128 characters), the device's own P-256 key."""
    return tenant_ca.sign_leaf(
        common_name=device_id,
        public_key=device_public_key,
        not_before=now,
        not_after=now + lifetime,
        serial=entropy.serial(),
        client_auth=True,
    )


def make_proof_certificate(
    signer: Issuer,
    verification_code: str,
    entropy: Entropy,
    now: datetime,
    *,
    lifetime: timedelta = PROOF_LIFETIME,
    backdate: timedelta = PROOF_BACKDATE,
) -> x509.Certificate:
    """A proof-of-possession certificate: ``CN=<code>``, signed by ``signer`` (a tenant CA generation).

    The key inside is fresh and thrown away: what proves possession is the
    *signature* by the CA's private key, not the subject key. Validity is now − 5 min … now + 24 h, capped
    at the signer's own expiry.
    """
    if not verification_code:
        raise ValueError("a verification code cannot be empty")
    key = entropy.ec_private_key(ec.SECP256R1())
    return signer.sign_leaf(
        common_name=verification_code,
        public_key=key.public_key(),
        not_before=now - backdate,
        not_after=now + lifetime,
        serial=entropy.serial(),
    )


def make_self_signed_ca(subject: x509.Name, entropy: Entropy, now: datetime, *, days: int = 730) -> Issuer:
    """A CA that merely *claims* a name — e.g. a forgery with the tenant CA's subject, for negative tests."""
    key = entropy.ec_private_key(ec.SECP256R1())
    cert = _build(
        subject=subject,
        issuer_name=subject,
        public_key=key.public_key(),
        signing_key=key,
        issuer_public_key=key.public_key(),
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=days),
        serial=entropy.serial(),
        ca_path_length=0,
    )
    return Issuer(cert, key)

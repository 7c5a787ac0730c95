"""The AWS analogue of the seed workflow, run by moto in this process: the baseline of figure 1.

AWS IoT's "bring your own CA" flow is the closest public analogue of enabling trust in IoT Central:
``get_registration_code`` (the verification code) → ``register_ca_certificate`` with a verification
certificate whose CN is that code, signed by the CA → ``register_certificate`` for a device certificate
issued by that CA. moto accepts the verification certificate without checking it (the gap this project
closes), so its time per workflow is a lower bound for "an in-process fake of this flow".

Certificates are made with ``cryptography`` once per workflow, as the fake's Sphere side does.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _cert(subject: str, key, issuer_name: x509.Name | None, issuer_key, *, ca: bool) -> x509.Certificate:
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class MotoWorkflow:
    """One moto-mocked AWS account; :meth:`run_once` performs the three-call workflow."""

    def __init__(self) -> None:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        import boto3
        from moto import mock_aws

        self._mock = mock_aws()
        self._mock.start()
        self.client = boto3.client("iot", region_name="us-east-1")

    def run_once(self) -> None:
        code = self.client.get_registration_code()["registrationCode"]
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert("bench CA", ca_key, None, ca_key, ca=True)
        proof_key = ec.generate_private_key(ec.SECP256R1())
        proof = _cert(code, proof_key, ca.subject, ca_key, ca=False)
        self.client.register_ca_certificate(
            caCertificate=_pem(ca), verificationCertificate=_pem(proof), setAsActive=True
        )
        device_key = ec.generate_private_key(ec.SECP256R1())
        device = _cert("bench-device", device_key, ca.subject, ca_key, ca=False)
        self.client.register_certificate(certificatePem=_pem(device), caCertificatePem=_pem(ca), setAsActive=True)

    def requests_per_workflow(self) -> int:
        """How many HTTP requests botocore sends (into moto) for one :meth:`run_once`."""
        count = 0

        def counted(**_: object) -> None:
            nonlocal count
            count += 1

        self.client.meta.events.register("before-send.iot", counted)
        try:
            self.run_once()
        finally:
            self.client.meta.events.unregister("before-send.iot", counted)
        return count

    def close(self) -> None:
        self._mock.stop()

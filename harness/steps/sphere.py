"""``sphere.*`` steps: the Azure Sphere side of the trust workflow, as ``azsphere`` (legacy) or ``az sphere`` (ARM).

======================================  ==========================================================================
``sphere.login``                        ``azsphere login`` + ``tenant select``: the user sees the tenant
``sphere.tenant.list``                  ``GET /v2/tenants``
``sphere.ca-certificate.list``          ``azsphere ca-certificate list`` (or ARM ``certificates``)
``sphere.ca-certificate.download``      ``… download --destination CAcertificate.cer`` (DER)
``sphere.ca-certificate.download-chain````… download-chain --destination CAcertificate.p7b`` (DER PKCS#7)
``sphere.ca-certificate.download-proof````… download-proof --verification-code <code> --destination
                                        ValidationCertification.cer`` (DER)
``sphere.device.claim``                 ``azsphere device claim --device <id>`` (claim, then poll the operation)
``sphere.device.list``                  ``azsphere device list``
======================================  ==========================================================================

Every step takes ``tenant:`` (a key from ``given.tenants``; default: the tenant selected by ``sphere.login``, else
the first) and ``api: legacy | arm`` (default ``legacy``; ``arm`` uses the tenant's catalog on
``Microsoft.AzureSphere`` 2024-04-01, where ``serial`` picks a generation, ``.default`` being the Active one).

**Picking a tenant CA generation.** Once the successor exists (90 days before the current CA expires) a tenant
has two generations, and download, download-chain and download-proof act on the *Active* one unless told otherwise:
``thumbprint:`` selects a generation on the legacy API (``?thumbprint=``); on ARM a
certificate's resource name is its serial, so give ``serial:`` there (the ARM list shows it). A rotation
therefore downloads the successor with the ``Thumbprint`` that ``sphere.ca-certificate.list`` shows, and asks for
its proof with the same thumbprint: a proof signed by the Active generation cannot verify the successor's entry in
IoT Central (scenarios/tenant-ca-rotation.yaml).
"""

from __future__ import annotations

from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from harness.steps.base import StepArgs, StepContext, StepFailure, step

#: what a certificate download saves (``{ca.thumbprint}``, ``{proof.common_name}``)
CERTIFICATE_VALUE = {
    "path": "the file written in the work folder",
    "subject": "RFC 4514 subject",
    "issuer": "RFC 4514 issuer",
    "common_name": "the subject CN",
    "thumbprint": "SHA-1, upper-case hex",
    "serial": "upper-case hex",
    "not_before": "ISO 8601",
    "not_after": "ISO 8601",
}
CHAIN_VALUE = {"path": "the .p7b written", "count": "certificates in it", "subjects": "their subjects, tenant CA first"}
CLAIM_VALUE = {"device": "the device ID", "claimed": "true", "operation": "the finished operation (legacy API)"}


class TenantArgs(StepArgs):
    tenant: str | None = None


class ApiArgs(TenantArgs):
    api: Literal["legacy", "arm"] = "legacy"


class DownloadArgs(ApiArgs):
    destination: str = "CAcertificate.cer"
    thumbprint: str | None = None
    serial: str = ".default"


class ChainArgs(ApiArgs):
    destination: str = "CAcertificate.p7b"
    thumbprint: str | None = None
    serial: str = ".default"


class ProofArgs(ApiArgs):
    verification_code: str
    destination: str = "ValidationCertification.cer"
    thumbprint: str | None = None
    serial: str = ".default"


class ClaimArgs(ApiArgs):
    device: str
    product: str = ".default"
    device_group: str = ".default"


@step("sphere.login", TenantArgs, saves={"user": "the signed-in user", "tenant": "the tenant as listed"}, effect="read")
def login(ctx: StepContext, args: TenantArgs) -> dict[str, Any]:
    """Sign in and select the tenant: the user's tenant list must include it."""
    binding = ctx.tenant(args.tenant)
    tenants = ctx.sphere(args.tenant).list_tenants()
    match = next((t for t in tenants if str(t.get("Id", "")).lower() == binding.tenant_id.lower()), None)
    if match is None:
        ids = ", ".join(str(t.get("Id")) for t in tenants) or "none"
        raise StepFailure(f"tenant {binding.tenant_id} is not among the signed-in user's tenants ({ids})")
    ctx.session.select_tenant(binding.key)
    return {"user": binding.user, "tenant": match}


@step("sphere.tenant.list", TenantArgs, effect="read")
def tenant_list(ctx: StepContext, args: TenantArgs) -> list[dict[str, Any]]:
    """List the tenants the signed-in user can reach."""
    return ctx.sphere(args.tenant).list_tenants()


@step("sphere.ca-certificate.list", ApiArgs, effect="read")
def ca_certificate_list(ctx: StepContext, args: ApiArgs) -> list[dict[str, Any]]:
    """List the tenant CA certificates (every generation, with its status)."""
    if args.api == "arm":
        return ctx.arm(args.tenant).list_certificates()
    return ctx.sphere(args.tenant).list_certificates(ctx.tenant(args.tenant).tenant_id)


@step("sphere.ca-certificate.download", DownloadArgs, saves=CERTIFICATE_VALUE, effect="read")
def ca_certificate_download(ctx: StepContext, args: DownloadArgs) -> dict[str, Any]:
    """Download the tenant CA certificate as a DER .cer file."""
    if args.api == "arm":
        der = ctx.arm(args.tenant).certificate_der(args.thumbprint or args.serial)
    else:
        der = ctx.sphere(args.tenant).get_certificate(ctx.tenant(args.tenant).tenant_id, args.thumbprint)
    certificate = _parse_der(der, "the tenant CA certificate")
    return {"path": str(ctx.write(args.destination, der)), **describe(certificate)}


@step("sphere.ca-certificate.download-chain", ChainArgs, saves=CHAIN_VALUE, effect="read")
def ca_certificate_download_chain(ctx: StepContext, args: ChainArgs) -> dict[str, Any]:
    """Download the tenant CA chain as a DER PKCS#7 .p7b file."""
    if args.api == "arm":
        der = ctx.arm(args.tenant).retrieve_cert_chain(args.thumbprint or args.serial)
    else:
        der = ctx.sphere(args.tenant).get_certificate_chain(ctx.tenant(args.tenant).tenant_id, args.thumbprint)
    try:
        chain = pkcs7.load_der_pkcs7_certificates(der)
    except ValueError as exc:
        raise StepFailure(f"the chain is not a DER PKCS#7 bundle: {exc}") from None
    return {
        "path": str(ctx.write(args.destination, der)),
        "count": len(chain),
        "subjects": [c.subject.rfc4514_string() for c in chain],
    }


@step("sphere.ca-certificate.download-proof", ProofArgs, saves=CERTIFICATE_VALUE, effect="read")
def ca_certificate_download_proof(ctx: StepContext, args: ProofArgs) -> dict[str, Any]:
    """Download a proof-of-possession certificate (CN = the verification code) as a DER .cer file."""
    if args.api == "arm":
        der = ctx.arm(args.tenant).proof_der(args.thumbprint or args.serial, args.verification_code)
    else:
        tenant_id = ctx.tenant(args.tenant).tenant_id
        der = ctx.sphere(args.tenant).get_proof(tenant_id, args.verification_code, args.thumbprint)
    certificate = _parse_der(der, "the proof-of-possession certificate")
    return {"path": str(ctx.write(args.destination, der)), **describe(certificate)}


@step("sphere.device.claim", ClaimArgs, saves=CLAIM_VALUE, effect="change", irreversible=True)
def device_claim(ctx: StepContext, args: ClaimArgs) -> dict[str, Any]:
    """Claim a device into the tenant (one-time and permanent) and wait for the operation to finish."""
    if args.api == "arm":
        ctx.arm(args.tenant).claim_devices([args.device], product=args.product, device_group=args.device_group)
        return {"device": args.device, "claimed": True}
    operation = ctx.sphere(args.tenant).claim_device_and_wait(ctx.tenant(args.tenant).tenant_id, args.device)
    return {"device": args.device, "claimed": True, "operation": operation}


@step("sphere.device.list", ApiArgs, effect="read")
def device_list(ctx: StepContext, args: ApiArgs) -> list[dict[str, Any]]:
    """List the devices claimed into the tenant."""
    if args.api == "arm":
        return ctx.arm(args.tenant).list_devices()
    return ctx.sphere(args.tenant).list_devices(ctx.tenant(args.tenant).tenant_id)


def describe(certificate: x509.Certificate) -> dict[str, Any]:
    """What a scenario may want to check about a downloaded certificate."""
    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return {
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "common_name": str(common_names[0].value) if common_names else None,
        "thumbprint": certificate.fingerprint(hashes.SHA1()).hex().upper(),  # SHA-1: the domain's thumbprint
        "serial": format(certificate.serial_number, "X"),
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
    }


def _parse_der(der: bytes, what: str) -> x509.Certificate:
    import warnings

    try:
        with warnings.catch_warnings():  # long CNs (128-hex device IDs) warn in cryptography
            warnings.simplefilter("ignore")
            return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise StepFailure(f"{what} is not a DER X.509 certificate: {exc}") from None

"""``azsphere`` in a lab: the legacy Azure Sphere CLI commands of the enable-trust unit, over the legacy v2 API.

The grammar (:data:`GRAMMAR`) follows the legacy CLI reference (learn.microsoft.com, "azsphere ca-certificate",
"azsphere tenant", "azsphere device", "Authenticate with the CLI"); ``docs/training.md`` lists the sources and marks
what is this project's choice where the reference says nothing:

==========================================  ========================================================================
``login [--use-device-code]``               signs in as the lab's user (no browser); the only tenant is selected
``logout``                                  forgets the sign-in and the selected tenant
``tenant list`` / ``select`` / ``show-selected``  ``GET /v2/tenants``; ``--tenant/-t`` or ``--tenantid/-i``
``ca-certificate list``                     ``GET …/certificates``: Index, Thumbprint, CertificateDetails, Status,
                                            StartDate, EndDate
``ca-certificate download``                 ``GET …/cert`` → ``--destination F.cer`` (DER)
``ca-certificate download-chain``           ``GET …/certchain`` → ``--destination F.p7b`` (DER PKCS#7)
``ca-certificate download-proof``           ``GET …/verification/{code}`` → ``--destination F.cer`` (DER)
``device claim --device <id>``              ``PUT …/devices/{id}/claim``, then polls the operation
``device list`` / ``device show``           ``GET …/devices`` (paged)
==========================================  ========================================================================

Every tenant-scoped command takes ``--tenant``; the downloads take ``--index`` (a row of ``ca-certificate list``) or
``--thumbprint`` to pick a CA generation, else the Active one. Every rule about tenants, certificates and
claims is the served world's: these handlers only call its API and print what comes back.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from knack.util import CLIError

from harness.lab.cli import Arg, Command, Grammar, ShimContext, format_rule_table
from harness.lab.session import SessionStore, SignIn

DEVICE_CODE_PAGE = "https://microsoft.com/devicelogin"
CHIP_SKUS = {0: "MT3620AN"}

TENANT = Arg("tenant", ("--tenant", "-t"), "The tenant (ID or name) to act on; default: the selected tenant.")
INDEX = Arg("index", ("--index",), "The row of 'azsphere ca-certificate list' to use; default: the Active certificate.")
THUMBPRINT = Arg("thumbprint", ("--thumbprint",), "The thumbprint of the certificate to use; default: the Active one.")


def _destination(extension: str, what: str) -> Arg:
    return Arg(
        "destination",
        ("--destination",),
        f"Path and file name in which to store the {what}; relative or absolute, it must end in '{extension}'.",
    )


# -- plumbing ----------------------------------------------------------------------------------------------------


def _store(ctx: ShimContext) -> SessionStore:
    return SessionStore(ctx.lab.state_dir("azsphere"))


def _sign_in(ctx: ShimContext) -> SignIn:
    sign_in = _store(ctx).load()
    if sign_in is None:
        raise CLIError("You are not signed in. Run 'azsphere login' first.")
    return sign_in


def _client(ctx: ShimContext, token: str) -> Any:
    from harness.clients import RetryPolicy, SphereLegacyClient, StaticToken

    sphere = ctx.lab.sphere
    return SphereLegacyClient(
        StaticToken(token), base_url=sphere["legacy_url"], verify=ctx.lab.ca_bundle, retry=RetryPolicy(attempts=2)
    )


def _find_tenant(tenants: list[dict[str, Any]], wanted: str) -> dict[str, Any]:
    for tenant in tenants:
        if str(tenant.get("Id", "")).lower() == wanted.lower() or tenant.get("Name") == wanted:
            return tenant
    names = ", ".join(f"{t.get('Name')} ({t.get('Id')})" for t in tenants) or "none"
    raise CLIError(f"Tenant '{wanted}' is not available to this user. Available tenants: {names}.")


def _tenant(ctx: ShimContext, client: Any, sign_in: SignIn, wanted: str | None) -> dict[str, Any]:
    """The tenant a command acts on: ``--tenant``, else the selected one, else the user's only tenant."""
    if wanted:
        return _find_tenant(client.list_tenants(), wanted)
    if sign_in.tenant_id:
        return {"Id": sign_in.tenant_id, "Name": sign_in.tenant_name}
    tenants = client.list_tenants()
    if len(tenants) == 1:
        return tenants[0]
    raise CLIError(
        "No tenant is selected. Run 'azsphere tenant list', then 'azsphere tenant select --tenant <id or name>'."
    )


def _check_destination(destination: str, extension: str) -> Path:
    path = Path(destination)
    if path.suffix.lower() != extension:
        raise CLIError(f"The destination file name must have the '{extension}' extension: '{destination}'.")
    if path.exists() and path.is_dir():
        raise CLIError(f"The destination '{destination}' is a folder, not a file name.")
    return path


def _generation(client: Any, tenant_id: str, index: str | None, thumbprint: str | None) -> str | None:
    """The thumbprint a download asks for: from ``--thumbprint``, from ``--index`` (list row), or None (Active)."""
    if index is not None and thumbprint is not None:
        raise CLIError("Give either --index or --thumbprint, not both.")
    if index is None:
        return thumbprint
    entries = client.list_certificates(tenant_id)
    if not index.isdigit() or not 1 <= int(index) <= len(entries):
        raise CLIError(f"--index must be a row number of 'azsphere ca-certificate list' (1 to {len(entries)}).")
    return entries[int(index) - 1]["Thumbprint"]


def _write(path: Path, data: bytes) -> Path:
    if not path.parent.exists():
        raise CLIError(f"The folder of the destination '{path}' does not exist.")
    path.write_bytes(data)
    return path.resolve()


# -- login -------------------------------------------------------------------------------------------------------


def login(ctx: ShimContext, use_device_code: bool = False) -> Any:
    """Sign in as the lab's user: no browser; the user's only tenant becomes the selected tenant."""
    sphere = ctx.lab.sphere
    if use_device_code:
        print(
            f"To sign in, use a web browser to open the page {DEVICE_CODE_PAGE} and enter the code LAB-SIGNIN "
            "to authenticate.\n(sphere-harness lab: the sign-in is approved at once; no browser is needed.)",
            file=sys.stderr,
        )
    user, token = sphere["user"], sphere["token"]
    with _client(ctx, token) as client:
        tenants = client.list_tenants()
    only = tenants[0] if len(tenants) == 1 else None
    _store(ctx).save(
        SignIn(user=user, token=token, tenant_id=only and only["Id"], tenant_name=only and only.get("Name"))
    )
    return [{"Name": user}]


def logout(ctx: ShimContext) -> None:
    """Forget the lab user's sign-in and selected tenant."""
    if not _store(ctx).clear():
        raise CLIError("You are not signed in.")
    ctx.say("Signed out.")


# -- tenants -----------------------------------------------------------------------------------------------------


def _tenant_row(tenant: dict[str, Any]) -> dict[str, Any]:
    return {"Id": tenant.get("Id"), "Name": tenant.get("Name"), "Roles": tenant.get("Roles") or []}


def tenant_list(ctx: ShimContext) -> Any:
    """List the Azure Sphere tenants the signed-in user can use."""
    with _client(ctx, _sign_in(ctx).token) as client:
        return [_tenant_row(t) for t in client.list_tenants()]


def tenant_select(ctx: ShimContext, tenant: str) -> Any:
    """Select the default tenant for the following commands."""
    sign_in = _sign_in(ctx)
    with _client(ctx, sign_in.token) as client:
        found = _find_tenant(client.list_tenants(), tenant)
    sign_in.tenant_id, sign_in.tenant_name = found["Id"], found.get("Name")
    _store(ctx).save(sign_in)
    return [_tenant_row(found)]


def tenant_show_selected(ctx: ShimContext) -> Any:
    """Show the selected tenant."""
    sign_in = _sign_in(ctx)
    if not sign_in.tenant_id:
        raise CLIError("No tenant is selected. Run 'azsphere tenant select --tenant <id or name>'.")
    with _client(ctx, sign_in.token) as client:
        return [_tenant_row(_find_tenant(client.list_tenants(), sign_in.tenant_id))]


# -- CA certificates -------------------------------------------------------------------------------------------------


def _date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ca_certificate_list(ctx: ShimContext, tenant: str | None = None) -> Any:
    """List the tenant's CA certificates: the Active one, its predecessor or successor, revoked ones."""
    from harness.clients.sphere_legacy import base64_or_pem_to_der
    from simulator.pki.encoding import load_der
    from simulator.pki.names import subject_string

    sign_in = _sign_in(ctx)
    with _client(ctx, sign_in.token) as client:
        chosen = _tenant(ctx, client, sign_in, tenant)
        entries = client.list_certificates(chosen["Id"])
    rows = []
    now = datetime.now(UTC)
    for number, entry in enumerate(entries, start=1):
        certificate = load_der(base64_or_pem_to_der(entry["Certificate"]))
        status = "Active" if entry.get("IsActive") else "Revoked" if entry.get("IsRevoked") else "Inactive"
        if status == "Inactive" and certificate.not_valid_after_utc < now:
            status = "Expired"
        rows.append(
            {
                "Index": number,
                "Thumbprint": entry.get("Thumbprint"),
                "CertificateDetails": subject_string(certificate),
                "Status": status,
                "StartDate": _date(certificate.not_valid_before_utc),
                "EndDate": _date(certificate.not_valid_after_utc),
            }
        )
    return rows


def ca_certificate_download(
    ctx: ShimContext,
    destination: str,
    index: str | None = None,
    thumbprint: str | None = None,
    tenant: str | None = None,
) -> None:
    """Download the tenant's CA certificate as an X.509 .cer file (DER)."""
    path = _check_destination(destination, ".cer")
    _download(ctx, path, "the CA certificate", tenant, index, thumbprint, lambda c, t, g: c.get_certificate(t, g))


def ca_certificate_download_chain(
    ctx: ShimContext,
    destination: str,
    index: str | None = None,
    thumbprint: str | None = None,
    tenant: str | None = None,
) -> None:
    """Download the tenant's CA certificate chain as a PKCS#7 .p7b file (DER)."""
    path = _check_destination(destination, ".p7b")
    fetch = lambda c, t, g: c.get_certificate_chain(t, g)  # noqa: E731
    _download(ctx, path, "the CA certificate chain", tenant, index, thumbprint, fetch)


def ca_certificate_download_proof(
    ctx: ShimContext,
    destination: str,
    verification_code: str,
    index: str | None = None,
    thumbprint: str | None = None,
    tenant: str | None = None,
) -> None:
    """Download a proof-of-possession certificate whose subject CN is the verification code (.cer, DER)."""
    path = _check_destination(destination, ".cer")
    if not verification_code.strip():
        raise CLIError("--verification-code cannot be empty.")
    fetch = lambda c, t, g: c.get_proof(t, verification_code.strip(), g)  # noqa: E731
    _download(ctx, path, "the validation certificate", tenant, index, thumbprint, fetch)


def _download(
    ctx: ShimContext,
    path: Path,
    what: str,
    tenant: str | None,
    index: str | None,
    thumbprint: str | None,
    fetch: Callable[[Any, str, str | None], bytes],
) -> None:
    """Sign in, pick the tenant and its CA generation, ``fetch(client, tenant_id, generation)`` and save it."""
    sign_in = _sign_in(ctx)
    with _client(ctx, sign_in.token) as client:
        chosen = _tenant(ctx, client, sign_in, tenant)
        der = fetch(client, chosen["Id"], _generation(client, chosen["Id"], index, thumbprint))
    ctx.say(f"Saved {what} to '{_write(path, der)}'.")


# -- devices -------------------------------------------------------------------------------------------------------


def _device_row(device: dict[str, Any]) -> dict[str, Any]:
    sku = device.get("ChipSku")
    return {
        "DeviceId": device.get("DeviceId"),
        "TenantId": device.get("TenantId"),
        "ChipSku": CHIP_SKUS.get(sku, sku),
        "ProductId": device.get("ProductId"),
        "DeviceGroupId": device.get("DeviceGroupId"),
    }


def device_claim(ctx: ShimContext, device: str, tenant: str | None = None) -> None:
    """Claim a device into the tenant (one-time: a claimed device cannot move to another tenant)."""
    sign_in = _sign_in(ctx)
    with _client(ctx, sign_in.token) as client:
        chosen = _tenant(ctx, client, sign_in, tenant)
        ctx.say("Claiming device.")
        client.claim_device_and_wait(chosen["Id"], device.strip(), interval_s=0.5)
    ctx.say(
        f"Successfully claimed device ID '{device.strip()}' into tenant '{chosen.get('Name')}' "
        f"with ID '{chosen['Id']}'."
    )


def device_list(ctx: ShimContext, tenant: str | None = None) -> Any:
    """List the devices claimed into the tenant."""
    sign_in = _sign_in(ctx)
    with _client(ctx, sign_in.token) as client:
        chosen = _tenant(ctx, client, sign_in, tenant)
        return [_device_row(d) for d in client.list_devices(chosen["Id"])]


def device_show(ctx: ShimContext, device: str, tenant: str | None = None) -> Any:
    """Show one device of the tenant."""
    sign_in = _sign_in(ctx)
    with _client(ctx, sign_in.token) as client:
        chosen = _tenant(ctx, client, sign_in, tenant)
        devices = client.list_devices(chosen["Id"])
    for found in devices:
        if str(found.get("DeviceId", "")).lower() == device.strip().lower():
            return [_device_row(found)]
    raise CLIError(f"Device '{device}' is not claimed into tenant '{chosen.get('Name')}'.")


# -- the grammar -----------------------------------------------------------------------------------------------------

GRAMMAR = Grammar(
    name="azsphere",
    module=__name__,
    default_output="table",
    table=format_rule_table,
    welcome="Azure Sphere CLI (sphere-harness lab shim)",
    groups={
        "tenant": "Manage Azure Sphere tenants.",
        "ca-certificate": "Manage certificate authority (CA) certificates for the current Azure Sphere tenant.",
        "device": "Manage Azure Sphere devices.",
    },
    commands=(
        Command(
            "login",
            "login",
            "Log in to Azure Sphere (in a lab: as the lab's user, without a browser).",
            args=(
                Arg(
                    "use_device_code",
                    ("--use-device-code",),
                    "Print a device code to sign in with (approved at once in a lab).",
                ),
            ),
            examples=(("Log in.", "azsphere login"),),
        ),
        Command("logout", "logout", "Log out of Azure Sphere."),
        Command("tenant list", "tenant_list", "Lists the available Azure Sphere tenants."),
        Command(
            "tenant select",
            "tenant_select",
            "Selects the default Azure Sphere tenant to use on this computer.",
            args=(Arg("tenant", ("--tenant", "-t", "--tenantid", "-i"), "The tenant to select: its ID or its name."),),
            examples=(("Select a tenant.", "azsphere tenant select --tenant 768c2cd6-1bf0-4521-9f53-084a331d81cb"),),
        ),
        Command("tenant show-selected", "tenant_show_selected", "Displays the selected Azure Sphere tenant."),
        Command(
            "ca-certificate list",
            "ca_certificate_list",
            "Lists all certificates for the current Azure Sphere tenant.",
            args=(TENANT,),
        ),
        Command(
            "ca-certificate download",
            "ca_certificate_download",
            "Downloads the CA certificate for the current Azure Sphere tenant as an X.509 .cer file.",
            args=(_destination(".cer", "CA certificate"), INDEX, THUMBPRINT, TENANT),
            examples=(
                (
                    "Download the Active CA certificate.",
                    "azsphere ca-certificate download --destination CAcertificate.cer",
                ),
            ),
        ),
        Command(
            "ca-certificate download-chain",
            "ca_certificate_download_chain",
            "Downloads the CA certificate chain for the current Azure Sphere tenant as a PKCS#7 .p7b file.",
            args=(_destination(".p7b", "CA certificate chain"), INDEX, THUMBPRINT, TENANT),
            examples=(("Download the chain.", "azsphere ca-certificate download-chain --destination CAcertChain.p7b"),),
        ),
        Command(
            "ca-certificate download-proof",
            "ca_certificate_download_proof",
            "Downloads a proof-of-possession certificate for the current Azure Sphere tenant as an X.509 .cer file.",
            args=(
                _destination(".cer", "proof-of-possession certificate"),
                Arg(
                    "verification_code",
                    ("--verification-code",),
                    "The verification code IoT Central (or DPS, IoT Hub) generated; it becomes the certificate's CN.",
                ),
                INDEX,
                THUMBPRINT,
                TENANT,
            ),
            examples=(
                (
                    "Download the proof for a verification code.",
                    "azsphere ca-certificate download-proof --destination ValidationCertification.cer "
                    "--verification-code 2D82D05B6B2B7ED2CFBF0F2F3E4A2D1A8F1B2C3D4E5F6A7B",
                ),
            ),
        ),
        Command(
            "device claim",
            "device_claim",
            "Claims a previously unclaimed device to the Azure Sphere tenant.",
            long_summary="Claiming is a one-time operation: a claimed device cannot move to another tenant.",
            args=(Arg("device", ("--device", "-d"), "The ID of the device to claim."), TENANT),
        ),
        Command("device list", "device_list", "Displays all devices in the tenant.", args=(TENANT,)),
        Command(
            "device show",
            "device_show",
            "Displays details of a device in the tenant.",
            args=(Arg("device", ("--device", "-d"), "The ID of the device."), TENANT),
        ),
    ),
)

"""``az sphere`` in a lab: the azure-sphere extension's commands of the unit, over the ARM API (2024-04-01).

The grammar follows the extension's reference (``az sphere ca-certificate``, ``az sphere device``, ``az sphere
catalog`` on learn.microsoft.com): the catalog is named by ``--resource-group/-g`` and ``--catalog/-c``; a
certificate by ``--serial-number/-sn`` (the older spelling) or ``--name/-n`` (the newer one), default ``active``
(the Active certificate); files by ``--output-file/-of``. ``az login`` signs in as the lab's user without a
browser. Output is JSON by default, like the Azure CLI's.

==========================================  ========================================================================
``az sphere catalog list [-g]``              ``GET /subscriptions/{sub}[/resourceGroups/{rg}]/providers/…/catalogs``
``az sphere ca-certificate list``            ``GET {catalog}/certificates``
``az sphere ca-certificate download``        ``GET {catalog}/certificates/{serial}`` → ``.cer`` (DER)
``az sphere ca-certificate download-chain``  ``POST …/retrieveCertChain`` → ``.p7b`` (DER PKCS#7)
``az sphere ca-certificate download-proof``  ``POST …/retrieveProofOfPossessionNonce`` → ``.cer`` (DER)
``az sphere device list``                    ``POST {catalog}/listDevices``
``az sphere device claim --device <id>``     ``POST …/products/.default/deviceGroups/.default/claimDevices``, then
                                             polls ``Location``
==========================================  ========================================================================
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from knack.output import format_table
from knack.util import CLIError

from harness.lab.cli import Arg, Command, Grammar, ShimContext
from harness.lab.session import SessionStore, SignIn

GROUP = Arg("resource_group", ("--resource-group", "-g"), "Name of the resource group of the catalog.")
CATALOG = Arg("catalog", ("--catalog", "-c"), "Name of the Azure Sphere catalog.")
SERIAL = Arg(
    "serial_number",
    ("--serial-number", "-sn", "--name", "-n"),
    "Serial number of the certificate; 'active' (the default) is the Active certificate.",
)
OUTPUT_FILE = Arg("output_file", ("--output-file", "-of"), "Path and file name of the file to write.")
API_VERSION = "2024-04-01"


def _store(ctx: ShimContext) -> SessionStore:
    return SessionStore(ctx.lab.state_dir("az"))


def _sign_in(ctx: ShimContext) -> SignIn:
    sign_in = _store(ctx).load()
    if sign_in is None:
        raise CLIError("Please run 'az login' to setup account.")
    return sign_in


def _arm(ctx: ShimContext, resource_group: str, catalog: str) -> Any:
    from harness.clients import RetryPolicy, SphereArmClient, StaticToken

    sphere = ctx.lab.sphere
    return SphereArmClient(
        StaticToken(_sign_in(ctx).token),
        subscription_id=sphere["subscription_id"],
        resource_group=resource_group,
        catalog=catalog,
        base_url=sphere["arm_url"],
        verify=ctx.lab.ca_bundle,
        retry=RetryPolicy(attempts=2),
    )


def _output_file(output_file: str, extension: str) -> Path:
    path = Path(output_file)
    if path.suffix.lower() != extension:
        raise CLIError(f"The output file must use a '{extension}' extension: '{output_file}'.")
    if not path.resolve().parent.exists():
        raise CLIError(f"The folder of the output file '{output_file}' does not exist.")
    return path


def _serial(serial_number: str | None) -> str:
    return serial_number or "active"


# -- sign-in -------------------------------------------------------------------------------------------------------


def login(ctx: ShimContext, use_device_code: bool = False) -> Any:
    """Sign in as the lab's user (no browser) and list the subscription the lab's catalogs live in."""
    sphere = ctx.lab.sphere
    if use_device_code:
        print(
            "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code "
            "LAB-SIGNIN to authenticate.\n(sphere-harness lab: the sign-in is approved at once; no browser is needed.)",
            file=sys.stderr,
        )
    _store(ctx).save(SignIn(user=sphere["user"], token=sphere["arm_token"]))
    return [
        {
            "cloudName": "AzureCloud",
            "id": sphere["subscription_id"],
            "isDefault": True,
            "name": "sphere-harness lab",
            "state": "Enabled",
            "tenantId": sphere.get("tenant_id"),
            "user": {"name": sphere["user"], "type": "user"},
        }
    ]


def logout(ctx: ShimContext) -> None:
    """Forget the lab user's sign-in."""
    if not _store(ctx).clear():
        raise CLIError("There are no active accounts.")


# -- catalogs and certificates -------------------------------------------------------------------------------------


def catalog_list(ctx: ShimContext, resource_group: str | None = None) -> Any:
    """List the catalogs of the subscription (or of one resource group)."""
    from harness.clients import RetryPolicy, SphereArmClient, StaticToken

    sphere = ctx.lab.sphere
    subscription = sphere["subscription_id"]
    path = f"/subscriptions/{subscription}"
    if resource_group:
        path += f"/resourceGroups/{resource_group}"
    path += "/providers/Microsoft.AzureSphere/catalogs"
    client = SphereArmClient(
        StaticToken(_sign_in(ctx).token),
        subscription_id=subscription,
        resource_group=resource_group or "-",
        catalog="-",
        base_url=sphere["arm_url"],
        verify=ctx.lab.ca_bundle,
        retry=RetryPolicy(attempts=2),
    )
    with client:
        return client._all_pages(client.request("GET", path, params={"api-version": API_VERSION}))


def ca_certificate_list(ctx: ShimContext, resource_group: str, catalog: str) -> Any:
    """List all certificates in the catalog."""
    with _arm(ctx, resource_group, catalog) as arm:
        return arm.list_certificates()


def ca_certificate_download(
    ctx: ShimContext, resource_group: str, catalog: str, output_file: str, serial_number: str | None = None
) -> None:
    """Download the certificate (default: the Active one) as a .cer file (DER)."""
    path = _output_file(output_file, ".cer")
    with _arm(ctx, resource_group, catalog) as arm:
        der = arm.certificate_der(_serial(serial_number))
    path.write_bytes(der)


def ca_certificate_download_chain(
    ctx: ShimContext, resource_group: str, catalog: str, output_file: str, serial_number: str | None = None
) -> None:
    """Download the certificate chain as a PKCS#7 .p7b file (DER)."""
    path = _output_file(output_file, ".p7b")
    with _arm(ctx, resource_group, catalog) as arm:
        der = arm.retrieve_cert_chain(_serial(serial_number))
    path.write_bytes(der)


def ca_certificate_download_proof(
    ctx: ShimContext,
    resource_group: str,
    catalog: str,
    output_file: str,
    verification_code: str,
    serial_number: str | None = None,
) -> None:
    """Download a proof-of-possession certificate for a verification code as a .cer file (DER)."""
    path = _output_file(output_file, ".cer")
    with _arm(ctx, resource_group, catalog) as arm:
        der = arm.proof_der(_serial(serial_number), verification_code.strip())
    path.write_bytes(der)


# -- devices -------------------------------------------------------------------------------------------------------


def device_list(ctx: ShimContext, resource_group: str, catalog: str) -> Any:
    """List the devices of the catalog."""
    with _arm(ctx, resource_group, catalog) as arm:
        return arm.list_devices()


def device_claim(ctx: ShimContext, resource_group: str, catalog: str, device: str) -> None:
    """Claim a device into the catalog (its default product and device group)."""
    with _arm(ctx, resource_group, catalog) as arm:
        tenant_id = (arm.get_catalog().get("properties") or {}).get("tenantId")
        ctx.say("Claiming device.")
        arm.claim_devices([device.strip()], default_interval_s=0.5)
    ctx.say(f"Successfully claimed device ID '{device.strip()}' into catalog '{catalog}' with ID '{tenant_id}'.")


# -- the grammar -----------------------------------------------------------------------------------------------------

_CERT = (GROUP, CATALOG)
GRAMMAR = Grammar(
    name="az",
    module=__name__,
    default_output="json",
    table=format_table,
    welcome="Azure CLI (sphere-harness lab shim: only 'az sphere', 'az login' and 'az logout')",
    groups={
        "sphere": "Manage Azure Sphere resources (sphere-harness lab shim).",
        "sphere catalog": "Manage catalogs.",
        "sphere ca-certificate": "Manage certificates in your resource group and catalog.",
        "sphere device": "Manage devices in your resource group and catalog.",
    },
    commands=(
        Command(
            "login",
            "login",
            "Log in to Azure (in a lab: as the lab's user, without a browser).",
            args=(Arg("use_device_code", ("--use-device-code",), "Print a device code (approved at once in a lab)."),),
        ),
        Command("logout", "logout", "Log out to remove access to Azure subscriptions."),
        Command(
            "sphere catalog list",
            "catalog_list",
            "List catalogs in the subscription or resource group.",
            args=(Arg("resource_group", ("--resource-group", "-g"), "Name of the resource group."),),
        ),
        Command("sphere ca-certificate list", "ca_certificate_list", "List all certificates in your catalog.", _CERT),
        Command(
            "sphere ca-certificate download",
            "ca_certificate_download",
            "Download the certificate for your catalog.",
            args=(*_CERT, OUTPUT_FILE, SERIAL),
            examples=(
                (
                    "Download the active certificate.",
                    "az sphere ca-certificate download --resource-group MyResourceGroup --catalog MyCatalog "
                    "--output-file myCert.cer",
                ),
            ),
        ),
        Command(
            "sphere ca-certificate download-chain",
            "ca_certificate_download_chain",
            "Download the certificate chain for your catalog as a PKCS#7 '.p7b' file.",
            args=(*_CERT, OUTPUT_FILE, SERIAL),
        ),
        Command(
            "sphere ca-certificate download-proof",
            "ca_certificate_download_proof",
            "Download a proof-of-possession certificate for your catalog for use with a provided code.",
            args=(
                *_CERT,
                OUTPUT_FILE,
                Arg(
                    "verification_code",
                    ("--verification-code", "-v"),
                    "The verification code for the Azure Sphere Security Service to use when generating the "
                    "certificate.",
                ),
                SERIAL,
            ),
        ),
        Command("sphere device list", "device_list", "List all devices in your catalog.", _CERT),
        Command(
            "sphere device claim",
            "device_claim",
            "Claim a device into your catalog.",
            args=(*_CERT, Arg("device", ("--device", "-d"), "The ID of the device to claim.")),
        ),
    ),
)

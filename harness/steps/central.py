"""``central.*`` steps: the IoT Central side of the trust workflow (data-plane API 2022-07-31).

=======================================  ===========================================================================
``central.enrollment-group.create``      ``PUT /api/enrollmentGroups/{id}`` (IoT devices, X.509 by default)
``central.enrollment-group.get|list``    ``GET …``
``central.enrollment-group.update``      ``PATCH …`` (merge patch of ``displayName`` / ``enabled``)
``central.enrollment-group.delete``      ``DELETE …``
``central.certificate.set``              ``PUT …/certificates/{entry}`` with a certificate file (e.g. the tenant CA)
``central.certificate.get|remove``       ``GET`` / ``DELETE …/certificates/{entry}``
``central.verification-code.generate``   ``POST …/generateVerificationCode`` → the code (``save_as: code``)
``central.certificate.verify``           ``POST …/verify`` with the proof-of-possession certificate
``central.device.list|get``              ``GET /api/devices[/{id}]``
=======================================  ===========================================================================

Every step takes ``app:`` (a key from ``given.apps``; default: the first). Group IDs are as written in the
scenario; in live runs they get the run prefix (``sh-20261129-ab12-azure-sphere``) and every group a run creates
is deleted when the run ends, failed or not.
"""

from __future__ import annotations

from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import model_validator

from harness.clients.central import certificate_string
from harness.clients.errors import ServiceError
from harness.steps.base import StepArgs, StepContext, StepFailure, step

#: what an enrollment-group step saves: the group as the API answers it (``{group.etag}``)
GROUP_VALUE = {
    "id": "the group ID",
    "displayName": "its display name",
    "type": "iot or iotEdge",
    "enabled": "true or false",
    "attestation": "{type, x509: {signingCertificates}}",
    "etag": "the group's etag",
    "idScope": "the app's ID scope",
}
#: what a certificate-entry step saves: the entry as the API answers it (``{entry.verified}``)
ENTRY_VALUE = {
    "verified": "whether the entry is verified",
    "info": "certificate facts (sha1Thumbprint …)",
    "etag": "the entry's etag",
}
VERIFY_VALUE = {"verified": "true", "group": "the group ID", "entry": "primary or secondary"}


class AppArgs(StepArgs):
    app: str | None = None


class GroupArgs(AppArgs):
    id: str


class CreateGroupArgs(GroupArgs):
    display_name: str
    type: Literal["iot", "iotEdge"] = "iot"
    attestation: Literal["x509", "symmetricKey"] = "x509"
    enabled: bool = True


class UpdateGroupArgs(GroupArgs):
    display_name: str | None = None
    enabled: bool | None = None
    if_match: str | None = None


class EntryArgs(AppArgs):
    group: str
    entry: Literal["primary", "secondary"] = "primary"


class CertificateArgs(EntryArgs):
    """A certificate from ``path`` (a .cer/.pem file in the work folder) or given inline as ``certificate``."""

    path: str | None = None
    certificate: str | None = None
    encoding: Literal["der-base64", "pem-base64", "pem"] = "der-base64"

    @model_validator(mode="after")
    def _one_source(self) -> CertificateArgs:
        if (self.path is None) == (self.certificate is None):
            raise ValueError("give exactly one of `path` (a certificate file) or `certificate` (the string to send)")
        return self


class SetCertificateArgs(CertificateArgs):
    verified: bool | None = False


class DeviceArgs(AppArgs):
    id: str


@step("central.enrollment-group.create", CreateGroupArgs, saves=GROUP_VALUE, effect="create")
def group_create(ctx: StepContext, args: CreateGroupArgs) -> dict[str, Any]:
    """Create an enrollment group (IoT Central: Permissions > Device connection groups > + New)."""
    group_id = ctx.session.resource_name(args.id)
    central = ctx.central(args.app)
    # registered before the request goes out: a run killed while it is out still deletes what the service made
    cleanup = ctx.session.add_cleanup(
        f"delete enrollment group {group_id}",
        lambda: central.delete_group(group_id),
        exists=lambda: _group_exists(central, group_id),
        created=None,
    )
    try:
        body = central.create_group(
            group_id, display_name=args.display_name, attestation=args.attestation, type=args.type, enabled=args.enabled
        )
    except ServiceError:
        ctx.session.drop_cleanup(cleanup)  # the service answered no: nothing was made
        raise
    if cleanup is not None:
        cleanup.created = True
    return body


def _group_exists(central: Any, group_id: str) -> bool:
    try:
        central.get_group(group_id)
    except ServiceError as exc:
        if exc.status == 404:
            return False
        raise
    return True


@step("central.enrollment-group.get", GroupArgs, saves=GROUP_VALUE, effect="read")
def group_get(ctx: StepContext, args: GroupArgs) -> dict[str, Any]:
    """Read an enrollment group."""
    return ctx.central(args.app).get_group(ctx.session.resource_name(args.id))


@step("central.enrollment-group.list", AppArgs, effect="read")
def group_list(ctx: StepContext, args: AppArgs) -> list[dict[str, Any]]:
    """List the application's enrollment groups."""
    return ctx.central(args.app).list_groups()


@step("central.enrollment-group.update", UpdateGroupArgs, saves=GROUP_VALUE, effect="change")
def group_update(ctx: StepContext, args: UpdateGroupArgs) -> dict[str, Any]:
    """Change a group's display name or enabled flag (JSON merge patch)."""
    patch: dict[str, Any] = {}
    if args.display_name is not None:
        patch["displayName"] = args.display_name
    if args.enabled is not None:
        patch["enabled"] = args.enabled
    return ctx.central(args.app).update_group(ctx.session.resource_name(args.id), patch, if_match=args.if_match)


@step("central.enrollment-group.delete", GroupArgs, saves={"deleted": "the group ID"}, effect="delete")
def group_delete(ctx: StepContext, args: GroupArgs) -> dict[str, Any]:
    """Delete an enrollment group."""
    group_id = ctx.session.resource_name(args.id)
    ctx.central(args.app).delete_group(group_id)
    return {"deleted": group_id}


@step("central.certificate.set", SetCertificateArgs, saves=ENTRY_VALUE, effect="change")
def certificate_set(ctx: StepContext, args: SetCertificateArgs) -> dict[str, Any]:
    """Upload a certificate (e.g. the tenant CA) as the group's primary or secondary entry."""
    certificate = _certificate(ctx, args)
    group_id = ctx.session.resource_name(args.group)
    return ctx.central(args.app).set_certificate(group_id, args.entry, certificate=certificate, verified=args.verified)


@step("central.certificate.get", EntryArgs, saves=ENTRY_VALUE, effect="read")
def certificate_get(ctx: StepContext, args: EntryArgs) -> dict[str, Any]:
    """Read a certificate entry (``verified``, ``info.sha1Thumbprint``, ``etag``)."""
    return ctx.central(args.app).get_certificate(ctx.session.resource_name(args.group), args.entry)


@step("central.certificate.remove", EntryArgs, saves={"removed": "group/entry"}, effect="change")
def certificate_remove(ctx: StepContext, args: EntryArgs) -> dict[str, Any]:
    """Remove a certificate entry."""
    group_id = ctx.session.resource_name(args.group)
    ctx.central(args.app).remove_certificate(group_id, args.entry)
    return {"removed": f"{group_id}/{args.entry}"}


@step("central.verification-code.generate", EntryArgs, effect="change")
def verification_code_generate(ctx: StepContext, args: EntryArgs) -> str:
    """Generate the verification code that the proof-of-possession certificate's CN must carry."""
    return ctx.central(args.app).generate_verification_code(ctx.session.resource_name(args.group), args.entry)


@step("central.certificate.verify", CertificateArgs, saves=VERIFY_VALUE, effect="change")
def certificate_verify(ctx: StepContext, args: CertificateArgs) -> dict[str, Any]:
    """Verify the entry with a proof-of-possession certificate (204 No Content on success)."""
    certificate = _certificate(ctx, args)
    group_id = ctx.session.resource_name(args.group)
    ctx.central(args.app).verify_certificate(group_id, args.entry, certificate=certificate)
    return {"verified": True, "group": group_id, "entry": args.entry}


@step("central.device.list", AppArgs, effect="read")
def device_list(ctx: StepContext, args: AppArgs) -> list[dict[str, Any]]:
    """List the application's devices."""
    return ctx.central(args.app).list_devices()


@step("central.device.get", DeviceArgs, effect="read")
def device_get(ctx: StepContext, args: DeviceArgs) -> dict[str, Any]:
    """Read one device (``provisioned``, ``enabled``, ``template`` …)."""
    return ctx.central(args.app).get_device(args.id)


def _certificate(ctx: StepContext, args: CertificateArgs) -> str:
    if args.certificate is not None:
        return args.certificate
    assert args.path is not None
    data = ctx.read(args.path)
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            data = x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
        return certificate_string(data, args.encoding)
    except ValueError as exc:
        raise StepFailure(f"{args.path} cannot be sent as {args.encoding}: {exc}") from None

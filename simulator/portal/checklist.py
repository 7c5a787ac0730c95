"""The unit's steps, each judged from the world's state — never from clicks — with what to do next and why.

For one trainee (an IoT Central app and the Sphere tenant it belongs with) :func:`checklist` reads the Central
model (enrollment groups, entries, codes, devices), the Sphere model (the tenant's CA generations, its claimed
devices) and the :class:`~simulator.portal.journal.Journal` (sign-in, CA and proof downloads), and returns the seven
steps of the unit:

1. sign in to the tenant            (``azsphere login``)
2. download the tenant CA           (``azsphere ca-certificate download --destination CAcertificate.cer``)
3. create the enrollment group      (IoT Central: Administration › Device Connection › + New, Certificates (X.509))
4. upload the CA, generate a code   (+ Manage primary, the folder icon, the gear, Generate verification code)
5. download the validation cert     (``azsphere ca-certificate download-proof --verification-code <code> …``)
6. verify                           (Verify, then the dialog shows Verified)
7. a claimed device auto-enrolls    (``azsphere device claim``, ``sphere-harness device connect``)

A step is ``done``, ``todo`` (with the next thing to do) or ``wrong`` (with why, e.g. "the proof's CN is an older
code: generate-verification-code was pressed again after download-proof"). Later evidence implies earlier steps: a
verified tenant CA means it was downloaded, whatever the journal saw.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from simulator.portal.journal import Journal

DONE, TODO, WRONG = "done", "todo", "wrong"


@dataclass(frozen=True)
class Step:
    """One step of the unit: ``key``, ``title``, ``status`` (done, todo, wrong), ``detail`` (what to do next, or why
    it is wrong; empty when done), ``value`` (what a learner looks for, e.g. the code or thumbprint)."""

    key: str
    title: str
    status: str
    detail: str = ""
    value: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def checklist(cloud: Any, journal: Journal | None, *, app_subdomain: str, tenant_id: str | None) -> list[Step]:
    """The seven steps for one trainee; call with the world's lock held or not (it takes it)."""
    with cloud.lock:
        return _judge(cloud, journal, app_subdomain, tenant_id)


def _judge(cloud: Any, journal: Journal | None, app_subdomain: str, tenant_id: str | None) -> list[Step]:
    app = cloud.central.app_by_subdomain(app_subdomain)
    tenant = cloud.sphere.tenants.get(tenant_id.lower()) if tenant_id else None
    notes = journal.of(tenant.id) if (journal is not None and tenant is not None) else None
    tenant_cas = {g.thumbprint: g for g in tenant.generations} if tenant is not None else {}

    groups = list(app.enrollment.groups.values()) if app is not None else []
    x509_groups = [g for g in groups if g.attestation_type == "x509"]
    entries = [(g, e) for g in x509_groups for e in g.entries.values()]
    ours = [(g, e) for g, e in entries if e.thumbprint in tenant_cas]
    foreign = [(g, e) for g, e in entries if e.thumbprint not in tenant_cas]
    verified = [(g, e) for g, e in ours if e.verified]
    coded = [(g, e) for g, e in ours if e.code is not None]
    claimed = (
        {r.id.lower() for r in cloud.sphere.devices.values() if tenant is not None and r.tenant_id == tenant.id}
        if tenant is not None
        else set()
    )
    central_devices = app.devices if app is not None else {}
    enrolled = [d for key, d in central_devices.items() if key in claimed and d.provisioned]

    steps: list[Step] = []

    # 1. sign in
    signed_in = bool(notes and notes.signed_in) or bool(ours)
    steps.append(
        Step("sign-in", "Sign in to your Azure Sphere tenant", DONE, value=tenant.name)
        if signed_in and tenant is not None
        else Step("sign-in", "Sign in to your Azure Sphere tenant", TODO, "Run: azsphere login")
    )

    # 2. download the tenant CA
    downloaded = bool(notes and notes.ca_downloaded) or bool(ours)
    active = tenant.active_generation() if tenant is not None else None
    steps.append(
        Step("download-ca", "Download the tenant CA certificate", DONE, value=active.thumbprint if active else "")
        if downloaded
        else Step(
            "download-ca",
            "Download the tenant CA certificate",
            TODO,
            "Run: azsphere ca-certificate download --destination CAcertificate.cer",
        )
    )

    # 3. the enrollment group
    title = "Create an enrollment group (Certificates (X.509))"
    if x509_groups:
        disabled = [g for g in x509_groups if not g.enabled]
        if len(disabled) == len(x509_groups):
            steps.append(
                Step("group", title, WRONG, f"'{disabled[0].display_name}' is disabled: devices cannot join it.")
            )
        else:
            steps.append(Step("group", title, DONE, value=x509_groups[0].display_name))
    elif groups:
        steps.append(
            Step(
                "group",
                title,
                WRONG,
                f"'{groups[0].display_name}' uses Shared access signature (SAS); Azure Sphere devices present "
                "certificates: create a group with the attestation type Certificates (X.509).",
            )
        )
    else:
        steps.append(
            Step(
                "group",
                title,
                TODO,
                "In IoT Central: Administration › Device Connection › + New, name it Azure Sphere.",
            )
        )

    # 4. upload the tenant CA and generate a code
    title = "Upload the tenant CA and generate a verification code"
    if verified or coded:
        group, entry = (coded or verified)[0]
        steps.append(Step("code", title, DONE, value=entry.code or ""))  # Verify consumes the code
    elif ours:
        group, entry = ours[0]
        steps.append(
            Step(
                "code",
                title,
                TODO,
                f"Open '{group.display_name}', select the gear next to the {entry.name.capitalize()} box and "
                "Generate verification code.",
            )
        )
    elif foreign:
        group, entry = foreign[0]
        steps.append(
            Step(
                "code",
                title,
                WRONG,
                f"The {entry.name} certificate of '{group.display_name}' (thumbprint {entry.thumbprint}) is not your "
                "tenant's CA: upload the CAcertificate.cer that 'azsphere ca-certificate download' saved.",
            )
        )
    else:
        steps.append(Step("code", title, TODO, "Open the group, select + Manage primary and upload CAcertificate.cer."))

    # 5. the validation (proof-of-possession) certificate
    title = "Download the validation certificate"
    proofs = notes.proofs if notes is not None else []
    if verified:
        steps.append(Step("proof", title, DONE))
    elif coded:
        _, entry = coded[0]
        matching = [p for p in proofs if p.code.upper() == (entry.code or "").upper()]
        if matching:
            steps.append(Step("proof", title, DONE, value=entry.code or ""))
        elif proofs:
            latest = proofs[-1]
            if entry.code_issued is not None and latest.at <= entry.code_issued:
                why = (
                    "The proof's CN is an older code: generate-verification-code was pressed again after "
                    "download-proof. Download the proof again with the code the dialog shows now."
                )
            else:
                why = (
                    f"The proof's CN ({latest.code}) is not the current verification code: copy the code from the "
                    "Primary certificate dialog exactly."
                )
            steps.append(Step("proof", title, WRONG, why))
        else:
            steps.append(
                Step(
                    "proof",
                    title,
                    TODO,
                    "Run: azsphere ca-certificate download-proof --destination ValidationCertification.cer "
                    f"--verification-code {entry.code}",
                )
            )
    else:
        steps.append(Step("proof", title, TODO, "Generate a verification code first."))

    # 6. verify
    title = "Verify the certificate"
    if verified:
        group, entry = verified[0]
        steps.append(Step("verify", title, DONE, value=f"{group.display_name} {entry.name}: Verified"))
    elif coded:
        steps.append(
            Step(
                "verify",
                title,
                TODO,
                "In the Primary certificate dialog select Verify and ValidationCertification.cer.",
            )
        )
    else:
        steps.append(Step("verify", title, TODO, "Download the validation certificate first."))

    # 7. a claimed device enrolls on its own
    title = "A claimed device auto-enrolls on first connection"
    if enrolled:
        steps.append(Step("device", title, DONE, value=f"{enrolled[0].id[:16]}… Provisioned"))
    elif claimed:
        reason = "" if verified else " (it needs the verified tenant CA first)"
        steps.append(
            Step(
                "device",
                title,
                TODO,
                f"Connect the claimed device{reason}: sphere-harness device connect --endpoints-file <your endpoints "
                "file> --device-dir devices/",
            )
        )
    else:
        steps.append(
            Step(
                "device",
                title,
                TODO,
                "Make a device (sphere-harness device new --endpoints-file … --out devices/), then "
                "azsphere device claim --device <id>.",
            )
        )
    return steps

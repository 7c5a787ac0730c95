"""``docs/fidelity.md``: where the fakes' behaviour comes from — documented facts with their public sources, and this
project's own choices where nothing is documented, each with the setting that changes it.

The settings table is generated from :class:`simulator.settings.Settings` (names and defaults) and
:data:`SETTING_NOTES` (what each decides, in this project's words). A setting added without a note shows up in the
document as undocumented, and ``tests/test_docs_current.py`` fails until :data:`SETTING_NOTES` explains it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.docgen._markdown import banner, table

#: ``section.field`` → (what it decides, whether the default is a documented fact or this project's choice)
SETTING_NOTES: dict[str, tuple[str, str]] = {
    # -- PKI --
    "pki.root_common_name": ("subject CN of the simulated Sphere root CA (the real name is not published)", "choice"),
    "pki.policy_common_name": ("subject CN of the simulated policy CA (not published)", "choice"),
    "pki.root_years": ("validity of the simulated root CA (not published)", "choice"),
    "pki.policy_years": ("validity of the simulated policy CA (not published)", "choice"),
    "pki.proof_hours": (
        "validity of a proof-of-possession certificate; a one-day proof is known to be accepted",
        "choice",
    ),
    "pki.proof_backdate_s": ("how far before the request a proof's notBefore lies, for clock skew", "choice"),
    "pki.successor_lead_days": (
        "how long before the tenant CA expires its successor is created; Microsoft describes a successor about 90 "
        "days ahead",
        "documented (approximately)",
    ),
    "pki.activation_delay_days": ("how long after creation the successor becomes the Active generation", "choice"),
    "pki.device_cn_case": (
        "case of the device ID in a device certificate's CN; IoT Central needs lower case",
        "choice",
    ),
    # -- Sphere --
    "sphere.legacy_string_body": (
        "certificate downloads of the legacy API as a quoted JSON string (`json`) or raw text; the reference types "
        "them only as string and says answers are JSON",
        "choice",
    ),
    "sphere.legacy_error_body": (
        "legacy errors as an array of one `PublicApiErrorDetails` or a single object; the fields are documented, "
        "the envelope is not",
        "choice",
    ),
    "sphere.foreign_tenant_status": ("status for a tenant the caller has no role in (403 or 404)", "choice"),
    "sphere.claim_conflict_mode": (
        "a claim of an already-claimed device refused at once (`sync`) or reported by the operation (`async`); "
        "that a device can be claimed only once is documented",
        "choice",
    ),
    "sphere.auth_mode": ("tokens must be ones the fake issued (`opaque`), or anything goes (`accept-any`)", "choice"),
    "sphere.cert_list_envelope": ("the certificate list as a bare array or wrapped in `{Items}`", "choice"),
    "sphere.expired_body": (
        "downloading an expired or revoked generation answers 404 or 200 `null`; Microsoft's text allows both",
        "documented (either)",
    ),
    "sphere.claim_delay_s": ("how long a claim operation runs before it succeeds, on the world's clock", "choice"),
    "sphere.legacy_retire_at": (
        "an instant after which the legacy API answers 410; Microsoft announces the legacy API's retirement for "
        "27 September 2027",
        "choice (date documented)",
    ),
    "sphere.arm_accepted_api_versions": (
        "api-versions the ARM adapter accepts; the published one is 2024-04-01",
        "documented",
    ),
    "sphere.arm_chain_encoding": (
        "`certificateChain` as base64 PKCS#7 or PEM; the contract says only string",
        "choice",
    ),
    "sphere.arm_claim_retry_after_s": ("`Retry-After` on a 202 claim answer", "choice"),
    "sphere.arm_send_azure_async_operation": ("whether 202 answers also carry `Azure-AsyncOperation`", "choice"),
    "sphere.token_lifetime_s": ("lifetime of bearer tokens the fake issues", "choice"),
    "sphere.arm_long_running": (
        "how ARM long-running operations answer (asynchronously with 202, or at once)",
        "choice",
    ),
    "sphere.arm_operation_delay_s": ("how long an ARM long-running operation runs, on the world's clock", "choice"),
    "sphere.arm_retry_after_s": ("`Retry-After` on ARM long-running answers", "choice"),
    "sphere.arm_device_delete": ("deleting a claimed device over ARM: refused, or allowed", "choice"),
    "sphere.max_image_bytes": ("largest image upload accepted", "choice"),
    "sphere.os_feed_versions": ("OS versions the simulated OS feeds report per feed", "choice"),
    # -- IoT Central --
    "central.error_codes": (
        "error codes per situation; the error shape is documented, the code strings are not, so these names are "
        "this project's and a recording of the real service can replace them",
        "choice",
    ),
    "central.accept_shared_access_token_alias": ("also accept `SharedAccessToken` as an auth scheme", "choice"),
    "central.group_embeds_entries": (
        "whether a group's body shows its certificate entries under `signingCertificates`; the examples only show "
        "an empty object",
        "choice",
    ),
    "central.unique_certificates": (
        "refuse a certificate already held by another group of the app; documented as unsupported, error unknown",
        "choice",
    ),
    "central.code_bytes": (
        "verification-code length in random bytes; codes seen from IoT Hub and DPS are 48 hex characters",
        "choice (format observed)",
    ),
    "central.code_case": ("verification-code case; observed codes are upper-case hex", "choice (format observed)"),
    "central.code_ttl_s": ("how long a verification code stays valid (default: until replaced)", "choice"),
    "central.code_reuse": ("whether generating again returns the same code instead of a new one", "choice"),
    "central.proof_check_validity": ("verify checks the proof's validity dates on the world's clock", "choice"),
    "central.proof_clock_skew_s": ("tolerance for those dates", "choice"),
    "central.id_scope_in_ga": (
        "include `idScope` in group bodies of the GA api-version (the published 2022-07-31 document has none)",
        "documented",
    ),
    "central.device_id_case": ("case of device IDs created by auto-enrollment", "choice"),
    "central.page_size": ("items per page of lists (paging with `nextLink` is documented, the size is not)", "choice"),
    "central.max_body_bytes": ("largest request body accepted (413 beyond)", "choice"),
    "central.accepted_api_versions": (
        "api-versions accepted; 2022-07-31 is the published GA version, the previews are used by the Azure CLI",
        "documented",
    ),
    "central.allow_self_attestation": (
        "uploading a certificate with `verified: true` verifies it without a proof, as documented",
        "documented",
    ),
    "central.body_etag_is_precondition": ("an `etag` inside a PUT or PATCH body acts like `If-Match`", "choice"),
    "central.auto_approve": ("whether new apps approve devices automatically", "choice"),
    "central.api_token_lifetime_s": ("lifetime of API tokens the fake issues", "choice"),
    "central.bearer_token_lifetime_s": ("lifetime of bearer tokens the fake issues", "choice"),
    "central.token_roles": (
        "`enforce`: an operation the token's roles do not grant answers 403 (API tokens need an Administrator, as"
        " documented); `record`: roles are only recorded",
        "documented (API tokens) + choice (the rest)",
    ),
    "central.role_permissions": (
        "what each role may do, role name → permissions (`simulator/central/permissions.py`); unset = the built-in"
        " matrix read from Microsoft's role descriptions",
        "choice",
    ),
    # -- DPS --
    "dps.auth_failure_mode": (
        "a refused device over MQTT gets CONNACK 5 (`connack`) or a 401 reply (`res401`); one report shows CONNACK 5",
        "choice",
    ),
    "dps.error_codes": ("six-digit DPS error codes per failure (only some are documented)", "choice"),
    "dps.retry_after_s": ("`retry-after` on an `assigning` answer; examples show 3", "documented (example)"),
    "dps.assignment_delay_s": ("how long an assignment takes, on the world's clock", "choice"),
    "dps.registrations_per_second": (
        "a per-ID-scope budget after which DPS answers 429 (limits unpublished)",
        "choice",
    ),
    "dps.throttle_retry_after_s": ("`retry-after` on a throttled registration", "choice"),
    "dps.enforce_cn_64": (
        "refuse registration IDs over 64 characters, as DPS documents; Sphere device IDs are 128 and do enroll",
        "choice",
    ),
    "dps.assigned_hub_host": (
        "the hub name a registration reports: the model's, the served host, or a fixed one",
        "choice",
    ),
    "dps.present_chain": (
        "which chain a simulated device presents: leaf + tenant CA, the leaf, or the full chain",
        "choice",
    ),
    "dps.revoked_tenant_ca": (
        "a device whose chain leads through a tenant CA generation the Sphere security service revoked: refused as "
        "an expired certificate is (`refuse`), or assigned while IoT Central still holds that CA verified "
        "(`accept`: DPS checks enrollment groups and is not documented to ask Sphere or a revocation list)",
        "choice",
    ),
    "dps.tls_validity_clock": (
        "which clock judges device certificate dates on served TLS listeners: the world's (so the clock can "
        "travel) or also the machine's",
        "choice",
    ),
}

FACTS = [
    (
        "The trust workflow: download the tenant CA, upload it to an X.509 enrollment group, generate a verification "
        "code, download a proof-of-possession certificate whose subject CN is the code, verify it; claimed devices "
        "then enroll on first connection",
        "https://learn.microsoft.com/azure-sphere/app-development/verify-certificate-manually?view=azure-sphere-legacy",
    ),
    (
        "Tenant CA, chain and proof downloads of the legacy CLI and API (`azsphere ca-certificate download`, "
        "`download-chain`, `download-proof`)",
        "https://learn.microsoft.com/en-ca/azure-sphere/reference/azsphere-ca-certificate?view=azure-sphere-legacy",
    ),
    (
        "The legacy public API: base URL, bearer tokens, JSON answers",
        "https://learn.microsoft.com/en-in/azure-sphere/reference/public-api-overview",
    ),
    (
        "The proof-of-possession operation of the legacy API",
        "https://learn.microsoft.com/en-us/rest/api/azure-sphere/tenants/get-proof-of-possession",
    ),
    (
        "Claiming devices: once only, permanently",
        "https://learn.microsoft.com/en-us/rest/api/azure-sphere/devices/claim",
    ),
    (
        "Tenant CA generations: current one Active, others Inactive; a successor issued ahead of expiry",
        "https://learn.microsoft.com/en-us/azure-sphere/deployment/tenant-cert?view=azure-sphere-legacy",
    ),
    (
        "The ARM provider `Microsoft.AzureSphere` 2024-04-01 and the IoT Central data-plane API 2022-07-31: "
        "operations, bodies and error shapes, from Azure's published OpenAPI documents",
        "https://github.com/Azure/azure-rest-api-specs",
    ),
    (
        "Verifying a CA with a proof-of-possession certificate in the device provisioning service",
        "https://learn.microsoft.com/azure/iot-dps/how-to-verify-certificates",
    ),
    (
        "DPS and IoT hub device protocols as the Python device SDK 2.14 speaks them (MQTT topics, reply codes)",
        "https://github.com/Azure/azure-iot-sdk-python",
    ),
    (
        "DPS registration over MQTT: CONNECT username `{idScope}/registrations/{registrationId}/api-version=…`, "
        "the `$dps/registrations/…` topics and their reply codes",
        "https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support",
    ),
    (
        "A device on its IoT hub over MQTT: CONNECT username `{hubHost}/{deviceId}/?api-version=…`, port 8883",
        "https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub",
    ),
    (
        "A missing issuer in a presented chain is refused by IoT Hub",
        "https://github.com/Azure/azure-iot-sdk-c/issues/1347",
    ),
    (
        "Regenerating a verification code changes it (DPS)",
        "https://github.com/Azure/azure-cli/issues/13098",
    ),
    (
        "Azure Sphere's retirement in 2031",
        "https://techcommunity.microsoft.com/blog/IoTBlog/azure-sphere-is-retiring-in-2031---what-you-need-to-know/4504225",
    ),
]

CHOICES_WITHOUT_SETTING = [
    "Root and policy CAs are P-384, tenant CAs P-256, tenant CA subject `CN=Microsoft Azure Sphere <tenantId>` with "
    "the organisation RDNs in the order C, ST, L, O, CN; certificates signed by a P-384 key use ECDSA with SHA-384, "
    "by a P-256 key SHA-256; device keys are P-256; a proof's subject is `CN=<code>` only.",
    "Thumbprints are upper-case SHA-1 hex in every answer and are looked up case-insensitively; ARM serials are "
    "upper-case hex without leading zeros.",
    "Verify requires the proof's issuer name to equal the uploaded certificate's subject and its signature to verify "
    "under that certificate's key, the subject CN to equal the current code, and (by default) the dates to hold.",
    "Fixed path segments of both Sphere APIs match case-insensitively, as a Microsoft sample relies on.",
    "Legacy timestamps are ISO 8601 UTC with seven fractional digits; DPS operation IDs look like "
    "`5.<16 hex>.<uuid>`; a DPS HTTPS register always answers 202 `assigning` first.",
    "The hub admits a device only after DPS assigned it there, with the same leaf certificate CN.",
    "Every rejected request leaves the world exactly as it was: inputs are validated before any change.",
]


def _settings_rows() -> list[tuple[str, str, str, str]]:
    from simulator.settings import Settings

    rows = []
    settings = Settings()
    for section in dataclasses.fields(settings):
        values = getattr(settings, section.name)
        for field in dataclasses.fields(values):
            name = f"{section.name}.{field.name}"
            note, origin = SETTING_NOTES.get(name, ("**undocumented: add a note in harness/docgen/fidelity.py**", "?"))
            rows.append((f"`{name}`", f"`{_show(getattr(values, field.name))}`", note, origin))
    return rows


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        value = list(value)
    return repr(value).replace("'", '"')


def undocumented_settings() -> list[str]:
    """Settings fields :data:`SETTING_NOTES` does not explain yet."""
    return [row[0].strip("`") for row in _settings_rows() if row[3] == "?"]


def render() -> str:
    out = [banner("simulator/settings.py and harness/docgen/fidelity.py"), "# Fidelity: where behaviour comes from\n\n"]
    out.append(
        "The fakes check what the real services check and answer with the real shapes. Some of that is documented "
        "by Microsoft; some is not, and there the fakes implement a choice of this project and make it a setting, "
        "so a test can change it and a recording of the real service can settle it later. Nothing on this page "
        "presents a choice as Azure's behaviour: codes, messages and formats marked *choice* are this project's.\n\n"
        'Settings are passed as `FakeCloud(settings={"central": {"code_reuse": True}})` or in a scenario as '
        "`given: {settings: {central: {code_reuse: true}}}`, to a served world as "
        "`sphere-harness serve --setting central.code_reuse=true` (repeatable), and to the pytest fixtures by "
        "overriding `fake_cloud_settings` (or `served_cloud_settings`). `GET /_sim/state` and `sphere-harness "
        "inspect` list the settings that differ from the defaults.\n\n"
        "## Documented facts and their public sources\n\n"
    )
    out.append(table(["fact", "source"], FACTS))
    out.append("\n## Choices, with the setting that changes each\n\n")
    out.append(
        "*documented* — the default is what the source says; *choice* — nothing settles it, so this is the "
        "project's default; *choice (…)* — partly documented, as the note says.\n\n"
    )
    out.append(table(["setting", "default", "what it decides", "origin"], _settings_rows()))
    out.append("\n## Choices without a setting\n\n")
    out.extend(f"* {text}\n" for text in CHOICES_WITHOUT_SETTING)
    out.append(
        "\n## Dates\n\n"
        "* The legacy Azure Sphere public API and `azsphere` retire on 27 September 2027 (Microsoft's Sphere pages; "
        "another Microsoft list gives 26 September). The fake keeps serving unless `sphere.legacy_retire_at` is set.\n"
        "* Azure Sphere itself retires on 31 July 2031.\n"
        "* A retirement of IoT Central on 20 September 2029 has been reported but is unconfirmed; an earlier "
        "announcement (March 2027) was withdrawn. Nothing in the fakes depends on it.\n"
    )
    return "".join(out)

"""Every behaviour the real services leave undocumented, as a setting with this project's default.

``docs/fidelity.md`` explains each setting (generated from this module and ``harness/docgen/fidelity.py``, which
holds one line per setting: add one when you add a field) and says which defaults are documented facts and which
are this project's choices.
Defaults are the fakes' own choices where the real value is unknown — documentation must not present them as
Azure's values.

Settings are plain dataclasses, grouped per service, gathered in :class:`Settings`::

    Settings(central=CentralSettings(code_reuse=True))
    Settings.from_mapping({"central": {"code_reuse": True}, "dps": {"registrations_per_second": 50}})
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, Literal

from simulator.suggest import did_you_mean


@dataclass
class PkiSettings:
    root_common_name: str = "Azure Sphere Root CA (simulated)"  # the real name is not published
    policy_common_name: str = "Azure Sphere Policy CA (simulated)"  # not published either
    root_years: int = 30  # not published
    policy_years: int = 20  # not published
    proof_hours: float = 24  # a one-day proof is known to be accepted
    proof_backdate_s: float = 300  # notBefore this far back, for clock skew
    successor_lead_days: float = 90  # successor created this long before expiry
    activation_delay_days: float = 30  # successor becomes Active this long after creation
    device_cn_case: Literal["lower", "upper"] = "lower"  # IoT Central needs lower-case device IDs


@dataclass
class SphereSettings:
    legacy_string_body: Literal["json", "text"] = "json"  # downloads as a quoted JSON string, or raw text
    legacy_error_body: Literal["array", "object"] = "array"  # PublicApiErrorDetails in an array of one, or alone
    foreign_tenant_status: Literal[403, 404] = 403  # a tenant the caller has no role in
    claim_conflict_mode: Literal["sync", "async"] = "sync"  # a conflict refused at once, or by the operation
    auth_mode: Literal["opaque", "accept-any"] = "opaque"  # only tokens this world issued, or any
    cert_list_envelope: bool = False  # the certificate list as a bare array, or in {Items}
    expired_body: Literal["404", "null"] = "404"  # an expired or revoked generation: 404, or 200 null
    claim_delay_s: float = 0  # how long a claim runs, on the world's clock
    legacy_retire_at: str | None = None  # ISO 8601 instant the legacy API answers 410 from (unset = never)
    arm_accepted_api_versions: tuple[str, ...] = ("2024-04-01",)  # anything else is InvalidApiVersionParameter
    arm_chain_encoding: Literal["pkcs7-base64", "pem"] = "pkcs7-base64"  # retrieveCertChain: base64 PKCS#7, or PEM
    arm_claim_retry_after_s: int = 0  # Retry-After of a 202 claim answer
    arm_send_azure_async_operation: bool = False  # also Azure-AsyncOperation on 202s
    token_lifetime_s: float = 3600  # lifetime of fake-issued bearer tokens
    # ARM writes (docs/sphere-surfaces.md): "async" answers the spec's long-running form (201/202 + a URL to poll),
    # "sync" answers 200 with the result at once, as the recorded real service did for products and device groups
    arm_long_running: Literal["async", "sync"] = "async"
    arm_operation_delay_s: float = 0  # how long an ARM operation reports InProgress on the world's clock
    arm_retry_after_s: int = 0  # Retry-After of the other long-running ARM writes (0: the client's own interval)
    arm_device_delete: Literal["refuse", "unclaim"] = "refuse"  # claims are permanent; "unclaim" to test
    max_image_bytes: int = 1 << 20  # fake-defined cap on an uploaded image package
    os_feed_versions: dict[str, str] = field(default_factory=lambda: {"Retail": "24.03", "RetailEval": "24.06"})


@dataclass
class CentralSettings:
    error_codes: dict[str, str] = field(default_factory=dict)  # code per situation (codes are not documented)
    accept_shared_access_token_alias: bool = False  # also the SharedAccessToken scheme
    group_embeds_entries: bool = True  # a group's answer carries its certificate entries
    unique_certificates: bool = True  # one certificate, one entry of one group
    code_bytes: int = 24  # 48 hex characters, as observed
    code_case: Literal["upper", "lower"] = "upper"  # observed codes are upper-case
    code_ttl_s: float | None = None  # a code lives until it is regenerated
    code_reuse: bool = False  # generating again gives a new code
    proof_check_validity: bool = True  # verify checks the proof's dates on the world's clock
    proof_clock_skew_s: float = 0  # tolerance for those dates
    id_scope_in_ga: bool = False  # the published 2022-07-31 EnrollmentGroup has no idScope
    device_id_case: Literal["lower", "preserve"] = "lower"  # auto-enrolled device IDs: the CN lower-cased
    page_size: int = 100  # paging is documented, the size is not
    max_body_bytes: int = 65536  # 413 beyond
    accepted_api_versions: tuple[str, ...] = ("2022-07-31", "2022-10-31-preview", "2022-06-30-preview")
    allow_self_attestation: bool = True  # "verified": true on upload
    body_etag_is_precondition: bool = True  # an etag in the body acts as If-Match
    auto_approve: bool = True  # default for new apps
    api_token_lifetime_s: float = 365 * 86400
    bearer_token_lifetime_s: float = 3600
    # what a token's roles allow (simulator/central/permissions.py): "enforce" refuses an operation the roles do not
    # grant (403); "record" only records roles. role_permissions: role display name -> permissions (None: the
    # built-in matrix, permissions.DEFAULT_ROLE_PERMISSIONS)
    token_roles: Literal["enforce", "record"] = "enforce"
    role_permissions: dict[str, list[str]] | None = None


@dataclass
class DpsSettings:
    auth_failure_mode: Literal["connack", "res401"] = "connack"  # a refusal: CONNACK 5, or res/401 after CONNACK 0
    error_codes: dict[str, int] = field(default_factory=dict)  # six-digit code per failure
    retry_after_s: int = 3  # the documented examples show 3
    assignment_delay_s: float = 0  # on the world's clock
    registrations_per_second: float | None = None  # per ID scope (None = unlimited)
    throttle_retry_after_s: int = 1  # retry-after of a throttled registration
    enforce_cn_64: bool = False  # DPS documents 64; Sphere IDs (128) enroll in practice
    assigned_hub_host: str = "model"  # assignedHub: "model" | "served" | an explicit host
    present_chain: Literal["leaf+tenant", "leaf", "full"] = "leaf+tenant"  # what a device presents after its leaf
    # which clock judges client-certificate dates on the served TLS listeners (MQTT and DPS HTTPS). "world":
    # OpenSSL checks chain and key possession but not dates, the DPS model checks dates on the world's clock;
    # "system": OpenSSL also checks them against real time (a travelled world then refuses renewed certificates)
    tls_validity_clock: Literal["world", "system"] = "world"
    # a device chain that leads through a tenant CA generation Sphere has revoked: refused like an expired one
    # ("refuse", 401002 / CONNACK 5), or assigned as long as IoT Central still holds the CA verified ("accept": DPS
    # checks chains against its enrollment groups and is not documented to consult Sphere or revocation lists).
    # The reference says nothing about it, so it is this project's choice.
    revoked_tenant_ca: Literal["refuse", "accept"] = "refuse"


@dataclass
class Settings:
    pki: PkiSettings = field(default_factory=PkiSettings)
    sphere: SphereSettings = field(default_factory=SphereSettings)
    central: CentralSettings = field(default_factory=CentralSettings)
    dps: DpsSettings = field(default_factory=DpsSettings)

    @classmethod
    def from_mapping(cls, data: dict[str, Any] | None) -> Settings:
        """Build settings from nested dicts (YAML ``given.settings``); unknown keys are a ``ValueError``."""
        settings = cls()
        for section, values in (data or {}).items():
            current = getattr(settings, section, None)
            if current is None or not is_dataclass(current):
                hint = did_you_mean(str(section), ("pki", "sphere", "central", "dps"))
                raise ValueError(f"unknown settings section {section!r}{hint} (expected pki, sphere, central or dps)")
            known = {f.name for f in fields(current)}
            unknown = sorted(set(values or {}) - known)
            if unknown:
                hint = did_you_mean(str(unknown[0]), sorted(known))
                raise ValueError(f"unknown {section} setting(s): {', '.join(unknown)}{hint}")
            coerced = {k: tuple(v) if isinstance(getattr(current, k), tuple) else v for k, v in values.items()}
            setattr(settings, section, replace(current, **_checked(section, type(current), coerced)))
        return settings


def _checked(section: str, kind: type, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` checked against the section's field types: a misspelt choice (``auth_failure_mode: conack``) or a
    number given as words is a ``ValueError`` naming the setting, not a world that silently behaves otherwise.
    Strict checking: YAML gives typed values, so ``"3"`` for a number or ``true`` for a count is refused too."""
    import typing

    from pydantic import TypeAdapter, ValidationError

    hints = typing.get_type_hints(kind)
    checked: dict[str, Any] = {}
    for name, value in values.items():
        try:
            checked[name] = TypeAdapter(hints[name]).validate_python(value, strict=True)
        except ValidationError as exc:
            problem = exc.errors()[0]
            raise ValueError(f"{section}.{name}: {problem['msg']}, not {value!r}") from None
    return checked

"""The IoT Central model: applications, their enrollment groups, certificate entries and devices.

Pure, synchronous Python: time comes from the injected :class:`~simulator.clock.Clock`, randomness from the
injected :class:`~simulator.entropy.Entropy`. The wire adapter (:mod:`simulator.central.api`) only translates
HTTP to these calls and back.

An **application** is what ``https://<subdomain>.azureiotcentral.com`` addresses. It has an application ID
(a GUID, what API tokens name in ``sr``), an **ID scope** (``0ne`` + 8 hex digits) that devices give DPS,
an internal IoT hub ``iotc-<guid>.azure-devices.net``, an auto-approve switch and the device
templates it knows::

    central = CentralService(clock, entropy, settings)
    app = central.create_app(subdomain="contoso")
    token = app.issue_api_token()                      # "SharedAccessSignature sr=…&sig=…&skn=…&se=…"
    app.put_group("sphere", {"displayName": "Sphere", "type": "iot", "attestation": {"type": "x509"}})
    app.set_certificate("sphere", "primary", {"certificate": pem_text})
    code = app.generate_verification_code("sphere", "primary")
    app.verify_certificate("sphere", "primary", {"certificate": proof_b64})   # now verified

DPS reads :meth:`App.trust_anchors` and calls :meth:`App.provision_device`; the hub calls
:meth:`App.record_telemetry` and :meth:`App.record_reported`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from cryptography import x509

from simulator.central import permissions
from simulator.central.attestation import credentials, parse_attestation
from simulator.central.device_groups import DeviceGroup, DeviceGroupBook
from simulator.central.devices import Device, DeviceRegistry, TelemetryPoint, merge_patch
from simulator.central.enrollment import CertificateEntry, EnrollmentBook, EnrollmentGroup, TrustAnchor
from simulator.central.errors import CentralError
from simulator.central.organizations import Organization, OrganizationTree
from simulator.central.templates import DeviceTemplate, TemplateBook
from simulator.central.tokens import ROLES, TOKEN_ID_PATTERN, ApiTokenRecord, Principal, TokenAuthority
from simulator.clock import Clock
from simulator.entropy import Entropy
from simulator.pki import thumbprint
from simulator.settings import Settings

__all__ = [
    "App",
    "CentralError",
    "CentralService",
    "CertificateEntry",
    "Device",
    "EnrollmentGroup",
    "Page",
    "TelemetryPoint",
    "TrustAnchor",
]

SUBDOMAIN_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    """One page of a list operation; ``next_token`` is the opaque ``$skiptoken`` of the next page."""

    items: list[T]
    next_token: str | None = None


def paginate(items: Sequence[T], skiptoken: str | None, page_size: int, overrides: dict[str, str]) -> Page[T]:
    """Slice ``items`` at an opaque ``$skiptoken`` (base64url of the offset)."""
    offset = 0
    if skiptoken is not None:
        try:
            text = base64.urlsafe_b64decode(skiptoken.encode("ascii") + b"==").decode("ascii")
            if not text.startswith("o:") or not text[2:].isdigit():
                raise ValueError(text)
            offset = int(text[2:])
        except (ValueError, UnicodeError, binascii.Error):
            raise CentralError.of("bad_request", f"'$skiptoken' {skiptoken!r} is not valid", overrides) from None
    following = None
    if offset + page_size < len(items):
        following = base64.urlsafe_b64encode(f"o:{offset + page_size}".encode()).decode().rstrip("=")
    return Page(list(items[offset : offset + page_size]), following)


class App:
    """One IoT Central application: tokens, enrollment groups, devices, and the DPS/hub entry points."""

    def __init__(
        self,
        *,
        app_id: str,
        subdomain: str,
        name: str,
        id_scope: str,
        hub_host: str,
        auto_approve: bool,
        clock: Clock,
        entropy: Entropy,
        settings: Settings,
    ) -> None:
        self.id = app_id
        self.subdomain = subdomain
        self.name = name
        self.id_scope = id_scope
        self.hub_host = hub_host
        self.auto_approve = auto_approve
        self.clock = clock
        self.settings = settings
        self.template_book = TemplateBook(clock, entropy, settings)
        self.organization_tree = OrganizationTree(settings)
        central = settings.central
        self.tokens = TokenAuthority(
            app_id,
            clock,
            entropy,
            api_token_lifetime=timedelta(seconds=central.api_token_lifetime_s),
            bearer_lifetime=timedelta(seconds=central.bearer_token_lifetime_s),
            accept_alias=central.accept_shared_access_token_alias,
            error_codes=central.error_codes,
        )
        self.enrollment = EnrollmentBook(clock, entropy, settings)
        self.device_registry = DeviceRegistry(clock, entropy, settings, self.template_book, self.organization_tree)
        self.device_groups = DeviceGroupBook(clock, entropy, settings, self.organization_tree)

    def __repr__(self) -> str:
        return f"App(subdomain={self.subdomain!r}, id={self.id!r}, id_scope={self.id_scope!r})"

    @property
    def base_url(self) -> str:
        return f"https://{self.subdomain}.azureiotcentral.com"

    # -- tokens ----------------------------------------------------------------------------------------

    def issue_api_token(self, token_id: str = "operator-token", lifetime: timedelta | None = None) -> str:
        """An API token for this app: ``SharedAccessSignature sr=<appId>&sig=…&skn=<token_id>&se=<ms>``."""
        return self.tokens.issue_api_token(token_id, lifetime)

    def issue_bearer_token(self, lifetime: timedelta | None = None) -> str:
        """A fake Azure AD access token (``Bearer …``) valid for this application only."""
        return self.tokens.issue_bearer_token(lifetime)

    def authenticate(self, authorization: str | None) -> Principal:
        """Check an ``Authorization`` header value (401 :class:`CentralError` when refused)."""
        return self.tokens.authenticate(authorization)

    def authorize(self, principal: Principal, operation: str) -> None:
        """403 unless one of ``principal``'s roles grants what ``operation`` (an operation of the API, by name)
        needs (:mod:`simulator.central.permissions`); nothing when ``central.token_roles`` is ``"record"``."""
        central = self.settings.central
        needed = permissions.OPERATION_PERMISSIONS[operation]
        if central.token_roles == "record":
            return
        matrix = central.role_permissions
        if matrix is None:
            matrix = permissions.DEFAULT_ROLE_PERMISSIONS
        if any(permissions.grants(matrix, ROLES.get(role, ""), needed) for role in principal.roles):
            return
        held = ", ".join(ROLES.get(role, role) for role in principal.roles) or "no role"
        raise self._error("forbidden", f"the token {principal.name!r} ({held}) does not have the permission {needed!r}")

    # -- templates -------------------------------------------------------------------------------------

    @property
    def templates(self) -> TemplateBook:
        """The application's device templates (``dtmi in app.templates`` asks whether one is published)."""
        return self.template_book

    def add_template(self, dtmi: str, display_name: str | None = None) -> DeviceTemplate:
        """Publish a device template: devices announcing this model ID get it assigned."""
        try:
            return self.template_book.add(dtmi, display_name)
        except CentralError as exc:
            raise ValueError(f"not a DTMI: {dtmi!r}") from exc

    def list_templates(self, skiptoken: str | None = None) -> Page[DeviceTemplate]:
        return self._page(self.template_book.list(), skiptoken)

    def get_template(self, template_id: str) -> DeviceTemplate:
        return self.template_book.get(template_id)

    def put_template(self, template_id: str, body: Any, *, if_match: str | None = None) -> DeviceTemplate:
        return self.template_book.put(template_id, body, if_match=if_match)

    def patch_template(self, template_id: str, patch: Any, *, if_match: str | None = None) -> DeviceTemplate:
        return self.template_book.patch(template_id, patch, if_match=if_match)

    def remove_template(self, template_id: str) -> None:
        in_use = any(device.template == template_id for device in self.devices.values())
        self.template_book.remove(template_id, in_use=in_use)

    # -- organizations ---------------------------------------------------------------------------------

    def list_organizations(self, skiptoken: str | None = None) -> Page[Organization]:
        return self._page(self.organization_tree.list(), skiptoken)

    def get_organization(self, organization_id: str) -> Organization:
        return self.organization_tree.get(organization_id)

    def put_organization(self, organization_id: str, body: Any) -> Organization:
        return self.organization_tree.put(organization_id, body)

    def patch_organization(self, organization_id: str, patch: Any) -> Organization:
        return self.organization_tree.patch(organization_id, patch)

    def remove_organization(self, organization_id: str) -> None:
        in_use = any(organization_id in device.organizations for device in self.devices.values()) or any(
            role.get("organization") == organization_id
            for record in self.tokens.records.values()
            for role in record.roles
        )
        self.organization_tree.remove(organization_id, in_use=in_use)

    # -- API tokens and roles --------------------------------------------------------------------------

    def list_api_tokens(self, skiptoken: str | None = None) -> Page[ApiTokenRecord]:
        return self._page(list(self.tokens.records.values()), skiptoken)

    def get_api_token(self, token_id: str) -> ApiTokenRecord:
        found = self.tokens.records.get(token_id)
        if found is None:
            raise self._error("not_found", f"API token {token_id!r} was not found")
        return found

    def create_api_token(self, token_id: str, body: Any) -> dict[str, Any]:
        """``PUT /apiTokens/{id}``: validate the roles and expiry, create the record; the answer carries ``token``."""
        if not TOKEN_ID_PATTERN.match(token_id):
            raise self._error("bad_request", f"API token ID {token_id!r} must be 1-40 letters, digits or '-'")
        if not isinstance(body, dict):
            raise self._error("bad_request", "the API token must be a JSON object")
        unknown = set(body) - {"id", "token", "roles", "expiry"}
        if unknown:
            raise self._error("bad_request", f"an API token has no member {sorted(unknown)[0]!r}")
        roles = self._check_roles(body.get("roles"))
        expiry = self.clock.now() + self.tokens.api_token_lifetime
        if body.get("expiry") is not None:
            expiry = self._parse_time(body["expiry"], "expiry")
            if expiry <= self.clock.now():
                raise self._error("bad_request", "'expiry' must be in the future")
        record, token = self.tokens.create_api_token(token_id, roles, expiry)
        return {**record.as_dict(), "token": token}

    def _check_roles(self, roles: Any) -> list[dict[str, str]]:
        if not isinstance(roles, list) or not roles:
            raise self._error("bad_request", "'roles' must be a non-empty list of role assignments")
        checked = []
        for assignment in roles:
            if not isinstance(assignment, dict) or set(assignment) - {"role", "organization"}:
                raise self._error("bad_request", 'a role assignment is {"role": <role ID>, "organization"?: <ID>}')
            role = assignment.get("role")
            if role not in ROLES:
                raise self._error("bad_request", f"the application has no role {role!r}")
            item = {"role": role}
            if assignment.get("organization") is not None:
                organization = assignment["organization"]
                if organization not in self.organization_tree:
                    raise self._error("bad_request", f"the application has no organization {organization!r}")
                item["organization"] = organization
            checked.append(item)
        return checked

    def _parse_time(self, value: Any, what: str) -> Any:
        from datetime import UTC, datetime

        if not isinstance(value, str):
            raise self._error("bad_request", f"'{what}' must be an ISO 8601 date-time")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise self._error("bad_request", f"'{what}' must be an ISO 8601 date-time") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed

    def remove_api_token(self, token_id: str) -> None:
        self.get_api_token(token_id)
        self.tokens.revoke_api_token(token_id)

    def list_roles(self) -> list[dict[str, str]]:
        return [{"id": role_id, "displayName": name} for role_id, name in ROLES.items()]

    def get_role(self, role_id: str) -> dict[str, str]:
        if role_id not in ROLES:
            raise self._error("not_found", f"role {role_id!r} was not found")
        return {"id": role_id, "displayName": ROLES[role_id]}

    # -- device groups ---------------------------------------------------------------------------------

    def list_device_groups(self, skiptoken: str | None = None) -> Page[DeviceGroup]:
        return self._page(self.device_groups.list(), skiptoken)

    def get_device_group(self, group_id: str) -> DeviceGroup:
        return self.device_groups.get(group_id)

    def put_device_group(self, group_id: str, body: Any, *, if_match: str | None = None) -> DeviceGroup:
        return self.device_groups.put(group_id, body, if_match=if_match)

    def patch_device_group(self, group_id: str, patch: Any, *, if_match: str | None = None) -> DeviceGroup:
        return self.device_groups.patch(group_id, patch, if_match=if_match)

    def remove_device_group(self, group_id: str) -> None:
        self.device_groups.remove(group_id)

    def device_group_devices(self, group_id: str, skiptoken: str | None = None) -> Page[Device]:
        return self._page(self.device_groups.devices(group_id, self.device_registry.list()), skiptoken)

    # -- shared ----------------------------------------------------------------------------------------

    def _error(self, situation: str, message: str) -> CentralError:
        return CentralError.of(situation, message, self.settings.central.error_codes)

    def _page(self, items: Sequence[T], skiptoken: str | None) -> Page[T]:
        return paginate(items, skiptoken, self.settings.central.page_size, self.settings.central.error_codes)

    # -- enrollment groups -----------------------------------------------------------------------------

    def group_body(self, group: EnrollmentGroup, api_version: str | None = None) -> dict[str, Any]:
        """A group as the API renders it for ``api_version`` (``idScope`` in GA per ``central.id_scope_in_ga``)."""
        central = self.settings.central
        preview = api_version is not None and api_version.endswith("-preview")
        scope = self.id_scope if (preview or central.id_scope_in_ga) else None
        return group.as_dict(id_scope=scope, embed_entries=central.group_embeds_entries)

    def list_groups(self, skiptoken: str | None = None) -> Page[EnrollmentGroup]:
        return paginate(
            self.enrollment.list_groups(), skiptoken, self.settings.central.page_size, self.settings.central.error_codes
        )

    def get_group(self, group_id: str) -> EnrollmentGroup:
        return self.enrollment.get_group(group_id)

    def put_group(self, group_id: str, body: Any, *, if_match: str | None = None) -> EnrollmentGroup:
        return self.enrollment.put_group(group_id, body, if_match=if_match)

    def patch_group(self, group_id: str, patch: Any, *, if_match: str | None = None) -> EnrollmentGroup:
        return self.enrollment.patch_group(group_id, patch, if_match=if_match)

    def delete_group(self, group_id: str, *, if_match: str | None = None) -> None:
        self.enrollment.delete_group(group_id, if_match=if_match)

    # -- certificate entries ---------------------------------------------------------------------------

    def get_certificate(self, group_id: str, entry: str) -> CertificateEntry:
        return self.enrollment.get_entry(group_id, entry)

    def set_certificate(self, group_id: str, entry: str, body: Any, *, if_match: str | None = None) -> CertificateEntry:
        return self.enrollment.set_entry(group_id, entry, body, if_match=if_match)

    def remove_certificate(self, group_id: str, entry: str, *, if_match: str | None = None) -> None:
        self.enrollment.remove_entry(group_id, entry, if_match=if_match)

    def generate_verification_code(self, group_id: str, entry: str) -> str:
        return self.enrollment.generate_code(group_id, entry)

    def verify_certificate(self, group_id: str, entry: str, body: Any) -> CertificateEntry:
        return self.enrollment.verify(group_id, entry, body)

    # -- devices ---------------------------------------------------------------------------------------

    @property
    def devices(self) -> dict[str, Device]:
        """Devices keyed by lower-cased ID."""
        return self.device_registry.devices

    def list_devices(self, skiptoken: str | None = None) -> Page[Device]:
        return paginate(
            self.device_registry.list(), skiptoken, self.settings.central.page_size, self.settings.central.error_codes
        )

    def get_device(self, device_id: str) -> Device:
        return self.device_registry.get(device_id)

    def put_device(self, device_id: str, body: Any) -> Device:
        return self.device_registry.put(device_id, body)

    def patch_device(self, device_id: str, patch: Any, *, if_match: str | None = None) -> Device:
        return self.device_registry.patch(device_id, patch, if_match=if_match)

    def delete_device(self, device_id: str) -> None:
        self.device_registry.delete(device_id)

    def device_attestation(self, device_id: str) -> dict[str, Any]:
        """``GET /api/devices/{id}/attestation`` (:mod:`simulator.central.attestation`); 404 once removed."""
        return self.device_registry.get_attestation(device_id)

    def _thumbprint_of(self, text: str) -> str:
        return thumbprint(self.enrollment._load(text))

    def set_device_attestation(self, device_id: str, body: Any) -> dict[str, Any]:
        """``PUT /api/devices/{id}/attestation``: replace the device's attestation with a valid one."""
        self.get_device(device_id)
        attestation = parse_attestation(body, self._thumbprint_of, self.settings.central.error_codes)
        return self.device_registry.set_attestation(device_id, attestation)

    def patch_device_attestation(self, device_id: str, patch: Any) -> dict[str, Any]:
        """``PATCH /api/devices/{id}/attestation``: merge-patch the current attestation; the result must be valid."""
        current = self.device_registry.get_attestation(device_id)
        if not isinstance(patch, dict):
            raise self._error("bad_request", "a merge patch must be a JSON object")
        if "type" in patch and patch["type"] != current["type"]:
            current = {"type": patch["type"]}
        merged = merge_patch(current, patch)
        if merged.get("type") == "x509":  # stored entries hold info only; a patch must upload certificates again
            for slot in merged.get("x509", {}).get("clientCertificates", {}).values():
                if isinstance(slot, dict) and "certificate" not in slot:
                    raise self._error("bad_request", "an x509 attestation patch must give each 'certificate'")
        attestation = parse_attestation(merged, self._thumbprint_of, self.settings.central.error_codes)
        return self.device_registry.set_attestation(device_id, attestation)

    def remove_device_attestation(self, device_id: str) -> None:
        self.device_registry.remove_attestation(device_id)

    def device_credentials(self, device_id: str) -> dict[str, Any]:
        """``GET /api/devices/{id}/credentials``: the ID scope, plus the attestation's material if it has one."""
        return credentials(self.get_device(device_id).attestation, self.id_scope)

    def device_components(self, device_id: str) -> list[dict[str, Any]]:
        """``GET /api/devices/{id}/components``: the components of the device's template (none if unassigned)."""
        device = self.get_device(device_id)
        if not device.template or device.template not in self.template_book:
            return []
        return self.template_book.get(device.template).components()

    def replace_device_properties(self, device_id: str, body: Any) -> Device:
        return self.device_registry.replace_desired(device_id, body)

    def device_telemetry(self, device_id: str, name: str) -> TelemetryPoint:
        return self.device_registry.telemetry(device_id, name)

    def device_properties(self, device_id: str) -> dict[str, Any]:
        return self.get_device(device_id).properties()

    def update_device_properties(self, device_id: str, patch: Any) -> Device:
        return self.device_registry.update_desired(device_id, patch)

    # -- the DPS and hub entry points ------------------------------------------------------------------

    def trust_anchors(self) -> list[TrustAnchor]:
        """Every *verified* entry of every group, with its group's ``enabled`` switch."""
        return self.enrollment.trust_anchors()

    def trust_anchors_for(self, chain: list[x509.Certificate]) -> list[TrustAnchor]:
        """The verified entries ``chain`` could lead to (indexed by subject; what DPS checks a registration with)."""
        return self.enrollment.trust_anchors_for(chain)

    def known_cas(self) -> list[x509.Certificate]:
        """Every uploaded certificate, verified or not (DPS's TLS layer trusts them; the model decides at CONNECT)."""
        return self.enrollment.known_cas()

    def provision_device(
        self, device_id: str, *, model_id: str | None = None, attestation_thumbprint: str | None = None
    ) -> Device:
        """Create or update the device DPS just assigned (``provisioned``, ``enabled`` per auto-approve)."""
        return self.device_registry.provision(
            device_id,
            auto_approve=self.auto_approve,
            model_id=model_id,
            attestation_thumbprint=attestation_thumbprint,
        )

    def record_telemetry(self, device_id: str, body: bytes, properties: dict[str, str]) -> None:
        self.device_registry.record_telemetry(device_id, body, properties)

    def record_reported(self, device_id: str, patch: dict[str, Any]) -> None:
        self.device_registry.record_reported(device_id, patch)

    def device_twin(self, device_id: str) -> dict[str, Any]:
        return self.get_device(device_id).twin()


class CentralService:
    """Every IoT Central application of the offline world."""

    def __init__(self, clock: Clock, entropy: Entropy, settings: Settings) -> None:
        if settings.central.role_permissions is not None:  # a bad matrix is refused when the world is made
            permissions.check_role_permissions(settings.central.role_permissions, ROLES.values())
        self.clock = clock
        self.entropy = entropy
        self.settings = settings
        self.apps: dict[str, App] = {}
        self._default: App | None = None

    def create_app(
        self, subdomain: str | None = None, name: str | None = None, auto_approve: bool | None = None
    ) -> App:
        """A new application with a fresh ID, ID scope, hub and signing key (all from the world's entropy)."""
        if subdomain is None:
            subdomain = f"app-{self.entropy.hex(4)}"
            while subdomain in self.apps:
                subdomain = f"app-{self.entropy.hex(4)}"
        subdomain = subdomain.lower()
        if not SUBDOMAIN_PATTERN.match(subdomain):
            raise ValueError(f"not a usable application subdomain: {subdomain!r}")
        if subdomain in self.apps:
            raise ValueError(f"an application with subdomain {subdomain!r} already exists")
        id_scope = f"0ne{self.entropy.hex(4, upper=True)}"
        while self.app_by_scope(id_scope) is not None:
            id_scope = f"0ne{self.entropy.hex(4, upper=True)}"
        app = App(
            app_id=self.entropy.uuid(),
            subdomain=subdomain,
            name=name or subdomain,
            id_scope=id_scope,
            hub_host=f"iotc-{self.entropy.uuid()}.azure-devices.net",
            auto_approve=self.settings.central.auto_approve if auto_approve is None else auto_approve,
            clock=self.clock,
            entropy=self.entropy,
            settings=self.settings,
        )
        self.apps[subdomain] = app
        self._scope_index[app.id_scope.lower()] = app
        self._id_index[app.id] = app
        journal = self.__dict__.get("ca_journal")
        if journal is not None:
            app.enrollment.journal = journal
        return app

    def app_by_subdomain(self, subdomain: str) -> App | None:
        return self.apps.get(subdomain.lower())

    def app_by_scope(self, id_scope: str) -> App | None:
        """The application whose ID scope this is (compared case-insensitively), or None. Indexed: every DPS
        registration asks, so the cost must not grow with the number of applications."""
        app = self._scope_index.get(id_scope.lower())
        return app if app is not None and self.apps.get(app.subdomain) is app else None

    def app_by_id(self, app_id: str) -> App | None:
        app = self._id_index.get(app_id)
        return app if app is not None and self.apps.get(app.subdomain) is app else None

    # -- indexes: derived from ``apps``, rebuilt after a load, kept up to date by create_app / delete_app --

    @functools.cached_property
    def _scope_index(self) -> dict[str, App]:
        return {app.id_scope.lower(): app for app in self.apps.values()}

    @functools.cached_property
    def _id_index(self) -> dict[str, App]:
        return {app.id: app for app in self.apps.values()}

    @functools.cached_property
    def ca_journal(self) -> list[x509.Certificate]:
        """Every certificate uploaded to any group of any application, in upload order — built on first use, then
        appended to by each application's enrollment book, so a follower (the served TLS listeners' trust) reads only
        what is new instead of walking every group of every application."""
        journal: list[x509.Certificate] = []
        for app in self.apps.values():
            app.enrollment.journal = journal
            journal.extend(app.known_cas())
        return journal

    @property
    def default_app(self) -> App:
        """The app for hosts without a known subdomain (e.g. ``127.0.0.1``): the one set with
        :meth:`set_default_app`, else the first app created, else a new app ``default``."""
        if self._default is not None and self._default.subdomain in self.apps:
            return self._default
        if self.apps:
            return next(iter(self.apps.values()))
        return self.create_app(subdomain="default")

    def set_default_app(self, app: App) -> None:
        if self.apps.get(app.subdomain) is not app:
            raise ValueError(f"{app!r} does not belong to this world")
        self._default = app

    def app_for_host(self, host: str) -> App:
        """The app a request's ``Host`` addresses: the one whose subdomain is the first label; a host without a
        subdomain (an IP address, ``localhost``) reaches the default app. A subdomain that names no application
        raises 404 :class:`CentralError` (see :meth:`find_app_for_host`)."""
        app = self.find_app_for_host(host)
        if app is None:
            name = host.strip().lower().partition(".")[0]
            raise CentralError.of(
                "app_not_found",
                f"there is no IoT Central application {name!r} ({host.strip()})",
                self.settings.central.error_codes,
            )
        return app

    def find_app_for_host(self, host: str) -> App | None:
        """Like :meth:`app_for_host`, but None for a subdomain that names no application.

        Azure gives every application its own name under ``azureiotcentral.com``; a name that no application has
        (``typo-app.azureiotcentral.com``) reaches no application at all. A served world cannot make a name fail
        to resolve, so both ways in answer alike: 404 ``NotFound`` in IoT Central's error shape, before any
        token is looked at (there is no application whose tokens could be checked).
        """
        hostname = host.strip().lower()
        if hostname.startswith("["):  # an IPv6 literal, never a subdomain
            return self.default_app
        hostname = hostname.rsplit(":", 1)[0] if hostname.count(":") == 1 else hostname
        first, dot, _ = hostname.partition(".")
        if dot and not first.isdigit():
            return self.apps.get(first)
        return self.default_app

    def delete_app(self, subdomain: str) -> None:
        app = self.apps.pop(subdomain.lower(), None)
        if app is None:
            raise KeyError(subdomain)
        self._scope_index.pop(app.id_scope.lower(), None)
        self._id_index.pop(app.id, None)

"""The Azure Sphere security service as a pure, synchronous model: tenants, tenant CAs, devices, claims, proofs.

One object backs both wire surfaces: a legacy **tenant** and an ARM **catalog** are the
same :class:`Tenant`, known by its GUID and friendly name on ``prod.core.sphere.azure.net/v2`` and by
subscription / resource group / catalog name on ``management.azure.com``.

What the service does for the IoT Central trust workflow:

* every tenant owns a **tenant CA** (``CN=Microsoft Azure Sphere <tenantId>``, P-256, two years) signed by the
  policy CA, which the root CA signs. The CA is replaced in **generations**: 90 days before
  a generation expires the successor appears ``Inactive``; 30 days later it becomes ``Active`` and its predecessor
  ``Inactive``; at its notAfter the predecessor becomes ``Expired``. Generations are rolled lazily from the clock,
  so a jump of five years creates every generation that would have appeared meanwhile. No certificate outlives
  its issuer, so the last generation before the policy CA's notAfter ends with it, and no successor follows: the
  fake does not rotate the policy CA (``pki.policy_years``, 20 by default), so past that date the tenant has no
  valid CA (every generation ``Expired``, no proof, no device certificate);
* it signs **proof-of-possession certificates** whose CN is a verification code from IoT Central/DPS, with
  the generation the caller names by thumbprint or serial (the Active one by default) — never with an expired or
  revoked one (``sphere.expired_body``);
* devices are **claimed** into exactly one tenant, once, forever; a claimed device gets 24-hour device
  certificates ``CN=<device id>`` from the Active generation, chained ``[leaf, tenant CA, policy CA, root]``.

The model reads time only from the injected :class:`~simulator.clock.Clock` and randomness only from the injected
:class:`~simulator.entropy.Entropy`. Every refusal is a :class:`SphereError` raised before any state changes.
"""

from __future__ import annotations

import functools
import re
import uuid as _uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from simulator import pki
from simulator.clock import Clock
from simulator.entropy import Entropy
from simulator.settings import Settings
from simulator.sphere.capabilities import CapabilityImages
from simulator.sphere.errors import SphereError, bad_request, not_found
from simulator.sphere.images import ImageCatalog
from simulator.sphere.insights import DeviceReports
from simulator.sphere.operations import ArmOperations
from simulator.sphere.products import DEVICE_GROUP_NAME_PATTERN, PRODUCT_NAME_PATTERN, ProductCatalog
from simulator.sphere.records import (  # the records live below the service and its parts; exported here as before
    ACTIVE_ALIASES,
    SPECIAL_NAMES,
    ArmOperation,
    CAGeneration,
    ClaimOperation,
    DeviceGroup,
    DeviceInsight,
    DeviceRecord,
    GenerationStatus,
    Image,
    Product,
    SimulatedDeviceIdentity,
    Tenant,
)

__all__ = [
    "ACTIVE_ALIASES",
    "DEVICE_GROUP_NAME_PATTERN",
    "PRODUCT_NAME_PATTERN",
    "ROLES",
    "SPECIAL_NAMES",
    "ArmOperation",
    "CAGeneration",
    "ClaimOperation",
    "DeviceGroup",
    "DeviceInsight",
    "DeviceRecord",
    "GenerationStatus",
    "Image",
    "Principal",
    "Product",
    "SimulatedDeviceIdentity",
    "SphereError",
    "SphereService",
    "Tenant",
    "User",
]

Audience = Literal["sphere", "arm"]

ROLES = ("Administrator", "Contributor", "Reader")
CLAIM_ROLES = frozenset({"Administrator", "Contributor"})
MAX_BULK_CLAIM = 1000
# legacy Operation types (Azure Sphere public API v2) besides the claims (0 DeviceClaim, 11 BulkDeviceClaim)
MOVE_OPERATION = 2  # DeviceUpdateDeviceGroup
CREATE_PRODUCT_OPERATION = 4  # CreateProduct

DEVICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9-]{128}$")  # the published deviceName pattern
CATALOG_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
MAX_CODE_LENGTH = 128


# --------------------------------------------------------------------------------------------------------------
# Users and tokens


@dataclass(eq=False)
class User:
    """A Sphere user (a person, or a service principal ``<objectId>@<aadTenant>.onmicrosoft.com``) and its roles."""

    email: str
    roles: dict[str, list[str]] = field(default_factory=dict)  # tenant id (lower) -> roles

    def roles_in(self, tenant_id: str) -> list[str]:
        return list(self.roles.get(tenant_id.lower(), []))


@dataclass(frozen=True)
class Principal:
    """Who a bearer token speaks for. ``everything`` is the accept-any mode's caller (``sphere.auth_mode``)."""

    email: str
    audience: str
    user: User | None = None
    everything: bool = False

    def roles_in(self, tenant_id: str) -> list[str]:
        if self.everything:
            return list(ROLES[:2])
        return self.user.roles_in(tenant_id) if self.user else []


@dataclass(frozen=True)
class _Token:
    email: str
    audience: str
    expires_at: datetime


# --------------------------------------------------------------------------------------------------------------
# The service


class SphereService(ProductCatalog, ImageCatalog, CapabilityImages, DeviceReports, ArmOperations):
    """The Azure Sphere security service of one offline world.

    This class holds tenants (= catalogs), their CA generations, users, tokens, devices and claims; the mixins add
    products and device groups (:mod:`.products`), images and deployments (:mod:`.images`), capability images
    (:mod:`.capabilities`), device reports (:mod:`.insights`) and ARM operations (:mod:`.operations`). The records
    they all work on — tenants, CA generations, devices, products, images, operations — are in :mod:`.records`.

    ::

        sphere = SphereService(clock, entropy, settings)
        tenant = sphere.create_tenant(name="Contoso")
        sphere.create_user("ops@contoso.com", {tenant.id: ["Administrator"]})
        token = sphere.issue_token("ops@contoso.com")             # Bearer token for /v2 (audience "sphere")
        device = sphere.create_device()                            # a chip fresh from the factory
        sphere.claim_device(tenant.id, device.id)
        leaf, tenant_ca, policy, root = sphere.device_certificate_chain(device.id)
        proof = sphere.issue_proof(tenant.id, "75B86466DA34D2B0")  # CN=75B86466DA34D2B0, signed by the Active CA
    """

    def __init__(self, clock: Clock, entropy: Entropy, settings: Settings | None = None) -> None:
        self.clock = clock
        self.entropy = entropy
        self.settings = settings or Settings()
        # the root and policy CAs date from midnight UTC of the world's first day: their bytes then depend on the
        # seed and the day, not the microsecond, and a seeded world reuses them for the whole day (_seeded_issuer)
        now = clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
        p = self.settings.pki
        root_entropy, policy_entropy = entropy.fork("root"), entropy.fork("policy")
        self.root: pki.Issuer = _seeded_issuer(
            ("root", root_entropy.seed, now, p.root_common_name, p.root_years),
            lambda: pki.make_root_ca(root_entropy, now, common_name=p.root_common_name, years=p.root_years),
        )
        self.policy: pki.Issuer = _seeded_issuer(
            ("policy", self.root.cert_der, policy_entropy.seed, now, p.policy_common_name, p.policy_years),
            lambda: pki.make_policy_ca(
                self.root, policy_entropy, now, common_name=p.policy_common_name, years=p.policy_years
            ),
        )
        # separate streams, so that issuing a token or claiming never shifts the next tenant or device ID
        self._tenant_entropy = entropy.fork("tenants")
        self._device_entropy = entropy.fork("devices")
        self._token_entropy = entropy.fork("tokens")
        self._operation_entropy = entropy.fork("operations")
        self.tenants: dict[str, Tenant] = {}
        self.users: dict[str, User] = {}
        self.devices: dict[str, DeviceRecord] = {}
        self.operations: dict[str, ClaimOperation] = {}
        #: the claims not applied yet (a subset of ``operations``): settling and conflict checks walk only these,
        #: so a tenant with 10⁵ completed claims costs no more per call than an empty one
        self._pending: dict[str, ClaimOperation] = {}
        self._tokens: dict[str, _Token] = {}
        self.arm_operations: dict[str, ArmOperation] = {}
        self.insights: dict[str, DeviceInsight] = {}  # in arrival order (a dict: one stored row per insight)

    # -- tenants -----------------------------------------------------------------------------------------------

    def create_tenant(
        self,
        name: str | None = None,
        tenant_id: str | None = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        catalog: str | None = None,
    ) -> Tenant:
        """A new tenant (= catalog) with its first CA generation, Active from now.

        Defaults: a random GUID, ``tenant-<8 hex>`` as name, catalog name derived from the name, a random
        subscription and resource group ``sphere-harness``. A duplicate tenant ID or catalog placement is 409.
        """
        tenant_id = self._guid(tenant_id, "tenant_id") if tenant_id is not None else self._tenant_entropy.uuid()
        if tenant_id in self.tenants:
            raise SphereError(409, "Conflict", f"The tenant '{tenant_id}' already exists.", target=tenant_id)
        name = name if name is not None else f"tenant-{tenant_id[:8]}"
        if not isinstance(name, str) or not name.strip() or len(name) > 50:
            raise bad_request("The tenant name must be 1 to 50 characters.", target="name")
        if catalog is None:
            catalog = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:50] or f"catalog-{tenant_id[:8]}"
        if not isinstance(catalog, str) or not CATALOG_NAME_PATTERN.match(catalog):
            raise bad_request(f"Invalid catalog name '{catalog}'.", target="catalog", code="InvalidResourceName")
        subscription_id = (
            self._guid(subscription_id, "subscription_id")
            if subscription_id is not None
            else self._tenant_entropy.uuid()
        )
        resource_group = resource_group if resource_group is not None else "sphere-harness"
        if not isinstance(resource_group, str) or not re.match(r"^[-\w._()]{1,90}$", resource_group):
            raise bad_request(f"Invalid resource group name '{resource_group}'.", code="InvalidResourceName")
        try:
            existing = self.catalog(subscription_id, resource_group, catalog)
        except SphereError:
            existing = None
        if existing is not None:
            raise SphereError(409, "Conflict", f"The catalog '{catalog}' already exists.", target=catalog)
        now = self.clock.now()
        tenant = Tenant(
            service=self,
            id=tenant_id,
            name=name,
            catalog=catalog,
            subscription_id=subscription_id,
            resource_group=resource_group,
            created_at=now,
            entropy=self.entropy.fork(f"tenant:{tenant_id}"),
        )
        for product_name in SPECIAL_NAMES:
            product = Product(id=tenant.entropy.uuid(), name=product_name)
            for group_name in SPECIAL_NAMES:
                product.device_groups[group_name] = DeviceGroup(tenant.entropy.uuid(), group_name, product)
            tenant.products[product_name] = product
        tenant._add_generation(now, activates_at=now)
        self.tenants[tenant_id] = tenant
        self._catalog_index[_catalog_key(tenant.subscription_id, tenant.resource_group, tenant.catalog)] = tenant
        self._subscription_index.setdefault(tenant.subscription_id.lower(), {})[tenant.id] = tenant
        return tenant

    def get_tenant(self, tenant_id: str) -> Tenant:
        """The tenant with this GUID (case-insensitive), or 404."""
        tenant = self.tenants.get(tenant_id.lower()) if isinstance(tenant_id, str) else None
        if tenant is None:
            raise not_found("tenant", str(tenant_id))
        return tenant

    def catalog(self, subscription_id: str, resource_group: str, catalog: str) -> Tenant:
        """The tenant behind an ARM catalog path (names compared case-insensitively, as ARM does), or 404.

        Looked up in an index (:attr:`_catalog_index`), so the cost does not grow with the number of tenants."""
        tenant = self._catalog_index.get(_catalog_key(subscription_id, resource_group, catalog))
        if tenant is None or self.tenants.get(tenant.id) is not tenant:
            raise not_found("catalog", catalog)
        return tenant

    def catalogs(self, subscription_id: str, resource_group: str | None = None) -> list[Tenant]:
        """The catalogs of a subscription (and resource group), in creation order."""
        found = self._subscription_index.get(subscription_id.lower(), {}).values()
        return [
            t
            for t in found
            if self.tenants.get(t.id) is t
            and (resource_group is None or t.resource_group.lower() == resource_group.lower())
        ]

    # -- indexes: derived from the state above, rebuilt after a load, kept up to date where tenants and claims change

    @functools.cached_property
    def _catalog_index(self) -> dict[tuple[str, str, str], Tenant]:
        """(subscription, resource group, catalog), lower-cased → tenant."""
        return {_catalog_key(t.subscription_id, t.resource_group, t.catalog): t for t in self.tenants.values()}

    @functools.cached_property
    def _subscription_index(self) -> dict[str, dict[str, Tenant]]:
        """subscription (lower-cased) → its tenants by ID, in creation order."""
        index: dict[str, dict[str, Tenant]] = {}
        for tenant in self.tenants.values():
            index.setdefault(tenant.subscription_id.lower(), {})[tenant.id] = tenant
        return index

    @functools.cached_property
    def _tenant_devices(self) -> dict[str, dict[str, DeviceRecord]]:
        """tenant ID → the devices claimed into it (what :meth:`list_devices` reads instead of every device)."""
        index: dict[str, dict[str, DeviceRecord]] = {}
        for record in self.devices.values():
            if record.tenant_id is not None:
                index.setdefault(record.tenant_id, {})[record.id] = record
        return index

    @functools.cached_property
    def _generations_by_der(self) -> dict[bytes, CAGeneration]:
        """A tenant CA certificate's DER → its generation (what :meth:`generation_for` reads)."""
        return {g.issuer.cert_der: g for tenant in self.tenants.values() for g in tenant._generations}

    def generation_for(self, certificate: x509.Certificate) -> CAGeneration | None:
        """The tenant CA generation whose certificate this is (byte for byte), or None — e.g. for a certificate in a
        device's chain, to learn whether the Sphere security service has revoked it."""
        generation = self._generations_by_der.get(pki.to_der(certificate))
        if generation is None or self.tenants.get(generation.tenant.id) is not generation.tenant:
            return None
        return generation

    @functools.cached_property
    def ca_journal(self) -> list[x509.Certificate]:
        """Every tenant CA generation's certificate, in the order they appeared — built on first use, then appended
        to as generations appear, so a follower (the served TLS listeners' trust) reads only what is new."""
        return [g.certificate for tenant in self.tenants.values() for g in tenant._generations]

    def put_catalog(
        self,
        subscription_id: str,
        resource_group: str,
        name: str,
        *,
        location: Any = "global",
        tags: Any = None,
        creator: str | None = None,
    ) -> tuple[Tenant, bool]:
        """ARM create-or-replace of a catalog: ``(tenant, created)``.

        A new catalog is a new tenant with its first CA generation, and "the account that creates the catalog is
        automatically assigned the role of administrator" (Azure Sphere docs, *Manage catalog*): ``creator`` gets
        Administrator. A catalog is a global resource: any other ``location`` is 400. Replacing one replaces its
        tags (absent = none).
        """
        if not isinstance(name, str) or not CATALOG_NAME_PATTERN.match(name):
            raise bad_request(f"The catalog name '{name}' is invalid.", target=str(name), code="InvalidResourceName")
        if not isinstance(location, str) or location.lower() != "global":
            raise bad_request(
                f"The location '{location}' is not available for resource type 'Microsoft.AzureSphere/catalogs'. "
                "List of available regions for the resource type is 'global'.",
                target="location",
                code="LocationNotAvailableForResourceType",
            )
        checked_tags = check_tags(tags)
        try:
            existing = self.catalog(subscription_id, resource_group, name)
        except SphereError:
            existing = None
        if existing is not None:
            existing.tags = checked_tags
            return existing, False
        tenant = self.create_tenant(
            name=name, subscription_id=subscription_id, resource_group=resource_group, catalog=name
        )
        tenant.location, tenant.tags = location, checked_tags
        if creator is not None:
            self.create_user(creator, {tenant.id: ["Administrator"]})
        return tenant, True

    def update_catalog(self, tenant_id: str, *, tags: Any) -> Tenant:
        """ARM ``PATCH`` of a catalog: its tags are replaced by ``tags``."""
        tenant = self.get_tenant(tenant_id)
        tenant.tags = check_tags(tags)
        return tenant

    def delete_catalog(self, tenant_id: str) -> Tenant:
        """Remove a catalog (tenant) that holds no device — a claimed device stays in its catalog for good,
        so a catalog with devices is refused (400 ``InvalidParameters``); Azure's docs go further ("once a catalog is
        created, it cannot be deleted"), but the recorded service deleted an empty one."""
        tenant = self.get_tenant(tenant_id)
        count = len(self.list_devices(tenant.id))
        if count:
            raise SphereError(
                400, "InvalidParameters", f"The catalog has '{count}' devices claimed", target=tenant.catalog
            )
        del self.tenants[tenant.id]
        self._catalog_index.pop(_catalog_key(tenant.subscription_id, tenant.resource_group, tenant.catalog), None)
        self._subscription_index.get(tenant.subscription_id.lower(), {}).pop(tenant.id, None)
        for user in self.users.values():
            user.roles.pop(tenant.id, None)
        return tenant

    def revoke_generation(self, tenant_id: str, selector: str | None = None) -> CAGeneration:
        """Revoke a CA generation now (model-only: tests and fault scenarios; the real service does this itself).

        If the Active generation is revoked, the newest remaining valid generation becomes Active at once — if it
        will outlive the successor lead time; otherwise (none remains, or it expires before a successor would
        appear) a replacement is issued and is Active at once, so the tenant never ends up without an Active CA
        before the policy CA's end (:attr:`Tenant.chain_end`; past it nothing can be issued).
        If the newest generation is revoked while an older one stays Active, a replacement successor is issued that
        activates after the usual delay.
        """
        tenant = self.get_tenant(tenant_id)
        generation = tenant.find_generation(selector)
        now = self.clock.now()
        if not generation.usable(now):
            raise SphereError(
                409, "Conflict", f"The certificate '{generation.serial}' is already {generation.status(now)}."
            )
        was_active = generation.status(now) == "Active"
        generation.revoked_at = now
        remaining = [g for g in tenant._generations if g.usable(now)]
        can_issue = now < tenant.chain_end  # a replacement is valid from now until at most the policy CA's end
        if was_active:
            lead = timedelta(days=self.settings.pki.successor_lead_days)
            lasting = [g for g in remaining if g.not_after - lead > now]
            if lasting:
                promoted = max(lasting, key=lambda g: g.index)
                promoted.activates_at = min(promoted.activates_at, now)
            elif can_issue:
                tenant._add_generation(now, activates_at=now)
        elif generation is tenant._generations[-1] and can_issue:
            delay = timedelta(days=self.settings.pki.activation_delay_days)
            tenant._add_generation(now, activates_at=now + delay)
        return generation

    # -- users and tokens --------------------------------------------------------------------------------------

    def create_user(self, email: str, roles: dict[str, list[str]] | None = None) -> User:
        """A Sphere user, or the existing one with ``roles`` merged in (roles per tenant: Administrator,
        Contributor, Reader)."""
        if not isinstance(email, str) or "@" not in email:
            raise bad_request(f"'{email}' is not a user name (expected an e-mail address).", target="email")
        checked: dict[str, list[str]] = {}
        for tenant_id, tenant_roles in (roles or {}).items():
            tenant = self.get_tenant(tenant_id)
            unknown = [r for r in tenant_roles if r not in ROLES]
            if unknown:
                raise bad_request(f"Unknown role(s) {unknown}; expected {list(ROLES)}.", target="roles")
            checked[tenant.id] = list(tenant_roles)
        user = self.users.get(email.lower())
        if user is None:
            user = self.users[email.lower()] = User(email)
        for tenant_id, tenant_roles in checked.items():
            merged = user.roles.setdefault(tenant_id, [])
            merged.extend(r for r in tenant_roles if r not in merged)
        return user

    def issue_token(self, email: str, audience: Audience = "sphere", lifetime: timedelta | float | None = None) -> str:
        """An opaque bearer token for a known user. ``audience`` ``"sphere"`` is accepted by the legacy
        API, ``"arm"`` by ARM. ``lifetime`` defaults to ``settings.sphere.token_lifetime_s``."""
        user = self.users.get(email.lower()) if isinstance(email, str) else None
        if user is None:
            raise not_found("user", str(email))
        if audience not in ("sphere", "arm"):
            raise bad_request(f"Unknown token audience '{audience}'.", target="audience")
        if lifetime is None:
            lifetime = self.settings.sphere.token_lifetime_s
        if not isinstance(lifetime, timedelta):
            lifetime = timedelta(seconds=float(lifetime))
        token = f"sphere-{audience}-{self._token_entropy.seal(self._token_entropy.bytes(24)).hex()}"  # world-bound
        self._tokens[token] = _Token(user.email, audience, self.clock.now() + lifetime)
        return token

    def authenticate(self, token: str | None, audience: Audience) -> Principal:
        """Who ``token`` speaks for, or 401: missing, unknown, expired or for the other audience.

        ``code`` is ``AuthenticationFailed`` when no token came, ``InvalidAuthenticationToken`` otherwise.
        """
        if not token:
            raise SphereError(
                401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
            )
        if self.settings.sphere.auth_mode == "accept-any":
            return Principal(email="anyone@accept-any", audience=audience, everything=True)
        record = self._tokens.get(token)
        if record is None or record.audience != audience:
            raise SphereError(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if self.clock.now() >= record.expires_at:
            raise SphereError(401, "InvalidAuthenticationToken", "The access token has expired.")
        return Principal(email=record.email, audience=audience, user=self.users.get(record.email.lower()))

    def authorize(self, principal: Principal, tenant: Tenant, *, claim: bool = False, write: bool = False) -> list[str]:
        """The caller's roles in ``tenant``; 403 without any (or 404 with ``foreign_tenant_status=404``),
        403 for a claim — or any other change (``write``) — without Administrator or Contributor (a Reader reads)."""
        roles = principal.roles_in(tenant.id)
        if not roles:
            if self.settings.sphere.foreign_tenant_status == 404:
                raise not_found("tenant", tenant.id)
            raise SphereError(403, "AuthorizationFailed", f"The caller has no role in tenant '{tenant.id}'.")
        if claim and not CLAIM_ROLES.intersection(roles):
            raise SphereError(
                403, "AuthorizationFailed", "You must have Administrator or Contributor permissions to claim a device."
            )
        if write and not CLAIM_ROLES.intersection(roles):
            raise SphereError(
                403, "AuthorizationFailed", "You must have Administrator or Contributor permissions to make changes."
            )
        return roles

    def visible_tenants(self, principal: Principal) -> list[Tenant]:
        """The tenants the caller has a role in (``GET /v2/tenants``)."""
        return [t for t in self.tenants.values() if principal.roles_in(t.id)]

    # -- devices and claims ------------------------------------------------------------------------------------

    def create_device(self, device_id: str | None = None) -> SimulatedDeviceIdentity:
        """A simulated chip: 128 lower-hex ID from the world's entropy and its own P-256 key."""
        if device_id is None:
            device_id = self._device_entropy.hex(64)
        elif not isinstance(device_id, str) or not re.fullmatch(r"[0-9A-Fa-f]{128}", device_id):
            raise bad_request("A device ID is 128 hexadecimal characters.", target="device_id")
        device_id = device_id.lower()
        if device_id in self.devices:
            raise SphereError(409, "Conflict", f"The device '{device_id}' already exists.", target=device_id)
        identity = SimulatedDeviceIdentity(device_id, self._device_entropy.ec_private_key(ec.SECP256R1()))
        self.devices[device_id] = DeviceRecord(identity)
        return identity

    def get_device(self, device_id: str) -> DeviceRecord:
        """The record of a device known to the world (case-insensitive), or 404."""
        self._settle()
        record = self.devices.get(device_id.lower()) if isinstance(device_id, str) else None
        if record is None:
            raise not_found("device", str(device_id))
        return record

    def claim_device(self, tenant_id: str, device_id: str) -> ClaimOperation:
        """Claim one device into a tenant (legacy ``PUT …/devices/{id}/claim``, OperationType 0): once, for good."""
        return self.claim_devices(tenant_id, [device_id], operation_type=0)

    def claim_devices(
        self,
        tenant_id: str,
        device_ids: list[str],
        *,
        product: str | None = None,
        device_group: str | None = None,
        operation_type: int = 11,
    ) -> ClaimOperation:
        """Claim devices into a tenant, optionally into a product's device group (ARM ``claimDevices``).

        Validated before anything changes: IDs must match ``^[A-Za-z0-9-]{128}$`` (400), at most 1000
        (400), no duplicates (400), known to the world (404). A device already claimed — or with a claim pending —
        is a 409 in ``sync`` mode; in ``async`` mode it is accepted and the operation later reports it.
        ``.default``/``.unassigned`` product and group names mean "claim to the catalog only".
        """
        self._settle()
        tenant = self.get_tenant(tenant_id)
        group = None
        if product is not None or device_group is not None:
            # placeholder products hold only placeholder groups, real products only real ones
            group = tenant.product(product or ".default").device_group(device_group or ".default")
        if not isinstance(device_ids, list) or not device_ids:
            raise bad_request("At least one device identifier is required.", target="deviceIdentifiers")
        if len(device_ids) > MAX_BULK_CLAIM:
            raise bad_request(f"At most {MAX_BULK_CLAIM} devices can be claimed at once.", target="deviceIdentifiers")
        for device_id in device_ids:
            if not isinstance(device_id, str) or not DEVICE_ID_PATTERN.match(device_id):
                raise bad_request(f"'{device_id}' is not a valid device ID.", target="deviceIdentifiers")
        ids = [d.lower() for d in device_ids]
        if len(set(ids)) != len(ids):
            raise bad_request("A device ID appears more than once.", target="deviceIdentifiers")
        for device_id in ids:
            if device_id not in self.devices:
                raise not_found("device", device_id)
        conflicts = {d: self._claim_conflict(d, tenant) for d in ids if self._is_claimed_or_pending(d)}
        if conflicts and self.settings.sphere.claim_conflict_mode == "sync":
            raise next(iter(conflicts.values()))
        now = self.clock.now()
        operation = ClaimOperation(
            id=self._operation_entropy.uuid(),
            tenant_id=tenant.id,
            operation_type=operation_type,
            device_ids=ids,
            created_at=now,
            completes_at=now + timedelta(seconds=self.settings.sphere.claim_delay_s),
            product_id=None if group is None or group.is_placeholder else group.product.id,
            device_group_id=None if group is None or group.is_placeholder else group.id,
            failures=conflicts,
        )
        self.operations[operation.id] = operation
        self._pending[operation.id] = operation
        self._settle()
        return operation

    def move_device(self, tenant_id: str, device_id: str, device_group_id: str) -> ClaimOperation:
        """Legacy ``PUT …/devices/{id}/devicegroup``: move a device of this tenant into a device group (by ID) as
        an asynchronous ``DeviceUpdateDeviceGroup`` operation, applied like a claim after ``claim_delay_s``."""
        self._settle()
        tenant = self.get_tenant(tenant_id)
        record = self.get_device(device_id)
        if record.tenant_id != tenant.id:
            raise not_found("device", str(device_id))
        if not isinstance(device_group_id, str):
            raise bad_request("The body is the ID of the device group (a JSON string).", target="deviceGroupId")
        group = tenant.device_group_by_id(self._guid(device_group_id, "deviceGroupId"))
        return self._legacy_operation(tenant, MOVE_OPERATION, [record.id], group.product.id, group.id)

    def create_product_operation(self, tenant_id: str, product: Product) -> ClaimOperation:
        """The legacy ``CreateProduct`` operation reporting a product :meth:`create_product` made."""
        return self._legacy_operation(self.get_tenant(tenant_id), CREATE_PRODUCT_OPERATION, [], product.id, None)

    def _legacy_operation(
        self, tenant: Tenant, operation_type: int, device_ids: list[str], product_id: str | None, group_id: str | None
    ) -> ClaimOperation:
        now = self.clock.now()
        operation = ClaimOperation(
            id=self._operation_entropy.uuid(),
            tenant_id=tenant.id,
            operation_type=operation_type,
            device_ids=device_ids,
            created_at=now,
            completes_at=now + timedelta(seconds=self.settings.sphere.claim_delay_s),
            product_id=product_id,
            device_group_id=group_id,
        )
        self.operations[operation.id] = operation
        self._pending[operation.id] = operation
        self._settle()
        return operation

    def unclaim_device(self, tenant_id: str, device_id: str) -> DeviceRecord:
        """ARM ``Devices_Delete``. "A device can be claimed only once" and stays in its catalog, so this is
        400 ``InvalidParameters`` — unless ``sphere.arm_device_delete = "unclaim"``, which returns the device to the
        unclaimed pool (for tests of that path)."""
        tenant = self.get_tenant(tenant_id)
        record = self.get_device(device_id)
        if record.tenant_id != tenant.id:
            raise SphereError(404, "ResourceNotFound", "The requested device was not found", target=str(device_id))
        if self.settings.sphere.arm_device_delete != "unclaim":
            raise SphereError(
                400,
                "InvalidParameters",
                "A claimed device cannot be removed from its catalog: claiming is permanent.",
                target=record.id,
            )
        self._tenant_devices.get(record.tenant_id or "", {}).pop(record.id, None)
        record.tenant_id = record.product_id = record.device_group_id = None
        record.claimed_at = None
        return record

    def get_operation(self, tenant_id: str, operation_id: str) -> ClaimOperation:
        self._settle()
        operation = self.operations.get(operation_id.lower()) if isinstance(operation_id, str) else None
        if operation is None or operation.tenant_id != tenant_id.lower():
            raise not_found("operation", str(operation_id))
        return operation

    def list_devices(
        self, tenant_id: str, *, product_id: str | None = None, device_group_id: str | None = None
    ) -> list[DeviceRecord]:
        """Devices claimed into a tenant, in claim order; narrowed by product or device group ID when given."""
        self._settle()
        tenant = self.get_tenant(tenant_id)
        records = [r for r in self._tenant_devices.get(tenant.id, {}).values() if r.tenant_id == tenant.id]
        if product_id is not None:
            records = [r for r in records if r.product_id == product_id]
        if device_group_id is not None:
            records = [r for r in records if r.device_group_id == device_group_id]
        return sorted(records, key=lambda r: (r.claimed_at, r.id))

    def devices_in_group(self, tenant_id: str, product: str, device_group: str) -> list[DeviceRecord]:
        """ARM ``…/products/{p}/deviceGroups/{g}/devices``; the placeholder names list catalog-only devices."""
        group = self.get_tenant(tenant_id).product(product).device_group(device_group)
        if group.is_placeholder:
            return [r for r in self.list_devices(tenant_id) if r.device_group_id is None]
        return self.list_devices(tenant_id, device_group_id=group.id)

    def device_certificate_chain(self, device_id: str) -> list[x509.Certificate]:
        """``[leaf, tenant CA, policy CA, root]``: a fresh 24-hour certificate from the Active generation.

        ``CN`` is the device ID in the case of ``pki.device_cn_case``. A device not (yet) claimed has no
        tenant and therefore no certificate: 409 ``DeviceNotClaimed``.
        """
        record = self.get_device(device_id)
        if record.tenant_id is None:
            raise SphereError(409, "DeviceNotClaimed", f"The device '{record.id}' is not claimed into any tenant.")
        tenant = self.get_tenant(record.tenant_id)
        now = self.clock.now()
        generation = tenant.active_generation(now)
        if generation is None:
            raise SphereError(409, "NoActiveCertificate", f"Tenant '{tenant.id}' has no active CA certificate.")
        cn = record.id.upper() if self.settings.pki.device_cn_case == "upper" else record.id.lower()
        leaf = pki.make_device_certificate(
            generation.issuer, cn, record.identity.private_key.public_key(), tenant.entropy, now
        )
        return [leaf, generation.certificate, self.policy.certificate, self.root.certificate]

    # -- proofs ------------------------------------------------------------------------------------------------

    def issue_proof(self, tenant_id: str, code: str, thumbprint: str | None = None) -> x509.Certificate:
        """A proof-of-possession certificate ``CN=<code>`` signed by the generation named by ``thumbprint``
        (a thumbprint, a serial or an Active alias; default the Active generation).

        An Expired or Revoked generation signs nothing (404). The code must be 1–128 characters without
        control characters (400).
        """
        tenant = self.get_tenant(tenant_id)
        self.check_code(code)
        generation = self.usable_generation(tenant, thumbprint)
        p = self.settings.pki
        return pki.make_proof_certificate(
            generation.issuer,
            code,
            tenant.entropy,
            self.clock.now(),
            lifetime=timedelta(hours=p.proof_hours),
            backdate=timedelta(seconds=p.proof_backdate_s),
        )

    def usable_generation(self, tenant: Tenant, selector: str | None) -> CAGeneration:
        """The named generation if it may still be downloaded and sign (Active or Inactive), else 404."""
        generation = tenant.find_generation(selector)
        status = generation.status()
        if status not in ("Active", "Inactive"):
            raise SphereError(404, "ResourceNotFound", f"The certificate '{generation.serial}' is {status}.")
        return generation

    @staticmethod
    def check_code(code: Any) -> str:
        if not isinstance(code, str) or not code or len(code) > MAX_CODE_LENGTH:
            raise bad_request(
                f"A proof-of-possession nonce is 1 to {MAX_CODE_LENGTH} characters.", target="proofOfPossessionNonce"
            )
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in code):
            raise bad_request(
                "A proof-of-possession nonce cannot hold control characters.", target="proofOfPossessionNonce"
            )
        return code

    # -- observation -------------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything a request could change, as plain data (tests compare it before and after a refusal)."""
        self._settle()
        now = self.clock.now()
        return {
            "tenants": {
                t.id: (
                    t.name,
                    t.catalog,
                    t.subscription_id,
                    t.resource_group,
                    tuple((g.serial, g.status(now), g.activates_at, g.revoked_at) for g in t.generations),
                    tuple(
                        sorted(
                            (
                                p.name,
                                p.id,
                                p.description,
                                tuple(
                                    sorted((k, g.id, tuple(g.settings().items())) for k, g in p.device_groups.items())
                                ),
                            )
                            for p in t.products.values()
                        )
                    ),
                    tuple(sorted((i.id, i.sha256, i.regional_data_boundary) for i in t.images.values())),
                    t.location,
                    tuple(sorted(t.tags.items())),
                )
                for t in self.tenants.values()
            },
            "users": {u.email: {k: tuple(v) for k, v in u.roles.items()} for u in self.users.values()},
            "tokens": len(self._tokens),
            "devices": {
                d.id: (
                    d.tenant_id,
                    d.product_id,
                    d.device_group_id,
                    d.claimed_at,
                    d.last_installed_os,
                    d.last_available_os,
                    d.last_update_request,
                    d.last_os_update,
                )
                for d in self.devices.values()
            },
            "operations": {
                o.id: (o.tenant_id, tuple(o.device_ids), o.applied, tuple(o.failures)) for o in self.operations.values()
            },
            "arm_operations": {o.id: (o.action, o.resource_id, o.completes_at) for o in self.arm_operations.values()},
            "insights": len(self.insights),
        }

    # -- internals ---------------------------------------------------------------------------------------------

    def _is_claimed_or_pending(self, device_id: str) -> bool:
        if self.devices[device_id].tenant_id is not None:
            return True
        return any(device_id in o.device_ids and device_id not in o.failures for o in self._pending.values())

    def _claim_conflict(self, device_id: str, tenant: Tenant) -> SphereError:
        owner = self.devices[device_id].tenant_id
        where = "this tenant" if owner in (None, tenant.id) else "another tenant"
        return SphereError(
            409, "Conflict", f"The device '{device_id}' has already been claimed into {where}.", target=device_id
        )

    def _settle(self) -> None:
        """Apply every claim whose time has come (``sphere.claim_delay_s``)."""
        if not self._pending:
            return
        now = self.clock.now()
        for operation in list(self._pending.values()):
            if not operation.done(now):
                continue
            for device_id in operation.device_ids:
                if device_id in operation.failures:
                    continue
                record = self.devices[device_id]
                if operation.operation_type == MOVE_OPERATION:
                    if record.tenant_id != operation.tenant_id:
                        continue
                else:
                    record.tenant_id = operation.tenant_id
                    record.claimed_at = operation.completes_at
                    self._tenant_devices.setdefault(record.tenant_id, {})[record.id] = record
                record.product_id = operation.product_id
                record.device_group_id = operation.device_group_id
            operation.applied = True
            del self._pending[operation.id]

    @staticmethod
    def _guid(value: Any, what: str) -> str:
        try:
            return str(_uuid.UUID(str(value))).lower() if isinstance(value, str) and len(value) == 36 else _fail()
        except ValueError:
            raise bad_request(f"'{value}' is not a GUID.", target=what) from None


MAX_TAGS = 50


def check_tags(tags: Any) -> dict[str, str]:
    """ARM resource tags: at most 50, names 1–512 characters without ``<>%&\\?/``, values at most 256 characters."""
    if tags is None:
        return {}
    if not isinstance(tags, dict) or len(tags) > MAX_TAGS:
        raise bad_request(f"tags is an object of at most {MAX_TAGS} string values.", target="tags", code="InvalidTag")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 512 or any(c in key for c in "<>%&\\?/"):
            raise bad_request(f"The tag name '{key}' is invalid.", target="tags", code="InvalidTagNameCharacters")
        if not isinstance(value, str) or len(value) > 256:
            raise bad_request(
                f"The value of tag '{key}' is not a string of at most 256 characters.", target="tags", code="InvalidTag"
            )
    return dict(tags)


#: root and policy CAs of seeded worlds, by everything that determines their bytes (see :func:`_seeded_issuer`)
_SEEDED_ISSUERS: dict[tuple[Any, ...], pki.Issuer] = {}


def _seeded_issuer(key: tuple[Any, ...], make: Callable[[], pki.Issuer]) -> pki.Issuer:
    """The issuer ``make`` builds, built once per process for a seeded key.

    A seeded world's root and policy CAs are a pure function of the seed, the day the clock starts on (they date
    from its midnight UTC) and the settings (deterministic key derivation and RFC 6979 signatures), so two worlds
    with the same ``key`` get byte-identical CAs either way; building them is ~3 ms of P-384 work that a CI suite
    would otherwise repeat per scenario.
    :class:`~simulator.pki.Issuer` is immutable, so sharing it is safe. Unseeded worlds (a None seed in
    the key) always build their own.
    """
    if None in key:
        return make()
    issuer = _SEEDED_ISSUERS.get(key)
    if issuer is None:
        if len(_SEEDED_ISSUERS) >= 256:
            _SEEDED_ISSUERS.clear()
        issuer = _SEEDED_ISSUERS[key] = make()
    return issuer


def _catalog_key(subscription_id: str, resource_group: str, catalog: str) -> tuple[str, str, str]:
    """ARM compares these names case-insensitively."""
    return subscription_id.lower(), resource_group.lower(), catalog.lower()


def _fail() -> str:
    raise ValueError("not a GUID")

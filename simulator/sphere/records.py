"""The records the Azure Sphere model keeps, and what they and the service's parts ask of the service.

:class:`~simulator.sphere.model.SphereService` is one class made of parts — products and device groups
(:mod:`.products`), images and deployments (:mod:`.images`), capability images (:mod:`.capabilities`), device
reports (:mod:`.insights`), the ARM operation registry (:mod:`.operations`). The parts and the service work on the
same records: a tenant (= catalog) and its CA generations, its products, device groups, images and deployments;
devices; claim and ARM operations; the provisioning state of a resource. Those records live here, below both, so
that imports point one way — model → parts → records — and :class:`SphereCore` says what a part may ask of the
service it is part of (the service satisfies it).

Each record moved here from the module that first defined it, which still exports it; a world file names it as
before (``__codec_name__``, :mod:`simulator.state.codec`), so worlds written earlier still load.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from simulator import pki
from simulator.clock import Clock
from simulator.entropy import Entropy
from simulator.settings import Settings
from simulator.sphere.errors import SphereError, not_found

__all__ = [
    "ACTIVE_ALIASES",
    "GROUP_SETTINGS",
    "SPECIAL_NAMES",
    "ArmOperation",
    "CAGeneration",
    "ClaimOperation",
    "Deployment",
    "DeviceGroup",
    "DeviceInsight",
    "DeviceRecord",
    "GenerationStatus",
    "Image",
    "Product",
    "Provisioning",
    "SimulatedDeviceIdentity",
    "SphereCore",
    "Tenant",
]

GenerationStatus = Literal["Active", "Inactive", "Expired", "Revoked"]
# Serial aliases of the Active generation on ARM, compared case-insensitively.
ACTIVE_ALIASES = frozenset({".default", "default", "active"})

# the placeholders and device-group settings (their rules: products.py)
SPECIAL_NAMES = (".default", ".unassigned")
OS_FEED_TYPES = ("Retail", "RetailEval")
UPDATE_POLICIES = ("UpdateAll", "No3rdPartyAppUpdates")
CRASH_DUMP_SETTINGS = ("Enabled", "Disabled")
REGIONAL_DATA_BOUNDARIES = ("None", "EU")
#: the device-group settings a create or update may name, with the values each accepts
GROUP_SETTINGS: dict[str, tuple[str, ...]] = {
    "os_feed_type": OS_FEED_TYPES,
    "update_policy": UPDATE_POLICIES,
    "allow_crash_dumps": CRASH_DUMP_SETTINGS,
    "regional_data_boundary": REGIONAL_DATA_BOUNDARIES,
}


# --------------------------------------------------------------------------------------------------------------
# Provisioning state and ARM operations (the registry: operations.py)


@dataclass
class Provisioning:
    """A resource's ``provisioningState``: ``state`` until ``until`` on the world's clock, ``Succeeded`` after."""

    __codec_name__ = "simulator.sphere.operations:Provisioning"

    state: str = "Succeeded"
    until: datetime | None = None

    def at(self, now: datetime) -> str:
        return self.state if self.until is not None and now < self.until else "Succeeded"


@dataclass(eq=False)
class ArmOperation:
    """One accepted long-running ARM write.

    ``action`` is the swagger operationId (``Products_CreateOrUpdate`` …), ``resource_id`` the ARM ID it acts on,
    ``result`` what the operation's ``Location`` answers once done — plain data the ARM adapter interprets (which
    resource to show, or a payload such as a capability image); ``None`` answers ``204 No Content``.
    """

    __codec_name__ = "simulator.sphere.operations:ArmOperation"

    id: str
    subscription_id: str
    tenant_id: str
    action: str
    resource_id: str
    started_at: datetime
    completes_at: datetime
    result: dict[str, Any] | None = None
    claim_operation_id: str | None = None
    failure: SphereError | None = field(default=None, repr=False)


# --------------------------------------------------------------------------------------------------------------
# Products and device groups (their rules and the catalog: products.py)


@dataclass(eq=False)
class DeviceGroup:
    """A device group of a product; ``.default`` and ``.unassigned`` stand for "no group" (claim to catalog only)."""

    __codec_name__ = "simulator.sphere.products:DeviceGroup"

    id: str
    name: str
    product: Product = field(repr=False)
    description: str | None = None
    os_feed_type: str = "Retail"
    update_policy: str = "UpdateAll"
    allow_crash_dumps: str = "Disabled"
    regional_data_boundary: str = "None"
    #: by ID, oldest first; the last is current (a dict: the world's store writes one row per item)
    deployments: dict[str, Deployment] = field(default_factory=dict, repr=False)
    provisioning: Provisioning = field(default_factory=Provisioning, repr=False)

    @property
    def is_placeholder(self) -> bool:
        return self.name in SPECIAL_NAMES

    @property
    def current_deployment(self) -> Deployment | None:
        return next(reversed(self.deployments.values()), None)

    def settings(self) -> dict[str, Any]:
        """Everything a request can change, as plain data (snapshots compare it)."""
        return {
            "description": self.description,
            **{name: getattr(self, name) for name in GROUP_SETTINGS},
            "deployments": tuple(self.deployments),
        }


@dataclass(eq=False)
class Product:
    """A product of a tenant; ``.default`` and ``.unassigned`` stand for "no product"."""

    __codec_name__ = "simulator.sphere.products:Product"

    id: str
    name: str
    device_groups: dict[str, DeviceGroup] = field(default_factory=dict)  # keyed by lower-cased name
    description: str | None = None
    provisioning: Provisioning = field(default_factory=Provisioning, repr=False)

    @property
    def is_placeholder(self) -> bool:
        return self.name in SPECIAL_NAMES

    def device_group(self, name: str) -> DeviceGroup:
        group = self.device_groups.get(name.lower()) if isinstance(name, str) else None
        if group is None:
            raise not_found("device group", str(name))
        return group

    def real_groups(self) -> list[DeviceGroup]:
        """The groups a user created (placeholders left out), in creation order."""
        return [g for g in self.device_groups.values() if not g.is_placeholder]


# --------------------------------------------------------------------------------------------------------------
# Images and deployments (the catalog: images.py)


@dataclass(eq=False)
class Image:
    """An uploaded image package: its GUID, its bytes (kept, never parsed) and where it may be stored."""

    __codec_name__ = "simulator.sphere.images:Image"

    id: str
    tenant_id: str
    data: bytes = field(repr=False)
    uploaded_at: datetime
    regional_data_boundary: str = "None"
    description: str | None = None
    provisioning: Provisioning = field(default_factory=Provisioning, repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(eq=False)
class Deployment:
    """An immutable set of images targeted at one device group."""

    __codec_name__ = "simulator.sphere.images:Deployment"

    id: str
    group: DeviceGroup = field(repr=False)
    images: tuple[Image, ...]
    deployed_at: datetime
    provisioning: Provisioning = field(default_factory=Provisioning, repr=False)


# --------------------------------------------------------------------------------------------------------------
# Device insights (the reports: insights.py)


@dataclass(frozen=True)
class DeviceInsight:
    """One reported kind of event of one device over ``[start, end]``."""

    __codec_name__ = "simulator.sphere.insights:DeviceInsight"

    tenant_id: str
    device_id: str
    description: str
    start: datetime
    end: datetime
    event_category: str
    event_class: str
    event_type: str
    event_count: int


# --------------------------------------------------------------------------------------------------------------
# Tenant CA generations


@dataclass(eq=False)
class CAGeneration:
    """One tenant CA certificate and its key, with the instants that drive its status.

    ``activates_at`` is when this generation becomes the one that issues device certificates; the status of a
    generation also depends on its siblings (a newer Active generation makes it ``Inactive``), so it is asked of
    the generation but answered by the tenant.
    """

    __codec_name__ = "simulator.sphere.model:CAGeneration"

    tenant: Tenant = field(repr=False)
    index: int
    issuer: pki.Issuer = field(repr=False)
    activates_at: datetime
    revoked_at: datetime | None = None

    @property
    def certificate(self) -> x509.Certificate:
        return self.issuer.certificate

    @property
    def thumbprint(self) -> str:
        """SHA-1 of the DER, 40 uppercase hex."""
        return pki.thumbprint(self.certificate)

    @property
    def serial(self) -> str:
        """The X.509 serial as uppercase hex, the ARM certificate ``name``."""
        return pki.serial_hex(self.certificate)

    @property
    def not_before(self) -> datetime:
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    def status(self, now: datetime | None = None) -> GenerationStatus:
        """``Active`` | ``Inactive`` | ``Expired`` | ``Revoked`` at ``now`` (default: the world's now)."""
        return self.tenant.generation_status(self, now)

    def usable(self, now: datetime | None = None) -> bool:
        """May sign proofs (Active or Inactive)."""
        return self.status(now) in ("Active", "Inactive")


# --------------------------------------------------------------------------------------------------------------
# Devices


@dataclass(eq=False)
class SimulatedDeviceIdentity:
    """What a chip holds: its 128-hex device ID and its own P-256 key. Created by the simulator, not Azure."""

    __codec_name__ = "simulator.sphere.model:SimulatedDeviceIdentity"

    id: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)


@dataclass(eq=False)
class DeviceRecord:
    """The service's record of a device: which tenant (once claimed), product and device group it belongs to."""

    __codec_name__ = "simulator.sphere.model:DeviceRecord"

    identity: SimulatedDeviceIdentity
    tenant_id: str | None = None
    product_id: str | None = None
    device_group_id: str | None = None
    claimed_at: datetime | None = None
    chip_sku: int = 0  # 0 = MT3620AN
    # filled by OS update checks (insights.py); absent until the device first asks
    last_installed_os: str | None = None
    last_available_os: str | None = None
    last_update_request: datetime | None = None
    last_os_update: datetime | None = None

    @property
    def id(self) -> str:
        return self.identity.id


@dataclass(eq=False)
class Tenant:
    """A legacy tenant, which is also an ARM catalog."""

    __codec_name__ = "simulator.sphere.model:Tenant"

    service: SphereCore = field(repr=False)
    id: str
    name: str
    catalog: str
    subscription_id: str
    resource_group: str
    created_at: datetime
    entropy: Entropy = field(repr=False)
    products: dict[str, Product] = field(default_factory=dict)  # keyed by lower-cased name
    images: dict[str, Image] = field(default_factory=dict)  # keyed by lower-case image GUID
    location: str = "global"  # the ARM location the catalog was created in (always global)
    tags: dict[str, str] = field(default_factory=dict)  # ARM tags of the catalog
    _generations: list[CAGeneration] = field(default_factory=list, repr=False)

    @property
    def generations(self) -> list[CAGeneration]:
        """Every CA generation that exists at the world's now, oldest first."""
        self.roll()
        return list(self._generations)

    def roll(self, now: datetime | None = None) -> None:
        """Create every successor whose creation time (predecessor notAfter − lead) has come."""
        now = now or self.service.clock.now()
        lead = timedelta(days=self.service.settings.pki.successor_lead_days)
        delay = timedelta(days=self.service.settings.pki.activation_delay_days)
        while True:
            newest = self._generations[-1]
            due = newest.not_after - lead
            if due > now or newest.not_after >= self.chain_end:
                return  # not yet due, or the newest already ends with the policy CA: a successor could not outlive it
            self._add_generation(due, activates_at=due + delay)

    @property
    def chain_end(self) -> datetime:
        """When the policy CA above every generation expires: no tenant CA is valid past it (the fake does not
        rotate the policy CA), so generations stop there."""
        return self.service.policy.certificate.not_valid_after_utc

    def _add_generation(self, not_before: datetime, *, activates_at: datetime) -> CAGeneration:
        issuer = pki.make_tenant_ca(self.service.policy, self.id, self.entropy, not_before)
        generation = CAGeneration(self, len(self._generations), issuer, activates_at)
        self._generations.append(generation)
        journal = self.service.__dict__.get("ca_journal")  # only once someone follows it (SphereService.ca_journal)
        if journal is not None:
            journal.append(generation.certificate)
        by_der = self.service.__dict__.get("_generations_by_der")
        if by_der is not None:
            by_der[issuer.cert_der] = generation
        return generation

    def active_generation(self, now: datetime | None = None) -> CAGeneration | None:
        """The generation that issues device certificates now: of the unrevoked, unexpired generations whose
        activation has come, the one activated last. Should activation lag expiry (lead ≤ delay), the
        earliest-activating valid generation stands in, so a tenant with a valid CA always has an Active one."""
        now = now or self.service.clock.now()
        self.roll(now)
        valid = [g for g in self._generations if g.revoked_at is None and now <= g.not_after and g.not_before <= now]
        if not valid:
            return None
        activated = [g for g in valid if g.activates_at <= now]
        if activated:
            return max(activated, key=lambda g: (g.activates_at, g.index))
        return min(valid, key=lambda g: (g.activates_at, g.index))

    def generation_status(self, generation: CAGeneration, now: datetime | None = None) -> GenerationStatus:
        now = now or self.service.clock.now()
        if generation.revoked_at is not None and generation.revoked_at <= now:
            return "Revoked"
        if now > generation.not_after:
            return "Expired"
        return "Active" if self.active_generation(now) is generation else "Inactive"

    def find_generation(self, selector: str | None = None) -> CAGeneration:
        """The generation named by thumbprint, serial or an Active alias; ``None`` = the Active one.

        Matching is case-insensitive; an unknown name is 404.
        """
        now = self.service.clock.now()
        if selector is None or selector.strip().lower() in ACTIVE_ALIASES:
            active = self.active_generation(now)
            if active is None:
                raise not_found("active certificate of tenant", self.id)
            return active
        wanted = selector.strip().upper()
        for generation in self.generations:
            if wanted in (generation.thumbprint, generation.serial):
                return generation
        raise not_found("certificate", selector)

    def product(self, name: str) -> Product:
        product = self.products.get(name.lower())
        if product is None:
            raise not_found("product", name)
        return product

    def product_by_id(self, product_id: str) -> Product:
        for product in self.products.values():
            if product.id.lower() == product_id.lower() and not product.is_placeholder:
                return product
        raise not_found("product", product_id)

    def device_group_by_id(self, group_id: str) -> DeviceGroup:
        for product in self.products.values():
            for group in product.device_groups.values():
                if group.id.lower() == group_id.lower() and not group.is_placeholder:
                    return group
        raise not_found("device group", group_id)


# --------------------------------------------------------------------------------------------------------------
# Claim operations


@dataclass(eq=False)
class ClaimOperation:
    """An asynchronous claim (legacy ``Operation``, ARM ``operationStatuses``) — or another legacy operation that
    works the same way: moving a device to a device group (type 2) or creating a product (type 4).

    The claim takes effect ``claim_delay_s`` after it was accepted: until then the legacy ``State`` is
    1 (InProgress) and the ARM poll answers 202. Conflicts found at request time in ``async`` mode are held
    in ``failures`` and reported once the operation completes.
    """

    __codec_name__ = "simulator.sphere.model:ClaimOperation"

    id: str
    tenant_id: str
    operation_type: int  # 0 DeviceClaim, 11 BulkDeviceClaim
    device_ids: list[str]
    created_at: datetime
    completes_at: datetime
    product_id: str | None = None
    device_group_id: str | None = None
    failures: dict[str, SphereError] = field(default_factory=dict)
    applied: bool = False

    def done(self, now: datetime) -> bool:
        return now >= self.completes_at

    def state(self, now: datetime) -> int:
        """0 NotStarted (never shown after creation), 1 InProgress, 2 Complete, 3 Failed, 4 CompleteWithErrors."""
        if not self.done(now):
            return 1
        if not self.failures:
            return 2
        return 3 if len(self.failures) == len(self.device_ids) else 4

    @property
    def error(self) -> SphereError | None:
        """The first failure, as the operation's ``Error``."""
        return next(iter(self.failures.values()), None)


# --------------------------------------------------------------------------------------------------------------
# What the parts ask of the service


class SphereCore(Protocol):
    """The service as its records and parts see it: :class:`~simulator.sphere.model.SphereService` satisfies it.

    A part's methods take ``self: SphereCore``: they run on the whole service, and may use what the service itself
    keeps and does (its clock, settings, policy CA, devices and operations; finding a tenant or a device; settling
    due claims) and what another part offers (a product's groups, an image, a deployment).
    """

    clock: Clock
    settings: Settings
    policy: pki.Issuer
    tenants: dict[str, Tenant]
    devices: dict[str, DeviceRecord]
    operations: dict[str, ClaimOperation]
    arm_operations: dict[str, ArmOperation]
    insights: dict[str, DeviceInsight]
    _operation_entropy: Entropy

    def get_tenant(self, tenant_id: str) -> Tenant: ...
    def get_device(self, device_id: str) -> DeviceRecord: ...
    def list_devices(
        self, tenant_id: str, *, product_id: str | None = None, device_group_id: str | None = None
    ) -> list[DeviceRecord]: ...
    def _settle(self) -> None: ...

    # products.py
    def create_product(
        self, tenant_id: str, name: str, description: str | None = None, *, create_default_groups: bool = False
    ) -> Product: ...
    def real_products(self, tenant_id: str) -> list[Product]: ...
    def create_device_group(self, tenant_id: str, product_name: str, name: str, **settings: Any) -> DeviceGroup: ...
    def group_of(self, tenant_id: str, product: str, device_group: str) -> DeviceGroup: ...
    def _add_default_groups(self, tenant: Tenant, product: Product) -> list[DeviceGroup]: ...
    def _real_group(self, tenant_id: str, product_name: str, name: str) -> DeviceGroup: ...

    # images.py
    def get_image(self, tenant_id: str, image_id: str) -> Image: ...
    def get_deployment(self, tenant_id: str, product: str, device_group: str, name: str) -> Deployment: ...
    def _all_groups(self, tenant: Tenant) -> list[DeviceGroup]: ...

    # insights.py
    def _claimed(self, device_id: str) -> DeviceRecord: ...

# ruff: noqa: RUF009  -- `doc()` is dataclasses.field() with its help text, evaluated once like field() itself
"""Every portal page's context as a documented dataclass, and its JSON twin.

A template sees exactly ``request``, ``urls`` (:class:`~simulator.portal.urls.Urls`), ``messages`` (flash
messages), ``nav_open`` (the learner left the sidebar expanded), ``shell`` (:class:`Shell`: the app and user in the
header) and ``page`` — one of the classes below. Each
field carries its help text (``field(metadata={"help": …})``); :meth:`PageContext.documented_fields` lists them and
the tests check that nothing undocumented reaches a template. ``GET <page>.json`` answers ``page.to_json()``.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from simulator.portal.checklist import Step

GROUP_TYPES = {"iot": "IoT devices", "iotEdge": "IoT Edge devices"}
ATTESTATION_TYPES = {"x509": "Certificates (X.509)", "symmetricKey": "Shared access signature (SAS)"}
ENTRY_LABELS = {"primary": "Primary", "secondary": "Secondary"}


def doc(help: str, default: Any = MISSING, factory: Any = MISSING) -> Any:
    """A dataclass field with its help text."""
    if factory is not MISSING:
        return field(default_factory=factory, metadata={"help": help})
    if default is not MISSING:
        return field(default=default, metadata={"help": help})
    return field(metadata={"help": help})


class PageContext:
    """Base of every page context."""

    @classmethod
    def documented_fields(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass
class Shell(PageContext):
    """The header every signed-in page shows."""

    app_name: str = doc("the application's display name")
    subdomain: str = doc("the application's subdomain (its URL's first label)")
    user: str = doc("the signed-in user")
    section: str = doc("the sidebar entry of this page: home, devices, checklist, device-connection", "home")


@dataclass
class HomePage(PageContext):
    """The application's home page."""

    app_id: str = doc("the application ID (a GUID)")
    id_scope: str = doc("the ID scope devices give DPS")
    done: int = doc("checklist steps done")
    total: int = doc("checklist steps in all")


@dataclass
class GroupRow(PageContext):
    """One enrollment group as the list shows it."""

    id: str = doc("the enrollment group ID")
    name: str = doc("its display name")
    group_type: str = doc("IoT devices or IoT Edge devices")
    attestation: str = doc("Certificates (X.509) or Shared access signature (SAS)")
    enabled: bool = doc("whether devices may join through it")
    primary: str = doc("the primary certificate's state: none, Unverified or Verified", "")
    secondary: str = doc("the secondary certificate's state: none, Unverified or Verified", "")


@dataclass
class GroupsPage(PageContext):
    """Administration › Device Connection: the enrollment groups of the app."""

    groups: list[GroupRow] = doc("every enrollment group, in creation order", factory=list)


@dataclass
class NewGroupPage(PageContext):
    """The + New form of an enrollment group."""

    name: str = doc("the name typed so far (kept after a refusal)", "")
    group_type: str = doc("the chosen group type (API value)", "iot")
    attestation_type: str = doc("the chosen attestation type (API value)", "x509")
    group_types: dict[str, str] = doc("group types: API value → label", factory=lambda: dict(GROUP_TYPES))
    attestation_types: dict[str, str] = doc(
        "attestation types: API value → label", factory=lambda: dict(ATTESTATION_TYPES)
    )


@dataclass
class EntryRow(PageContext):
    """One certificate slot of an X.509 group."""

    name: str = doc("primary or secondary")
    label: str = doc("Primary or Secondary")
    uploaded: bool = doc("whether a certificate is uploaded")
    verified: bool = doc("whether it is verified")
    thumbprint: str = doc("its SHA-1 thumbprint (empty when none)", "")


@dataclass
class GroupPage(PageContext):
    """One enrollment group, with + Manage primary and + Manage secondary for X.509."""

    group: GroupRow = doc("the group")
    entries: list[EntryRow] = doc("its certificate slots (X.509 only)", factory=list)


@dataclass
class EntryPage(PageContext):
    """The + Manage primary (or secondary) panel and its certificate dialog."""

    group_id: str = doc("the enrollment group ID")
    group_name: str = doc("the group's display name")
    entry: str = doc("primary or secondary")
    label: str = doc("Primary or Secondary")
    uploaded: bool = doc("whether a certificate is uploaded in this slot")
    file_name: str = doc("the name of the file uploaded in this browser session, else a description", "")
    subject: str = doc("the uploaded certificate's subject", "")
    thumbprint: str = doc("the uploaded certificate's thumbprint", "")
    verification_code: str = doc("the current verification code (empty when none)", "")
    verified: bool = doc("whether the certificate is verified", False)
    dialog_open: bool = doc("whether the certificate dialog is open", False)


@dataclass
class DeviceRow(PageContext):
    """One device as the Devices page lists it."""

    name: str = doc("display name")
    id: str = doc("device ID")
    status: str = doc("Provisioned, Registered, Waiting for approval or Blocked")
    template: str = doc("the device template, or Unassigned")


@dataclass
class DevicesPage(PageContext):
    """The Devices page."""

    devices: list[DeviceRow] = doc("every device of the app", factory=list)


@dataclass
class ChecklistPage(PageContext):
    """The unit's steps, ticked from the world's state."""

    steps: list[Step] = doc("the seven steps with status, next action or why it is wrong", factory=list)
    done: int = doc("steps done", 0)
    total: int = doc("steps in all", 0)


@dataclass
class TraineeRow(PageContext):
    """One trainee on the instructor page."""

    name: str = doc("the trainee's name")
    app: str = doc("the trainee's app subdomain")
    tenant: str = doc("the trainee's tenant name")
    done: int = doc("steps done")
    total: int = doc("steps in all")
    steps: list[Step] = doc("the trainee's checklist", factory=list)


@dataclass
class HelpRow(PageContext):
    """A trainee with a step done wrongly (the instructor page's "Needs help")."""

    trainee: str = doc("the trainee's name")
    step: int = doc("the step's number (1-based)")
    title: str = doc("the step's title")
    why: str = doc("why it is wrong, as the trainee's checklist says")


@dataclass
class InstructorPage(PageContext):
    """Every trainee's checklist at a glance."""

    trainees: list[TraineeRow] = doc("every trainee, in roster order", factory=list)
    step_titles: list[str] = doc("the column headings: the unit's steps", factory=list)
    finished: int = doc("trainees with every step done", 0)
    needs_help: list[HelpRow] = doc("every step done wrongly, by trainee, with why", factory=list)


@dataclass
class SignInPage(PageContext):
    """Shown instead of a page when the request has no (matching) sign-in."""

    reason: str = doc("why a sign-in is needed")


@dataclass
class ErrorPage(PageContext):
    """An error, in the service's words."""

    status: int = doc("the HTTP status")
    title: str = doc("a short title")
    message: str = doc("the message (for a refusal by IoT Central: the model's message)")

"""The step machinery: how a step kind is declared, and what a running step can reach.

A step kind is a function registered under a dotted name, with a pydantic model for its arguments::

    class DownloadArgs(StepArgs):
        destination: str = "CAcertificate.cer"

    @step("sphere.ca-certificate.download", DownloadArgs)
    def download(ctx: StepContext, args: DownloadArgs) -> dict:
        der = ctx.sphere().get_certificate(ctx.tenant().tenant_id)
        return {"path": str(ctx.write(args.destination, der))}

The function's return value is what ``save_as`` stores. It fails by raising: a
:class:`~harness.clients.errors.ServiceError` from a client (which ``expect_error`` may expect), a
:class:`StepFailure` for a broken expectation. ``fake_only=True`` marks steps that use the simulator control
surface; a scenario that uses one cannot declare the ``live`` target.

**What a step does to the world** is declared with it, for live runs: ``effect`` is ``"read"`` (it only looks),
``"create"``, ``"change"`` or ``"delete"`` (it writes; ``--plan`` lists it and sends nothing), or ``"local"`` (it
sends nothing at all, like ``expect``); ``irreversible=True`` marks what Azure cannot undo (claiming a device),
which a live run skips unless ``--allow-irreversible`` is given. Fake-only steps need neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from harness.session import Session


class StepArgs(BaseModel):
    """Base of every step's argument model: unknown arguments are errors."""

    model_config = ConfigDict(extra="forbid")


class NoArgs(StepArgs):
    """A step that takes no arguments."""


class StepFailure(Exception):
    """A step did not do what it promised (an expectation failed, a value is missing). ``detail`` may hold a diff."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message if not self.detail else f"{self.message}\n{self.detail}"


StepFunction = Callable[["StepContext", Any], Any]
#: what a step does to the world it runs against (see the module docstring)
Effect = Literal["read", "create", "change", "delete", "local"]
EFFECTS: tuple[str, ...] = ("read", "create", "change", "delete", "local")


@dataclass(frozen=True)
class StepType:
    """A registered step kind."""

    kind: str
    function: StepFunction
    args: type[StepArgs]
    fake_only: bool
    summary: str
    #: what ``save_as`` stores, when it is a mapping: its keys and what each holds (docs/steps.md, and
    #: ``validate`` checks ``{name.key}`` against them); None when the value is not a mapping of known keys
    saves: dict[str, str] | None = None
    #: read / create / change / delete / local; ``None`` only for fake-only steps
    effect: Effect | None = None
    #: Azure cannot undo it (a device claim): live runs skip it without ``--allow-irreversible``
    irreversible: bool = False


_REGISTRY: dict[str, StepType] = {}


def step(
    kind: str,
    args: type[StepArgs] = NoArgs,
    *,
    fake_only: bool = False,
    saves: dict[str, str] | None = None,
    effect: Effect | None = None,
    irreversible: bool = False,
) -> Callable[[StepFunction], StepFunction]:
    """Register ``function`` as step kind ``kind`` (``family.thing.verb``); ``saves`` names the keys of its value,
    ``effect`` and ``irreversible`` what it does to a live world (required unless ``fake_only``)."""
    if effect is not None and effect not in EFFECTS:
        raise ValueError(f"step kind {kind!r}: effect {effect!r} is not one of {', '.join(EFFECTS)}")
    if effect is None and not fake_only:
        raise ValueError(f"step kind {kind!r} can run live, so it must declare its effect ({', '.join(EFFECTS)})")

    def register(function: StepFunction) -> StepFunction:
        if kind in _REGISTRY and _REGISTRY[kind].function is not function:
            raise ValueError(f"step kind {kind!r} is registered twice")
        summary = (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else ""
        _REGISTRY[kind] = StepType(kind, function, args, fake_only, summary, saves, effect, irreversible)
        return function

    return register


@dataclass
class StepContext:
    """What a running step reaches: the target session (clients, control, given tenants and apps) and the run."""

    session: Session
    variables: dict[str, Any]

    # -- shorthands over the session --

    @property
    def live(self) -> bool:
        return self.session.live

    def tenant(self, key: str | None = None) -> Any:
        return self.session.tenant(key)

    def app(self, key: str | None = None) -> Any:
        return self.session.app(key)

    def sphere(self, key: str | None = None) -> Any:
        return self.session.sphere(key)

    def arm(self, key: str | None = None) -> Any:
        return self.session.arm(key)

    def central(self, key: str | None = None) -> Any:
        return self.session.central(key)

    @property
    def control(self) -> Any:
        if self.session.control is None:
            raise StepFailure("this target has no simulator control surface (fake-only step on a live target)")
        return self.session.control

    # -- files in the work folder --

    def path(self, name: str) -> Path:
        """``name`` inside the run's work folder (absolute paths are used as they are)."""
        candidate = Path(name)
        return candidate if candidate.is_absolute() else self.session.workdir / candidate

    def write(self, name: str, data: bytes) -> Path:
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return target

    def read(self, name: str) -> bytes:
        target = self.path(name)
        try:
            return target.read_bytes()
        except OSError as exc:
            raise StepFailure(f"cannot read {target}: {exc.strerror or exc}") from None

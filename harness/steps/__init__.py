"""Step kinds, by family: ``sphere.*``, ``central.*``, ``expect``, fake-only ``sim.*`` — and later ``device.*``.

Each family is one module of this package that registers its kinds with :func:`harness.steps.base.step` when
imported. :func:`registry` imports the families listed in :data:`FAMILIES` and then every *optional* family in
:data:`OPTIONAL_FAMILIES` whose module exists.

**Adding a family** (e.g. the DPS/device steps): create ``harness/steps/device.py`` that defines its kinds with
``@step("device.register", DeviceRegisterArgs, fake_only=True)``. It is picked up automatically because
``"device"`` is already listed in :data:`OPTIONAL_FAMILIES`; nothing else needs to change. A step reaches the
world through ``ctx.session`` (clients of the wire contracts, ``ctx.control`` for ``/_sim``; the served target's
endpoints, including the DPS ``host``/``mqtt_port``, are in ``ctx.session.endpoints``).
"""

from __future__ import annotations

import importlib
import importlib.util

from harness.steps.base import NoArgs, StepArgs, StepContext, StepFailure, StepType, step

#: families every installation has
FAMILIES: tuple[str, ...] = ("sphere", "central", "expect", "sim")
#: families that plug in when their module exists — the registration point for ``harness/steps/device.py``
OPTIONAL_FAMILIES: tuple[str, ...] = ("device",)

_loaded = False


def registry() -> dict[str, StepType]:
    """Every registered step kind by name (imports the family modules on first use)."""
    global _loaded
    if not _loaded:
        for family in FAMILIES:
            importlib.import_module(f"{__name__}.{family}")
        for family in OPTIONAL_FAMILIES:
            if importlib.util.find_spec(f"{__name__}.{family}") is not None:
                importlib.import_module(f"{__name__}.{family}")
        _loaded = True
    from harness.steps.base import _REGISTRY

    return dict(_REGISTRY)


__all__ = [
    "FAMILIES",
    "OPTIONAL_FAMILIES",
    "NoArgs",
    "StepArgs",
    "StepContext",
    "StepFailure",
    "StepType",
    "registry",
    "step",
]

"""What makes a lab: two environment variables naming the lab folder and the served world's endpoints file.

``sphere-harness lab env`` prints, and ``sphere-harness lab shell`` sets::

    SPHERE_HARNESS_LAB=/abs/path/.sphere-harness-lab        # the lab folder: shims in bin/, sign-in state
    SPHERE_HARNESS_LAB_ENDPOINTS=/abs/path/endpoints.json   # the served world the shims talk to
    PATH=/abs/path/.sphere-harness-lab/bin:$PATH

A shim started without them — a copied script, a ``PATH`` left over after the lab ended — refuses with
:class:`NotInLab` (exit 2) instead of pretending to be the real Azure Sphere CLI or Azure CLI.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_HOME = "SPHERE_HARNESS_LAB"
ENV_ENDPOINTS = "SPHERE_HARNESS_LAB_ENDPOINTS"
LAB_FOLDER_NAME = ".sphere-harness-lab"
EXIT_NOT_IN_LAB = 2


class NotInLab(Exception):
    """A shim ran outside a lab environment, or the lab's endpoints file cannot be used."""


def refusal(tool: str, reason: str) -> str:
    """The one-line refusal a shim prints (prefixed like the real CLIs' ``ERROR:`` lines)."""
    return (
        f"ERROR: this '{tool}' is the sphere-harness lab shim, not the real tool, and {reason}. "
        f'Start a lab first: eval "$(sphere-harness lab env --endpoints-file endpoints.json)" '
        "or sphere-harness lab shell --endpoints-file endpoints.json"
    )


@dataclass(frozen=True)
class Lab:
    """A lab: its folder (``home``) and the endpoints of the served world it drives."""

    home: Path
    endpoints_file: Path
    endpoints: dict[str, Any]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Lab:
        """The lab the environment names; :class:`NotInLab` when there is none or it is unusable."""
        env = os.environ if environ is None else environ
        home, endpoints_file = env.get(ENV_HOME), env.get(ENV_ENDPOINTS)
        if not home or not endpoints_file:
            raise NotInLab("it only works inside a lab environment")
        return cls.open(Path(home), Path(endpoints_file))

    @classmethod
    def open(cls, home: Path, endpoints_file: Path) -> Lab:
        try:
            endpoints = json.loads(endpoints_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotInLab(
                f"the lab's endpoints file {endpoints_file} does not exist (is the world still served?)"
            ) from None
        except (OSError, ValueError) as exc:
            raise NotInLab(f"the lab's endpoints file {endpoints_file} cannot be read: {exc}") from None
        if not isinstance(endpoints, dict) or not isinstance(endpoints.get("sphere"), dict):
            raise NotInLab(f"{endpoints_file} is not a sphere-harness endpoints file")
        return cls(home.resolve(), endpoints_file.resolve(), resolve_bundle(endpoints, endpoints_file))

    @property
    def sphere(self) -> dict[str, Any]:
        return self.endpoints["sphere"]

    @property
    def ca_bundle(self) -> str:
        return str(self.endpoints.get("ca_bundle") or "")

    def state_dir(self, tool: str) -> Path:
        """Where one tool keeps its sign-in state (``<home>/<tool>``), created on demand."""
        folder = self.home / tool
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def resolve_bundle(endpoints: dict[str, Any], endpoints_file: Path) -> dict[str, Any]:
    """The endpoints with ``ca_bundle`` made absolute: a classroom writes it relative to the file (``ca.pem``), so
    a trainee's folder works wherever it is copied."""
    bundle = endpoints.get("ca_bundle")
    if isinstance(bundle, str) and bundle and not Path(bundle).is_absolute():
        endpoints = {**endpoints, "ca_bundle": str((endpoints_file.resolve().parent / bundle).resolve())}
    return endpoints


def default_home(endpoints_file: Path) -> Path:
    """The lab folder of an endpoints file: ``.sphere-harness-lab`` beside it."""
    return endpoints_file.resolve().parent / LAB_FOLDER_NAME

"""``sphere-harness run … --step``: pause before each step, say what it will do, then show what a learner looks for.

A trainer demonstrating the unit runs the seed scenario one step at a time::

    sphere-harness run enable-trust --step

Before each step the runner's ``before`` event shows the step (its name, kind and arguments) and waits for Enter
(``q`` then Enter stops pausing); after it the ``step`` event shows the usual result line and the values a learner
looks for in its outcome — the verification code, thumbprints, the verified state, the proof's subject CN.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

#: keys of a step's saved value worth showing a learner, in this order
LOOK_FOR = ("verificationCode", "code", "thumbprint", "common_name", "verified", "status", "path", "device_id")


def looked_for(value: Any) -> list[tuple[str, str]]:
    """The interesting (key, value) pairs of a step's result (a string result is shown as it is)."""
    if isinstance(value, str):
        return [("value", value)]
    if not isinstance(value, dict):
        return []
    found = []
    for key in LOOK_FOR:
        if key in value and value[key] is not None:
            found.append((key, str(value[key])))
    info = value.get("info")
    if isinstance(info, dict) and info.get("sha1Thumbprint"):
        found.append(("thumbprint", str(info["sha1Thumbprint"])))
    return found


class StepThrough:
    """A runner listener that pauses before each step and shows values after it; wraps another listener."""

    def __init__(
        self,
        inner: Callable[[str, Any], None],
        *,
        read: Callable[[], str] | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.inner = inner
        self.read = read or (lambda: sys.stdin.readline())
        self.out = out or sys.stdout
        self.pausing = True

    def __call__(self, event: str, payload: Any) -> None:
        if event == "before":
            spec, _ = payload
            print(f"\nnext: step {spec.index + 1} — {spec.name}", file=self.out)
            print(f"      {spec.kind} {spec.args}", file=self.out)
            if self.pausing:
                print("      press Enter to run it (q then Enter: run the rest without pausing)", file=self.out)
                self.out.flush()
                if self.read().strip().lower() == "q":
                    self.pausing = False
            return
        self.inner(event, payload)
        if event == "step":
            for key, value in looked_for(payload.value):
                print(f"      {key}: {value}", file=self.out)

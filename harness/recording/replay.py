"""Replay: run a scenario offline against a recording — no sockets, no fakes, just the recorded answers.

``sphere-harness run --target replay --recording recordings/enable-trust.json`` (the scenario defaults to the one the
recording was made from, whose text it carries). :class:`ReplayTarget` opens a session whose clients send nothing:
their transport (:class:`CassetteTransport`) sanitizes each request the way the recording was sanitized, then
answers it with the first recorded exchange, in order, that matches on method, normalised URI and body
(:mod:`harness.recording.matchers`). The tenants and apps are bound to the recording's placeholders (its
``Variables``), and the run prefix is the recorded one, so the requests are the recorded ones byte for byte.

A step fails when it asks for something the recording does not hold — the message names the closest entry and why it
did not match, with a diff — and when it ends without asking for an exchange the recording holds for it. Retries
replay without waiting (a recorded 429 is answered, and its retry matches the next entry).

A scenario whose steps arrange a fake world (``sim.*``, ``device.*``) cannot be replayed: nothing would stand in for
the world. Such scenarios are refused up front.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from harness.clients import RetryPolicy
from harness.clients.exchange import Exchange
from harness.recording.cassette import Cassette, load
from harness.recording.format import RecordingError
from harness.recording.sanitize import Sanitizer
from harness.session import AppBinding, Session, TenantBinding

#: what a replayed client sends as its credential (the recording's own tokens are placeholders too)
REPLAY_TOKEN = "Sanitized"


class CassetteTransport(httpx.BaseTransport):
    """An httpx transport that answers from a cassette (never opens a socket)."""

    def __init__(self, cassette: Cassette, sanitizer: Sanitizer | None = None) -> None:
        self.cassette = cassette
        self.sanitizer = sanitizer or Sanitizer()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        asked = Exchange(
            service="replay",
            method=request.method,
            url=str(request.url),
            request_headers=list(request.headers.multi_items()),
            request_body=request.read(),
        )
        entry = self.cassette.play(self.sanitizer.sanitize(asked))
        return httpx.Response(
            entry.status or 500,
            headers=[(k, v) for k, v in entry.response_headers if k.lower() != "content-length"],
            content=entry.response_body,
            request=request,
        )


class UnplayedCheck:
    """Fails a step that ends without asking for every exchange the recording holds for it."""

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette

    def start(self, index: int) -> None:
        pass

    def end(self, index: int, result: Any) -> None:
        left = self.cassette.unplayed(step=index)
        if not left or result.outcome != "passed":
            return
        listed = "; ".join(f"entry {i + 1}: {self.cassette.entries[i].method} {self.cassette.entries[i].url}"
                           for i in left[:5])  # fmt: skip
        result.outcome = "failed"
        result.error = (
            f"replay: the recording holds {len(left)} more exchange(s) for this step that the run did not ask for "
            f"({listed})"
        )


class ReplayTarget:
    """Runs scenarios against one recording (a path, or a loaded :class:`Cassette`)."""

    name = "replay"
    live = False

    def __init__(self, recording: str | Path | Cassette) -> None:
        self.recording = recording

    def cassette(self) -> Cassette:
        """A fresh cassette (every session plays the recording from its start)."""
        if isinstance(self.recording, Cassette):
            return Cassette(self.recording.document, path=self.recording.path, write_protected=True)
        return load(self.recording)

    def scenario(self) -> Any:
        """The scenario the recording was made from, parsed from the text it carries."""
        from harness.scenario import parse_scenario

        cassette = self.cassette()
        info = cassette.document.scenario
        if not info.get("Text"):
            raise RecordingError(f"{cassette.path}: the recording carries no scenario; name one to replay")
        return parse_scenario(info["Text"], info.get("Source") or str(cassette.path), default_name=info.get("Name"))

    @contextmanager
    def session(self, scenario: Any, *, seed: int, workdir: Path) -> Iterator[Session]:
        cassette = self.cassette()
        variables = cassette.document.variables
        session = Session(
            target=self.name,
            live=False,
            workdir=workdir,
            seed=_int(variables.get("seed"), seed),
            run_prefix=variables.get("run_prefix", ""),
            transport=CassetteTransport(cassette),
            retry=RetryPolicy(sleep=lambda seconds: None),
        )
        for tenant in scenario.given.tenants:
            session.tenants[tenant.key] = _tenant(variables, tenant.key, cassette)
        for app in scenario.given.apps:
            session.apps[app.key] = _app(variables, app.key, cassette)
        session.add_step_hook(UnplayedCheck(cassette))
        try:
            yield session
        finally:
            session.close()


def _value(variables: dict[str, str], key: str) -> str | None:
    value = variables.get(key)
    return value if value not in (None, "", "None") else None


def _tenant(variables: dict[str, str], key: str, cassette: Cassette) -> TenantBinding:
    tenant_id = _value(variables, f"tenants.{key}.tenant_id")
    if tenant_id is None:
        known = sorted({k.split(".")[1] for k in variables if k.startswith("tenants.")})
        raise RecordingError(f"{cassette.path}: the recording has no tenant {key!r} (it has {', '.join(known)})")
    return TenantBinding(
        key=key,
        tenant_id=tenant_id,
        name=_value(variables, f"tenants.{key}.name"),
        user=_value(variables, f"tenants.{key}.user"),
        token=REPLAY_TOKEN,
        arm_token=REPLAY_TOKEN,
        subscription_id=_value(variables, f"tenants.{key}.subscription_id"),
        resource_group=_value(variables, f"tenants.{key}.resource_group"),
        catalog=_value(variables, f"tenants.{key}.catalog"),
    )


def _app(variables: dict[str, str], key: str, cassette: Cassette) -> AppBinding:
    subdomain = _value(variables, f"apps.{key}.subdomain")
    if subdomain is None:
        known = sorted({k.split(".")[1] for k in variables if k.startswith("apps.")})
        raise RecordingError(f"{cassette.path}: the recording has no app {key!r} (it has {', '.join(known)})")
    return AppBinding(
        key=key,
        subdomain=subdomain,
        name=_value(variables, f"apps.{key}.name"),
        id_scope=_value(variables, f"apps.{key}.id_scope"),
        api_token=REPLAY_TOKEN,
    )


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def recorded_vars(cassette: Cassette) -> dict[str, Any]:
    """The scenario ``vars`` the recording was made with."""
    out = {}
    for key, value in cassette.document.variables.items():
        if key.startswith("vars."):
            try:
                out[key[5:]] = json.loads(value)
            except ValueError:
                out[key[5:]] = value
    return out


__all__ = ["CassetteTransport", "ReplayTarget", "recorded_vars"]

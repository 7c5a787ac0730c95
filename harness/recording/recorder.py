"""Recording a run: every HTTP exchange of its steps (and the device path's MQTT packets), sanitized, to one file.

:class:`RecordingTarget` wraps any target (``fake``, ``served``, ``live``): the session it opens carries a
:class:`Recorder`, and when the session ends — passed, failed, crashed or interrupted — the recording is written
(:func:`harness.recording.cassette.save`: whole or not at all). Only the steps' exchanges with the services are
recorded: setting up ``given`` and every ``/_sim`` call arrange a fake world, and a live run's cleanup happens
after the scenario, so neither is part of what a replay or parity compares.

Nothing raw reaches the disk: the recorder keeps the exchanges in memory and the whole recording goes through one
:class:`~harness.recording.sanitize.Sanitizer` (certificates learnt first) before it is serialised. The sanitizer
knows every value of the session — tenants, apps, tokens (including ones a step minted), the configuration's
``sanitize:`` list — plus the tokens it sees in ``Authorization`` headers.

``Variables`` carry what a replay needs to make the same requests (the run prefix, each tenant's and app's
placeholders, the seed, the scenario's ``vars``), all strings, all sanitized; the sibling section carries the steps,
the scenario's text and the MQTT packets (:mod:`harness.recording.format`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from harness.clients.exchange import Exchange
from harness.recording.cassette import save
from harness.recording.format import RecordingDocument, StepRecord, body_to_json
from harness.recording.sanitize import Sanitizer
from harness.session import Session

#: services whose exchanges arrange a fake world rather than speak a wire contract
NOT_RECORDED = frozenset({"control"})
TENANT_FIELDS = ("tenant_id", "name", "user", "subscription_id", "resource_group", "catalog")
APP_FIELDS = ("subdomain", "id_scope", "name")


class Recorder:
    """Hears one session's exchanges, steps and MQTT packets; :meth:`document` gives the sanitized recording."""

    def __init__(self, scenario: Any, *, target: str) -> None:
        self.scenario = scenario
        self.target = target
        self.raw: list[Exchange] = []
        self.outcomes: dict[int, str] = {}
        self.packets: list[tuple[int | None, str, Any]] = []
        self.session: Session | None = None

    def attach(self, session: Session) -> None:
        self.session = session
        session.add_exchange_listener(self.hear)
        session.add_step_hook(self)

    def hear(self, exchange: Exchange) -> None:
        if exchange.service in NOT_RECORDED or exchange.step is None:
            return
        self.raw.append(exchange)

    def hear_packet(self, direction: str, packet: Any) -> None:
        self.packets.append((self.session.step if self.session else None, direction, packet))

    def start(self, index: int) -> None:  # a step hook
        pass

    def end(self, index: int, result: Any) -> None:
        self.outcomes[index] = result.outcome

    def document(self) -> RecordingDocument:
        """The recording as it will be written: everything sanitized with one sanitizer."""
        session = self.session
        assert session is not None, "attach the recorder to a session first"
        sanitizer = Sanitizer.for_session(session)
        for _, _, packet in self.packets:  # the hub a device was assigned, before anything is written (SH033)
            sanitizer.learn_packet(packet)
        answered = [e for e in self.raw if e.status is not None]
        entries = sanitizer.sanitize_all(answered)
        failures = [
            {"Step": e.step, "Service": e.service, "RequestMethod": e.method, "RequestUri": e.url, "Error": e.error}
            for e in (sanitizer.sanitize(x) for x in self.raw if x.status is None)
        ]
        scenario = self.scenario
        text = _scenario_text(scenario.source)
        return RecordingDocument(
            entries=entries,
            variables=sanitizer.variables(self.variables(session)),
            steps=[
                StepRecord(s.index, s.kind, sanitizer.text(s.name), s.line, self.outcomes.get(s.index))
                for s in scenario.steps
            ],
            scenario={
                "Name": scenario.name,
                "Source": _shown_source(scenario.source),
                "Sha256": hashlib.sha256(text.encode("utf-8")).hexdigest() if text else "",
                "Text": sanitizer.text(text) if text else "",
            },
            mqtt=[_packet_json(step, direction, packet, sanitizer) for step, direction, packet in self.packets],
            failures=failures,
        )

    def variables(self, session: Session) -> dict[str, str]:
        values: dict[str, Any] = {
            "scenario": self.scenario.name,
            "seed": session.seed,
            "target": self.target,
            "run_prefix": session.run_prefix,
        }
        for key, tenant in session.tenants.items():
            for name in TENANT_FIELDS:
                values[f"tenants.{key}.{name}"] = getattr(tenant, name)
        for key, app in session.apps.items():
            for name in APP_FIELDS:
                values[f"apps.{key}.{name}"] = getattr(app, name)
        for name, value in (self.scenario.vars or {}).items():
            values[f"vars.{name}"] = json.dumps(value)
        return {k: str(v) for k, v in values.items() if v is not None}

    def save(self, path: str | Path) -> Path:
        return save(self.document(), path)


class RecordingTarget:
    """Any target, with every session recorded to ``path`` when it ends (``path`` a folder: ``<scenario>.json``)."""

    def __init__(self, inner: Any, path: str | Path) -> None:
        self.inner = inner
        self.path = Path(path)
        self.name = inner.name
        self.live = getattr(inner, "live", False)
        self.saved: list[Path] = []

    def destination(self, scenario: Any) -> Path:
        if self.path.is_dir() or self.path.suffix.lower() != ".json":
            return self.path / f"{scenario.name}.json"
        return self.path

    @contextmanager
    def session(self, scenario: Any, *, seed: int, workdir: Path) -> Iterator[Session]:
        from simulator.device import observe_packets

        with self.inner.session(scenario, seed=seed, workdir=workdir) as session, ExitStack() as stack:
            recorder = Recorder(scenario, target=self.inner.name)
            recorder.attach(session)
            stack.enter_context(observe_packets(recorder.hear_packet))
            try:
                yield session
            finally:
                self.saved.append(recorder.save(self.destination(scenario)))


def _scenario_text(source: str) -> str:
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _shown_source(source: str) -> str:
    """The scenario's path as a recording names it: ``scenarios/<file>`` for a known scenario, else the file name."""
    path = Path(source)
    return f"scenarios/{path.name}" if path.parent.name == "scenarios" else path.name


def _packet_json(step: int | None, direction: str, packet: Any, sanitizer: Sanitizer) -> dict[str, Any]:
    """One MQTT packet as ``SphereHarness.MqttEntries`` holds it (see :mod:`harness.recording.format`)."""
    entry: dict[str, Any] = {"Step": step, "Direction": direction, "Packet": type(packet).__name__.upper()}
    names = {"client_id": "ClientId", "username": "Username", "topic": "Topic", "return_code": "ReturnCode",
             "packet_id": "PacketId", "qos": "QoS"}  # fmt: skip
    fields = dataclasses.asdict(packet) if dataclasses.is_dataclass(packet) else {}
    for name, shown in names.items():
        value = fields.get(name)
        if value is not None:
            entry[shown] = sanitizer.text(value) if isinstance(value, str) else value
    if fields.get("password"):
        entry["Password"] = "Sanitized"
    if isinstance(fields.get("payload"), bytes | bytearray) and fields["payload"]:
        payload = sanitizer.body(bytes(fields["payload"]))
        entry["Payload"] = body_to_json(payload, [("content-type", "application/json; charset=utf-8")])
    if fields.get("topics"):
        entry["Topics"] = [sanitizer.text(str(t[0])) for t in fields["topics"]]
    return entry


__all__ = ["Recorder", "RecordingTarget"]

"""``docs/faults.md``: fault rule fields and effects (from :mod:`simulator.faults`) and the operation names of every
service (from the adapters' route tables; MQTT operations from :mod:`simulator.dps.mqtt`)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from harness.docgen._adapters import starlette_app
from harness.docgen._markdown import banner, table

ROOT = Path(__file__).resolve().parent.parent.parent

#: what each rule field means; a field added to FaultRule without a line here stops the generator (and the test)
RULE_FIELDS = {
    "id": "a name for the rule (default `fault-<n>`); `DELETE /_sim/faults/{id}` removes it",
    "service": "which service: `sphere-legacy`, `sphere-arm`, `central`, `dps`, `hub` or `*`",
    "operation": "the operation name (below); globs allowed (`Certificates_*`); default `*`",
    "app": "IoT Central only: the app subdomain the request reaches",
    "tenant": "a tenant ID, ARM catalog name or DPS ID scope the request names",
    "nth": "fire on the nth matching call (then once, unless `count` says more)",
    "count": "fire at most this many times",
    "probability": "fire with this probability (0–1), drawn from the world's seeded random source",
    "effect": "what happens when it fires (below)",
    "calls": "read-only: matching calls counted so far",
    "fired": "read-only: times it fired",
}
EFFECT_FIELDS = {
    "kind": "`status`, `latency`, `drop`, `connack` or `dps_failed`",
    "status": "`status`: the HTTP error status (400–599), answered in the service's own error shape",
    "code": "`status`: the service's error code (default: one per status, e.g. 503 `ServiceUnavailable`)",
    "message": "`status` and `dps_failed`: the error message",
    "retry_after": "`status`: seconds for a `Retry-After` header",
    "latency_s": "`latency`: real seconds to wait before serving normally",
    "connack_code": "`connack`: the MQTT CONNACK return code refusing the connection",
    "dps_error_code": "`dps_failed`: the six-digit DPS error code of the failed registration",
}
EFFECTS = [
    ("status", "an HTTP error in the service's own error shape; the model is never reached, so nothing changes"),
    ("latency", "sleep `latency_s` (real time), then serve the request normally"),
    ("drop", "close the connection mid-response; in-process the client sees a transport error (`httpx.ReadError`)"),
    ("connack", "MQTT only: refuse the CONNECT with `connack_code`"),
    ("dps_failed", "DPS only: the registration is made, then its operation ends `failed` with `dps_error_code`"),
]


def _mqtt_operations() -> list[tuple[str, str]]:
    """(service, operation) pairs the MQTT server asks the fault layer about, read from its source."""
    source = (ROOT / "simulator" / "dps" / "mqtt.py").read_text(encoding="utf-8")
    found = set(re.findall(r'fault\(\s*"(dps|hub)",\s*"([a-z_]+)"', source))
    if re.search(r'fault\(\s*service,\s*"connect"', source):
        found |= {("dps", "connect"), ("hub", "connect")}
    if "operation_status" in source:
        found.add(("dps", "operation_status"))
    if '"register"' in source:
        found.add(("dps", "register"))
    return sorted(found)


def _http_services() -> list[tuple[str, str, list[tuple[str, str, str]]]]:
    """(service, title, [(method, path, operation)]) for every HTTP service, from the adapters' route tables."""
    from simulator.central import api as central_api
    from simulator.cloud import FakeCloud
    from simulator.sphere.arm_api import ArmApi
    from simulator.sphere.legacy_api import LegacyApi

    cloud = FakeCloud(seed=0)
    return [
        ("sphere-legacy", "Azure Sphere legacy API v2", [(m, p, n) for m, p, n, _ in LegacyApi(cloud).table]),
        ("sphere-arm", "Azure Sphere ARM (`Microsoft.AzureSphere`)", [(m, p, n) for m, p, n, _ in ArmApi(cloud).table]),
        ("central", "IoT Central", [(v, p, o.__name__) for p, v, o, _, _ in central_api.ROUTES]),
        (
            "dps",
            "DPS over HTTPS",
            [(", ".join(sorted(r.methods - {"HEAD"})), r.path, r.name) for r in starlette_app(cloud.dps_app).routes],
        ),
    ]


def operations() -> str:
    """``harness/fault_operations.json``: every operation name per service, which ``validate`` reads to refuse a
    fault rule whose operation no request could ever match (a misspelt ``verfy`` would silently never fire)."""
    import json

    names: dict[str, set[str]] = {}
    for service, _, rows in _http_services():
        names.setdefault(service, set()).update(name for _, _, name in rows)
    for service, name in _mqtt_operations():
        names.setdefault(service, set()).add(name)
    return json.dumps({service: sorted(found) for service, found in sorted(names.items())}, indent=1) + "\n"


def render() -> str:
    from simulator.faults import FaultEffect, FaultRule

    out = [banner("simulator/faults.py and the adapters' route tables"), "# Fault rules\n\n"]
    out.append(
        "Offline tests are worth most where the real world misbehaves: a 429 in the middle of setup, a 5xx on "
        "verify, a dropped connection, a DPS that refuses or throttles. A fault rule says *where* (service, "
        "operation, optionally app or tenant), *when* (the nth matching call, a number of calls, or a seeded "
        "probability) and *what* (an effect). The adapters ask once per request, before the model is touched, so "
        "a faulted request changes nothing. Every matching rule counts the call; the first rule that fires "
        "decides.\n\n"
        "Add rules from a scenario (`sim.fault.add`), from Python (`cloud.faults.add({...})`, the `faults` pytest "
        "fixture) or over HTTP (`POST /_sim/faults`):\n\n"
        "```yaml\n- sim.fault.add:\n    service: central\n    operation: verify\n    nth: 1\n"
        "    effect: {kind: status, status: 503, retry_after: 2}\n```\n\n## Rule fields\n\n"
    )
    rule_rows = [(f"`{f.name}`", RULE_FIELDS[f.name]) for f in dataclasses.fields(FaultRule)]
    out.append(table(["field", "meaning"], rule_rows))
    out.append("\n## Effects\n\n")
    out.append(table(["kind", "what happens"], [(f"`{kind}`", text) for kind, text in EFFECTS]))
    out.append("\n")
    effect_rows = []
    for f in dataclasses.fields(FaultEffect):
        default = f.default if f.default is not dataclasses.MISSING else None
        effect_rows.append((f"`{f.name}`", f"`{default!r}`".replace("'", '"'), EFFECT_FIELDS[f.name]))
    out.append(table(["effect field", "default", "meaning"], effect_rows))
    out.append("\n## Operations per service\n\nThe operation names are the route names of each adapter.\n")
    for service, title, rows in _http_services():
        out.append(f"\n### `{service}` — {title}\n\n")
        out.append(table(["operation", "method", "path"], [(f"`{n}`", m, f"`{p}`") for m, p, n in rows]))
    out.append("\n### MQTT (DPS and the IoT hub device surface)\n\n")
    out.append(
        "The MQTT/TLS listener asks about these; `dps` rules on `register` and `operation_status` reach both the "
        "MQTT and the HTTPS device API.\n\n"
    )
    out.append(table(["service", "operation"], [(f"`{s}`", f"`{o}`") for s, o in _mqtt_operations()]))
    return "".join(out)

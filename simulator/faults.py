"""Fault injection: rules that make a service misbehave on purpose.

Offline tests are worth most where the real world misbehaves: a 429 in the middle of setup, a 5xx on verify,
a dropped connection, a DPS that refuses or throttles. A :class:`FaultRule` says *where* (service, operation,
optionally the app or tenant), *when* (the nth matching call, a number of calls, or with a probability drawn
from the world's seeded random source) and *what* (a :class:`FaultEffect`).

The wire adapters ask :meth:`FaultInjector.check` once per request, before the model is touched, so a faulted
request never changes state — exactly like a request that the real front door rejected.

Services and operations are plain names:

=================  =====================================================================
service            operations (the adapter's route names; ``*`` matches any, globs allowed)
=================  =====================================================================
``sphere-legacy``  ``list_tenants``, ``get_tenant``, ``list_certificates``, ``get_certificate``,
                   ``get_certificate_chain``, ``get_proof``, ``claim_device``, ``bulk_claim``,
                   ``get_operation``, ``list_devices`` …
``sphere-arm``     the swagger operation ids: ``Certificates_ListByCatalog``, ``Certificates_Get``,
                   ``Certificates_RetrieveCertChain``, ``Certificates_RetrieveProofOfPossessionNonce``,
                   ``DeviceGroups_ClaimDevices``, ``OperationStatuses_Get``, ``Catalogs_ListDevices`` …
``central``        ``list_groups``, ``create_group``, ``update_group``, ``delete_group``,
                   ``set_certificate``, ``remove_certificate``, ``generate_code``, ``verify``,
                   ``list_devices``, ``get_device`` …
``dps``            ``register``, ``operation_status`` (MQTT and HTTPS alike), ``connect`` (MQTT)
``hub``            ``connect``, ``telemetry``, ``twin_get``, ``twin_patch``
=================  =====================================================================

Every matching rule counts the call; the first rule (in insertion order) that fires decides the effect, so a
later rule on the same call is not applied even if it would also have fired.

Effects: ``status`` (an HTTP error in the service's own error shape, optionally with ``Retry-After``),
``latency`` (sleep, then serve normally), ``drop`` (close the connection; in-process a transport error),
``connack`` (MQTT CONNACK refusal with a return code) and ``dps_failed`` (the DPS operation ends ``failed``).
"""

from __future__ import annotations

import fnmatch
import math
import re
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from simulator.entropy import Entropy
from simulator.suggest import did_you_mean

SERVICES = ("sphere-legacy", "sphere-arm", "central", "dps", "hub", "*")
EffectKind = Literal["status", "latency", "drop", "connack", "dps_failed"]


#: bounds that keep an injected effect finite: a connection held for ten minutes is long enough to test a timeout
MAX_LATENCY_S = 600.0
MAX_RETRY_AFTER = 86400
_HEADER_TOKEN = re.compile(r"[!-~]{1,100}")
#: the type each effect field must have in a rule given as data (YAML, the control API)
_EFFECT_TYPES: dict[str, str] = {
    "kind": "str",
    "status": "int",
    "code": "str?",
    "message": "str",
    "retry_after": "int?",
    "latency_s": "number",
    "connack_code": "int",
    "dps_error_code": "int?",
}


class FaultRuleError(ValueError):
    """A fault rule that cannot be understood (unknown service, effect, or impossible numbers)."""


@dataclass(frozen=True)
class FaultEffect:
    """What happens when a rule fires."""

    kind: EffectKind = "status"
    status: int = 503
    code: str | None = None
    message: str = "Injected fault"
    retry_after: int | None = None
    latency_s: float = 0.0
    connack_code: int = 5
    dps_error_code: int | None = None


@dataclass
class FaultRule:
    """One rule: where it matches, when it fires, what it does. ``calls``/``fired`` count what happened."""

    id: str
    service: str
    effect: FaultEffect
    operation: str = "*"
    app: str | None = None
    tenant: str | None = None
    nth: int | None = None
    count: int | None = None
    probability: float | None = None
    calls: int = 0
    fired: int = 0

    def matches(self, service: str, operation: str, app: str | None, tenant: str | None) -> bool:
        if self.service not in ("*", service):
            return False
        if not fnmatch.fnmatchcase(operation, self.operation):
            return False
        if self.app is not None and (app is None or self.app.lower() != app.lower()):
            return False
        return not (self.tenant is not None and (tenant is None or self.tenant.lower() != tenant.lower()))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["effect"] = {k: v for k, v in data["effect"].items() if v is not None}
        return {k: v for k, v in data.items() if v is not None}


@dataclass
class FaultInjector:
    """The world's set of fault rules. Thread-safe; draws probabilities from its own seeded stream."""

    entropy: Entropy
    rules: list[FaultRule] = field(default_factory=list)
    _next_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, spec: dict[str, Any] | FaultRule) -> FaultRule:
        """Add a rule from a dict (as in YAML or the control API) or a ready :class:`FaultRule`."""
        rule = spec if isinstance(spec, FaultRule) else self._parse(spec)
        with self._lock:
            if not rule.id:
                rule.id = f"fault-{self._next_id}"
            self._next_id += 1
            self.rules.append(rule)
        return rule

    def list(self) -> list[FaultRule]:
        with self._lock:
            return list(self.rules)

    def clear(self, rule_id: str | None = None) -> int:
        """Remove one rule (by id) or all; returns how many were removed."""
        with self._lock:
            before = len(self.rules)
            self.rules = [r for r in self.rules if rule_id is not None and r.id != rule_id]
            return before - len(self.rules)

    def check(
        self, service: str, operation: str, *, app: str | None = None, tenant: str | None = None
    ) -> FaultEffect | None:
        """Count this call against every matching rule; return the effect of the first rule that fires."""
        with self._lock:
            effect = None
            for rule in self.rules:
                if not rule.matches(service, operation, app, tenant):
                    continue
                rule.calls += 1
                if effect is None and self._fires(rule):
                    rule.fired += 1
                    effect = rule.effect
            return effect

    def _fires(self, rule: FaultRule) -> bool:
        if rule.nth is not None and rule.calls < rule.nth:
            return False
        limit = rule.count if rule.count is not None else (1 if rule.nth is not None else None)
        if limit is not None and rule.fired >= limit:
            return False
        return not (rule.probability is not None and self.entropy.random() >= rule.probability)

    @staticmethod
    def _parse(spec: dict[str, Any]) -> FaultRule:
        return parse_rule(spec)


#: the fields of a rule given as data, besides ``service`` and ``effect``
RULE_FIELDS = ("id", "operation", "app", "tenant", "nth", "count", "probability")
EFFECT_KINDS = ("status", "latency", "drop", "connack", "dps_failed")


def parse_rule(spec: dict[str, Any]) -> FaultRule:
    """A :class:`FaultRule` from a rule given as data (YAML, the control API, ``cloud.faults.add``), checked whole:
    :class:`FaultRuleError` names the first problem — with the field it probably meant, for a misspelt one."""
    if not isinstance(spec, dict):
        raise FaultRuleError("a fault rule must be a mapping")
    spec = dict(spec)
    every_field = ("service", "effect", *RULE_FIELDS)
    unknown = sorted(str(key) for key in set(spec) - set(every_field))
    if unknown:
        raise FaultRuleError(
            f"unknown fault rule field(s): {', '.join(unknown)}{did_you_mean(unknown[0], every_field, limit=2)}; "
            f"expected {', '.join(every_field)}"
        )
    service = spec.pop("service", None)
    if service not in SERVICES:
        hint = did_you_mean(service, SERVICES, limit=2) if isinstance(service, str) else ""
        raise FaultRuleError(f"unknown service {service!r}{hint}; expected one of {', '.join(SERVICES)}")
    effect_spec = spec.pop("effect", {}) or {}
    if not isinstance(effect_spec, dict):
        raise FaultRuleError("effect must be a mapping")
    known_effect_fields = tuple(f.name for f in fields(FaultEffect))
    unknown = sorted(str(key) for key in set(effect_spec) - set(known_effect_fields))
    if unknown:
        raise FaultRuleError(
            f"unknown effect field(s): {', '.join(unknown)}{did_you_mean(unknown[0], known_effect_fields, limit=2)}; "
            f"expected {', '.join(known_effect_fields)}"
        )
    _check_effect_types(effect_spec)
    effect = FaultEffect(**effect_spec)
    if effect.kind not in EFFECT_KINDS:
        raise FaultRuleError(
            f"unknown effect kind {effect.kind!r}{did_you_mean(effect.kind, EFFECT_KINDS, limit=2)}; "
            f"expected one of {', '.join(EFFECT_KINDS)}"
        )
    if effect.kind == "status" and not 400 <= effect.status <= 599:
        raise FaultRuleError("a status effect needs an HTTP error status (400-599)")
    if effect.latency_s < 0 or (effect.retry_after is not None and effect.retry_after < 0):
        raise FaultRuleError("latency and retry_after cannot be negative")
    too_long = effect.retry_after is not None and effect.retry_after > MAX_RETRY_AFTER
    if effect.latency_s > MAX_LATENCY_S or too_long:
        raise FaultRuleError(f"latency_s is at most {MAX_LATENCY_S:g} s and retry_after at most {MAX_RETRY_AFTER}")
    if not 1 <= effect.connack_code <= 5:
        raise FaultRuleError("connack_code is an MQTT 3.1.1 refusal code (1-5)")
    if effect.dps_error_code is not None and not 100000 <= effect.dps_error_code <= 999999:
        raise FaultRuleError("dps_error_code is a six-digit DPS error code")
    if effect.code is not None and not _HEADER_TOKEN.fullmatch(effect.code):
        raise FaultRuleError("code must be 1-100 printable ASCII characters (it is sent in a header)")
    nth, count, probability = spec.get("nth"), spec.get("count"), spec.get("probability")
    if nth is not None and (not _is_int(nth) or nth < 1):
        raise FaultRuleError("nth must be a positive integer")
    if count is not None and (not _is_int(count) or count < 1):
        raise FaultRuleError("count must be a positive integer")
    if probability is not None and not (_is_number(probability) and 0 <= probability <= 1):
        raise FaultRuleError("probability must be between 0 and 1")
    for name in ("id", "operation", "app", "tenant"):
        if spec.get(name) is not None and not isinstance(spec[name], str):
            raise FaultRuleError(f"{name} must be a string")
    return FaultRule(
        id=str(spec.get("id") or ""),
        service=service,
        effect=effect,
        operation=str(spec.get("operation") or "*"),
        app=spec.get("app"),
        tenant=spec.get("tenant"),
        nth=nth,
        count=count,
        probability=probability,
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _check_effect_types(effect: dict[str, Any]) -> None:
    """Each effect field of a rule given as data has its type (a status of ``"x"`` is a rule error, not a crash)."""
    for name, value in effect.items():
        kind = _EFFECT_TYPES.get(name)
        if kind is None:
            continue  # FaultEffect(**…) names the unknown field
        if value is None and kind.endswith("?"):
            continue
        ok = {
            "str": isinstance(value, str),
            "int": _is_int(value),
            "number": _is_number(value),
        }[kind.rstrip("?")]
        if not ok:
            expected = {"str": "a string", "int": "an integer", "number": "a finite number"}[kind.rstrip("?")]
            raise FaultRuleError(f"effect.{name} must be {expected}, not {value!r}")

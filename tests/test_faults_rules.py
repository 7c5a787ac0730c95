"""Fault rules: matching, firing on the nth call / a count / a seeded probability, clearing."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.entropy import Entropy
from simulator.faults import FaultInjector, FaultRuleError


def injector(seed=1):
    return FaultInjector(Entropy(seed))


def fire_pattern(inj, n, service="central", operation="verify"):
    return [inj.check(service, operation) is not None for _ in range(n)]


def test_nth_call_fires_once():
    inj = injector()
    inj.add({"service": "central", "operation": "verify", "nth": 3, "effect": {"status": 500}})
    assert fire_pattern(inj, 6) == [False, False, True, False, False, False]


def test_count_fires_the_first_calls():
    inj = injector()
    inj.add({"service": "central", "count": 2, "effect": {"status": 429, "retry_after": 1}})
    assert fire_pattern(inj, 4) == [True, True, False, False]


def test_nth_with_count_fires_a_window():
    inj = injector()
    inj.add({"service": "central", "nth": 2, "count": 2, "effect": {"status": 503}})
    assert fire_pattern(inj, 5) == [False, True, True, False, False]


def test_unbounded_rule_fires_until_cleared():
    inj = injector()
    rule = inj.add({"service": "dps", "operation": "register", "effect": {"kind": "dps_failed"}})
    assert fire_pattern(inj, 3, "dps", "register") == [True, True, True]
    assert inj.clear(rule.id) == 1
    assert fire_pattern(inj, 3, "dps", "register") == [False, False, False]


def test_matching_by_service_operation_glob_and_app():
    inj = injector()
    inj.add({"service": "central", "operation": "generate_*", "app": "contoso", "effect": {"status": 500}})
    assert inj.check("central", "generate_code", app="contoso") is not None
    assert inj.check("central", "generate_code", app="CONTOSO") is not None
    assert inj.check("central", "generate_code", app="fabrikam") is None
    assert inj.check("central", "verify", app="contoso") is None
    assert inj.check("sphere-legacy", "generate_code", app="contoso") is None


def test_first_firing_rule_wins_but_all_count_calls():
    inj = injector()
    a = inj.add({"service": "*", "effect": {"status": 500}})
    b = inj.add({"service": "central", "nth": 1, "effect": {"status": 429}})
    assert inj.check("central", "verify").status == 500
    assert (a.calls, b.calls, b.fired) == (1, 1, 0)


@pytest.mark.parametrize(
    "spec",
    [
        {"service": "nope", "effect": {}},
        {"service": "central", "effect": {"kind": "explode"}},
        {"service": "central", "effect": {"status": 200}},
        {"service": "central", "nth": 0, "effect": {}},
        {"service": "central", "count": -1, "effect": {}},
        {"service": "central", "probability": 1.5, "effect": {}},
        {"service": "central", "colour": "red", "effect": {}},
        {"service": "central", "effect": {"latency_s": -1, "kind": "latency"}},
        {"service": "central", "effect": {"bogus": 1}},
        "not a mapping",
    ],
)
def test_bad_rules_are_refused_and_change_nothing(spec):
    inj = injector()
    with pytest.raises(FaultRuleError):
        inj.add(spec)
    assert inj.list() == []


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ({"service": "central", "efect": {}}, "unknown fault rule field(s): efect (did you mean effect?)"),
        ({"service": "centrl"}, "unknown service 'centrl' (did you mean central?)"),
        ({"service": "central", "effect": {"staus": 503}}, "unknown effect field(s): staus (did you mean status?)"),
        ({"service": "central", "effect": {"kind": "dorp"}}, "unknown effect kind 'dorp' (did you mean drop?)"),
        ({"service": "hub", "effect": {"kidn": "drop"}}, "(did you mean kind?)"),  # two letters swapped
    ],
)
def test_a_misspelt_rule_is_refused_with_what_it_probably_meant(spec, said):
    with pytest.raises(FaultRuleError) as refused:
        injector().add(spec)
    assert said in str(refused.value)
    assert "__init__" not in str(refused.value)  # the rule's words, not Python's


@given(st.integers(0, 2**32), st.floats(0.05, 0.95))
def test_seeded_probability_fires_on_the_same_calls(seed, p):
    runs = []
    for _ in range(2):
        inj = injector(seed)
        inj.add({"service": "central", "probability": p, "effect": {"status": 500}})
        runs.append(fire_pattern(inj, 50))
    assert runs[0] == runs[1]


def test_probability_is_roughly_honoured():
    inj = injector(7)
    inj.add({"service": "central", "probability": 0.3, "effect": {"status": 500}})
    fired = sum(fire_pattern(inj, 2000))
    assert 450 < fired < 750


def test_to_dict_round_trips_through_add():
    inj = injector()
    rule = inj.add(
        {"service": "hub", "operation": "connect", "count": 1, "effect": {"kind": "connack", "connack_code": 3}}
    )
    again = injector().add({k: v for k, v in rule.to_dict().items() if k not in ("calls", "fired")})
    assert again.effect == rule.effect and again.service == "hub" and again.count == 1

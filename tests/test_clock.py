"""The injectable clock: travel, freezing, listeners and duration parsing."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.clock import Clock, ClockError, parse_duration


def test_fresh_clock_follows_real_time():
    ticks = iter([1000.0, 1005.0])
    clock = Clock(source=lambda: next(ticks))
    assert clock.now() == datetime.fromtimestamp(1005.0, UTC)


def test_start_instant_then_runs():
    t = [0.0]
    start = datetime(2027, 1, 1, tzinfo=UTC)
    clock = Clock(start, source=lambda: t[0])
    t[0] += 10
    assert clock.now() == start + timedelta(seconds=10)


def test_frozen_clock_moves_only_when_told():
    start = datetime(2027, 1, 1, tzinfo=UTC)
    clock = Clock(start, frozen=True)
    assert clock.now() == start
    clock.advance(days=90)
    assert clock.now() == start + timedelta(days=90)
    clock.set(start + timedelta(days=100))
    assert clock.now() == start + timedelta(days=100)


def test_backwards_travel_is_refused_and_changes_nothing():
    clock = Clock(datetime(2027, 1, 1, tzinfo=UTC), frozen=True)
    before = clock.now()
    with pytest.raises(ClockError):
        clock.advance(timedelta(hours=-1))
    with pytest.raises(ClockError):
        clock.set(before - timedelta(days=1))
    assert clock.now() == before


def test_listeners_see_every_jump():
    clock = Clock(datetime(2027, 1, 1, tzinfo=UTC), frozen=True)
    seen = []
    clock.on_change(seen.append)
    clock.advance(hours=25)
    assert seen == [datetime(2027, 1, 2, 1, tzinfo=UTC)]


def test_naive_datetimes_are_taken_as_utc():
    clock = Clock(datetime(2027, 1, 1), frozen=True)
    assert clock.now().tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("25h", timedelta(hours=25)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "d", "90", "ten days", "90x", "-5d", "1d 2"])
def test_parse_duration_rejects_garbage(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@given(st.integers(0, 10_000), st.integers(0, 23), st.integers(0, 59))
def test_parse_duration_round_trip(days, hours, minutes):
    assert parse_duration(f"{days}d{hours}h{minutes}m") == timedelta(days=days, hours=hours, minutes=minutes)

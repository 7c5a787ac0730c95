"""The injectable clock every model reads time from.

Certificates, verification codes, tokens, tenant CA rotation and throttling windows all depend on "now".
The models never call :func:`datetime.now` themselves; they ask a :class:`Clock`. A clock starts at the real
time (or a given instant) and then runs with real time, but can be *travelled*: ``advance(days=90)`` moves
every later reading forward, so a test can watch a tenant CA successor appear without waiting 23 months.

Which clock judges which certificate (``dps.tls_validity_clock``): the Sphere certificates a device presents — its
24 h certificate and the tenant CA above it — are judged on *this* clock by the models and, served, by the DPS
HTTPS and MQTT listeners too (``dps.tls_validity_clock = "world"``, the default: OpenSSL proves the chain and the
key, not the dates), so a certificate issued after the clock travelled is accepted and one that expired in the
world is refused. Only the local server certificates of :mod:`simulator.tls` are dated by, and judged against, real
time; the world's clock never touches them. With ``dps.tls_validity_clock = "system"`` OpenSSL also checks device
certificates against real time, and then a world clock far from real time makes them look not yet valid or expired.

Travel only goes forward by default: a world whose clock went back would see certificates, codes, tokens and
operations from its own future (``allow_backwards=True`` permits it for tests that want exactly that).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class ClockError(ValueError):
    """A clock operation that would break the world's timeline (e.g. travelling backwards)."""


class Clock:
    """A UTC clock with an adjustable offset from real time.

    ``Clock()`` follows real time. ``Clock(start=datetime(...))`` starts at that instant and runs on.
    ``Clock(frozen=True)`` does not run: only :meth:`advance` and :meth:`set` move it (handy in unit tests).
    """

    def __init__(
        self,
        start: datetime | None = None,
        *,
        frozen: bool = False,
        allow_backwards: bool = False,
        source: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._frozen = frozen
        self.allow_backwards = allow_backwards
        real = self._real()
        start = _aware(start) if start is not None else real
        self._offset = start - real
        self._frozen_at = start
        self._listeners: list[Callable[[datetime], None]] = []

    def _real(self) -> datetime:
        return datetime.fromtimestamp(self._source(), UTC)

    def now(self) -> datetime:
        """The current instant on this clock (timezone-aware UTC)."""
        if self._frozen:
            return self._frozen_at
        return self._real() + self._offset

    def timestamp(self) -> float:
        """The current instant as seconds since the Unix epoch."""
        return self.now().timestamp()

    @property
    def offset(self) -> timedelta:
        """How far this clock is ahead of real time (zero for a fresh, unfrozen clock)."""
        return self.now() - self._real()

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move the clock forward by ``delta`` (or ``days=``, ``hours=`` … keyword arguments)."""
        if delta is None:
            delta = timedelta(**kwargs)
        if delta < timedelta(0) and not self.allow_backwards:
            raise ClockError("the clock only travels forward (set allow_backwards=True to rewind)")
        with self._lock:
            self._offset += delta
            self._frozen_at += delta
        return self._notify()

    def set(self, instant: datetime) -> datetime:
        """Jump to ``instant``; forward only unless ``allow_backwards`` is set."""
        instant = _aware(instant)
        delta = instant - self.now()
        if delta < timedelta(0) and not self.allow_backwards:
            raise ClockError(
                f"cannot set the clock back to {instant.isoformat()}: it is already {self.now().isoformat()}"
            )
        with self._lock:
            self._offset += delta
            self._frozen_at = instant
        return self._notify()

    def on_change(self, listener: Callable[[datetime], None]) -> None:
        """Call ``listener(now)`` after every :meth:`advance` or :meth:`set` (models use it to roll state)."""
        self._listeners.append(listener)

    def _notify(self) -> datetime:
        now = self.now()
        for listener in list(self._listeners):
            listener(now)
        return now


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """Parse ``"90d"``, ``"25h"``, ``"1d12h"``, ``"30m"``, ``"45s"`` or ``"2w"`` into a :class:`timedelta`.

    >>> parse_duration("1d12h")
    datetime.timedelta(days=1, seconds=43200)
    """
    import re

    text = text.strip()
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhdw])", text)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != re.sub(r"\s+", "", text):
        raise ValueError(f"not a duration: {text!r} (expected e.g. '90d', '25h', '1d12h', '30m', '45s')")
    total = timedelta()
    for number, unit in parts:
        total += timedelta(**{_UNITS[unit]: float(number)})
    return total

"""The two infrastructure objects whose state is not their attributes: the world's clock and its random streams.

Every other object of a world is encoded generically from its attributes (:mod:`simulator.state.codec`). These two
hold state the generic rule cannot read or must not keep:

* a :class:`~simulator.clock.Clock` reads real time through a function (``time.time``) and may carry listeners
  (callables). What a world needs of it is its **offset** from real time (how far it was travelled), whether it is
  frozen (and at which instant) and whether it may go back. A clock read back keeps its offset: a world travelled
  90 days is still 90 days ahead after a restart, and real time that passed while it was stopped passes for it too
  (as for a real service that kept running). Listeners are runtime hooks and are not kept;
* an :class:`~simulator.entropy.Entropy` is backed by :class:`random.Random` (when seeded). Its state — the
  Mersenne Twister's 624 words and position — is what makes a restarted seeded world *continue* its streams
  instead of drawing the same tenant IDs, codes and tokens again (issue 16, reproduction 10). The world's
  ``secret`` (its identity, :mod:`simulator.entropy`) travels with every stream.

An adapter gives ``state(obj)`` as a dict of plain values (the codec encodes them) and ``restore(obj, state)`` on an
empty shell made with ``object.__new__``; both are strict about the shape they accept.
"""

from __future__ import annotations

import random
import struct
import threading
import time
from datetime import datetime, timedelta
from typing import Any, ClassVar

from simulator.clock import Clock
from simulator.entropy import Entropy
from simulator.state.values import CodecError

_MT_WORDS = 625  # random.Random's internal state: 624 words and the position


def _require(state: dict[str, Any], what: str, fields: dict[str, tuple[type, ...]]) -> None:
    if set(state) != set(fields):
        missing, unknown = set(fields) - set(state), set(state) - set(fields)
        raise CodecError(f"{what} state: missing {sorted(missing)}, unknown {sorted(unknown)}")
    for name, kinds in fields.items():
        value = state[name]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise CodecError(f"{what} state: {name} is a {type(value).__name__}")


class ClockAdapter:
    """A clock as ``{offset, frozen, frozen_at, allow_backwards}``."""

    FIELDS: ClassVar[dict[str, tuple[type, ...]]] = {
        "offset": (timedelta,),
        "frozen": (bool,),
        "frozen_at": (datetime,),
        "allow_backwards": (bool,),
    }

    def state(self, clock: Clock) -> dict[str, Any]:
        return {
            # a frozen clock never reads real time: its offset is meaningless, and written as zero so that two
            # frozen worlds in the same state dump alike
            "offset": timedelta(0) if clock._frozen else clock._offset,
            "frozen": clock._frozen,
            "frozen_at": clock._frozen_at,
            "allow_backwards": clock.allow_backwards,
        }

    def restore(self, clock: Clock, state: dict[str, Any]) -> None:
        _require(state, "clock", self.FIELDS)
        if state["frozen_at"].tzinfo is None:
            raise CodecError("clock state: frozen_at must be timezone-aware")
        values = {
            "_source": time.time,
            "_lock": threading.Lock(),
            "_frozen": state["frozen"],
            "allow_backwards": state["allow_backwards"],
            "_offset": state["offset"],
            "_frozen_at": state["frozen_at"],
            "_listeners": [],
        }
        for name, value in values.items():
            object.__setattr__(clock, name, value)


class EntropyAdapter:
    """A random stream as ``{seed, secret, random}``; ``random`` is None for an OS-backed (unseeded) stream,
    else ``[version, <bytes of 625 big-endian words>, gauss_next]``."""

    FIELDS: ClassVar[dict[str, tuple[type, ...]]] = {
        "seed": (int, type(None)),
        "secret": (bytes, type(None)),
        "random": (tuple, type(None)),
    }

    def state(self, entropy: Entropy) -> dict[str, Any]:
        generator = entropy._random
        packed = None
        if generator is not None:
            with entropy._lock:
                version, words, gauss = generator.getstate()
            packed = (version, struct.pack(f">{len(words)}I", *words), gauss)
        return {"seed": entropy.seed, "secret": getattr(entropy, "secret", None), "random": packed}

    def restore(self, entropy: Entropy, state: dict[str, Any]) -> None:
        _require(state, "entropy", self.FIELDS)
        generator = None
        if state["random"] is not None:
            if state["seed"] is None:
                raise CodecError("entropy state: an unseeded stream has no generator state")
            generator = random.Random()
            generator.setstate(self._generator_state(state["random"]))
        values = {"seed": state["seed"], "secret": state["secret"], "_lock": threading.Lock(), "_random": generator}
        for name, value in values.items():
            object.__setattr__(entropy, name, value)

    @staticmethod
    def _generator_state(packed: tuple[Any, ...]) -> tuple[Any, ...]:
        if len(packed) != 3:
            raise CodecError("entropy state: random is [version, words, gauss_next]")
        version, raw, gauss = packed
        if version != 3 or not isinstance(raw, bytes) or len(raw) != 4 * _MT_WORDS:
            raise CodecError(f"entropy state: expected version 3 and {4 * _MT_WORDS} bytes of Mersenne Twister state")
        if gauss is not None and not isinstance(gauss, float):
            raise CodecError("entropy state: gauss_next must be a float or null")
        words = struct.unpack(f">{_MT_WORDS}I", raw)
        if words[-1] > 624:
            raise CodecError("entropy state: the Mersenne Twister position is out of range")
        return (version, words, gauss)


#: infrastructure types and their adapters; the codec looks a type's adapter up here (through its MRO)
ADAPTERS: dict[type, Any] = {Clock: ClockAdapter(), Entropy: EntropyAdapter()}


def adapter_for(cls: type) -> Any | None:
    for klass in cls.__mro__:
        adapter = ADAPTERS.get(klass)
        if adapter is not None:
            return adapter
    return None

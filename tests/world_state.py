"""The whole world's state as plain, comparable data — for "a rejected request changes nothing" checks.

:func:`world_state` walks every object the three models hold (tenants, CA generations, users, tokens, devices,
claims, apps, groups, entries, codes, etags, devices and twins, DPS registrations, operations, throttle buckets),
plus the clock, the fault rules and the position of every seeded random stream, and returns nested tuples and
dicts that compare with ``==``. Two snapshots taken around a refused request must be equal.

It is generic on purpose: a field a model grows tomorrow is compared without this file changing. What it leaves
out is what a request may legitimately touch without changing the world: locks, settings, and caches that only
make later reads faster (an issuer's leaf template).

This is the test-side comparison; once the state helper's world codec (``simulator/state/``) lands, the
comparison can be switched to its encoding of the world.
"""

from __future__ import annotations

import datetime as _dt
import enum
import functools
import threading
import types
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from simulator.clock import Clock
from simulator.entropy import Entropy
from simulator.pki import Issuer, to_der
from simulator.settings import Settings

#: attributes that are not world state: reply tracking IDs, and caches kept beside the data they speed up
_SKIPPED_ATTRIBUTES = frozenset({"_leaf_templates", "authority_key_identifier", "settings"})
SERVICES = ("sphere", "central", "dps")
_ATOMS = (type(None), bool, int, float, str, bytes, _dt.datetime, _dt.timedelta, _dt.date, enum.Enum)


def world_state(cloud: Any) -> Any:
    """Everything a request could change in ``cloud``, as comparable data."""
    faults = getattr(cloud, "faults", None)
    rules = tuple(tuple(sorted(rule.to_dict().items(), key=repr)) for rule in faults.list()) if faults else ()
    with cloud.lock:  # a world of the tests may hold only some of the services (e.g. IoT Central alone)
        seen: dict[int, int] = {}
        state = {name: _plain(getattr(cloud, name), seen) for name in SERVICES if hasattr(cloud, name)}
        return {"now": cloud.clock.now(), **state, "faults": rules}


_LOCKS = (type(threading.Lock()), type(threading.RLock()))
_CALLABLES = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, functools.partial)


@functools.cache
def _kind(cls: type) -> str:
    """How a value of ``cls`` is compared (decided once per class)."""
    if issubclass(cls, _ATOMS):
        return "atom"
    if issubclass(cls, x509.Certificate):
        return "certificate"
    for kind, bases in (
        ("issuer", (Issuer,)),
        ("entropy", (Entropy,)),
        ("key", (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)),
        ("opaque", (Clock, Settings, *_LOCKS)),
        ("dict", (dict,)),
        ("sequence", (list, tuple)),
        ("set", (set, frozenset)),
        ("callable", _CALLABLES),
    ):
        if issubclass(cls, bases):
            return kind
    return "object"


def _plain(value: Any, seen: dict[int, int]) -> Any:
    kind = _kind(type(value))
    if kind == "atom":
        return value
    if kind == "certificate":
        return ("certificate", to_der(value))
    if kind == "issuer":
        return ("issuer", value.cert_der)
    if kind == "entropy":
        random = getattr(value, "_random", None)
        return ("entropy", value.seed, random.getstate() if random is not None else None)
    if kind == "key":
        public = value.public_key() if hasattr(value, "public_key") else value
        return ("key", public.public_numbers())
    if kind in ("opaque", "callable"):
        return (type(value).__name__,)
    if kind == "set":
        return ("set", tuple(sorted(repr(_plain(v, {})) for v in value)))
    marker = id(value)
    if marker in seen:  # shared or cyclic: compared by where it was first met (the walk order is deterministic)
        return ("ref", seen[marker])
    seen[marker] = len(seen)
    if kind == "dict":
        return {repr(k): _plain(v, seen) for k, v in value.items()}
    if kind == "sequence":
        return tuple([_plain(v, seen) for v in value])
    fields = getattr(value, "__dict__", None)
    if fields is None:
        slots = getattr(type(value), "__slots__", ())
        fields = {name: getattr(value, name) for name in slots if hasattr(value, name)}
    skipped = _derived(type(value))
    return (type(value).__name__, {name: _plain(item, seen) for name, item in fields.items() if name not in skipped})


@functools.cache
def _derived(cls: type) -> frozenset[str]:
    """What the world codec leaves out too: ``functools.cached_property`` caches (indexes, journals) and the names a
    class lists in ``__codec_transient__``."""
    names: set[str] = set()
    for klass in cls.__mro__:
        names.update(n for n, member in vars(klass).items() if isinstance(member, functools.cached_property))
        names.update(getattr(klass, "__codec_transient__", ()))
    return frozenset(names | _SKIPPED_ATTRIBUTES)

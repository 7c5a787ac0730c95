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
_ATOMS = (type(None), bool, int, float, str, bytes, _dt.datetime, _dt.timedelta, _dt.date, enum.Enum)


def world_state(cloud: Any) -> Any:
    """Everything a request could change in ``cloud``, as comparable data."""
    faults = getattr(cloud, "faults", None)
    rules = tuple(tuple(sorted(rule.to_dict().items(), key=repr)) for rule in faults.list()) if faults else ()
    with cloud.lock:
        return {
            "now": cloud.clock.now(),
            "sphere": _plain(cloud.sphere, {}, "sphere"),
            "central": _plain(cloud.central, {}, "central"),
            "dps": _plain(cloud.dps, {}, "dps"),
            "faults": rules,
        }


def _plain(value: Any, seen: dict[int, str], path: str) -> Any:
    if isinstance(value, _ATOMS):
        return value
    if isinstance(value, x509.Certificate):
        return ("certificate", to_der(value))
    if isinstance(value, Issuer):
        return ("issuer", value.cert_der)
    if isinstance(value, Entropy):
        random = getattr(value, "_random", None)
        return ("entropy", value.seed, random.getstate() if random is not None else None)
    if isinstance(value, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return ("key", value.public_key().public_numbers() if hasattr(value, "public_key") else value.public_numbers())
    if isinstance(value, Clock | Settings) or type(value) in (type(threading.Lock()), type(threading.RLock())):
        return (type(value).__name__,)
    marker = id(value)
    if marker in seen:
        return ("ref", seen[marker])
    if isinstance(value, dict):
        seen[marker] = path
        return {repr(k): _plain(v, seen, f"{path}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list | tuple):
        seen[marker] = path
        return tuple(_plain(v, seen, f"{path}[{i}]") for i, v in enumerate(value))
    if isinstance(value, set | frozenset):
        return ("set", tuple(sorted(repr(_plain(v, {}, path)) for v in value)))
    if isinstance(value, types.FunctionType | types.MethodType | types.BuiltinFunctionType | functools.partial):
        return ("callable",)
    fields = getattr(value, "__dict__", None)
    if fields is None:
        slots = getattr(type(value), "__slots__", ())
        fields = {name: getattr(value, name) for name in slots if hasattr(value, name)}
    seen[marker] = path
    derived = _derived(type(value))
    return (
        type(value).__name__,
        {
            name: _plain(item, seen, f"{path}.{name}")
            for name, item in fields.items()
            if name not in _SKIPPED_ATTRIBUTES and name not in derived
        },
    )


@functools.cache
def _derived(cls: type) -> frozenset[str]:
    """What the world codec leaves out too: ``functools.cached_property`` caches (indexes, journals) and the names a
    class lists in ``__codec_transient__``."""
    names: set[str] = set()
    for klass in cls.__mro__:
        names.update(n for n, member in vars(klass).items() if isinstance(member, functools.cached_property))
        names.update(getattr(klass, "__codec_transient__", ()))
    return frozenset(names)

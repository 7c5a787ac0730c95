"""The world codec: a complete, versioned, safe encoding of a whole offline world as JSON, and its strict decoder.

A world (:class:`~simulator.cloud.FakeCloud`) is a graph of Python objects: the three service models, their
tenants, apps, groups, entries, devices, registrations, operations, tokens, the clock, the seeded random streams,
the settings and the fault rules — with shared references (every model holds the same clock; an app's device
registry and the app share one template set) and cycles (a CA generation points back at its tenant). The codec
writes that graph as a flat table of objects that refer to each other by id::

    {"format": "sphere-harness-world", "version": 1, "root": "1",
     "objects": {
        "1": {"type": "simulator.cloud:FakeCloud", "state": {"central": {"$ref": "4"}, "seed": 7, ...}},
        "4": {"type": "simulator.central.model:CentralService", "state": {"apps": {"$ref": "9"}, ...}},
        "9": {"type": "dict", "items": [["contoso", {"$ref": "12"}]]},
        ...}}

**Generic, so new model classes need no codec code.** What an object is decides how it is written, by its type:

=====================================  ==========================================================================
``None``, ``bool``, ``int``, ``str``    themselves; ``float`` too unless NaN/∞ (``{"$float": "inf"}``)
bytes, datetime, timedelta, X.509       leaf tags (:mod:`simulator.state.values`): DER certificates, PKCS#8 DER
certificates, private/public keys       keys, exact instants and durations
``tuple``, ``frozenset``                ``{"$tuple": [...]}``, ``{"$frozenset": [...]}`` (sorted) — inline
``dict``, ``list``, ``set``             an object of the table (``{"$ref"}``): shared and mutable, kept by identity
a class under ``simulator.``:
  a frozen dataclass                    an immutable value, inline: ``{"$value": "mod:Class", "state": {...}}``
  an exception                          inline: ``{"$exception": "mod:Class", "args": [...], "state": {...}}``
  anything else (dataclass or plain)    a *record*: an object of the table, its attributes as ``state``
``threading.Lock``/``RLock``            ``{"$lock": "lock" | "rlock"}`` — a fresh lock when read back
=====================================  ==========================================================================

**A class's name is its persisted name.** ``module:QualName`` — where it was defined, or, for a class that moved,
the name it keeps in a class attribute ``__codec_name__ = "old.module:Name"`` (the old module re-exports it, so
documents written before the move load, and new ones name it the same way).

A record's state is its instance attributes (``vars(obj)``) minus ``functools.cached_property`` caches, names a
class lists in ``__codec_transient__`` (runtime-only attributes, e.g. the world's open store) and the ``_p_``
attributes of change tracking (:mod:`simulator.state.tracking`). The clock and the random streams hold state their
attributes cannot express; :mod:`simulator.state.adapters` writes them. Anything else — a class from another
package, a function, a socket — is a :class:`CodecError` naming where it was found: a model must not hold it, or
must list it as transient.

Containers inside an immutable value (a list in a frozen dataclass) are written inline (``{"$dict": [[k, v]]}``,
``{"$list"}``, ``{"$set"}``) and treated as part of the value.

**Canonical.** :func:`dump_world` numbers objects in breadth-first order from the world, visiting attributes by
name and dict items in insertion order, so two worlds in the same state give the same document — byte for byte
with :func:`dumps`. Tests compare worlds this way (a rejected request must leave the dump unchanged; a world read
back from disk must dump like the live one) and :func:`describe_differences` says where two dumps part.

**Strict and safe to read from someone else.** :func:`load_world` checks the format name and version, every tag and
its payload, that every reference resolves, and that every type names a class *under* ``simulator.`` of the kind
its position says (a record type for a table object, a frozen dataclass for ``$value``, an exception for
``$exception``). It builds objects with ``object.__new__`` and sets attributes — it never runs ``__init__``,
``__setstate__`` or anything named by the document; there is no pickle anywhere. A dataclass field missing from
the document takes its declared default (a document written before the field existed still loads); a field
without a default is an error.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from cryptography import x509

from simulator.state.adapters import adapter_for
from simulator.state.values import (
    PRIVATE_KEY_TYPES,
    PUBLIC_KEY_TYPES,
    CodecError,
    decode_leaf,
    encode_leaf,
)

__all__ = [
    "FORMAT",
    "VERSION",
    "WORLD_TYPE",
    "CodecError",
    "GraphDecoder",
    "GraphEncoder",
    "Kind",
    "describe_differences",
    "dump_world",
    "dumps",
    "kind_of",
    "load_world",
    "loads",
    "record_state",
    "skipped_names",
    "type_name",
    "world_class",
]

FORMAT = "sphere-harness-world"
VERSION = 1
PACKAGE = "simulator"

_LOCK_TYPES = {type(threading.Lock()): "lock", type(threading.RLock()): "rlock"}
_TYPE_NAME = re.compile(r"^simulator(?:\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_ATTRIBUTE = re.compile(r"^(?!__)(?!_p_)[A-Za-z_][A-Za-z0-9_]*$")
_CHECKED_NAMES: set[str] = set()  # attribute names already found acceptable (a world repeats a few hundred)


class Kind(Enum):
    SCALAR = "scalar"  # None, bool, int, str, float
    LEAF = "leaf"  # simulator.state.values
    TUPLE = "tuple"
    FROZENSET = "frozenset"
    CONTAINER = "container"  # dict, list, set (and their tracked forms)
    RECORD = "record"  # a mutable simulator object, or an adapter type
    VALUE = "value"  # a frozen dataclass under simulator.
    EXCEPTION = "exception"  # an exception class under simulator.
    LOCK = "lock"
    UNSUPPORTED = "unsupported"


def base_type(cls: type) -> type:
    """The model class behind a tracked subclass (:mod:`simulator.state.tracking`), else ``cls`` itself."""
    return cls.__dict__.get("_p_base", cls)


def container_kind(cls: type) -> str | None:
    """``"dict"``, ``"list"`` or ``"set"`` for the plain containers and their tracked forms, else None."""
    kind = cls.__dict__.get("_p_container")
    if kind is not None:
        return kind
    return {dict: "dict", list: "list", set: "set"}.get(cls)


@functools.cache
def kind_of(cls: type) -> Kind:
    """How values of type ``cls`` are encoded (see the module docstring's table)."""
    if cls in (type(None), bool, int, str, float):
        return Kind.SCALAR
    if cls is tuple:
        return Kind.TUPLE
    if cls is frozenset:
        return Kind.FROZENSET
    if container_kind(cls) is not None:
        return Kind.CONTAINER
    if cls in _LOCK_TYPES or getattr(cls, "__codec_lock__", False):
        return Kind.LOCK
    if issubclass(cls, (bytes, datetime, date, timedelta, x509.Certificate, *PRIVATE_KEY_TYPES, *PUBLIC_KEY_TYPES)):
        return Kind.LEAF
    base = base_type(cls)
    module = getattr(base, "__module__", "") or ""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return Kind.UNSUPPORTED
    if issubclass(base, BaseException):
        return Kind.EXCEPTION
    if adapter_for(base) is not None:
        return Kind.RECORD
    if dataclasses.is_dataclass(base) and base.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        return Kind.VALUE
    if not hasattr(base, "__dict__") or "__slots__" in vars(base):
        return Kind.UNSUPPORTED
    return Kind.RECORD


def type_name(cls: type) -> str:
    """``module:QualName`` of the model class behind ``cls`` — or the name the class keeps in ``__codec_name__``
    (a class that moved to another module keeps the name worlds already know it by)."""
    base = base_type(cls)
    return base.__dict__.get("__codec_name__") or f"{base.__module__}:{base.__qualname__}"


@functools.cache
def skipped_names(cls: type) -> frozenset[str]:
    """Attribute names of ``cls`` that are not state: cached properties and ``__codec_transient__`` names (the
    codec skips them; so does :func:`simulator.templates.clone`)."""
    names: set[str] = set()
    for klass in base_type(cls).__mro__:
        for name, member in vars(klass).items():
            if isinstance(member, functools.cached_property):
                names.add(name)
        names.update(getattr(klass, "__codec_transient__", ()))
    return frozenset(names)


def record_state(obj: Any) -> dict[str, Any]:
    """The attributes of a record or value that are its state, by name (raw Python values, not encoded)."""
    adapter = adapter_for(base_type(type(obj)))
    if adapter is not None:
        return adapter.state(obj)
    try:
        attributes = vars(obj)
    except TypeError:
        raise CodecError(f"{type_name(type(obj))} has no attribute dictionary (slots are not supported)") from None
    skipped = skipped_names(type(obj))
    return {k: attributes[k] for k in sorted(attributes) if k not in skipped and not k.startswith("_p_")}


def _canonical(encoded: Any) -> str:
    return json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


class GraphEncoder:
    """Encodes objects of a world graph; :meth:`ref` decides the id of a table object (override it to number
    objects differently — the store uses persistent ids). ``where`` names the attribute being encoded, for errors.
    """

    def __init__(self) -> None:
        self.ids: dict[int, str] = {}
        self.queue: deque[Any] = deque()
        self._keep: list[Any] = []
        self.where = "the world"

    # -- table objects --

    def ref(self, obj: Any) -> str:
        """The id of a table object, numbering new ones in discovery order and queueing them for :meth:`body`."""
        found = self.ids.get(id(obj))
        if found is None:
            found = self.ids[id(obj)] = str(len(self.ids) + 1)
            self._keep.append(obj)  # ids are id()s: keep the object alive while it is numbered
            self.queue.append(obj)
        return found

    def body(self, obj: Any) -> dict[str, Any]:
        """The table entry of one object: ``{"type", "state"}`` for a record, ``{"type", "items"}`` for a container."""
        kind = container_kind(type(obj))
        if kind == "dict":
            self.where = "a dict"
            return {"type": "dict", "items": [[self.value(k), self.value(v)] for k, v in obj.items()]}
        if kind == "list":
            self.where = "a list"
            return {"type": "list", "items": [self.value(v) for v in obj]}
        if kind == "set":
            self.where = "a set"
            return {"type": "set", "items": sorted((self.value(v) for v in obj), key=_canonical)}
        return {"type": type_name(type(obj)), "state": self.state(obj)}

    def state(self, obj: Any, *, inline: bool = False) -> dict[str, Any]:
        name = type_name(type(obj))
        encoded = {}
        for attribute, value in record_state(obj).items():
            self.where = f"{name}.{attribute}"
            encoded[attribute] = self.value(value, inline=inline)
        return encoded

    def inlined(self, container: Any) -> None:
        """Called for a mutable container written inline, inside an immutable value (a hook for checks)."""

    # -- values --

    def value(self, value: Any, *, inline: bool = False) -> Any:
        """The JSON form of ``value``; containers and records become references unless ``inline`` (inside values)."""
        cls = type(value)
        if cls is str or cls is int or cls is bool or value is None:
            return value
        kind = kind_of(cls)
        if kind is Kind.SCALAR or kind is Kind.LEAF:  # the only scalar left here is a float
            return encode_leaf(value)
        if kind is Kind.TUPLE:
            return {"$tuple": [self.value(v, inline=inline) for v in value]}
        if kind is Kind.FROZENSET:
            return {"$frozenset": sorted((self.value(v, inline=True) for v in value), key=_canonical)}
        if kind is Kind.CONTAINER:
            if not inline:
                return {"$ref": self.ref(value)}
            self.inlined(value)
            kind_name = container_kind(cls)
            if kind_name == "dict":
                return {"$dict": [[self.value(k, inline=True), self.value(v, inline=True)] for k, v in value.items()]}
            items = [self.value(v, inline=True) for v in value]
            return {"$list": items} if kind_name == "list" else {"$set": sorted(items, key=_canonical)}
        if kind is Kind.RECORD:
            return {"$ref": self.ref(value)}
        if kind is Kind.VALUE:
            where = self.where
            encoded = {"$value": type_name(cls), "state": self.state(value, inline=True)}
            self.where = where
            return encoded
        if kind is Kind.EXCEPTION:
            where = self.where
            args = [self.value(a, inline=True) for a in value.args]
            encoded = {"$exception": type_name(cls), "args": args, "state": self.state(value, inline=True)}
            self.where = where
            return encoded
        if kind is Kind.LOCK:
            return {"$lock": _LOCK_TYPES.get(cls) or cls.__codec_lock__}
        raise CodecError(
            f"cannot encode a {cls.__module__}.{cls.__qualname__} (at {self.where}): a world holds only plain values, "
            "containers and objects of classes under 'simulator.' (list runtime-only attributes in __codec_transient__)"
        )


def dump_world(root: Any) -> dict[str, Any]:
    """The canonical document of the world (or any record) ``root``: JSON-ready, compared with ``==``."""
    encoder = GraphEncoder()
    root_id = encoder.ref(root)
    objects: dict[str, Any] = {}
    while encoder.queue:
        obj = encoder.queue.popleft()
        objects[encoder.ids[id(obj)]] = encoder.body(obj)
    return {"format": FORMAT, "version": VERSION, "root": root_id, "objects": objects}


def dumps(document: dict[str, Any], *, indent: int | None = None) -> str:
    """The JSON text of a document: sorted keys, ASCII only (lone surrogates survive), no NaN literals."""
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(
        document, sort_keys=True, indent=indent, separators=separators, ensure_ascii=True, allow_nan=False
    )


def loads(text: str | bytes) -> dict[str, Any]:
    """Parse the JSON text of a document (not yet validated: :func:`load_world` does that)."""
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise CodecError(f"not a world document: {exc}") from None
    if not isinstance(document, dict):
        raise CodecError("not a world document: the top level must be an object")
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# -- decoding ---------------------------------------------------------------------------------------------------


@functools.cache
def resolve(name: Any, expected: Kind) -> type:
    """The class a document names, if it lives under ``simulator.`` and is of the ``expected`` kind."""
    if not isinstance(name, str) or not _TYPE_NAME.match(name):
        raise CodecError(f"{name!r} is not the name of a class under '{PACKAGE}.' (module:QualName)")
    module_name, _, qualname = name.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError:
        raise CodecError(f"unknown type {name!r}: no module {module_name!r}") from None
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if not isinstance(target, type) or type_name(target) != name:
        raise CodecError(f"unknown type {name!r}")
    actual = kind_of(target)
    if actual is not expected:
        raise CodecError(f"type {name!r} is a {actual.value}, not a {expected.value}")
    return target


def _plain_container(kind: str, oid: str) -> Any:
    return {"dict": dict, "list": list, "set": set}[kind]()


class GraphDecoder:
    """Builds the objects of a document's table: first an empty shell per id (so references and cycles resolve),
    then each one's state. ``make_container`` and ``make_record`` let the store build tracked objects instead."""

    def __init__(
        self,
        objects: dict[str, Any],
        *,
        make_container: Callable[[str, str], Any] = _plain_container,
        make_record: Callable[[type, str], Any] | None = None,
    ) -> None:
        if not isinstance(objects, dict):
            raise CodecError("'objects' must be an object of id -> entry")
        self.bodies = objects
        self.make_container = make_container
        self.make_record = make_record or (lambda cls, oid: object.__new__(cls))
        self.shells: dict[str, Any] = {}
        #: records whose document lacked dataclass fields that took their defaults (the store marks them changed)
        self.defaulted: list[Any] = []

    def build(self) -> dict[str, Any]:
        """Every object of the table, by id."""
        for oid, body in self.bodies.items():
            self.shells[oid] = self._shell(oid, body)
        for oid, body in self.bodies.items():
            self.fill(self.shells[oid], body, oid)
        return self.shells

    def _shell(self, oid: str, body: Any) -> Any:
        if not isinstance(oid, str) or not oid:
            raise CodecError(f"object id {oid!r} is not a non-empty string")
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            raise CodecError(f"object {oid}: an entry is {{'type': ..., 'state'|'items': ...}}")
        kind = body["type"]
        if kind in ("dict", "list", "set"):
            if set(body) != {"type", "items"} or not isinstance(body["items"], list):
                raise CodecError(f"object {oid}: a {kind} entry is {{'type', 'items': [...]}}")
            return self.make_container(kind, oid)
        if set(body) != {"type", "state"} or not isinstance(body["state"], dict):
            raise CodecError(f"object {oid}: a record entry is {{'type', 'state': {{...}}}}")
        return self.make_record(resolve(kind, Kind.RECORD), oid)

    def fill(self, shell: Any, body: dict[str, Any], oid: str = "?") -> None:
        kind = body["type"]
        try:
            if kind == "dict":
                for pair in body["items"]:
                    if not isinstance(pair, list) or len(pair) != 2:
                        raise CodecError("a dict item is [key, value]")
                    key = self.value(pair[0])
                    try:
                        dict.__setitem__(shell, key, self.value(pair[1]))
                    except TypeError:
                        raise CodecError(f"unhashable dict key {pair[0]!r}") from None
            elif kind == "list":
                list.extend(shell, (self.value(v) for v in body["items"]))
            elif kind == "set":
                for v in body["items"]:
                    try:
                        set.add(shell, self.value(v))
                    except TypeError:
                        raise CodecError(f"unhashable set member {v!r}") from None
            else:
                self._fill_record(shell, base_type(type(shell)), body["state"])
        except CodecError as exc:
            raise CodecError(f"object {oid} ({kind}): {exc}") from None

    def _fill_record(self, shell: Any, cls: type, state: dict[str, Any]) -> None:
        decoded = {name: self.value(v) for name, v in self._attributes(state)}
        adapter = adapter_for(cls)
        if adapter is not None:
            adapter.restore(shell, decoded)
            return
        if _set_attributes(shell, cls, decoded):
            self.defaulted.append(shell)

    @staticmethod
    def _attributes(state: dict[str, Any]) -> Iterable[tuple[str, Any]]:
        for name, value in state.items():
            if name not in _CHECKED_NAMES:
                if not isinstance(name, str) or not _ATTRIBUTE.match(name):
                    raise CodecError(f"{name!r} is not an attribute name a world may set")
                if len(_CHECKED_NAMES) < 4096:
                    _CHECKED_NAMES.add(name)
            yield name, value

    # -- values --

    def value(self, encoded: Any) -> Any:
        if encoded is None or isinstance(encoded, (bool, int, str)):
            return encoded
        if isinstance(encoded, float):
            return encoded
        if not isinstance(encoded, dict) or not encoded:
            raise CodecError(f"a value is a JSON scalar or a tag object, not {type(encoded).__name__}")
        tag = next(iter(encoded))
        if not isinstance(tag, str) or not tag.startswith("$"):
            raise CodecError(f"unknown tag {tag!r}")
        payload = encoded[tag]
        if tag == "$ref":
            if len(encoded) != 1 or payload not in self.shells:
                raise CodecError(f"reference {payload!r} does not name an object of the document")
            return self.shells[payload]
        if tag in ("$value", "$exception"):
            return self._inline_object(tag, encoded)
        if len(encoded) != 1:
            raise CodecError(f"a {tag} tag has no other members, found {sorted(encoded)}")
        if tag == "$tuple":
            return tuple(self.value(v) for v in _list(tag, payload))
        if tag == "$frozenset":
            return frozenset(self._hashables(tag, payload))
        if tag == "$list":
            return [self.value(v) for v in _list(tag, payload)]
        if tag == "$set":
            return set(self._hashables(tag, payload))
        if tag == "$dict":
            result = {}
            for pair in _list(tag, payload):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise CodecError("a $dict item is [key, value]")
                try:
                    result[self.value(pair[0])] = self.value(pair[1])
                except TypeError:
                    raise CodecError(f"unhashable $dict key {pair[0]!r}") from None
            return result
        if tag == "$lock":
            if payload not in ("lock", "rlock"):
                raise CodecError('$lock is "lock" or "rlock"')
            return threading.RLock() if payload == "rlock" else threading.Lock()
        return decode_leaf(tag, payload)

    def _hashables(self, tag: str, payload: Any) -> list[Any]:
        values = [self.value(v) for v in _list(tag, payload)]
        for v in values:
            try:
                hash(v)
            except TypeError:
                raise CodecError(f"a {tag} member must be hashable") from None
        return values

    def _inline_object(self, tag: str, encoded: dict[str, Any]) -> Any:
        expected_keys = {tag, "state"} | ({"args"} if tag == "$exception" else set())
        if set(encoded) != expected_keys or not isinstance(encoded["state"], dict):
            raise CodecError(f"a {tag} is {{{', '.join(sorted(expected_keys))}}}")
        cls = resolve(encoded[tag], Kind.VALUE if tag == "$value" else Kind.EXCEPTION)
        state = {name: self.value(v) for name, v in self._attributes(encoded["state"])}
        if tag == "$exception":
            obj = cls.__new__(cls)
            obj.args = tuple(self.value(a) for a in _list("args", encoded["args"]))
            for name, value in state.items():
                object.__setattr__(obj, name, value)
            return obj
        obj = object.__new__(cls)
        _set_attributes(obj, cls, state)
        return obj


def _list(tag: str, payload: Any) -> list[Any]:
    if not isinstance(payload, list):
        raise CodecError(f"{tag} needs a list")
    return payload


def _set_attributes(obj: Any, cls: type, state: dict[str, Any]) -> bool:
    """Set a record's or value's attributes; dataclass fields the document lacks take their defaults (then True)."""
    for name, value in state.items():
        object.__setattr__(obj, name, value)
    defaulted = False
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if f.name in state:
                continue
            defaulted = True
            if f.default is not dataclasses.MISSING:
                object.__setattr__(obj, f.name, f.default)
            elif f.default_factory is not dataclasses.MISSING:
                object.__setattr__(obj, f.name, f.default_factory())
            else:
                raise CodecError(f"{type_name(cls)} needs field {f.name!r}, which the document lacks")
    return defaulted


def check_header(document: Any) -> None:
    """Raise :class:`CodecError` unless ``document`` is a world document of a version this code reads."""
    if not isinstance(document, dict):
        raise CodecError("not a world document: the top level must be an object")
    if document.get("format") != FORMAT:
        raise CodecError(f"not a world document: format is {document.get('format')!r}, expected {FORMAT!r}")
    version = document.get("version")
    if version != VERSION:
        raise CodecError(f"world document version {version!r} is not supported (this code reads version {VERSION})")
    unknown = set(document) - {"format", "version", "root", "objects", "meta"}
    if unknown:
        raise CodecError(f"unknown member(s) of a world document: {sorted(unknown)}")


#: the kind of a world document's root: a :class:`~simulator.cloud.FakeCloud`, named rather than imported (the
#: codec sits below the world it encodes)
WORLD_TYPE = "simulator.cloud:FakeCloud"


def world_class(cls: type) -> type | None:
    """The :data:`WORLD_TYPE` class that ``cls`` is or derives from (through a tracked subclass too), else None."""
    return next((klass for klass in cls.__mro__ if type_name(klass) == WORLD_TYPE), None)


def load_world(document: dict[str, Any], *, expect: type | None = None) -> Any:
    """The world a document describes (strictly checked). ``expect``: the class the root must be an instance of
    (default :class:`~simulator.cloud.FakeCloud`, :data:`WORLD_TYPE`)."""
    check_header(document)
    decoder = GraphDecoder(document.get("objects"))  # type: ignore[arg-type]
    shells = decoder.build()
    root = document.get("root")
    if root not in shells:
        raise CodecError(f"the root {root!r} is not an object of the document")
    world = shells[root]
    if expect is None:
        if world_class(type(world)) is None:
            raise CodecError(f"the root is a {type_name(type(world))}, not a {WORLD_TYPE}")
    elif not isinstance(world, expect):
        raise CodecError(f"the root is a {type_name(type(world))}, not a {type_name(expect)}")
    return world


def describe_differences(a: dict[str, Any], b: dict[str, Any], *, limit: int = 20) -> list[str]:
    """Where two documents differ, as ``objects.<id>(<type>).state.<attr>: <a> != <b>`` lines (at most ``limit``)."""
    found: list[str] = []

    def walk(x: Any, y: Any, path: str) -> None:
        if len(found) >= limit or x == y:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for key in list(dict.fromkeys([*x, *y])):
                if key not in x or key not in y:
                    found.append(f"{path}.{key}: only in {'second' if key not in x else 'first'}")
                else:
                    walk(x[key], y[key], f"{path}.{key}")
            return
        if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (p, q) in enumerate(zip(x, y, strict=True)):
                walk(p, q, f"{path}[{i}]")
            return
        found.append(f"{path}: {_short(x)} != {_short(y)}")

    objects_a, objects_b = a.get("objects", {}), b.get("objects", {})
    for oid in list(dict.fromkeys([*objects_a, *objects_b])):
        kind = (objects_a.get(oid) or objects_b.get(oid) or {}).get("type")
        walk(objects_a.get(oid), objects_b.get(oid), f"objects.{oid}({kind})")
    for key in ("format", "version", "root"):
        walk(a.get(key), b.get(key), key)
    return found


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 160 else text[:157] + "..."

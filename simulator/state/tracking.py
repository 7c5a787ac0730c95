"""Change tracking: which objects of a persisted world changed since the last commit, without the models saying so.

A persisted world (:class:`~simulator.state.store.WorldStore`) writes, per request, only what that request changed
— one row per changed object, one row per changed dict item — so the cost of a request does not grow with the size
of the world. To know what changed, every object of the world is *tracked* once the store adopts it:

* a **record** (an object of a model class under ``simulator.``) gets its class swapped for a generated subclass
  whose ``__setattr__``/``__delattr__`` mark it dirty (``obj.__class__ = Tracked``: same attributes, same methods,
  ``isinstance`` unchanged, ``type(obj).__name__`` unchanged). The random streams
  (:class:`~simulator.entropy.Entropy`) change without an assignment, so their drawing methods mark them too;
* a **container** (``dict``, ``list``, ``set`` held by the world) is replaced by a :class:`TrackedDict`,
  :class:`TrackedList` or :class:`TrackedSet` holding the same items, whose mutating methods mark it. A dict
  remembers *which keys* changed, and the store writes only those items (a registry of 10⁵ devices costs one row
  per device that changed);
* a **value** (string, number, instant, certificate, tuple, frozen dataclass) never changes in place, so it needs
  no tracking: replacing it is an assignment or an item write, which marks its holder.

Nothing is tracked until a store adopts the world, so in-memory worlds (no ``state_dir``) run exactly as before.

**The rule for model code** (what the contracts and surfaces helpers follow when they add state):

1. Keep state in attributes of model objects (dataclass or plain class under ``simulator.``) and in ``dict`` /
   ``list`` / ``set`` they hold; change it only under ``cloud.lock`` (the commit runs when the outermost
   ``with cloud.lock:`` ends — before the response is sent).
2. Anything that grows with the world goes in a **dict** (per-item rows), not a list (a list is one row, rewritten
   whole when it changes).
3. Containers are adopted *by the commit* that first sees them: a local variable that still points at a plain
   ``dict`` after the request ended is not the world's dict any more. Don't keep references to world containers
   outside the world between requests (caches belong in ``__codec_transient__`` or in ``functools.cached_property``).
4. Mutable containers inside frozen dataclasses or tuples are part of an immutable value: never mutate them.

:func:`untracked_mutables` finds objects a world holds that break rule 4 or escaped adoption, and the tests compare
a live world with the same world read back from disk after every operation of a state machine, so a change the
tracking misses fails a test.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Iterable
from typing import Any

from simulator.entropy import Entropy

__all__ = [
    "ADDED",
    "CHANGED",
    "Journal",
    "TrackedDict",
    "TrackedList",
    "TrackedSet",
    "is_tracked",
    "tracked_class",
    "untracked_mutables",
]

ADDED, CHANGED = 2, 1  # per-key change flags of a TrackedDict: ADDED (new position at the end) wins over CHANGED
_object_setattr = object.__setattr__
_object_delattr = object.__delattr__


class _Discard(dict):  # type: ignore[type-arg]
    """The dirty set of a closed journal: marks go nowhere."""

    def __setitem__(self, key: Any, value: Any) -> None:
        return None


class Journal:
    """The dirty objects of one persisted world, by object id (``_p_oid``), and the id counter.

    Marks arrive from tracked objects; :meth:`pop_dirty` hands them to the store one at a time (``popitem`` is
    atomic, and the dict is never replaced, so a mark made while a commit runs is kept for the next commit).
    """

    MEMO_SIZE = 4096

    def __init__(self, next_oid: int = 1) -> None:
        self.dirty: dict[int, Any] = {}
        self.next_oid = next_oid
        self._oid_lock = threading.Lock()
        #: plain containers already adopted, by id(): two references to one plain dict get one tracked dict. Bounded:
        #: an evicted container that turns up again is copied once more (its items stay right; only sharing is lost)
        self._adopted: collections.OrderedDict[int, tuple[Any, Any]] = collections.OrderedDict()

    def new_oid(self) -> int:
        with self._oid_lock:
            oid = self.next_oid
            self.next_oid += 1
        return oid

    def mark(self, obj: Any) -> None:
        self.dirty[obj._p_oid] = obj

    def pop_dirty(self) -> Any | None:
        try:
            return self.dirty.popitem()[1]
        except KeyError:
            return None

    def close(self) -> None:
        """Stop recording (objects of a closed world may still be changed; nothing is written any more)."""
        self.dirty = _Discard()
        self._adopted.clear()

    # -- adoption --

    def adopt_record(self, obj: Any, oid: int | None = None) -> Any:
        """Track a record: swap its class, give it an id, mark it dirty (its row is new)."""
        cls = type(obj)
        if "_p_base" not in cls.__dict__:
            obj.__class__ = tracked_class(cls)
        _object_setattr(obj, "_p_oid", oid if oid is not None else self.new_oid())
        _object_setattr(obj, "_p_jar", self)
        self.mark(obj)
        return obj

    def adopt_container(self, plain: Any, oid: int | None = None) -> Any:
        """The tracked copy of a plain container (the same one for the same container while it is remembered)."""
        remembered = self._adopted.get(id(plain))
        if remembered is not None and remembered[0] is plain:
            self._adopted.move_to_end(id(plain))
            return remembered[1]
        tracked = _TRACKED[type(plain)]._p_adopt(plain, self, oid if oid is not None else self.new_oid())
        self._adopted[id(plain)] = (plain, tracked)
        if len(self._adopted) > self.MEMO_SIZE:
            self._adopted.popitem(last=False)
        self.mark(tracked)
        return tracked

    reclaim_record = adopt_record  # a record tracked by another (closed) journal is adopted the same way

    def reclaim_container(self, container: Any) -> Any:
        """Take over a tracked container of another journal (a world written afresh): new id, every item new."""
        container._p_oid, container._p_jar = self.new_oid(), self
        if isinstance(container, TrackedDict):
            container._p_changes, container._p_seq = dict.fromkeys(dict.keys(container), ADDED), 0
        self.mark(container)
        return container

    def shell_container(self, kind: str, oid: int) -> Any:
        """An empty tracked container with a known id (reading a world back): not dirty."""
        container = {"dict": TrackedDict, "list": TrackedList, "set": TrackedSet}[kind]()
        container._p_oid, container._p_jar = oid, self
        if kind == "dict":
            container._p_changes, container._p_seq = {}, 0
        return container

    def shell_record(self, cls: type, oid: int) -> Any:
        """An empty tracked record with a known id (reading a world back): not dirty."""
        obj = object.__new__(tracked_class(cls))
        _object_setattr(obj, "_p_oid", oid)
        _object_setattr(obj, "_p_jar", self)
        return obj


def base_of(cls: type) -> type:
    """The model class behind a tracked class (``cls`` itself otherwise)."""
    return cls.__dict__.get("_p_base", cls)


def is_tracked(obj: Any) -> bool:
    """Whether ``obj`` is a tracked record or container (adopted by a store)."""
    try:
        return obj._p_jar is not None
    except AttributeError:
        return False


# -- records ---------------------------------------------------------------------------------------------------

#: methods that change an object without assigning an attribute, per class (the random streams draw)
MUTATORS: dict[type, tuple[str, ...]] = {Entropy: ("bytes", "randbelow")}

_TRACKED_CLASSES: dict[type, type] = {}
_classes_lock = threading.Lock()


def tracked_class(cls: type) -> type:
    """The tracked subclass of a model class (made once per class)."""
    if "_p_base" in cls.__dict__:
        return cls
    found = _TRACKED_CLASSES.get(cls)
    if found is not None:
        return found
    with _classes_lock:
        found = _TRACKED_CLASSES.get(cls)
        if found is None:
            found = _TRACKED_CLASSES[cls] = _make_tracked_class(cls)
    return found


def _make_tracked_class(cls: type) -> type:
    base_setattr = cls.__setattr__
    base_delattr = cls.__delattr__

    def __setattr__(self: Any, name: str, value: Any) -> None:
        base_setattr(self, name, value)
        d = self.__dict__
        jar = d.get("_p_jar")
        if jar is not None:  # None: made by this class's __init__ (dataclasses.replace, type(obj)(...)), not adopted
            jar.dirty[d["_p_oid"]] = self

    def __delattr__(self: Any, name: str) -> None:
        base_delattr(self, name)
        d = self.__dict__
        jar = d.get("_p_jar")
        if jar is not None:
            jar.dirty[d["_p_oid"]] = self

    def __reduce_ex__(self: Any, protocol: Any) -> Any:
        """Copies (``copy``, ``deepcopy``, pickle) are plain, untracked objects of the model class."""
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_p_")}
        return (_rebuild, (cls,), state)

    namespace: dict[str, Any] = {
        "__setattr__": __setattr__,
        "__delattr__": __delattr__,
        "__reduce_ex__": __reduce_ex__,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
        "_p_base": cls,
    }
    params = getattr(cls, "__dataclass_params__", None)
    if params is not None and params.eq:
        compared = tuple(f.name for f in dataclasses.fields(cls) if f.compare)

        def __eq__(self: Any, other: Any) -> Any:
            """Equal to an instance of the model class (tracked or not) with equal fields, as the dataclass was."""
            if self is other:
                return True
            if base_of(type(other)) is not cls:
                return NotImplemented
            return all(getattr(self, name) == getattr(other, name) for name in compared)

        namespace["__eq__"] = __eq__
        namespace["__hash__"] = cls.__hash__
    for klass, names in MUTATORS.items():
        if issubclass(cls, klass):
            for name in names:
                namespace[name] = _marking(getattr(cls, name))
    return type(cls.__name__, (cls,), namespace)


def _marking(method: Any) -> Any:
    def marking(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        d = self.__dict__
        jar = d.get("_p_jar")
        if jar is not None and (d.get("_random") is not None or not isinstance(self, Entropy)):
            jar.dirty[d["_p_oid"]] = self
        return result

    marking.__name__ = method.__name__
    marking.__doc__ = method.__doc__
    return marking


def _rebuild(cls: type) -> Any:
    return object.__new__(cls)


# -- containers ------------------------------------------------------------------------------------------------


class TrackedDict(dict):  # type: ignore[type-arg]
    """A dict that records which keys changed (``ADDED``: new, or moved to the end; ``CHANGED``: new value)."""

    __slots__ = ("_p_changes", "_p_jar", "_p_oid", "_p_seq")
    _p_container = "dict"

    @classmethod
    def _p_adopt(cls, plain: dict[Any, Any], jar: Journal, oid: int) -> TrackedDict:
        tracked = cls()
        dict.update(tracked, plain)
        tracked._p_oid, tracked._p_jar, tracked._p_seq = oid, jar, 0
        tracked._p_changes = dict.fromkeys(plain, ADDED)
        return tracked

    def _p_touch(self, key: Any, flag: int) -> None:
        changes = self._p_changes
        if flag == ADDED:
            # ADDED keys stay in the order of their last insertion, which is the dict's own order: the store gives
            # them positions in this order
            changes.pop(key, None)
            changes[key] = ADDED
        elif key not in changes:
            changes[key] = CHANGED
        self._p_jar.dirty[self._p_oid] = self

    def __setitem__(self, key: Any, value: Any) -> None:
        flag = CHANGED if key in self else ADDED
        dict.__setitem__(self, key, value)
        self._p_touch(key, flag)

    def __delitem__(self, key: Any) -> None:
        dict.__delitem__(self, key)
        self._p_touch(key, ADDED)  # a key set again later moves to the end: it gets a new position

    def pop(self, key: Any, *default: Any) -> Any:
        present = key in self
        value = dict.pop(self, key, *default)
        if present:
            self._p_touch(key, ADDED)
        return value

    def popitem(self) -> tuple[Any, Any]:
        key, value = dict.popitem(self)
        self._p_touch(key, ADDED)
        return key, value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key in self:
            return dict.__getitem__(self, key)
        self[key] = default
        return default

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        keys = list(self)
        dict.clear(self)
        for key in keys:
            self._p_touch(key, ADDED)

    def __ior__(self, other: Any) -> TrackedDict:
        self.update(other)
        return self

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (dict, (), None, None, iter(dict.items(self)))

    def copy(self) -> dict[Any, Any]:
        return dict(self)

    @classmethod
    def fromkeys(cls, iterable: Any, value: Any = None) -> dict[Any, Any]:  # type: ignore[override]
        return dict.fromkeys(iterable, value)


class TrackedList(list):  # type: ignore[type-arg]
    """A list that marks itself on every change (it is written whole)."""

    __slots__ = ("_p_jar", "_p_oid")
    _p_container = "list"

    @classmethod
    def _p_adopt(cls, plain: list[Any], jar: Journal, oid: int) -> TrackedList:
        tracked = cls(plain)
        tracked._p_oid, tracked._p_jar = oid, jar
        return tracked

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (list, (list(self),))

    def copy(self) -> list[Any]:
        return list(self)


class TrackedSet(set):  # type: ignore[type-arg]
    """A set that marks itself on every change (it is written whole)."""

    __slots__ = ("_p_jar", "_p_oid")
    _p_container = "set"

    @classmethod
    def _p_adopt(cls, plain: set[Any], jar: Journal, oid: int) -> TrackedSet:
        tracked = cls(plain)
        tracked._p_oid, tracked._p_jar = oid, jar
        return tracked

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (set, (list(self),))

    def copy(self) -> set[Any]:
        return set(self)


def _mark_after(base: type, names: Iterable[str]) -> dict[str, Any]:
    methods = {}
    for name in names:
        original = getattr(base, name)

        def method(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            result = __original(self, *args, **kwargs)
            self._p_jar.dirty[self._p_oid] = self
            return result

        method.__name__ = name
        methods[name] = method
    return methods


_LIST_MUTATORS = (
    "__setitem__",
    "__delitem__",
    "__iadd__",
    "__imul__",
    "append",
    "extend",
    "insert",
    "pop",
    "remove",
    "clear",
    "sort",
    "reverse",
)
_SET_MUTATORS = (
    "__ior__",
    "__iand__",
    "__isub__",
    "__ixor__",
    "add",
    "discard",
    "remove",
    "pop",
    "clear",
    "update",
    "difference_update",
    "intersection_update",
    "symmetric_difference_update",
)
for _name, _method in _mark_after(list, _LIST_MUTATORS).items():
    setattr(TrackedList, _name, _method)
for _name, _method in _mark_after(set, _SET_MUTATORS).items():
    setattr(TrackedSet, _name, _method)

_TRACKED = {dict: TrackedDict, list: TrackedList, set: TrackedSet}


def untracked_mutables(world: Any) -> list[str]:
    """What a persisted world holds that its store would not see change, after a commit: records and containers
    that are not tracked (they escaped adoption) and mutable containers inside immutable values (rule 4). Empty
    for a healthy world; tests assert that."""
    from simulator.state.codec import GraphEncoder, container_kind, type_name

    found: list[str] = []

    class Walker(GraphEncoder):
        def ref(self, obj: Any) -> str:
            if id(obj) not in self.ids and not is_tracked(obj):
                kind = container_kind(type(obj)) or type_name(type(obj))
                found.append(f"an untracked {kind} at {self.where}")
            return super().ref(obj)

        def inlined(self, container: Any) -> None:
            found.append(f"a mutable {type(container).__name__} inside an immutable value at {self.where}")

    walker = Walker()
    walker.ref(world)
    while walker.queue:
        walker.body(walker.queue.popleft())
    return found

"""A world that lasts: ``FakeCloud(state_dir=DIR)`` keeps the whole world in ``DIR/world.sqlite3``, change by change.

**Design: per-object rows written when changed** (not a log of operations replayed at start). Every object of the
world is one row of ``objects`` — its attributes encoded by the world codec (:mod:`simulator.state.codec`), other
objects referred to by id — and every item of a dict is one row of ``items``. Change tracking
(:mod:`simulator.state.tracking`) knows which objects and which dict keys a request changed; when the outermost
``with cloud.lock:`` of the request ends, :meth:`WorldStore.commit` writes exactly those rows in one SQLite
transaction, *before* the lock is released and so before any response is sent. A request therefore costs
O(what it changed), whatever the size of the world; a ``kill -9`` at any instant leaves the last committed state
(SQLite's WAL is atomic), never half a request.

Why not the other design — a durable log of accepted operations, replayed deterministically over a snapshot at
start? Replay is only exact if *every* source of nondeterminism is captured: each clock reading of each request,
every draw from unseeded (OS) entropy, every MQTT packet, and every Python-API call made by a test; and a log
written by one version of the models replays differently under the next. Rows of state have none of that
fragility: what is on disk is the world itself, readable by the same strict decoder as an exported file, and a
change to a model's code does not change what a stored world *is*.

What a restart gives back (:meth:`WorldStore.load`): the same objects with the same bytes — tenant CA
certificates and keys, verified entries, codes, tokens, devices, DPS registrations, fault rules and their
counters — the random streams continuing where they stopped (so a seeded world does not reissue the tokens it
already issued), and the clock at the same offset from real time (:mod:`simulator.state.adapters`). Objects that
the world no longer reaches (a deleted group) stay on disk until the next start, which removes them.

One process serves a state directory at a time: :class:`WorldStore` holds an exclusive ``flock`` on
``DIR/world.lock`` (released by the kernel when the process dies, so a killed server never blocks its successor).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulator.state.adapters import adapter_for
from simulator.state.codec import (
    FORMAT,
    VERSION,
    CodecError,
    GraphDecoder,
    GraphEncoder,
    base_type,
    container_kind,
    record_state,
)
from simulator.state.database import StateDatabase, StoreError, StoreTimeout
from simulator.state.tracking import ADDED, Journal, TrackedDict

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one server per directory is then the user's promise
    fcntl = None  # type: ignore[assignment]

__all__ = ["DATABASE_FILE", "LOCK_FILE", "StoreError", "StoreTimeout", "WorldLock", "WorldStore", "read_world"]

DATABASE_FILE = "world.sqlite3"
LOCK_FILE = "world.lock"
_PLAIN = (dict, list, set)


_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode


class WorldLock:
    """The lock of a persisted world: re-entrant, and its outermost release runs ``on_release`` (the commit) first,
    while the lock is still held — so what a request changed is on disk before another request or the response."""

    __codec_lock__ = "rlock"  # encoded like an RLock: a world read back gets a fresh lock

    def __init__(self, on_release: Callable[[], Any] | None = None) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self.on_release = on_release

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        acquired = self._lock.acquire(blocking, timeout)
        if acquired:
            self._depth += 1
        return acquired

    def release(self) -> None:
        try:
            if self._depth == 1 and self.on_release is not None:
                self.on_release()
        finally:
            self._depth -= 1
            self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class _RowEncoder(GraphEncoder):
    """The codec's encoder with persistent ids: a tracked object's ``_p_oid``; an object not tracked yet is adopted
    (tracked, given an id, marked dirty — the commit loop writes it too)."""

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    def ref(self, obj: Any) -> str:
        if getattr(obj, "_p_jar", None) is self.journal:
            return str(obj._p_oid)
        if type(obj) in _PLAIN:
            raise CodecError(f"internal: a plain {type(obj).__name__} reached the store unadopted (at {self.where})")
        if container_kind(type(obj)) is not None:
            self.journal.reclaim_container(obj)
        else:
            self.journal.adopt_record(obj)
        return str(obj._p_oid)


class WorldStore:
    """The state directory of one world: its database, its lock, and the journal of what changed."""

    def __init__(self, directory: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.directory = Path(directory).resolve()
        self.readonly = readonly
        self._lock_file: Any = None
        if not readonly:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._take_directory()
        try:
            self.db = StateDatabase(self.directory / DATABASE_FILE, readonly=readonly)
        except BaseException:
            self._release_directory()
            raise
        self.journal: Journal | None = None
        self._write_lock = threading.RLock()

    # -- the directory lock --

    def _take_directory(self) -> None:
        path = self.directory / LOCK_FILE
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the store's lifetime
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise StoreError(f"{self.directory} is in use by {holder}: one server per state directory") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._lock_file = handle

    def _release_directory(self) -> None:
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                self._lock_file.close()  # closing the descriptor releases the flock
            self._lock_file = None

    # -- reading a world back --

    def has_world(self) -> bool:
        return "root" in self.db.meta()

    def load(self, root: Any | None = None, *, track: bool = True) -> Any:
        """The stored world. ``root``: an existing (empty) world object to fill instead of a new one. With
        ``track`` (the default for a writable store) every object is tracked and changes commit to this store."""
        meta = self.db.meta()
        if meta.get("format") != FORMAT:
            raise StoreError(f"{self.db.path} holds no world (format {meta.get('format')!r})")
        if meta.get("version") != str(VERSION):
            raise StoreError(
                f"{self.db.path} holds a world of codec version {meta.get('version')}; this code reads {VERSION}"
            )
        root_id = meta["root"]
        objects, items = self.db.rows()
        reachable = _reachable_rows(root_id, objects, items)
        garbage = [oid for oid in objects if oid not in reachable]
        bodies = _bodies(objects, items, reachable)
        journal = Journal(max(objects, default=0) + 1) if track else None
        decoder = GraphDecoder(
            bodies,
            make_container=self._container_factory(journal),
            make_record=self._record_factory(journal, root_id, root),
        )
        try:
            shells = decoder.build()
        except CodecError as exc:
            raise StoreError(f"{self.db.path}: {exc}") from exc
        if journal is not None:
            for cid, rows in items.items():
                shell = shells.get(str(cid))
                if isinstance(shell, TrackedDict):
                    shell._p_seq = max((seq for _, seq, _ in rows), default=0)
        world = shells[root_id]
        if garbage and not self.readonly:
            self.db.delete_objects(garbage)
            self.db.checkpoint()
        if journal is not None:
            for shell in decoder.defaulted:  # fields that took defaults are written (and their containers adopted)
                journal.mark(shell)
            self.journal = journal
            object.__setattr__(world, "lock", WorldLock(self.commit))
        return world

    @staticmethod
    def _container_factory(journal: Journal | None) -> Callable[[str, str], Any]:
        if journal is None:
            return lambda kind, oid: {"dict": dict, "list": list, "set": set}[kind]()
        return lambda kind, oid: journal.shell_container(kind, int(oid))

    @staticmethod
    def _record_factory(journal: Journal | None, root_id: str, root: Any | None) -> Callable[[type, str], Any]:
        def make(cls: type, oid: str) -> Any:
            if oid == root_id and root is not None:
                if base_type(type(root)) is not cls:
                    raise CodecError(f"the stored root is a {cls.__qualname__}, not a {type(root).__qualname__}")
                if journal is not None:
                    journal.adopt_record(root, int(oid))
                    journal.dirty.clear()  # read back, not changed
                return root
            if journal is None:
                return object.__new__(cls)
            return journal.shell_record(cls, int(oid))

        return make

    # -- writing --

    def attach(self, world: Any) -> None:
        """Start persisting a world that is not stored yet: write all of it, then track its changes."""
        if self.readonly:
            raise StoreError("a read-only store cannot take a world")
        if self.has_world():
            raise StoreError(f"{self.db.path} already holds a world")
        self._write_world(world)

    def replace(self, world: Any) -> None:
        """Store ``world`` in place of whatever the directory held (``state import``, ``/_sim/restore``)."""
        self._write_world(world)

    def _write_world(self, world: Any) -> None:
        """Write all of ``world`` in place of the directory's content, in one transaction. Tracking switches to the
        new journal only once the transaction committed (on failure the old journal, if any, keeps working)."""
        with self._write_lock:
            journal = Journal(1)
            journal.reclaim_record(world)
            meta = {
                "format": FORMAT,
                "version": str(VERSION),
                "root": str(world._p_oid),
                "created": datetime.now(UTC).isoformat(),
            }
            try:
                with self.db.transaction() as connection:
                    connection.execute("DELETE FROM objects")
                    connection.execute("DELETE FROM items")
                    connection.execute("DELETE FROM meta")
                    connection.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
                    self._write_dirty(connection, journal, [])
            except BaseException:
                journal.close()
                raise
            self.db.checkpoint()
            previous, self.journal = self.journal, journal
            if previous is not None:
                previous.close()
            lock = getattr(world, "lock", None)
            if isinstance(lock, WorldLock):
                lock.on_release = self.commit
            else:
                object.__setattr__(world, "lock", WorldLock(self.commit))

    def commit(self) -> int:
        """Write every object and dict item changed since the last commit, in one transaction; returns how many
        objects were written. On failure nothing is written and everything stays marked for the next commit."""
        journal = self.journal
        if journal is None or not journal.dirty:
            return 0
        with self._write_lock:
            written: list[tuple[Any, dict[Any, int] | None]] = []
            try:
                with self.db.transaction() as connection:
                    self._write_dirty(connection, journal, written)
            except BaseException:
                _remark(journal, written)
                raise
            return len(written)

    def _write_dirty(self, connection: Any, journal: Journal, written: list[tuple[Any, dict[Any, int] | None]]) -> None:
        """Encode every dirty object (adopting what they newly hold), then write the rows in a few batches."""
        encoder = _RowEncoder(journal)
        batch = _Rows()
        while (obj := journal.pop_dirty()) is not None:
            kind = container_kind(type(obj))
            if kind == "dict":
                changes = _take_changes(obj)
                written.append((obj, changes))
                _encode_dict(encoder, obj, changes, batch)
                continue
            written.append((obj, None))
            _adopt_children(journal, obj, kind)
            body = encoder.body(obj)
            batch.objects.append((obj._p_oid, body["type"], _canonical(body["items"] if kind else body["state"])))
        batch.write(connection)

    # -- lifetime --

    def close(self) -> None:
        """Commit what is pending, stop tracking, close the database and free the directory."""
        try:
            if self.journal is not None and not self.readonly:
                self.commit()
        finally:
            if self.journal is not None:
                self.journal.close()
            self.db.close()
            self._release_directory()

    def check(self, *, fix: bool = False) -> list[str]:
        """The database's warnings (:meth:`StateDatabase.check`)."""
        return self.db.check(fix=fix)


def read_world(directory: str | os.PathLike[str]) -> Any:
    """The world stored in ``directory``, read through a fresh read-only connection, untracked and detached: a copy
    (safe while a server is using the directory — it reads the last committed state)."""
    store = WorldStore(directory, readonly=True)
    try:
        return store.load(track=False)
    finally:
        store.db.close()


# -- helpers ---------------------------------------------------------------------------------------------------


_REF = re.compile(r'\{"\$ref":"(\d+)"\}')  # a reference in the canonical JSON the store writes


def _reachable_rows(
    root: str, objects: dict[int, tuple[str, str | None]], items: dict[int, list[tuple[str, int, str]]]
) -> set[int]:
    """The ids reachable from the root, found in the rows' text (canonical JSON: a string holding the same
    characters is escaped, so it cannot look like a reference)."""
    if not root.isdecimal() or int(root) not in objects:
        raise StoreError(f"the state database has no root object {root}")
    seen = {int(root)}
    stack = [int(root)]
    while stack:
        oid = stack.pop()
        kind, state = objects[oid]
        texts = [state] if state is not None else []
        if kind == "dict":
            texts = [text for key, _, value in items.get(oid, []) for text in (key, value)]
        for text in texts:
            for found in _REF.findall(text):
                ref = int(found)
                if ref not in seen and ref in objects:
                    seen.add(ref)
                    stack.append(ref)
    return seen


def _bodies(
    objects: dict[int, tuple[str, str | None]], items: dict[int, list[tuple[str, int, str]]], keep: set[int]
) -> dict[str, dict[str, Any]]:
    """The rows of ``keep`` as the codec's table entries (their JSON parsed in one pass)."""
    texts: list[str] = []
    layout: list[tuple[int, str, int]] = []  # (oid, kind, how many texts)
    for oid in keep:
        kind, state = objects[oid]
        if kind == "dict":
            rows = items.get(oid, [])
            texts.extend(text for key, _, value in rows for text in (key, value))
            layout.append((oid, kind, 2 * len(rows)))
        else:
            texts.append(state or "null")
            layout.append((oid, kind, 1))
    try:
        parsed = json.loads("[" + ",".join(texts) + "]")
    except ValueError as exc:
        raise StoreError(f"a row of the state database is not JSON: {exc}") from exc
    bodies: dict[str, dict[str, Any]] = {}
    at = 0
    for oid, kind, count in layout:
        chunk, at = parsed[at : at + count], at + count
        if kind == "dict":
            bodies[str(oid)] = {"type": "dict", "items": [[chunk[i], chunk[i + 1]] for i in range(0, count, 2)]}
        elif kind in ("list", "set"):
            bodies[str(oid)] = {"type": kind, "items": chunk[0]}
        else:
            bodies[str(oid)] = {"type": kind, "state": chunk[0]}
    return bodies


class _Rows:
    """The rows one commit writes, gathered while encoding and written with ``executemany``."""

    def __init__(self) -> None:
        self.objects: list[tuple[int, str, str]] = []
        self.dicts: list[tuple[int]] = []
        self.inserts: list[tuple[int, str, int, str]] = []
        self.updates: list[tuple[str, int, str]] = []
        self.deletes: list[tuple[int, str]] = []

    def write(self, connection: Any) -> None:
        connection.executemany("INSERT OR REPLACE INTO objects (oid, type, state) VALUES (?, ?, ?)", self.objects)
        connection.executemany("INSERT OR IGNORE INTO objects (oid, type, state) VALUES (?, 'dict', NULL)", self.dicts)
        connection.executemany("DELETE FROM items WHERE cid = ? AND key = ?", self.deletes)
        connection.executemany("UPDATE items SET value = ? WHERE cid = ? AND key = ?", self.updates)
        connection.executemany("INSERT OR REPLACE INTO items (cid, key, seq, value) VALUES (?, ?, ?, ?)", self.inserts)


def _encode_dict(encoder: _RowEncoder, obj: TrackedDict, changes: dict[Any, int], batch: _Rows) -> None:
    """The item rows of a dict's changed keys (an ADDED key gets the next position: it is new or moved to the end)."""
    oid = obj._p_oid
    batch.dicts.append((oid,))
    encoder.where = f"an item of a dict (object {oid})"
    for key, flag in changes.items():
        key_text = _canonical(encoder.value(key))
        if not dict.__contains__(obj, key):
            batch.deletes.append((oid, key_text))
            continue
        value = dict.__getitem__(obj, key)
        if type(value) in _PLAIN:
            value = encoder.journal.adopt_container(value)
            dict.__setitem__(obj, key, value)
        value_text = _canonical(encoder.value(value))
        if flag == ADDED:
            obj._p_seq += 1
            batch.inserts.append((oid, key_text, obj._p_seq, value_text))
        else:
            batch.updates.append((value_text, oid, key_text))


def _take_changes(obj: TrackedDict) -> dict[Any, int]:
    changes = obj._p_changes
    taken = {}
    for key in list(changes):
        flag = changes.pop(key, None)
        if flag is not None:
            taken[key] = flag
    return taken


def _adopt_children(journal: Journal, obj: Any, kind: str | None) -> None:
    """Replace the plain containers an object holds by tracked ones before it is encoded (no marking)."""
    if kind == "list":
        for index, value in enumerate(obj):
            if type(value) in _PLAIN:
                list.__setitem__(obj, index, journal.adopt_container(value))
        return
    if kind is not None or adapter_for(base_type(type(obj))) is not None:
        return
    for name, value in record_state(obj).items():
        if type(value) in _PLAIN:
            object.__setattr__(obj, name, journal.adopt_container(value))


def _remark(journal: Journal, written: list[tuple[Any, dict[Any, int] | None]]) -> None:
    """After a failed commit: mark again what was taken, so the next commit writes it."""
    for obj, changes in written:
        if changes is not None:
            for key, flag in changes.items():
                if obj._p_changes.get(key, 0) < flag:
                    obj._p_changes[key] = flag
        journal.dirty[obj._p_oid] = obj

"""The SQLite file behind a persisted world: schema, durability settings, migrations, transactions, integrity check.

Standard library :mod:`sqlite3` only, in the manner of ``diskcache`` and ``sqlite-utils``:

* **explicit transactions** — the connection is opened with ``isolation_level=None`` (Python never begins or
  commits on its own, which could commit half a write without saying so) and every write runs inside
  :meth:`StateDatabase.transaction`: ``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on any exception. A lock
  held by another process past ``sqlite_busy_timeout_ms`` becomes :class:`StoreTimeout`;
* **durability settings are data** — the ``settings`` table holds ``sqlite_journal_mode`` (``wal``),
  ``sqlite_synchronous`` (``FULL``: a commit is on disk, not only in the OS cache, before it returns, so an
  acknowledged request survives a power cut as well as a ``kill -9``; ``NORMAL`` survives a killed process but may
  lose the last commits on power loss) and ``sqlite_busy_timeout_ms``; they are re-applied on every connection;
* **migrations commit with their row** — each schema step runs in one transaction together with its row in
  ``_migrations``, so a crash mid-migration leaves the previous schema intact;
* :meth:`StateDatabase.check` runs ``PRAGMA integrity_check`` plus the world's own consistency checks.

The schema (version 1)::

    meta(key TEXT PRIMARY KEY, value TEXT)                -- format, codec version, root id, created
    objects(oid INTEGER PRIMARY KEY, type TEXT, state TEXT)  -- a record's {"attr": value} JSON, or a
                                                          -- container's items JSON; NULL state for a dict
    items(cid INTEGER, key TEXT, seq INTEGER, value TEXT, PRIMARY KEY (cid, key))
                                                          -- one row per item of a dict object ``cid``;
                                                          -- ``seq`` keeps insertion order
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_SETTINGS", "MIGRATIONS", "StateDatabase", "StoreError", "StoreTimeout"]

DEFAULT_SETTINGS: dict[str, Any] = {
    "sqlite_journal_mode": "wal",
    "sqlite_synchronous": "FULL",
    "sqlite_busy_timeout_ms": 5000,
}
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")

#: (name, statements) in order; each is applied once, in a transaction with its ``_migrations`` row
MIGRATIONS: list[tuple[str, tuple[str, ...]]] = [
    (
        "0001_world_tables",
        (
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE objects (oid INTEGER PRIMARY KEY, type TEXT NOT NULL, state TEXT)",
            "CREATE TABLE items (cid INTEGER NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, value TEXT NOT NULL,"
            " PRIMARY KEY (cid, key)) WITHOUT ROWID",
            "CREATE INDEX items_by_position ON items (cid, seq)",
        ),
    ),
]


class StoreError(RuntimeError):
    """The state directory cannot be used (locked by another server, damaged, of another version …)."""


class StoreTimeout(StoreError):
    """Another process held the database lock for longer than ``sqlite_busy_timeout_ms``."""


class StateDatabase:
    """One SQLite database file. ``readonly`` opens it for reading only (no migrations, no writes)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if readonly:
            if not self.path.exists():
                raise StoreError(f"{self.path} does not exist")
            uri = f"file:{self.path}?mode=ro"
            self.connection = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            self.connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            self.settings = self._settings()
            self._apply_settings()
            if not readonly:
                self.migrate()
        except sqlite3.DatabaseError as exc:
            self.connection.close()
            raise StoreError(f"{self.path} is not a usable state database: {exc}") from exc

    # -- settings and migrations --

    def _settings(self) -> dict[str, Any]:
        """The durability settings: the ``settings`` table (created with the defaults on a new file)."""
        if not self.readonly:
            with self.transaction():
                self.connection.execute("CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value NOT NULL)")
                self.connection.executemany(
                    "INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)", DEFAULT_SETTINGS.items()
                )
        try:
            rows = self.connection.execute("SELECT key, value FROM settings").fetchall()
        except sqlite3.OperationalError:
            rows = []
        return {**DEFAULT_SETTINGS, **dict(rows)}

    def _apply_settings(self) -> None:
        settings = self.settings
        synchronous = str(settings["sqlite_synchronous"]).upper()
        if synchronous not in _SYNCHRONOUS:
            raise StoreError(f"sqlite_synchronous must be one of {', '.join(_SYNCHRONOUS)}, not {synchronous!r}")
        self.connection.execute(f"PRAGMA busy_timeout = {int(settings['sqlite_busy_timeout_ms'])}")
        if not self.readonly:
            mode = str(settings["sqlite_journal_mode"]).lower()
            if mode not in ("wal", "delete", "truncate", "persist"):
                raise StoreError(f"sqlite_journal_mode {mode!r} is not supported")
            applied = self.connection.execute(f"PRAGMA journal_mode = {mode}").fetchone()[0]
            if applied.lower() != mode:
                raise StoreError(f"{self.path}: journal_mode {mode} could not be set (got {applied})")
        self.connection.execute(f"PRAGMA synchronous = {synchronous}")

    def set_setting(self, key: str, value: Any) -> None:
        """Change a durability setting (checked, stored, and applied to this connection now)."""
        if key not in DEFAULT_SETTINGS:
            raise StoreError(f"unknown setting {key!r} (expected one of {', '.join(DEFAULT_SETTINGS)})")
        previous = dict(self.settings)
        self.settings[key] = value
        try:
            self._apply_settings()
        except (StoreError, ValueError, sqlite3.DatabaseError) as exc:
            self.settings = previous
            self._apply_settings()
            raise StoreError(f"{key}={value!r} cannot be applied: {exc}") from None
        with self.transaction():
            self.connection.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))

    def migrate(self) -> list[str]:
        """Apply every migration not applied yet; returns their names."""
        with self.transaction():
            self.connection.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
        applied = []
        for name, statements in MIGRATIONS:
            with self.transaction():
                done = self.connection.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone()
                if done:
                    continue
                for statement in statements:
                    self.connection.execute(statement)
                self.connection.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, datetime('now'))", (name,)
                )
            applied.append(name)
        known = {name for name, _ in MIGRATIONS}
        recorded = {row[0] for row in self.connection.execute("SELECT name FROM _migrations")}
        if recorded - known:
            raise StoreError(
                f"{self.path} was written by a newer sphere-harness (migrations {sorted(recorded - known)} unknown)"
            )
        return applied

    # -- transactions --

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; ``ROLLBACK`` and re-raise on any exception."""
        connection = self.connection
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreTimeout(f"{self.path} is locked by another process: {exc}") from exc
            raise
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    # -- reading --

    def meta(self) -> dict[str, str]:
        try:
            return dict(self.connection.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError:
            return {}

    def rows(self) -> tuple[dict[int, tuple[str, str | None]], dict[int, list[tuple[str, int, str]]]]:
        """Every object row ``oid -> (type, state)`` and every dict's items ``cid -> [(key, seq, value)]`` in order."""
        connection = self.connection
        connection.execute("BEGIN")  # one read snapshot for both tables
        try:
            objects = {oid: (kind, state) for oid, kind, state in connection.execute("SELECT * FROM objects")}
            items: dict[int, list[tuple[str, int, str]]] = {}
            for cid, key, seq, value in connection.execute("SELECT cid, key, seq, value FROM items ORDER BY cid, seq"):
                items.setdefault(cid, []).append((key, seq, value))
        finally:
            connection.execute("COMMIT")
        return objects, items

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file (after writing a whole world: the WAL of a big write
        would otherwise be checkpointed by whichever small commit comes next)."""
        if not self.readonly:
            self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self.connection.close()

    # -- checking --

    def check(self, *, fix: bool = False) -> list[str]:
        """Warnings about the database: SQLite's integrity check, then the world's consistency — a root that
        exists, references that resolve, items only under dict objects, unreadable JSON. Objects no longer
        reachable from the root are garbage left by deleted records: reported, and removed when ``fix``."""
        warnings = []
        result = [row[0] for row in self.connection.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            return [f"integrity_check: {line}" for line in result]
        root = self.meta().get("root")
        if root is None:
            return ["no world: meta has no root"]
        objects, items = self.rows()
        if int(root) not in objects:
            warnings.append(f"the root object {root} is missing")
        references: dict[int, set[int]] = {}
        for oid, (kind, state) in objects.items():
            texts = [value for _, _, value in items.get(oid, [])] + [key for key, _, _ in items.get(oid, [])]
            if kind == "dict":
                if state is not None:
                    warnings.append(f"dict object {oid} has a state")
            elif state is not None:
                texts.append(state)
            refs: set[int] = set()
            for text in texts:
                try:
                    refs.update(_references(json.loads(text)))
                except ValueError:
                    warnings.append(f"object {oid} holds text that is not JSON")
            references[oid] = refs
            dangling = sorted(r for r in refs if r not in objects)
            if dangling:
                warnings.append(f"object {oid} ({kind}) refers to missing object(s) {dangling}")
        for cid in items:
            if cid not in objects or objects[cid][0] != "dict":
                warnings.append(f"items belong to {cid}, which is not a dict object")
        reachable = _reachable(int(root), references)
        garbage = sorted(set(objects) - reachable)
        if garbage:
            if fix:
                self.delete_objects(garbage)
            else:
                warnings.append(f"{len(garbage)} object(s) unreachable from the root (garbage of deleted records)")
        return warnings

    def delete_objects(self, oids: list[int]) -> None:
        with self.transaction() as connection:
            for start in range(0, len(oids), 500):
                chunk = oids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                connection.execute(f"DELETE FROM objects WHERE oid IN ({marks})", chunk)
                connection.execute(f"DELETE FROM items WHERE cid IN ({marks})", chunk)


def _references(value: Any) -> Iterator[int]:
    """Every ``{"$ref": id}`` inside a decoded JSON value."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if len(current) == 1 and "$ref" in current:
                ref = current["$ref"]
                yield int(ref) if isinstance(ref, str) and ref.isdecimal() else -1
            else:
                stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def _reachable(root: int, references: dict[int, set[int]]) -> set[int]:
    seen = {root}
    stack = [root]
    while stack:
        for ref in references.get(stack.pop(), ()):
            if ref not in seen:
                seen.add(ref)
                stack.append(ref)
    return seen

"""The store's SQLite index: a cache of the entries' metadata and exported interfaces, plus each
workspace's last decisions (what `jbuild explain` reads).

The entries are the truth. Any sign of damage on any statement — opening, reading, writing —
sets the file aside, rebuilds it from the entries (one warning on stderr) and runs the
statement once more. A full disk is a clear StoreError, a lock held too long a LockTimeout:
neither is damage.

One connection per process in autocommit mode, shared by the worker threads under a lock;
writes in BEGIN IMMEDIATE transactions; WAL; a busy timeout; `PRAGMA user_version` versions
the schema (older: rebuilt from the entries with a warning; newer: a clear error).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from jbuild.base.locks import LockTimeout, flock

from . import decision_causes
from .entry import EntryMeta
from .fsops import StoreError

SCHEMA_VERSION = 2
# entries.built_against stays in the schema (older indexes have it) but is written NULL (row_of).
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL = 5, 6, 13
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS entries (
        key TEXT PRIMARY KEY, name TEXT, label TEXT, node TEXT, interface_key TEXT, exported TEXT,
        output_hash TEXT, size INTEGER, built_against TEXT, inputs TEXT, log TEXT, duration REAL,
        built_at REAL)""",
    "CREATE INDEX IF NOT EXISTS entries_node ON entries (node, built_at)",
    """CREATE TABLE IF NOT EXISTS interfaces (
        interface_key TEXT, exported TEXT, entry TEXT, at REAL, PRIMARY KEY (interface_key, entry))""",
    """CREATE TABLE IF NOT EXISTS decisions (
        workspace TEXT, node TEXT, label TEXT, key TEXT, decision TEXT, reason TEXT,
        at REAL, PRIMARY KEY (workspace, node))""",
]


# What `remove` looks rows up by (gc removes entries one by one: without them, each removal
# scanned both tables: 40,000 removals took 10 minutes). Created where a store's
# index lacks them, as `remove` first needs them: an index without them needs no rebuild.
REMOVAL_INDEXES = [
    "CREATE INDEX IF NOT EXISTS entries_name ON entries (name)",
    "CREATE INDEX IF NOT EXISTS interfaces_entry ON interfaces (entry)",
]

# Rows that say something other than an unchanged reuse (few, after an edit: a partial index).
OTHER = "(decision!='reused' OR reason!='inputs unchanged')"
DECISION_STAMPS = [
    "CREATE TABLE IF NOT EXISTS decision_stamps (workspace TEXT PRIMARY KEY, stamp TEXT)",
    f"CREATE INDEX IF NOT EXISTS decisions_other ON decisions (workspace) WHERE {OTHER}",
    decision_causes.TABLE,
]


class StoreIndexError(StoreError):
    pass


class Decision(NamedTuple):
    """Why one action of a workspace's last run was built or reused."""

    label: str
    key: str
    decision: str  # built | reused | failed | interrupted
    reason: str


class Index:
    def __init__(self, root: Path, entries: Callable[[], Iterable[EntryMeta]]):
        """`entries()` yields the metadata of every entry, to rebuild from."""
        self.root = root
        self.path = root / "index.sqlite"
        self._entries = entries
        self._db: sqlite3.Connection | None = None
        self._ino: int | None = None  # the file this process opened (or failed to)
        self._lock = threading.RLock()
        self._removal_indexed = False  # REMOVAL_INDEXES made sure of by this process

    # ------------------------------------------------------------ connection and recovery

    def _run(self, fn: Callable[[sqlite3.Connection], object], write: bool = False):
        """Run `fn(db)` (in a write transaction if `write`); on damage rebuild and retry once."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    db = self._conn()
                    if not write:
                        return fn(db)
                    db.execute("BEGIN IMMEDIATE")
                    try:
                        result = fn(db)
                        db.execute("COMMIT")
                        return result
                    except BaseException:
                        _rollback(db)
                        raise
                except sqlite3.DatabaseError as exc:
                    self._not_damage(exc)
                    if attempt == 2:
                        raise StoreError(f"the store index {self.path} is unusable even rebuilt: {exc}") from None
                    self._recover(exc)

    def _not_damage(self, exc: sqlite3.DatabaseError) -> None:
        """Raise the clear error for what is not damage: a full disk, a lock held too long."""
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code == SQLITE_FULL:
            raise StoreError(f"no space left on the store's filesystem ({self.root})") from None
        if code in (SQLITE_BUSY, SQLITE_LOCKED):
            raise LockTimeout(f"the store index {self.path} stayed locked by another jbuild: {exc}") from None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            with flock(self.root / ".index.lock", fcntl.LOCK_EX, 60):
                self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        """Open and set up the schema. Serialised on `.index.lock`: switching to WAL and
        creating tables do not wait on SQLite's busy handler."""
        try:
            self._ino = os.stat(self.path).st_ino
        except FileNotFoundError:
            self._ino = None
        db = sqlite3.connect(self.path, isolation_level=None, timeout=60, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout=60000")
            # WAL + NORMAL never corrupts; a power loss may drop the last commits, which the
            # entries restore (`store verify --repair`).
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA journal_mode=WAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreIndexError(f"{self.path} is from a newer jbuild (schema {version}, this one knows "
                                      f"{SCHEMA_VERSION}); upgrade jbuild or use another store")
            if version < SCHEMA_VERSION:
                self._migrate(db, version)
        except BaseException:
            db.close()
            raise
        self._ino = os.stat(self.path).st_ino
        return db

    def _migrate(self, db: sqlite3.Connection, version: int) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            if version:
                print(f"warning: the store index is from an older jbuild (schema {version}); rebuilding it "
                      "from the entries", file=sys.stderr)
                db.execute("DROP TABLE IF EXISTS entries")
                db.execute("DROP TABLE IF EXISTS interfaces")
            for sql in SCHEMA + REMOVAL_INDEXES:
                db.execute(sql)
            if version:
                self._fill(db)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise

    def _recover(self, exc: Exception) -> None:
        """Set the damaged file aside and build a fresh one from the entries, unless another
        process already did (the file is no longer the one this process saw)."""
        self.close()
        with flock(self.root / ".index.lock", fcntl.LOCK_EX, 60):
            try:
                current = os.stat(self.path).st_ino
            except FileNotFoundError:
                current = None
            if current is not None and current == self._ino:
                self._set_aside(f"damaged: {exc}")
            db = self._open()
            db.execute("BEGIN IMMEDIATE")
            try:
                self._fill(db)
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                db.close()
                raise
            self._db = db

    def _set_aside(self, why: str) -> None:
        aside = self.root / f"index.sqlite.corrupt-{int(time.time())}-{os.urandom(3).hex()}"
        os.replace(self.path, aside)
        for suffix in ("-wal", "-shm"):
            self.root.joinpath(f"index.sqlite{suffix}").unlink(missing_ok=True)
        print(f"warning: the store index was corrupt ({why}); moved it to {aside.name} and rebuilt it from the "
              "entries", file=sys.stderr)

    def close(self) -> None:
        """Close this process's connection (the next use opens it again): for in-process callers
        that make many stores, as tests do; the CLI's process ends with it open (quick_exit.py)."""
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def _fill(self, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM entries")
        db.execute("DELETE FROM interfaces")
        for meta in sorted(self._entries(), key=lambda m: m.built_at):
            _insert(db, meta)

    # ------------------------------------------------------------ health

    def damage(self) -> str | None:
        """What SQLite's integrity check finds wrong, or None. Never repairs."""
        try:
            with self._lock:
                rows = self._conn().execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as exc:
            self._not_damage(exc)
            self.close()
            return str(exc)
        return None if rows == [("ok",)] else "; ".join(r[0] for r in rows[:3])

    def rebuild(self, aside: bool = False) -> None:
        """Rebuild the cache of entries from the entries (setting a damaged file aside first)."""
        with self._lock:
            if aside:
                self._recover(Exception("found by store verify"))
            else:
                self._run(self._fill, write=True)

    reindex = rebuild

    # ------------------------------------------------------------ entries and interfaces

    def add(self, meta: EntryMeta) -> None:
        self._run(lambda db: _insert(db, meta), write=True)

    def add_many(self, rows: list[tuple]) -> None:
        """Several entries' rows (`row_of`) in one transaction (a build's deferred publications)."""
        def fn(db):
            for row in rows:
                _insert_row(db, row)
        self._run(fn, write=True)

    def remove(self, name: str) -> None:
        self.remove_many([name])

    def remove_many(self, names: list[str]) -> None:
        """The rows of entries that left the store, in one transaction (gc removes thousands)."""
        def fn(db):
            if not self._removal_indexed:
                for sql in REMOVAL_INDEXES:
                    db.execute(sql)
            db.executemany("DELETE FROM entries WHERE name=?", [(n,) for n in names])
            db.executemany("DELETE FROM interfaces WHERE entry=?", [(n,) for n in names])
        self._run(fn, write=True)
        self._removal_indexed = True  # (committed)

    def last_inputs(self, node: str) -> dict | None:
        rows = self._run(lambda db: db.execute(
            "SELECT inputs FROM entries WHERE node=? ORDER BY built_at DESC LIMIT 1", (node,)).fetchall())
        return json.loads(rows[0][0]) if rows and rows[0][0] else None

    def record_interface(self, interface_key: str, exported: str, entry_name: str) -> None:
        self._run(lambda db: db.execute("INSERT OR REPLACE INTO interfaces VALUES (?,?,?,?)",
                                        (interface_key, exported, entry_name, time.time())), write=True)

    def exported_for(self, interface_key: str) -> tuple[str, str] | None:
        """(the latest exported digest recorded for this interface key, the entry it came from)."""
        rows = self._run(lambda db: db.execute(
            "SELECT exported, entry FROM interfaces WHERE interface_key=? ORDER BY at DESC, rowid DESC LIMIT 1",
            (interface_key,)).fetchall())
        return (rows[0][0], rows[0][1]) if rows else None

    # ------------------------------------------------------------ decisions

    def record_decisions(self, workspace: str, rows: list[tuple[str, str, str, str, str]],
                         reused: Iterable[tuple[str, object, str, str]] | Callable = (),
                         since: str | None = None, causes: dict[str, list[str]] | None = None,
                         decided: Callable[[], Iterable[str]] = frozenset) -> str:
        """(node, label, key, decision, reason) for every action of a run, in one transaction;
        `reused` (node, label, key, reason): actions adopted at their settled entries, whose rows
        are written only where they said something else (an edit adopts thousands of them).

        Returns a stamp, which the workspace's decisions keep until the next record. A caller
        that passes the stamp of its own last record as `since` says that `reused` are actions
        it recorded then, at the same keys: if no one recorded anything since, a row not listed
        in {node: (decision, reason)} of the rows that say something other than 'reused, inputs
        unchanged' says just that. `reused`, if a callable, is given those rows (or None: every
        row may differ) and returns the (node, label, key, reason) to write.

        `causes` (cause -> node ids): the actions adopted after a cutoff, whose rows say "inputs
        unchanged" and whose cause is kept in one row (decision_causes.py); `decided()`: the node
        ids of every action of this run (their earlier causes go)."""
        now, stamp = time.time(), os.urandom(8).hex()

        def write(db: sqlite3.Connection) -> None:
            for sql in DECISION_STAMPS:  # (created here: an index without them needs no rebuild)
                db.execute(sql)
            found = db.execute("SELECT stamp FROM decision_stamps WHERE workspace=?", (workspace,)).fetchone()
            other = None
            if since is not None and found is not None and found[0] == since:
                other = {n: (d, r) for n, d, r in db.execute(
                    f"SELECT node, decision, reason FROM decisions WHERE workspace=? AND {OTHER}", (workspace,))}
            db.executemany("INSERT OR REPLACE INTO decisions VALUES (?,?,?,?,?,?,?)",
                           [(workspace, *row, now) for row in rows])
            db.executemany(
                "INSERT INTO decisions VALUES (?,?,?,?,'reused',?,?) "
                "ON CONFLICT (workspace, node) DO UPDATE SET label=excluded.label, key=excluded.key, "
                "decision='reused', reason=excluded.reason, at=excluded.at "
                "WHERE decision!='reused' OR reason!=excluded.reason OR key!=excluded.key",
                ((workspace, node, str(label), key, reason, now)
                 for node, label, key, reason in (reused(other) if callable(reused) else reused)))
            decision_causes.record(db, workspace, causes or {}, decided)
            db.execute("INSERT OR REPLACE INTO decision_stamps VALUES (?,?)", (workspace, stamp))

        self._run(write, write=True)
        return stamp

    def mark_reused(self, workspace: str, nodes: list[str]) -> None:
        """A no-op run: each of `nodes` was reused, its inputs unchanged."""
        self._run(lambda db: db.executemany(
            "UPDATE decisions SET decision='reused', reason='inputs unchanged' "
            "WHERE workspace=? AND node=? AND decision!='reused'", [(workspace, n) for n in nodes]), write=True)

    def decisions(self, workspace: str) -> dict[str, Decision]:
        def read(db: sqlite3.Connection) -> dict[str, Decision]:
            out = {r[0]: Decision(*r[1:]) for r in db.execute(
                "SELECT node, label, key, decision, reason FROM decisions WHERE workspace=?", (workspace,))}
            decision_causes.apply(db, workspace, out)
            return out

        return self._run(read)


def row_of(meta: EntryMeta) -> tuple[tuple, tuple | None]:
    """An entry's index rows as plain values, made when it is published: a build's syncer keeps
    these strings for seconds rather than the metadata itself (at 10,000 packages hundreds of
    small dicts per entry, which fragment the heap), and encodes nothing under the index's lock.
    `built_against` is left NULL: nothing reads it from the index (the entry's metadata has it),
    and at 10,000 packages it is hundreds of dependencies, tens of kilobytes per row, encoded
    and written again for every entry a build publishes."""
    entry = (meta.key, meta.name, meta.label, meta.node, meta.interface_key, meta.exported, meta.output_hash,
             meta.size, None, json.dumps(meta.inputs), meta.log, meta.duration, meta.built_at)
    iface = (meta.interface_key, meta.exported, meta.name, meta.built_at) if meta.interface_key and meta.exported \
        else None
    return entry, iface


def _insert(db: sqlite3.Connection, meta: EntryMeta) -> None:
    _insert_row(db, row_of(meta))


def _insert_row(db: sqlite3.Connection, row: tuple[tuple, tuple | None]) -> None:
    entry, iface = row
    db.execute("INSERT OR REPLACE INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", entry)
    if iface is not None:
        db.execute("INSERT OR REPLACE INTO interfaces VALUES (?,?,?,?)", iface)


def _rollback(db: sqlite3.Connection) -> None:
    try:
        db.execute("ROLLBACK")
    except sqlite3.Error:
        pass

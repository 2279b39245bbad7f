"""The store's SQLite index: a cache of the entries' metadata, plus each workspace's last
decisions (what `jbuild explain` reads). The entries are the truth: a corrupt index is set
aside and rebuilt from them.

One connection per process in autocommit mode, shared by the worker threads under a lock;
writes in BEGIN IMMEDIATE transactions; WAL; a busy timeout; a versioned schema.
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
from contextlib import contextmanager
from pathlib import Path

from jbuild.base.locks import flock

SCHEMA_VERSION = 1


class StoreIndexError(Exception):
    exit_code = 1


class Index:
    def __init__(self, root: Path, entries: Callable[[], Iterable[tuple[str, dict]]]):
        """`entries()` yields (entry name, metadata) for every entry, to rebuild from."""
        self.root = root
        self._entries = entries
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    @property
    def db(self) -> sqlite3.Connection:
        with self._lock:
            if self._db is None:
                self._db = self._connect()
            return self._db

    def _connect(self) -> sqlite3.Connection:
        try:
            return self._open_index()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
        # Not a database any more (a torn disk, a stray write): the entries are the truth.
        with flock(self.root / ".index.lock", fcntl.LOCK_EX, 60):
            try:
                return self._open_index()  # another process may have rebuilt it meanwhile
            except sqlite3.DatabaseError:
                pass
            aside = self.root / f"index.sqlite.corrupt-{int(time.time())}"
            os.replace(self.root / "index.sqlite", aside)
            for suffix in ("-wal", "-shm"):
                (self.root / f"index.sqlite{suffix}").unlink(missing_ok=True)
            print(f"warning: the store index was corrupt (moved to {aside.name}); rebuilding it from the "
                  "entries", file=sys.stderr)
        db = self._open_index()
        self._db = db
        self.reindex()
        return db

    def reindex(self) -> None:
        """Rebuild the entries table from the entries' own metadata."""
        with self.transaction() as db:
            db.execute("DELETE FROM entries")
        for name, meta in self._entries():
            self.add(name, meta)

    def _open_index(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.root / "index.sqlite", isolation_level=None, timeout=60, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=60000")
        # WAL + NORMAL never corrupts; a power loss may drop the last commits, which
        # `store verify --repair` rebuilds from the entries (the directory is the truth).
        db.execute("PRAGMA synchronous=NORMAL")
        # Switching to WAL and creating the schema do not wait on SQLite's busy handler: two
        # processes opening a new store at once would see "database is locked". Serialise the
        # set-up on a lock file of its own (never on the SQLite file itself).
        with flock(self.root / ".index.lock", fcntl.LOCK_EX, 60):
            db.execute("PRAGMA journal_mode=WAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreIndexError(f"{self.root}/index.sqlite is from a newer jbuild (schema {version}); upgrade")
            if version < SCHEMA_VERSION:
                db.execute("BEGIN IMMEDIATE")
                db.execute("""CREATE TABLE IF NOT EXISTS entries (
                    key TEXT PRIMARY KEY, name TEXT, label TEXT, output_hash TEXT, size INTEGER,
                    deps TEXT, inputs TEXT, log TEXT, duration REAL, built_at REAL)""")
                db.execute("""CREATE TABLE IF NOT EXISTS decisions (
                    workspace TEXT, node TEXT, label TEXT, key TEXT, decision TEXT, reason TEXT,
                    at REAL, PRIMARY KEY (workspace, node))""")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                db.execute("COMMIT")
        return db

    @contextmanager
    def transaction(self):
        """A write transaction (BEGIN IMMEDIATE) on the process's one connection."""
        with self._lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def write(self, sql: str, args=()) -> None:
        with self.transaction() as db:
            db.execute(sql, args)

    def read(self, sql: str, args=()) -> list:
        with self._lock:
            return self.db.execute(sql, args).fetchall()

    def last_inputs(self, label: str) -> dict | None:
        rows = self.read("SELECT inputs FROM entries WHERE label=? ORDER BY built_at DESC LIMIT 1", (label,))
        row = rows[0] if rows else None
        return json.loads(row[0]) if row and row[0] else None

    def record_decisions(self, workspace: str, rows: list[tuple[str, str, str, str, str]]) -> None:
        """(node, label, key, decision, reason) for every action of a run, in one transaction."""
        now = time.time()
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO decisions VALUES (?,?,?,?,?,?,?)",
                           [(workspace, *row, now) for row in rows])

    def mark_reused(self, workspace: str, nodes: list[str]) -> None:
        """A no-op run: each of `nodes` was reused, its inputs unchanged."""
        with self.transaction() as db:
            db.executemany("UPDATE decisions SET decision='reused', reason='inputs unchanged' "
                           "WHERE workspace=? AND node=? AND decision!='reused'", [(workspace, n) for n in nodes])

    def decisions(self, workspace: str) -> dict[str, tuple]:
        rows = self.read("SELECT node, label, key, decision, reason FROM decisions WHERE workspace=?", (workspace,))
        return {r[0]: r[1:] for r in rows}

    def add(self, name: str, meta: dict) -> None:
        self.write("INSERT OR REPLACE INTO entries VALUES (?,?,?,?,?,?,?,?,?,?)",
                   (meta["key"], name, meta.get("label", ""), meta["output_hash"], meta["size"],
                    json.dumps(meta.get("deps", [])), json.dumps(meta.get("inputs")), meta.get("log", ""),
                    meta.get("duration", 0.0), meta.get("built_at", time.time())))

    def remove(self, name: str) -> None:
        self.write("DELETE FROM entries WHERE name=?", (name,))

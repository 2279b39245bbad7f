"""Cached test results: `<store>/test-results.sqlite`, keyed by test key (testkey.py).

Why next to the store and not in the workspace: a test key names the build keys of the whole run
closure, so a result is as valid in another checkout as an entry is, and a CI job that caches the
store between runs (docs/ci.md) skips every test whose closure did not change. Why not in the
store's index.sqlite: that index is a cache the store rebuilds from its entries, and results
cannot be rebuilt from anything; a file of its own is simply dropped when damaged.

Only a clean pass is recorded (a failure, a timeout or a flaky pass always reruns), with its
log and XML so a cached result restores `jbuild-testlogs/`. A row is written in one
transaction after the test has exited 0 and its logs are written: a crash or kill before that
commit leaves no row, never a wrong "passed". One connection per process, shared by the worker
threads under a lock; autocommit, BEGIN IMMEDIATE writes, WAL, a busy timeout;
`PRAGMA user_version` versions the file (another version: set aside and started afresh;
version 1, before rows named their entries, gains the column).

Each row names the store entries of the test's run closure; `jbuild gc` drops the rows whose
entries it deleted (`prune`), so the file does not outgrow the store.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

VERSION = 2  # 2: entries (the run closure's store entries, a JSON list; NULL in a row of version 1)
MAX_TEXT = 1 << 20  # bytes of a log kept with a result; the rest is cut (the summary says so)
SCHEMA = """CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY, label TEXT, duration REAL, log TEXT, xml TEXT, at REAL, entries TEXT)"""


@dataclass(frozen=True)
class CachedResult:
    label: str
    duration: float
    log: str
    xml: str | None
    at: float


class ResultCache:
    def __init__(self, store_root: Path):
        self.path = Path(store_root) / "test-results.sqlite"
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self._db = self._open()
            except sqlite3.DatabaseError as exc:
                self._set_aside(exc)
                self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout = 30000")
            db.execute("PRAGMA journal_mode = WAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 1, VERSION):
                raise sqlite3.DatabaseError(f"format {version}, this jbuild reads {VERSION}")
            db.execute(SCHEMA)
            if version == 1:  # rows without their entries: gc drops them (a rerun is all they cost)
                db.execute("BEGIN IMMEDIATE")
                if "entries" not in {r[1] for r in db.execute("PRAGMA table_info(results)")}:
                    db.execute("ALTER TABLE results ADD COLUMN entries TEXT")
                db.execute(f"PRAGMA user_version = {VERSION}")
                db.execute("COMMIT")
            elif version == 0:
                db.execute(f"PRAGMA user_version = {VERSION}")
        except BaseException:
            db.close()
            raise
        return db

    def _set_aside(self, why: Exception) -> None:
        """A damaged or foreign file loses only cached passes: those tests run again."""
        aside = self.path.with_name(f"{self.path.name}.bad-{int(time.time())}")
        print(f"warning: {self.path}: {why}; setting it aside as {aside.name} (cached test results are lost)",
              file=sys.stderr)
        for suffix in ("", "-wal", "-shm"):
            try:
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
            except FileNotFoundError:
                pass

    def get(self, key: str) -> CachedResult | None:
        with self._lock:
            try:
                row = self._conn().execute("SELECT label, duration, log, xml, at FROM results WHERE key = ?",
                                           (key,)).fetchone()
            except sqlite3.DatabaseError as exc:
                self._reset(exc)
                return None
        return CachedResult(*row) if row else None

    def put(self, key: str, label: str, duration: float, log: str, xml: str | None,
            entries: list[str] | None = None) -> None:
        """Record a clean pass (call only after the test exited 0 and its logs are written);
        `entries`: the store entries of its run closure (gc drops the row with them)."""
        log = log if len(log) <= MAX_TEXT else log[-MAX_TEXT:]
        with self._lock:
            try:
                db = self._conn()
                db.execute("BEGIN IMMEDIATE")
                try:
                    db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
                               (key, label, duration, log, xml, time.time(),
                                json.dumps(sorted(set(entries or ())))))
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                if "database or disk is full" in str(exc) or "locked" in str(exc):
                    print(f"warning: {self.path}: {exc}; the result of {label} is not cached", file=sys.stderr)
                    return
                self._reset(exc)
            except sqlite3.DatabaseError as exc:
                self._reset(exc)

    def prune(self, live: set[str], dry_run: bool = False) -> list[str]:
        """Drop the rows whose run closure names an entry not in `live` (gc deleted it), and
        rows that name none (written before rows named their entries). Returns their labels.
        A missing file is left missing."""
        if not self.path.exists():
            return []
        with self._lock:
            try:
                db = self._conn()
                rows = db.execute("SELECT key, label, entries FROM results").fetchall()
                dead = [(k, label) for k, label, entries in rows if not _holds(entries, live)]
                if dead and not dry_run:
                    db.execute("BEGIN IMMEDIATE")
                    db.executemany("DELETE FROM results WHERE key = ?", [(k,) for k, _ in dead])
                    db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                self._reset(exc)
                return []
        return sorted(label for _, label in dead)

    def _reset(self, exc: Exception) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._set_aside(exc)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _holds(entries: str | None, live: set[str]) -> bool:
    try:
        names = json.loads(entries) if entries is not None else None
    except ValueError:
        return False
    # NULL (a row of version 1) names nothing; [] is a test whose run closure has no entry.
    return isinstance(names, list) and all(n in live for n in names)

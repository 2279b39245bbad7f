"""Deferred durability: a build's entries enter the store without fsyncs of their own; one
syncfs(2) every few seconds, and one at the end, makes them durable together.

Why: publishing an entry the safe way fsyncs each file, its directory and the store (four
journal commits for a one-file entry, milliseconds each on a busy disk), and a full build
publishes thousands. Instead `Store.publish`, while a `Syncer` is open, only seals, renames
and queues the entry's index row; the syncer's thread calls syncfs on the store's
filesystem every `interval` seconds and then writes the queued rows in one transaction.

What stays safe:
- kill -9 at any moment: nothing changes. The rename is atomic, and the data a killed process
  wrote is in the page cache, which outlives it.
- a power loss: an entry renamed before its data reached the disk may be truncated or lack its
  metadata. Before the first such rename the syncer creates `.unsynced-<id>` and fsyncs it (and
  the store's directory): it holds the time its window began, and its owner holds a flock on it.
  After each syncfs the time moves forward (no fsync: an older time only means more to check).
  A marker whose flock is free belongs to a builder that is gone: `recover` (run with the
  temporaries' cleaning, at the start of every build, verify and gc) re-hashes every entry
  changed since that time, discards what does not match its metadata, and removes the marker.
  A kill -9 leaves a marker too; its entries are re-hashed once, and are found whole.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import sys
import threading
import time
from pathlib import Path

from . import runs
from .entry import read_meta, tree_digest
from .fsops import StoreError, discard, fsync_dir, fsync_tree
from .index import row_of
from .verify import NOT_ENTRIES

MARKER = ".unsynced-"
SLACK = 2.0  # seconds: file times come from a coarse clock; an earlier time only checks more
_libc = ctypes.CDLL(None, use_errno=True)


class Syncer:
    """The store's deferred fsyncs for one build (`Store.deferred_sync()`). A batch of up to
    FEW entries is fsynced entry by entry, as `publish` would have (syncfs writes back every
    dirty file of the filesystem, other programs' too: for an edit's one rebuild that may cost
    more than it saves); a larger one by one syncfs."""

    FEW = 16

    def __init__(self, store, interval: float = 5.0):
        self.store = store
        self.interval = interval
        self.lock = threading.Lock()
        self.paths: list[Path] = []  # entries renamed since the last sync
        self.rows: list = []  # and the index rows (index.row_of) of those the index lists
        self.inflight = 0  # publications between `before_rename` and `renamed`
        self.marker: Path | None = None
        self.fd: int | None = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jbuild-syncer", daemon=True)
        self._thread.start()

    def before_rename(self) -> None:
        """Called by `publish` before an unsynced entry takes its name: the marker exists on disk."""
        with self.lock:
            self.inflight += 1
            if self.marker is None:
                self.marker, self.fd = _new_marker(self.store.root)

    def renamed(self, path: Path | None, meta=None) -> None:
        """After the rename: the entry at `path` (None: it failed), `meta` for its index row."""
        row = row_of(meta) if meta is not None else None  # encoded now, outside the lock
        with self.lock:
            self.inflight -= 1
            if path is not None:
                self.paths.append(path)
            if row is not None:
                self.rows.append(row)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sync()

    def sync(self) -> None:
        """Make everything renamed so far durable, then index it; move the marker's time on when
        nothing was between its two steps (an entry renamed after `began` is inside the window)."""
        with self.lock:
            if not self.paths or self.fd is None:
                return
            paths, rows, self.paths, self.rows = self.paths, self.rows, [], []
            quiet, began = self.inflight == 0, time.time()
        try:
            _make_durable(self.store.root, paths, self.fd, len(paths) <= self.FEW)
        except OSError as exc:
            self.error = f"cannot make the store's new entries durable: {exc.strerror or exc}"
            with self.lock:
                self.paths, self.rows = paths + self.paths, rows + self.rows
            return
        if quiet:
            _write_time(self.fd, began)
        if rows:
            self.store.index.add_many(rows)

    def close(self) -> None:
        """Sync what is left and remove the marker. Raises StoreError if the store could not be
        made durable (the marker stays: the next build re-hashes the window)."""
        self._stop.set()
        self._thread.join()
        self.sync()
        if self.error:
            raise StoreError(f"{self.error} ({self.store.root})")
        if self.marker is not None:
            self.marker.unlink(missing_ok=True)
            os.close(self.fd)
            self.marker = self.fd = None
            runs.leave(self.store.root)


def _make_durable(root: Path, paths: list[Path], fd: int, each: bool) -> None:
    if each:
        for path in paths:
            fsync_tree(path)
        fsync_dir(root)
    elif _libc.syncfs(fd) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"syncfs: {os.strerror(err)}")


def _new_marker(root: Path) -> tuple[Path, int]:
    runs.enter(root)  # (a marker a kill would leave: the next build's `recover` needs it)
    path = root / f"{MARKER}{os.urandom(8).hex()}"  # (secrets.token_hex, without importing hashlib's OpenSSL: ~3 ms)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _write_time(fd, time.time())
    os.fsync(fd)
    fsync_dir(root)
    return path, fd


def _write_time(fd: int, at: float) -> None:
    os.pwrite(fd, f"{at - SLACK:20.3f}\n".encode(), 0)


def _read_time(path: Path) -> float:
    """The marker's time; 0 (check everything) if it cannot be read whole."""
    try:
        return float(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0.0


def recover(store) -> int:
    """Handle the markers of builders that are gone: re-hash the entries of their windows and
    discard the damaged ones. Returns how many entries were discarded. Call under `shared()`."""
    discarded = 0
    for marker in sorted(store.root.glob(f"{MARKER}*")):
        try:
            fd = os.open(marker, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its builder is alive
            discarded += _check_since(store, _read_time(marker))
            marker.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return discarded


def _check_since(store, since: float) -> int:
    discarded = 0
    with os.scandir(store.root) as it:
        candidates = [Path(e.path) for e in it if not e.name.startswith(".") and e.name not in NOT_ENTRIES
                      and e.is_dir(follow_symlinks=False) and e.stat(follow_symlinks=False).st_ctime >= since]
    for entry in candidates:
        if _whole(entry):
            continue
        print(f"warning: entry {entry.name} did not reach the disk whole before a crash; removed it, so that "
              "it is rebuilt", file=sys.stderr)
        if discard(entry):
            store.index.remove(entry.name)
            discarded += 1
    return discarded


def _whole(entry: Path) -> bool:
    try:
        meta = read_meta(entry)
    except (OSError, ValueError, TypeError):
        return False  # its metadata was lost: `store verify` would call it no entry
    return tree_digest(entry)[0] == meta.output_hash

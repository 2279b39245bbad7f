"""What changed on disk, in batches: watchdog observers over directories, editors' droppings
ignored, bursts coalesced by a debounce.

Directories are watched, not files (non-recursively, each directory once), so an editor's
atomic save — write a temporary, rename it over the file — is seen as a change of the file.
`next_batch` blocks until something happens, then until nothing has happened for `debounce`
seconds, and returns every path touched with how (created, modified, deleted, moved).
"""

from __future__ import annotations

import errno
import os
import queue
import threading
from pathlib import Path

from jbuild.base.errors import BadInput

CREATED, MODIFIED, DELETED = "created", "modified", "deleted"
MAX_WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")


def is_dropping(path: str) -> bool:
    """Editors' swap, backup and lock files, and vim's write test: never an input (a glob
    skips hidden names too)."""
    name = os.path.basename(path)
    return (name.startswith(".") or name.endswith(("~", ".swp", ".swx", ".swo")) or name == "4913"
            or name.startswith("#") and name.endswith("#"))


class WatchLimit(BadInput):
    pass


class Watcher:
    def __init__(self, debounce: float = 0.1, poll: bool = False):
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        self.debounce = debounce
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        self.observer = PollingObserver(timeout=0.5) if poll else Observer()
        self.watched: dict[str, object] = {}  # directory -> its watch
        self.recursive: set[str] = set()
        self._handler = _Handler(self.events)
        try:
            self.observer.start()
        except OSError as exc:  # no inotify instance left (max_user_instances)
            raise _limit_error(exc, 0) from None

    def watch(self, directories: set[str], recursive: set[str] = frozenset()) -> None:
        """Watch exactly these directories (and, with their subtrees, `recursive`) from now on."""
        wanted = {(d, False) for d in directories} | {(d, True) for d in recursive}
        for key in [k for k in self.watched if k not in wanted]:
            self.observer.unschedule(self.watched.pop(key))
        for d, rec in sorted(wanted - set(self.watched)):
            if not os.path.isdir(d):
                continue
            try:
                self.watched[(d, rec)] = self.observer.schedule(self._handler, d, recursive=rec)
            except OSError as exc:
                raise _limit_error(exc, len(self.watched)) from None

    def next_batch(self, stop: threading.Event | None = None) -> dict[str, str]:
        """path -> how it changed (the last way seen), once a burst is over; {} if stopped."""
        batch: dict[str, str] = {}
        while not batch:
            if stop is not None and stop.is_set():
                return {}
            try:
                path, how = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            if not is_dropping(path):
                batch[path] = _merge(batch.get(path), how)
        while True:
            try:
                path, how = self.events.get(timeout=self.debounce)
            except queue.Empty:
                return batch
            if not is_dropping(path):
                batch[path] = _merge(batch.get(path), how)

    def close(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)


def _merge(before: str | None, now: str) -> str:
    """A created-then-modified file is still new; a deleted-then-created one is modified."""
    if before == CREATED and now == MODIFIED:
        return CREATED
    if before == DELETED and now == CREATED:
        return MODIFIED
    return now


class _Handler:
    """watchdog's handler protocol (dispatch), turning events into (path, how)."""

    def __init__(self, events: queue.Queue):
        self.events = events

    def dispatch(self, event) -> None:
        kind = event.event_type
        if kind == "moved":
            self.events.put((os.fsdecode(event.src_path), DELETED))
            self.events.put((os.fsdecode(event.dest_path), CREATED))
        elif kind in ("created", "deleted"):
            self.events.put((os.fsdecode(event.src_path), kind))
        elif kind in ("modified", "closed") and not event.is_directory:
            self.events.put((os.fsdecode(event.src_path), MODIFIED))


def _limit_error(exc: OSError, watching: int) -> BadInput:
    if exc.errno not in (errno.ENOSPC, errno.EMFILE):
        return BadInput(f"cannot watch for changes: {exc.strerror or exc}")
    try:
        limit = MAX_WATCHES.read_text().strip()
    except OSError:
        limit = "unknown"
    return WatchLimit(
        f"cannot watch more directories: the system's inotify limit is reached ({watching} watched by jbuild; "
        f"fs.inotify.max_user_watches = {limit}). Raise it with "
        f"`sudo sysctl fs.inotify.max_user_watches=524288` (add it to /etc/sysctl.conf to keep it), "
        f"or use `jbuild watch --poll`.")

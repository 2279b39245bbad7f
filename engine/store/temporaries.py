"""Temporaries: a build's scratch space and its output directory, inside the store itself.

  <store>/.tmp-<id>.lock   held (flock) by the builder for as long as the temporary lives
  <store>/.tmp-<id>/       `work`: scratch and staging, any layout
  <store>/.tmp-<id>.out/   `out`: the empty output directory — a sibling of the entries, so the
                           publishing rename keeps its parent (Linux refuses to move a directory
                           one cannot write into under a different parent unless one is root)
  <store>/.tmp-<id>.out-<output>/   one per declared output of a split package (`output()`)
  <store>/.trash-<id>      something being deleted (see fsops.set_aside)

The lock exists (locked) before the directories do and outlives them: a cleaner that can take
it knows the builder is gone. It is created as `.lock.new` and renamed once held, so a cleaner
never takes a lock its builder has not locked yet.

A build run reuses its temporaries (`Pool`): one lock and one `work` per worker for the whole
run, a new `out` per action. An action then costs one directory on the store's disk, not a lock
made, renamed and deleted and two directories made and deleted (each 0.1-0.5 ms on a busy ext4).
"""

from __future__ import annotations

import atexit
import fcntl
import os
import queue
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import runs
from .fsops import TRASH, force_remove

PREFIX = ".tmp-"
SUFFIXES = (".lock.new", ".lock", ".out")


@dataclass(frozen=True)
class Temporary:
    work: Path  # scratch and staging: any layout
    out: Path  # the empty output directory; pass it to Store.publish
    # The outputs made by `output`: removing them on exit needs no listing of the store (a glob
    # per action over 10,000 entries is quadratic in a full build).
    outputs: list[Path] = field(default_factory=list, compare=False)

    def output(self, name: str) -> Path:
        """A new empty directory for one output of a split package, a sibling of `out` (removed
        with it); pass it to Store.publish_set."""
        path = self.out.with_name(f"{self.out.name}-{name}")
        path.mkdir(mode=0o755)
        self.outputs.append(path)
        return path


def _outputs(root: Path, base: str) -> list[Path]:
    return list(root.glob(f"{base}.out-*"))


def _lock_new(root: Path) -> tuple[str, int]:
    while True:
        name = f"{PREFIX}{os.urandom(8).hex()}"
        lock = root / f"{name}.lock"
        fd = os.open(root / f"{name}.lock.new", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.rename(root / f"{name}.lock.new", lock)
            return name, fd
        except FileNotFoundError:  # a cleaner removed it before we held it: start over
            os.close(fd)


@contextmanager
def temporary(root: Path, remove_later: bool = False):
    """`remove_later`: `work` is deleted on a background thread (see _Remover), not before
    the `with` block ends."""
    runs.enter(root)  # (a kill from here on leaves something the next build must clean)
    name, fd = _lock_new(root)
    tmp = Temporary(root / name, root / f"{name}.out")
    try:
        tmp.work.mkdir(mode=0o700)
        tmp.out.mkdir(mode=0o755)
        yield tmp
    finally:
        if remove_later:
            runs.enter(root)  # the work tree, until the remover has deleted it
            _REMOVER.remove(tmp.work, root / f"{TRASH}{name[len(PREFIX):]}", root)
        else:
            force_remove(tmp.work)
        for d in (tmp.out, *tmp.outputs):
            force_remove(d)
        os.unlink(root / f"{name}.lock")
        os.close(fd)
        runs.leave(root)


@dataclass
class _Slot:
    """A pooled temporary: its name and held lock."""

    name: str
    fd: int
    paths: tuple[Path, Path] | None = None  # its work and out directories


class Pool:
    """Temporaries kept for a run's builds (`Store.reused_temporaries`). `temporary()` hands out
    one with a fresh empty `out`; on exit its `work` is kept if the build left nothing there
    (what a build leaves in /tmp must never reach the next one: else it is moved to trash and made
    anew). `close()` deletes them all; a kill leaves them to `clean`, as any temporary."""

    def __init__(self, root: Path):
        self.root = root
        self.idle: list[_Slot] = []
        self.slots: list[_Slot] = []
        self.lock = threading.Lock()

    @contextmanager
    def temporary(self):
        with self.lock:
            slot = self.idle.pop() if self.idle else None
        if slot is None:
            runs.enter(self.root)  # the slot, until close(): a kill leaves it to `clean`
            slot = _Slot(*_lock_new(self.root))
            with self.lock:
                self.slots.append(slot)
            (self.root / slot.name).mkdir(mode=0o700)
        if slot.paths is None:  # (made once per slot, not per build)
            slot.paths = (self.root / slot.name, self.root / f"{slot.name}.out")
        tmp = Temporary(*slot.paths)
        kept = False
        try:
            tmp.out.mkdir(mode=0o755)
            yield tmp
            kept = _reusable(tmp.work)
        finally:
            for d in (tmp.out, *tmp.outputs):
                force_remove(d)
            if not kept:
                runs.enter(self.root)  # the old work tree, until the remover has deleted it
                _REMOVER.remove(tmp.work, self.root / f"{TRASH}{slot.name[len(PREFIX):]}-{os.urandom(4).hex()}",
                                self.root)
                tmp.work.mkdir(mode=0o700)
            with self.lock:
                self.idle.append(slot)

    def close(self) -> None:
        with self.lock:
            slots, self.slots, self.idle = self.slots, [], []
        for slot in slots:
            force_remove(self.root / slot.name)
            os.unlink(self.root / f"{slot.name}.lock")
            os.close(slot.fd)
            runs.leave(self.root)


def _reusable(work: Path) -> bool:
    """Is `work` as made (empty, the builder's alone)? A build may have changed its mode."""
    try:
        if next(os.scandir(work), None) is not None:
            return False
        if os.stat(work).st_mode & 0o7777 != 0o700:
            os.chmod(work, 0o700)
        return True
    except OSError:
        return False


class _Remover:
    """Deletes scratch trees on one background thread. On a busy disk each directory costs
    milliseconds to delete, and a build's worker need not wait for that: the tree is renamed to
    trash (atomic; `clean` deletes any trash a kill left) and queued. What is queued at exit is
    finished then."""

    def __init__(self):
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def remove(self, path: Path, trash: Path, root: Path) -> None:
        """Delete `path` (in the store at `root`, which `runs.enter` was told of: left once done)."""
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            runs.leave(root)
            return
        except OSError:
            force_remove(path)
            runs.leave(root)
            return
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="jbuild-remover", daemon=True)
                self.thread.start()
                atexit.register(self.drain)
        self.queue.put((trash, root))

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            force_remove(item[0])
            runs.leave(item[1])

    def drain(self) -> None:
        """Wait until everything queued is deleted."""
        with self.lock:
            thread, self.thread = self.thread, None
        if thread is not None:
            self.queue.put(None)
            thread.join()


_REMOVER = _Remover()


def _base(name: str) -> str:
    if ".out-" in name:  # an output of a split package
        return name.split(".out-", 1)[0]
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def clean(root: Path) -> int:
    """Delete the temporaries whose builder is gone (their flock is free), and all trash. Lists
    the store: `Store.clean_temporaries` calls it only when a process died (runs.py)."""
    removed = 0
    for path in root.glob(f"{TRASH}*"):
        force_remove(path)
        removed += 1
    for base in {_base(p.name) for p in root.glob(f"{PREFIX}*")}:
        removed += _clean_one(root, base)
    return removed


def _clean_one(root: Path, base: str) -> int:
    lock, new = root / f"{base}.lock", root / f"{base}.lock.new"
    dirs = (root / base, root / f"{base}.out", *_outputs(root, base))
    for candidate in (lock, new):
        try:
            fd = os.open(candidate, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return 0  # its builder is alive
        try:
            for d in dirs:
                force_remove(d)
            candidate.unlink(missing_ok=True)
        finally:
            os.close(fd)
        return 1
    if new.exists() or lock.exists():
        return 0  # the lock appeared meanwhile: a builder is starting
    if any(os.path.lexists(d) for d in dirs):
        for d in dirs:
            force_remove(d)  # directories whose lock is gone: their builder is too
        return 1
    return 0

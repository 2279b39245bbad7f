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
"""

from __future__ import annotations

import fcntl
import os
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .fsops import TRASH, force_remove

PREFIX = ".tmp-"
SUFFIXES = (".lock.new", ".lock", ".out")


@dataclass(frozen=True)
class Temporary:
    work: Path  # scratch and staging: any layout
    out: Path  # the empty output directory; pass it to Store.publish

    def output(self, name: str) -> Path:
        """A new empty directory for one output of a split package, a sibling of `out` (removed
        with it); pass it to Store.publish_set."""
        path = self.out.with_name(f"{self.out.name}-{name}")
        path.mkdir(mode=0o755)
        return path


def _outputs(root: Path, base: str) -> list[Path]:
    return list(root.glob(f"{base}.out-*"))


def _lock_new(root: Path) -> tuple[str, int]:
    while True:
        name = f"{PREFIX}{secrets.token_hex(8)}"
        lock = root / f"{name}.lock"
        fd = os.open(root / f"{name}.lock.new", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.rename(root / f"{name}.lock.new", lock)
            return name, fd
        except FileNotFoundError:  # a cleaner removed it before we held it: start over
            os.close(fd)


@contextmanager
def temporary(root: Path):
    name, fd = _lock_new(root)
    tmp = Temporary(root / name, root / f"{name}.out")
    try:
        tmp.work.mkdir(mode=0o700)
        tmp.out.mkdir(mode=0o755)
        yield tmp
    finally:
        for d in (tmp.work, tmp.out, *_outputs(root, name)):
            force_remove(d)
        os.unlink(root / f"{name}.lock")
        os.close(fd)


def _base(name: str) -> str:
    if ".out-" in name:  # an output of a split package
        return name.split(".out-", 1)[0]
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def clean(root: Path) -> int:
    """Delete the temporaries whose builder is gone (their flock is free), and all trash."""
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

"""`jbuild gc` of the host trees (`<store>/.host/<key>/`, hostroot.py): a tree is kept while a
GC root names it (`.host/<key>` among the root's entries) or it was used within --unused-for
days (its directory's mtime); otherwise it is deleted with its `<key>.lock`. A tree is a cache
of the host's packages, not of any entry: the next build that needs a deleted one assembles it
again (and makes a new lock file).

Runs under the store's exclusive lock, so no build of this store is using or assembling a tree
meanwhile (builds hold the lock shared). A tree is first renamed to `.trash-<key>-<random>` —
one atomic step — then deleted: a kill halfway leaves a trash directory no build looks at (the
next gc deletes it), never a half tree under its key's name.

Deleting a lock file is safe only where nobody can be between opening it and flocking it: a
second process would then lock a new file of the same name while the first holds the deleted
one, and both would assemble. Every process that takes `<key>.lock` (hostroot.host_root, from a
build's or a test's schedule) holds the store's lock shared from before it opens the file until
after it closes it, and gc holds that lock exclusive: no build is about to take a key's lock
while gc runs. To be safe also against a process outside that protocol, gc deletes a lock only
while it holds it itself (a non-blocking flock; one held by someone else stays, with its tree),
and a lock file left without its tree (an assembler that crashed, an older gc) the same way.

A tree another user owns is theirs to delete (or root's): an ordinary user's gc keeps it, and
the report says how many it kept so (`others`).
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = ".host/"  # how a GC root names a tree among its entries
LOCK = ".lock"


@dataclass
class Swept:
    deleted: list[tuple[str, int]] = field(default_factory=list)  # (path relative to the store, bytes)
    others: int = 0  # trees past their time that another user owns: kept


def rooted(names) -> set[str]:
    """The tree keys among a GC root's kept names (store/gc.py `kept`)."""
    return {n[len(PREFIX):] for n in names if n.startswith(PREFIX)}


def sweep(store_root: Path, keep: set[str], cutoff: float, dry_run: bool) -> Swept:
    """Delete (dry run: list) the trees not in `keep` and unused since `cutoff`, with their locks;
    with what deleting each frees. The caller holds the store's exclusive lock."""
    base = Path(store_root) / ".host"
    out = Swept()
    if not base.is_dir():
        return out
    names = sorted(os.listdir(base))
    for name in names:
        path = base / name
        if name.startswith(".trash-") or (name.startswith(".tmp-") and not _assembling(base, name)):
            if _ours(path):  # a killed gc's or a crashed assembler's
                out.deleted.append((f"{PREFIX}{name}", _freed(path)))
                if not dry_run:
                    shutil.rmtree(path, ignore_errors=True)
            continue
        if name.startswith(".") or name in keep:
            continue
        if name.endswith(LOCK):
            key = name[: -len(LOCK)]
            if key not in names and (_unheld(path) if dry_run else _unlink_lock(base, key)):  # left without its tree
                out.deleted.append((f"{PREFIX}{name}", 0))
            continue
        try:
            if not path.is_dir() or path.stat().st_mtime >= cutoff:
                continue
        except OSError:
            continue
        if not _ours(path):
            out.others += 1
            continue
        size = _freed(path)
        if not (_unheld(base / f"{name}{LOCK}") if dry_run else _discard(base, name)):
            continue
        out.deleted.append((f"{PREFIX}{name}", size))
    return out


def _ours(path: Path) -> bool:
    """May this process delete it: root, or its owner (another user's tree in a shared store is
    theirs; renaming it would leave a trash directory we cannot empty)."""
    me = os.geteuid()
    try:
        return me == 0 or os.lstat(path).st_uid == me
    except OSError:
        return False


def _discard(base: Path, key: str) -> bool:
    """Rename the tree out of its key's name, delete its lock, then the tree. False (nothing
    done) if the rename fails or someone holds the tree's lock."""
    lock = base / f"{key}{LOCK}"
    fd = _take(lock)
    if fd == BUSY:
        return False
    trash = base / f".trash-{key}-{secrets.token_hex(4)}"
    try:
        try:
            os.rename(base / key, trash)
        except OSError:
            return False
        if fd is not None:
            _unlink_if_same(lock, fd)
    finally:
        if fd is not None:
            os.close(fd)
    shutil.rmtree(trash, ignore_errors=True)
    return True


def _unlink_lock(base: Path, key: str) -> bool:
    """Delete the lock of a key that has no tree, while holding it."""
    lock = base / f"{key}{LOCK}"
    fd = _take(lock)
    if fd is None or fd == BUSY:
        return False
    try:
        return _unlink_if_same(lock, fd)
    finally:
        os.close(fd)


BUSY = -1


def _take(lock: Path) -> int | None:
    """An fd holding `lock` exclusively; None if there is no such file; BUSY if someone holds it
    (or it cannot be opened)."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError:
        return BUSY
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return BUSY
    return fd


def _unheld(lock: Path) -> bool:
    """Would gc get this lock now (a dry run's answer)?"""
    fd = _take(lock)
    if fd is not None and fd != BUSY:
        os.close(fd)
    return fd != BUSY


def _unlink_if_same(lock: Path, fd: int) -> bool:
    """Unlink `lock` if it is still the file `fd` holds (best effort: another user's lock file
    in a sticky directory stays)."""
    try:
        held, now = os.fstat(fd), os.lstat(lock)
        if (held.st_dev, held.st_ino) != (now.st_dev, now.st_ino):
            return False
        os.unlink(lock)
        return True
    except OSError:
        return False


def _assembling(base: Path, tmp_name: str) -> bool:
    """Whether an assembler still holds the lock of this `.tmp-<key>-<random>` directory's key."""
    key = tmp_name[len(".tmp-"):].rpartition("-")[0]
    try:
        fd = os.open(base / f"{key}{LOCK}", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _freed(tree: Path) -> int:
    """Bytes deleting the tree gives back: its files' sizes, but not of hard links to the host's
    own files (those stay on disk), which is most of a tree on the host's filesystem."""
    total = 0
    for top, _dirs, files in os.walk(tree):
        for f in files:
            try:
                st = os.lstat(os.path.join(top, f))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                total += st.st_size
    return total

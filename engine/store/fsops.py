"""File-system steps of the store: seal an output (modes, owner), fsync, set aside, remove.

Each is a small function so that publish, gc, verify and check compose the same safe steps:
an entry is only ever removed by first renaming it aside (`.trash-<random>`, same directory,
so the rename is atomic and needs no write permission on the entry), so a kill at any moment
never leaves a half-deleted directory under an entry's name.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path

from jbuild.base.errors import Failed

TRASH = ".trash-"
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class StoreError(Failed):
    pass


@contextmanager
def space_errors(root: Path):
    """Turn ENOSPC/EDQUOT into one clear StoreError naming the store."""
    try:
        yield
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise StoreError(f"no space left on the store's filesystem ({root})") from None
        raise


def seal(root: Path, owner: tuple[int, int], items: list | None = None, seal_root: bool = True) -> dict[str, int]:
    """Make a finished output fit to enter the store, or refuse it naming the file.

    Files become 0444 (0555 if any x bit was set), directories 0555: no setuid, setgid or
    sticky bit, nothing writable. Everything must belong to the store's owner: as root, a
    file of another uid is handed over (chown); otherwise it is refused.

    `items`: the tree's listing (entry.listing: relative path, lstat), if the caller has it.
    `seal_root=False` leaves the root itself writable (publish writes the metadata into it
    first). Returns the modes set, by relative path, for the digests (entry.digests).
    """
    uid, gid = owner
    is_root = os.geteuid() == 0
    if items is None:
        items = [(os.path.relpath(os.path.join(d, n), root), os.lstat(os.path.join(d, n)))
                 for d, dirnames, filenames in os.walk(root) for n in dirnames + filenames]
    modes: dict[str, int] = {}
    dirs = []
    root_st = os.lstat(root)
    for rel, st in [(".", root_st), *items]:
        path = os.path.join(root, rel) if rel != "." else str(root)
        kind = stat.S_IFMT(st.st_mode)
        if kind not in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
            raise StoreError(f"{rel}: a special file (not a file, directory or symlink) cannot enter the store")
        if st.st_uid != uid or (is_root and st.st_gid != gid):
            if not is_root:
                raise StoreError(f"{rel} is owned by uid {st.st_uid}, not by the store's owner (uid {uid}); "
                                 "it cannot enter the store")
            os.lchown(path, uid, gid)
        if kind == stat.S_IFDIR:
            dirs.append((rel, path))
            continue
        mode = 0o555 if st.st_mode & 0o111 else 0o444
        if kind == stat.S_IFREG and st.st_mode & 0o7777 != mode:  # a sealed file (a hard link into
            os.chmod(path, mode)                                   # an entry) is not touched
            modes[rel] = mode
    for rel, path in reversed(dirs):  # listed parents first: children are sealed before them
        if rel != "." or seal_root:
            os.chmod(path, 0o555)
            modes[rel] = 0o555
    if not seal_root and not root_st.st_mode & 0o200:  # a build made /out read-only
        os.chmod(root, 0o755)
    return modes


def fsync_tree(root: Path, files: bool = True) -> None:
    """fsync every directory, and every file unless `files` is False (the caller made them
    durable: e.g. hard links to files already in the store)."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames if files else ():
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                fd = os.open(p, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        fsync_dir(Path(dirpath))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def set_aside(path: Path) -> Path | None:
    """Rename `path` to a fresh `.trash-<random>` beside it (atomic); None if it is gone."""
    trash = path.with_name(f"{TRASH}{os.urandom(8).hex()}")
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return None
    fsync_dir(path.parent)
    return trash


def discard(path: Path) -> bool:
    """Set `path` aside, then delete it. True if it existed."""
    from . import runs

    runs.enter(path.parent)  # (trash a kill would strand there: the next build deletes it)
    trash = set_aside(path)
    if trash is not None:
        force_remove(trash)
    if trash is None or not os.path.lexists(trash):
        runs.leave(path.parent)
    return trash is not None


def force_remove(path: Path) -> None:
    """Delete a tree even if read-only; tolerant of a concurrent remover."""
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, dirnames, _ in os.walk(path):
            for d in [".", *dirnames]:
                p = os.path.join(dirpath, d)
                try:
                    if not os.path.islink(p):
                        os.chmod(p, 0o700)
                except OSError:
                    pass
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

"""Did a process die while it had something in the store? Then, and only then, the start of a
build lists the store (10,000 entries and more) for the temporaries, trash and unsynced
markers it left.

Before a process first leaves anything in a store that a kill would strand there (a temporary,
trash, an unsynced marker), it creates `<store>/.runs/<random>` and holds a flock on it for the
rest of its life. It counts what it has left there; at exit, if the count is back to zero, it
removes its file. So a file whose flock is free belongs to a process that is gone and may have
left something behind: `gone` names those files, `Store.clean_temporaries` cleans the store
when there is one (or when `.runs` does not exist yet: a store written by an older jbuild), and
`forget` removes them afterwards — only those found gone before the cleaning began, so what a
process that dies meanwhile leaves is cleaned by the next build.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import threading
from pathlib import Path

DIR = ".runs"

_lock = threading.Lock()
_mine: dict[str, list] = {}  # store root -> [marker path, fd, what is left there]


def enter(root: Path) -> None:
    """Something that a kill would strand is about to be made in the store at `root`."""
    key = str(root)
    with _lock:
        mine = _mine.get(key)
        if mine is None:
            try:
                mine = _mine[key] = [*_create(root), 0]
            except OSError:  # (a store this process cannot write: what follows fails with its own message)
                return
            if len(_mine) == 1:
                atexit.register(_at_exit)
        mine[2] += 1


def leave(root: Path) -> None:
    """What `enter` announced is gone again."""
    with _lock:
        mine = _mine.get(str(root))
        if mine is not None:
            mine[2] -= 1


def _make_dir(root: Path) -> None:
    """`.runs`, writable by whoever may write the store (its root's mode, whatever the umask)."""
    try:
        (root / DIR).mkdir()
    except FileExistsError:
        return
    os.chmod(root / DIR, os.stat(root).st_mode & 0o7777)


def _create(root: Path) -> tuple[Path, int]:
    runs = root / DIR
    _make_dir(root)
    while True:  # made as NAME.new and renamed once held, as a temporary's lock (temporaries.py)
        path = runs / os.urandom(8).hex()
        new = path.with_name(path.name + ".new")
        fd = os.open(new, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.rename(new, path)
            return path, fd
        except FileNotFoundError:  # a cleaner found it free before we held it, and removed it
            os.close(fd)


def _at_exit() -> None:
    with _lock:
        for key, (path, fd, left) in list(_mine.items()):
            if left <= 0:
                try:
                    path.unlink()
                except OSError:
                    pass
            os.close(fd)
            del _mine[key]


def gone(root: Path) -> list[Path] | None:
    """The markers of processes that are gone (each may have left something in the store); None
    if the store has no `.runs` yet (anything may have been left)."""
    out = []
    try:
        names = os.listdir(root / DIR)
    except OSError:
        return None
    mine = {str(m[0]) for m in _mine.values()}
    for name in names:
        path = root / DIR / name
        if str(path) in mine:
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        except OSError:  # unreadable: take it for a dead one (a cleaning costs a listing, nothing more)
            out.append(path)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            out.append(path)
        except BlockingIOError:
            pass  # alive
        finally:
            os.close(fd)
    return out


def forget(root: Path, markers: list[Path] | None) -> None:
    """After a cleaning: the markers it answered for go (a store without `.runs` gets one)."""
    if markers is None:
        try:
            _make_dir(root)
        except OSError:
            pass
        return
    for path in markers:
        try:
            path.unlink()
        except OSError:  # gone already, or another user's in a shared store: cleaned again next time
            pass

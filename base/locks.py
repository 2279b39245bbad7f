"""flock-based locks on lock files that are never deleted (never pidfiles, never the SQLite
file itself). A lock not had within its timeout is exit code 9."""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import JbuildError

STORE_LOCK = ".store.lock"  # in a store's directory: shared by builds, exclusive for gc (engine/store/store.py)


class LockTimeout(JbuildError):
    kind = "lock_timeout"


def open_lock(path: Path) -> int:
    """An fd to flock. flock needs no write access, so a lock file one can only read (another
    user's, in a store shared through its group) is opened read-only."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        return os.open(path, os.O_RDONLY)


@contextmanager
def flock(path: Path, mode: int = fcntl.LOCK_EX, timeout: float = 600):
    """Hold an flock (`LOCK_SH` or `LOCK_EX`) on `path`, waiting up to `timeout` seconds."""
    fd = open_lock(path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(f"could not lock {path} within {timeout:.0f}s: another jbuild "
                                      "holds it") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)

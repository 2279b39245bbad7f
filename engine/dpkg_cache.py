"""dpkg's list of installed packages, kept on disk until dpkg changes it.

Every build that assembles or finds a sandbox's /usr (hostroot.py) needs the installed packages;
asking `dpkg-query` costs 10-15 ms a run. The answer is pickled in the user's cache directory
(one file per admin directory, named by its path's digest, so a run against another database
does not evict this host's answer), with the signature of what dpkg-query reads: the status
file (rewritten by every install, upgrade or removal: mtime, size, inode, ctime) and the
`updates/` directory (the journal of an unfinished run). The saved answer is used while that
signature holds and was safely older than the query (the racy-clean rule of base/freshness.py);
a cache that cannot be read or written is only a slower run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from jbuild.base import cachefile
from jbuild.base.freshness import RACY_MARGIN_NS, stat_key

FORMAT = 1
CACHE_DIR: Path | None = None  # None: the user's cache directory (a test points it elsewhere)


def answer(admin_dir: str, query: Callable, shape: object = None):
    """query()'s value, from the cache while dpkg's state is the one it was saved with, and by a
    caller that asked for the same `shape` (the fields asked, the class they are kept in)."""
    path = _cache_file(admin_dir)
    sig = (os.path.abspath(admin_dir), shape, *signature(admin_dir))
    saved = cachefile.read(path, FORMAT, None, freeze=False)  # (read mid-run, with the store open)
    if saved is not None and saved[0] == sig and _settled(sig[2:], saved[1]):
        return saved[2]
    asked_at = time.time_ns()
    value = query()
    if signature(admin_dir) == sig[2:]:  # not changed while asking: worth keeping
        try:
            cachefile.write(path, FORMAT, (sig, asked_at, value))
        except OSError:
            pass
    return value


def signature(admin_dir: str) -> tuple:
    """The stats of what `dpkg-query -W` reads, as (status, updates/ mtime, updates/ ctime)."""
    status = stat_key(os.stat(f"{admin_dir}/status"))
    try:
        updates = os.stat(f"{admin_dir}/updates")
        return status, updates.st_mtime_ns, updates.st_ctime_ns
    except OSError:
        return status, None, None


def _settled(sig: tuple, asked_at: int) -> bool:
    """Was every time in the signature safely before the query (a same-size rewrite within one
    clock tick after it would leave the stats as they were)?"""
    status, up_mtime, up_ctime = sig
    times = [status[0], status[3], *(t for t in (up_mtime, up_ctime) if t is not None)]
    return max(times) < asked_at - RACY_MARGIN_NS


def _cache_file(admin_dir: str) -> Path:
    """`installed-<digest of the admin directory's path>.pickle` in the cache directory."""
    import xxhash

    name = f"installed-{xxhash.xxh64_hexdigest(os.fsencode(os.path.abspath(admin_dir)))}.pickle"
    if CACHE_DIR is not None:
        return CACHE_DIR / name
    from .store_location import user_cache_dir

    return user_cache_dir() / "dpkg" / name

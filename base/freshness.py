"""When a stat proves a file unchanged: git's racy-clean rule, in one place.

A cached (mtime_ns, size, inode, ctime_ns) is trusted only if the file was last changed
before the moment its content was read, by a margin: kernels stamp times at tick
granularity, so a same-size edit within one tick of the read leaves the stat unchanged.
"""

from __future__ import annotations

import os
from operator import itemgetter

RACY_MARGIN_NS = 20_000_000


def stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)


def trusted(st: os.stat_result, cached_stat: tuple, read_at_ns: int) -> bool:
    """True if `st` equals the stat recorded when the content was read at `read_at_ns`, and
    that read came safely after the last change."""
    return (stat_key(st) == cached_stat and st.st_mtime_ns < read_at_ns - RACY_MARGIN_NS
            and st.st_ctime_ns < read_at_ns - RACY_MARGIN_NS)


def all_trusted(files: dict[str, tuple], read_at_ns: int, seen: dict | None = None) -> bool:
    """`trusted` for every file of `files` (path -> cached stat key), in two passes: the current
    stats compared whole (at 10,000 sources, per-file Python work cost as much as the stat calls),
    then the racy-clean rule on the cached stats, which the current ones equal. Raises OSError.
    `seen` (path -> stat) gets the stats taken if one differs, for a caller that asks again at once."""
    cached = list(files.values())
    stats = list(map(os.stat, files))
    if [(st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns) for st in stats] != cached:
        if seen is not None:  # (only then: a no-op's check costs nothing more)
            seen.update(zip(files, stats, strict=True))
        return False
    limit = read_at_ns - RACY_MARGIN_NS
    return max(map(itemgetter(0), cached), default=0) < limit and max(map(itemgetter(3), cached), default=0) < limit


def untrusted_of(paths, entries: dict, seen: dict) -> list[str]:
    """The paths `trusted` does not hold for, against a stat cache's (stat key, _, read at)
    entries, in one loop without a Python call per file (10,000 sources at 10,000 packages):
    the stats in `seen` (path -> stat, a check's a moment ago), or taken now."""
    out = []
    for p, st, c in zip(paths, [seen.get(p) or _stat(p) for p in paths], map(entries.get, paths), strict=True):
        if st is None or c is None or (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns) != c[0] \
                or st.st_mtime_ns >= c[2] - RACY_MARGIN_NS or st.st_ctime_ns >= c[2] - RACY_MARGIN_NS:
            out.append(p)
    return out


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None

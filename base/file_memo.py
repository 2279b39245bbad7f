"""What a long-lived process wrote to a cache file, kept in memory and given back instead of
reading the file again — iff the file is still the one this process wrote.

The build server (jbuild/server.py) turns it on; everywhere else it is off and holds nothing.
A value is kept by `keep` just after its file(s) were written, with their stats (inode, size,
mtime_ns); `recall` takes it out (a build that fails midway leaves nothing to recall) and gives
it back only if a stat of each file still shows what this process wrote. Another jbuild writing
meanwhile, or a file removed, changes a stat: the caller reads the file as it always did. The
files are written exactly as without the memo, so a crash loses nothing and a memo never
outlives the process.
"""

from __future__ import annotations

import os

_on = False
_kept: dict[str, tuple] = {}  # kind -> (key, stats of its files, value)
hits: dict[str, int] = {}  # kind -> values given back (the server's log reports them)


def enable(on: bool = True) -> None:
    global _on
    _on = on
    _kept.clear()


def enabled() -> bool:
    return _on


def stats(files) -> tuple:
    out = []
    for path in files:
        try:
            st = os.stat(path)
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


def keep(kind: str, key: str, files, value) -> None:
    """Hold `value`, the content of `files` just written for `key` (one value per kind)."""
    if _on:
        _kept[kind] = (key, stats(files), value)


def recall(kind: str, key: str, files, keep: bool = False):
    """The value kept for `key` if `files` are still as this process wrote them, else None;
    forgotten either way, unless `keep` (for a value the caller never changes without writing
    its files again)."""
    kept = _kept.get(kind) if keep else _kept.pop(kind, None)
    if kept is None or kept[0] != key or kept[1] != stats(files):
        _kept.pop(kind, None)
        return None
    hits[kind] = hits.get(kind, 0) + 1
    return kept[2]

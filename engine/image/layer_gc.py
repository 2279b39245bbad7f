"""What `jbuild gc` keeps of `<store>/.layers/` (layers.py, hostlibs.py).

- An entry's layers (`<entry>.<exports>.*`) live as long as the entry: gc deletes them with it
  (store/gc.py); here, also those of an entry no longer in the store (evicted by `store verify
  --repair`, or left by an older jbuild).
- The host C library's layers (`host-*`) and the memo of which host layer a set of needs got
  (`choice-*.json`) are caches of the host, not of any entry: kept while used in the last
  `unused_for` seconds (each image that uses one refreshes its mtime), deleted after; an image
  built later computes them again.
- Temporaries a killed writer left (`.tmp-*`) an hour old.
gc holds the store's exclusive lock and images are made under its shared lock: nothing is being
written meanwhile.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .layers import LAYERS

SUFFIXES = (".tar.gz", ".json")


def sweep(store_root: Path, entries: set[str], cutoff: float, dry_run: bool) -> list[tuple[str, int]]:
    """Delete what the policy above does not keep; (path relative to the store, bytes) of each.
    `entries`: the names of the store's entries after gc."""
    root = Path(store_root) / LAYERS
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        path = root / name
        if not _dead(name, path, entries, cutoff):
            continue
        try:
            size = os.lstat(path).st_size
            if not dry_run:
                os.unlink(path)
        except FileNotFoundError:
            continue
        out.append((f"{LAYERS}/{name}", size))
    return out


def touch(*paths) -> None:
    """Mark host layers or memos as used now (best effort: another user's file keeps its time)."""
    for p in paths:
        try:
            os.utime(p)
        except OSError:
            pass


def _dead(name: str, path: Path, entries: set[str], cutoff: float) -> bool:
    try:
        mtime = os.lstat(path).st_mtime
    except FileNotFoundError:
        return False
    if name.startswith(".tmp-"):
        return mtime < time.time() - 3600
    if name.startswith(("host-", "choice-")):
        return mtime < cutoff
    stem = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s)), None)
    if stem is None:
        return False  # not ours
    return stem.rsplit(".", 1)[0] not in entries

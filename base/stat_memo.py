"""A small file's parsed value, kept in a cache file and trusted while the file's stat holds
(the racy-clean rule, freshness.py). Every command reads jbuild.toml, and parsing it imports
TOML's parser, typing and the error types: ~7 ms of a no-op's start, for a file that rarely
changes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from . import cachefile
from .freshness import stat_key, trusted

FORMAT = 1


def parsed(path: Path, memo: Path, salt: str, parse: Callable[[], object]):
    """`parse()` (which reads `path`), or the value `memo` kept for the same stat of `path` and
    the same `salt` (what else decides the value: the parser's version). A parse that raises
    keeps nothing; a memo that cannot be written (a read-only workspace) is done without."""
    kept = cachefile.read(memo, FORMAT, None, freeze=False)
    try:
        st = os.stat(path)
    except OSError:
        return parse()  # (it reports what is wrong with the file)
    if kept is not None and kept[0] == salt and trusted(st, kept[1], kept[2]):
        return kept[3]
    read_at = time.time_ns()
    value = parse()
    try:
        if stat_key(os.stat(path)) == stat_key(st):  # not changed while it was read
            cachefile.write(memo, FORMAT, (salt, stat_key(st), read_at, value))
    except OSError:
        pass
    return value

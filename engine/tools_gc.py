"""`jbuild gc` of the C programs in the user's tool cache (`~/.cache/jbuild/tools/`): the
Landlock helper and the stager's child (`sandbox_landlock.HELPERS`), each a program per digest of
its source and flags, so each jbuild whose source changed left one behind. The current ones
(`sandbox_landlock.candidates`) stay; another is deleted once it was neither built nor run within --unused-for days — and never
within a day, whatever --unused-for says: another jbuild on the machine (another version, a
watch still running) may be using it, and running a program refreshes its access time at most
daily (relatime). A killed compile's temporary (`.<stem>-<digest>.<random>`) goes the
same way.

The cache is the user's, not the store's: gc trims the one of whoever runs it.
"""

from __future__ import annotations

import os
import stat
import time

MIN_AGE = 86400.0  # seconds: see above


def sweep(cutoff: float, dry_run: bool) -> list[tuple[str, int]]:
    """Delete (dry run: list) the helpers of other sources unused since `cutoff`; (path, bytes)."""
    from .sandbox_landlock import HELPERS, cache_dir, candidates

    tools = cache_dir()
    prefixes = tuple(f"{source.stem}-" for source in HELPERS)
    try:
        names = sorted(os.listdir(tools))
        current = {path.name for source in HELPERS for _, path in candidates(source)}
    except OSError:  # no cache, or no helper source to know the current one by: delete nothing
        return []
    cutoff = min(cutoff, time.time() - MIN_AGE)
    out = []
    for name in names:
        if not name.lstrip(".").startswith(prefixes) or name in current:
            continue
        path = tools / name
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or max(st.st_atime, st.st_mtime) >= cutoff:
            continue
        if not dry_run:
            try:
                os.unlink(path)
            except OSError:
                continue
        out.append((str(path), st.st_size))
    return out

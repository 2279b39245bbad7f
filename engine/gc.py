"""`jbuild gc`: the store's entries, then the caches beside the store, in one pass under the
store's exclusive lock, trimmed against one set: the entries gc keeps.

Entries are kept by GC roots (result links, environment generations) and their closures
(store/gc.py). Each cache beside the store is then trimmed against what was kept:

| cache | kept while | module |
|---|---|---|
| `test-results.sqlite` | every entry of the row's run closure is kept | `testing/cache.py` |
| `.downloads/` | a kept entry's key names it, or it was used in the last N days | `fetch/sweep.py` |
| `.layers/` entry layers | their entry is in the store | `image/layer_gc.py` (and store/gc.py) |
| `.layers/` host layers, memos | used in the last N days | `image/layer_gc.py` |
| `.host/` host trees (the sandbox's /usr) | a root names it, or used in the last N days | `hostroot_gc.py` |
| `~/.cache/jbuild/tools/` compiled helpers | of the current source, or used in the last N days (at least 1) | `tools_gc.py` |

N is `--unused-for DAYS` (default 7): downloads and host layers are not derived from entries
alone — an archive `jbuild fetch` brought in for an offline build has no entry yet — so a
recent use keeps them; docs/architecture.md's gc section says the same for users.
"""

from __future__ import annotations

import time

from jbuild.base.errors import BadInput

from .store import Store
from .store.gc import GcReport, collect

DEFAULT_UNUSED_FOR_DAYS = 7.0


def gc(store: Store, dry_run: bool = False, unused_for_days: float = DEFAULT_UNUSED_FOR_DAYS) -> GcReport:
    """Delete entries no root needs, then what of the caches only they needed (or nobody used lately)."""
    from .fetch.sweep import sweep as sweep_downloads
    from .hostroot_gc import rooted
    from .hostroot_gc import sweep as sweep_host_trees
    from .image.layer_gc import sweep as sweep_layers
    from .sandbox_probes import sweep as sweep_probes
    from .testing.cache import ResultCache
    from .tools_gc import sweep as sweep_helpers

    if not unused_for_days >= 0:  # also NaN, which no time is older than: it would delete every download
        raise BadInput(f"--unused-for must be 0 days or more, not {unused_for_days:g}")
    cutoff = time.time() - unused_for_days * 86400
    with store.exclusive():
        store.clean_temporaries(always=True)
        report = collect(store, dry_run)
        live = set(report.kept)
        metas = (m for name in sorted(live) if (m := _meta(store, name)) is not None)  # (one at a time: see each_meta)
        report.trimmed += sweep_downloads(store.root / ".downloads", metas, cutoff, dry_run)
        report.trimmed += sweep_layers(store.root, live, cutoff, dry_run)
        trees = rooted(report.held)
        host = sweep_host_trees(store.root, trees, cutoff, dry_run)
        report.trimmed += host.deleted
        if host.others:
            report.notes.append(_others_trees(host.others))
        report.trimmed += sweep_helpers(cutoff, dry_run)
        report.trimmed += sweep_probes(dry_run)  # other boots' sandbox answers: empty files
        report.freed += sum(size for _, size in report.trimmed)
        report.test_results = ResultCache(store.root).prune(live, dry_run)
    return report


def _others_trees(n: int) -> str:
    if n == 1:
        return "1 host tree (.host/) belongs to another user, so it stays: root or its owner can collect it"
    return f"{n} host trees (.host/) belong to other users, so they stay: root or their owners can collect them"


def _meta(store: Store, name: str):
    try:
        return store.meta(name)
    except (OSError, ValueError, TypeError):
        return None

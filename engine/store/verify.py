"""`store verify`: is every entry what it was when built, and is the index sound?

Read-only mode bits do not stop root, so entries are re-hashed (full) or re-statted (quick)
against the digests recorded at publish. With repair, a changed entry is set aside and
deleted (its next build re-creates it) and the index is rebuilt from the entries.
"""

from __future__ import annotations

from . import sets
from .entry import META, stat_digest, tree_digest
from .fsops import discard

NOT_ENTRIES = ("roots", "logs", "envs")  # envs/: named environments' generations (runtime/)


def verify(store, full: bool = True, repair: bool = False) -> list[str]:
    problems = []
    for entry in store.entries():
        try:
            meta = store.meta(entry.name)
        except (OSError, ValueError, TypeError) as exc:
            problems.append(f"{entry.name}: unreadable metadata ({exc})")
        else:
            if full:
                changed = tree_digest(entry)[0] != meta.output_hash
            else:
                changed = bool(meta.stat_digest) and stat_digest(entry) != meta.stat_digest
            if not changed:
                continue
            problems.append(f"{entry.name}: contents changed since it was built")
        if repair:
            discard(entry)
    for name, what, remove in sets.problems(store.metas(), store.lookup):
        problems.append(f"{name}: {what}")
        if repair:
            for victim in remove:
                discard(store.root / victim)
    for p in sorted(store.root.iterdir()):
        if not p.name.startswith(".") and p.name not in NOT_ENTRIES and p.is_dir() and not (p / META).exists():
            problems.append(f"{p.name}: a directory without entry metadata")
            if repair:
                discard(p)
    damage = store.index.damage()
    if damage:
        problems.append(f"index.sqlite: the index is damaged ({damage})")
    if repair:
        store.index.rebuild(aside=bool(damage))
    return problems

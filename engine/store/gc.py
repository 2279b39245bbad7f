"""GC roots and garbage collection.

A root is a link (a `result` symlink into the store) registered with the whole list of entries
its target needs to build and to run — the caller computes that closure; entries themselves
carry no liveness edges. A root counts while its link exists and still resolves to where it
resolved when registered; a re-pointed link is re-registered by whoever re-pointed it.

Records live in `<store>/roots/<hash of the link's path>.json`, each written whole (a rename).
Roots are added under the shared store lock; gc holds the exclusive one, so gc never sees a
build that has finished but not yet registered its root.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jbuild.base.hashing import key_of

from .fsops import discard, fsync_dir


@dataclass(frozen=True)
class Root:
    link: str  # absolute path of the link
    target: str  # what the link resolved to when registered
    entries: tuple[str, ...]
    record: Path  # the file under <store>/roots/

    def holds(self) -> bool:
        return os.path.lexists(self.link) and os.path.realpath(self.link) == self.target


@dataclass
class GcReport:
    dead: list[str] = field(default_factory=list)  # entries deleted (or, dry run, that would be)
    freed: int = 0  # bytes
    kept: dict[str, str] = field(default_factory=dict)  # entry -> why it is kept
    stale_roots: list[str] = field(default_factory=list)  # links that no longer hold
    held: set[str] = field(default_factory=set)  # every name a holding root lists (host trees too: engine/gc.py)
    # Filled by engine/gc.py, which trims the caches beside the store against `kept`:
    trimmed: list[tuple[str, int]] = field(default_factory=list)  # (path relative to the store, or absolute, bytes)
    test_results: list[str] = field(default_factory=list)  # labels whose cached passes were dropped
    notes: list[str] = field(default_factory=list)  # what gc left that others can collect, as sentences


def record_name(link: str) -> str:
    """The file name of the record of the root at `link` (an absolute path) under <store>/roots/."""
    return f"{key_of(link)[:16]}.json"


def write_root(roots_dir: Path, link: Path, entries: Iterable[str]) -> Path:
    link_path = os.path.abspath(link)
    if not os.path.lexists(link_path):
        raise FileNotFoundError(f"{link_path}: a GC root must exist when it is registered")
    record = roots_dir / record_name(link_path)
    write_roots(str(roots_dir), [(record.name, link_path, os.path.realpath(link_path), entries)])
    return record


def write_roots(roots_dir: str, roots: list[tuple[str, str, str, Iterable[str]]]) -> list[tuple]:
    """Register each (record name, link, what it resolves to, entries) as `write_root` does, in
    one batch: a record already as it should be is left alone (a no-op build's `result` links),
    the others are each written whole (a rename) and the directory synced once. Returns the stat
    key (freshness.stat_key) of each record as it now is: engine/result_links.py keeps them."""
    from jbuild.base.freshness import stat_key

    keys, written = [], False
    for name, link, target, entries in roots:
        record = os.path.join(roots_dir, name)
        text = json.dumps({"link": link, "target": target, "entries": sorted(set(entries))})  # (C encoder)
        try:
            with open(record) as f:
                same = f.read() == text
        except (OSError, ValueError):
            same = False
        if not same:
            tmp = f"{record}.new-{os.getpid()}"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, record)
            written = True
        keys.append(stat_key(os.stat(record)))
    if written:
        fsync_dir(Path(roots_dir))
    return keys


def drop_root(roots_dir: Path, link: Path) -> None:
    """Forget the root of `link` (its record), if it was one."""
    (roots_dir / record_name(os.path.abspath(link))).unlink(missing_ok=True)
    fsync_dir(roots_dir)


def read_roots(roots_dir: Path, store_root: Path) -> list[Root]:
    return list(each_root(roots_dir, store_root))


def each_root(roots_dir: Path, store_root: Path) -> Iterator[Root]:
    """The roots one at a time: each lists its whole closure, and 10,001 `result-N` roots' lists
    held at once were 216 MB of JSON."""
    store_real = os.path.realpath(store_root)
    for path in sorted(roots_dir.iterdir()) if roots_dir.is_dir() else ():
        if path.is_symlink():  # a root of the first store format: a link to a result link
            target = os.path.realpath(path)
            if os.path.dirname(target) == store_real:
                yield Root(str(path), target, (os.path.basename(target),), path)
        elif path.suffix == ".json":
            try:
                data = json.loads(path.read_text())
                root = Root(data["link"], data["target"], tuple(data["entries"]), path)
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a torn or foreign file: not a root
            yield root


def kept(roots: list[Root]) -> dict[str, str]:
    """Every entry some holding root needs, with the first such root's link as the reason."""
    why: dict[str, str] = {}
    for root in roots:
        if root.holds():
            for name in root.entries:
                why.setdefault(name, f"needed by {root.link}")
    return why


REMOVALS_PER_TRANSACTION = 256  # index rows of deleted entries removed together (one transaction each was 1/3 of gc)


def collect(store, dry_run: bool) -> GcReport:
    """Delete every entry no holding root needs. The caller holds the exclusive store lock.
    The roots are read one at a time (`each_root`); the index rows of deleted entries go in
    batches (a kill between an entry's deletion and its rows' leaves rows of an entry that is
    not there, as a kill between the two always could: the index is a cache, and `store verify
    --repair` rebuilds it)."""
    from .sets import whole_sets

    held: dict[str, str] = {}
    stale: list[Root] = []
    for root in each_root(store.root / "roots", store.root):
        if root.holds():
            reason = f"needed by {root.link}"
            for name in root.entries:
                held.setdefault(name, reason)
        else:
            stale.append(Root(root.link, root.target, (), root.record))
    why = whole_sets(store.each_meta(), held)
    report = GcReport(stale_roots=[r.link for r in stale], held=set(held))
    removed: list[str] = []
    for entry in store.entries():
        if entry.name in why:
            report.kept[entry.name] = why[entry.name]
            continue
        meta = store.meta(entry.name)
        report.dead.append(entry.name)
        report.freed += meta.size
        if not dry_run and discard(entry):
            removed.append(entry.name)
            if len(removed) >= REMOVALS_PER_TRANSACTION:
                store.index.remove_many(removed)
                removed = []
            for layer in (store.root / ".layers").glob(f"{entry.name}.*"):  # its image layers (engine/image)
                layer.unlink(missing_ok=True)
            if os.path.dirname(meta.log) == "logs":  # never a path outside the store
                (store.root / meta.log).unlink(missing_ok=True)
    if removed:
        store.index.remove_many(removed)
    if not dry_run:
        for root in stale:
            root.record.unlink(missing_ok=True)
    return report

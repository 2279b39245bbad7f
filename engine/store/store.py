"""The store: a read-only, key-addressed directory of built packages.

Layout (DESIGN §9):
  <store>/<key>-<name>-<version>[-flavours]/   an entry, read-only; `.jbuild-entry.json` inside
  <store>/<key>-<name>-<version>[-flavours]-<output>/   an output of a split package (sets.py)
  <store>/.tmp-<id>/, .tmp-<id>.out/, .tmp-<id>.lock   a build in progress (temporaries.py)
  <store>/.trash-<id>                          something being deleted (fsops.set_aside)
  <store>/.locks/<key>.lock                    held while building a key (never deleted)
  <store>/.runs/<id>                           held by each process with something in the store (runs.py)
  <store>/.store.lock                          shared by builds and root registration, exclusive for gc
  <store>/roots/<id>.json                      GC roots: a link and the entries it needs (gc.py)
  <store>/logs/<key>.log                       build logs
  <store>/envs/                                named environments' generations (runtime/generations.py)
  <store>/index.sqlite                         a cache of the entries; rebuilt from them if lost
An entry exists iff `<store>/<name>/.jbuild-entry.json` exists: it appears whole by one rename
and leaves whole by one rename (to trash), so a kill at any moment leaves no partial entry.
Every entry belongs to the store's owner (the owner of the store directory) and nobody can write it.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from jbuild.base.locks import STORE_LOCK, flock

from ..store_location import default_store  # noqa: F401 - part of this package's interface
from . import sets, temporaries
from .entry import META, EntryMeta, digests, listing, read_meta, stat_digest, tree_digest
from .fsops import discard, fsync_dir, fsync_tree, seal, space_errors
from .gc import GcReport, Root, collect, drop_root, kept, read_roots, write_root
from .index import Index


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_sealed(path: Path, data: bytes, owner: tuple[int, int]) -> None:
    """A new read-only file of the store's owner holding `data` (the metadata: no chmod after)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o444)
    except FileExistsError:  # the build wrote one itself: ours replaces it
        os.unlink(path)
        fd = os.open(path, flags, 0o444)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        st = os.fstat(fd)
        if st.st_uid != owner[0]:
            os.fchown(fd, *owner)
        if st.st_mode & 0o7777 != 0o444:  # a umask took bits away
            os.fchmod(fd, 0o444)
    finally:
        os.close(fd)


def child_path(parent: Path, name: str) -> Path:
    """`parent / name`, for one component without pathlib's parse of it where CPython lets us
    (10,000 roots; each build's entry, log and temporary)."""
    child = getattr(parent, "_make_child_relpath", None)  # CPython 3.11/3.12's; 3.13 has none
    if child is None or "/" in name or name in ("", ".", ".."):
        return parent / name
    return child(name)


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)
        for sub in ("", ".locks", "roots", "logs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        st = os.stat(self.root)
        self.owner = (st.st_uid, st.st_gid)
        # The index holds one row per key: a split package's set entry stands for its outputs.
        self.index = Index(self.root, lambda: (m for m in self.metas() if not m.set))
        self._shared_depth = 0
        self._shared_lock = threading.Lock()
        self._shared_fd_cm = None
        self.syncer = None  # a durability.Syncer while a build defers its fsyncs (deferred_sync)
        self.pool = None  # a temporaries.Pool while a build reuses its temporaries (reused_temporaries)
        # Made once: every build names its log and its key's lock (a pathlib join each ~5 µs of the GIL).
        self._logs, self._locks = self.root / "logs", os.path.join(self.root, ".locks")

    # ------------------------------------------------------------ entries

    def path(self, name: str) -> Path:
        return child_path(self.root, name)

    def lookup(self, name: str) -> Path | None:
        """The entry's path if it is in the store (one stat), else None."""
        return self.path(name) if os.path.exists(os.path.join(self.root, name, META)) else None

    def meta(self, name: str) -> EntryMeta:
        return read_meta(self.root / name)

    def _meta_or_none(self, entry: Path) -> EntryMeta | None:
        try:
            return read_meta(entry)
        except (OSError, ValueError, TypeError):
            return None

    def metas(self) -> list[EntryMeta]:
        """The metadata of every entry whose metadata is readable."""
        return list(self.each_meta())

    def each_meta(self) -> Iterator[EntryMeta]:
        """`metas()` one at a time: an environment's metadata lists its members (~27 KB of JSON),
        and 100,000 entries' held at once took gc to 12-20 GB."""
        return (m for e in self.entries() if (m := self._meta_or_none(e)))

    def entries(self) -> list[Path]:
        return sorted(p for p in self.root.iterdir() if not p.name.startswith(".") and (p / META).exists())

    def log_path(self, key: str) -> Path:
        return child_path(self._logs, f"{key}.log")

    def check(self, name: str, full: bool = False) -> bool:
        """Is the entry there and unchanged since it was built (by stats alone; `full` re-hashes
        its contents too)? A changed entry is set aside (deleted) with a warning, so that it is
        rebuilt."""
        entry = self.lookup(name)
        if entry is None:
            return False
        meta = self._meta_or_none(entry)
        if meta is not None:
            stats_hold = not meta.stat_digest or stat_digest(entry) == meta.stat_digest
            # Stats that differ may be a copy (tar keeps whole seconds): the contents decide.
            if (stats_hold and not full) or tree_digest(entry)[0] == meta.output_hash:
                return not meta.outputs or sets.check_outputs(self, meta, full)
        print(f"warning: entry {name} was modified after it was built; rebuilding it", file=sys.stderr)
        if discard(entry):
            self.index.remove(name)
        return False

    # ------------------------------------------------------------ locks and temporaries

    @contextmanager
    def shared(self, timeout: float = 600):
        """The store-wide lock, shared: builds and root registrations run together; gc waits.
        Re-entrant within one Store object (one flock, one open)."""
        with self._shared_lock:
            if self._shared_depth == 0:
                cm = flock(self.root / STORE_LOCK, fcntl.LOCK_SH, timeout)
                cm.__enter__()
                self._shared_fd_cm = cm
            self._shared_depth += 1
        try:
            yield
        finally:
            with self._shared_lock:
                self._shared_depth -= 1
                if self._shared_depth == 0:
                    cm, self._shared_fd_cm = self._shared_fd_cm, None
                    cm.__exit__(None, None, None)

    @contextmanager
    def exclusive(self, timeout: float = 600):
        with flock(self.root / STORE_LOCK, fcntl.LOCK_EX, timeout):
            yield

    @contextmanager
    def key_lock(self, key: str, timeout: float = 3600):
        with flock(os.path.join(self._locks, f"{key}.lock"), fcntl.LOCK_EX, timeout):
            yield

    def temporary(self, remove_later: bool = False, reuse: bool = False):
        """`with store.temporary() as tmp:` — `tmp.work` (scratch, any layout) and `tmp.out` (the
        empty output directory to pass to `publish`). Both are deleted on exit (`work` on a
        background thread with `remove_later`); a killed builder's are deleted by the next
        `clean_temporaries`. `reuse`, inside `reused_temporaries()`: `work` is kept for the next
        temporary if it was left empty (temporaries.Pool)."""
        pool = self.pool
        if reuse and pool is not None:
            return pool.temporary()
        return temporaries.temporary(self.root, remove_later)

    @contextmanager
    def reused_temporaries(self):
        """Meanwhile `temporary(reuse=True)` reuses temporaries (one lock and `work` per worker,
        not per build); they are deleted at the end."""
        pool = self.pool = temporaries.Pool(self.root)
        try:
            yield
        finally:
            self.pool = None
            pool.close()

    def clean_temporaries(self, always: bool = False) -> int:
        """Delete temporaries whose builder is gone, and leftover trash; re-hash what a builder
        that is gone published without syncing (durability.py). Call under `shared()`. Unless
        `always`, only when a process that wrote the store died meanwhile (runs.py): otherwise
        nothing can be left, and the store is not listed."""
        from . import runs
        from .durability import recover

        gone = runs.gone(self.root)
        if gone == [] and not always:
            return 0
        removed = temporaries.clean(self.root) + recover(self)
        runs.forget(self.root, gone)
        return removed

    @contextmanager
    def deferred_sync(self, interval: float = 5.0):
        """Publish without fsyncs per entry meanwhile: one syncfs every `interval` seconds and
        at the end makes them durable, a marker covering the window (durability.py)."""
        from .durability import Syncer

        syncer = self.syncer = Syncer(self, interval)
        try:
            yield
        finally:
            self.syncer = None
            syncer.close()

    # ------------------------------------------------------------ publish

    def publish_set(self, parts: dict[str, Path], meta: EntryMeta) -> Path:
        """Publish a split package: each output (name -> a temporary's `output(name)`) as its own
        entry, then the set entry `meta.name` naming them, which makes the set visible (sets.py).
        Call holding the key's lock."""
        return sets.publish_set(self, parts, meta)

    def outputs_of(self, name: str) -> dict[str, Path]:
        """A split package's outputs (output name -> entry path); {} for any other entry."""
        return sets.outputs_at(self.root / name)

    def publish(self, out: Path, meta: EntryMeta, fsync_files: bool = True, index: bool = True) -> Path:
        """Seal `out` (a temporary's `out`), record its metadata, fsync, rename it to `meta.name`.

        `fsync_files=False`: the caller has made every file's data durable itself (an
        environment: hard links into entries, and the few files it wrote and fsynced); the
        directories are still fsynced, which commits the new names. Otherwise, inside
        `deferred_sync()`, nothing is fsynced here and the index row waits for the syncer.

        Fills output_hash, size and stat_digest. Raises StoreError on a file that cannot enter
        the store or on a full disk; the temporary is then removed by its context manager.
        """
        out = Path(out)
        if (out.parent != self.root and out.parent.resolve() != self.root.resolve()) or not meta.name \
                or "/" in meta.name:
            raise ValueError(f"publish takes a temporary's `out` and an entry name, not {out}, {meta.name!r}")
        final = self.root / meta.name
        with space_errors(self.root):
            items = listing(out)  # one listing for the seal and both digests
            modes = seal(out, self.owner, items, seal_root=False)
            digest, size, stats = digests(out, items, modes=modes)
            meta = meta.replace(output_hash=digest, size=size, log=self._relative_log(meta.log), stat_digest=stats)
            meta_file = out / META
            _write_sealed(meta_file, meta.to_json().encode(), self.owner)
            os.chmod(out, 0o555)
            syncer = self.syncer if fsync_files else None
            if syncer is not None:
                syncer.before_rename()
            else:
                fsync_tree(out, fsync_files)
                if not fsync_files:
                    _fsync_file(meta_file)
            renamed = kept = False
            try:
                os.rename(out, final)
                renamed = True
            except OSError:
                if (final / META).exists():  # lost a race to an identical build: keep theirs
                    kept = True
                else:  # a damaged entry there (its metadata removed by hand): not whole, replaced
                    discard(final)
                    os.rename(out, final)
                    renamed = True
            finally:
                if syncer is not None:  # theirs is their syncer's to make durable
                    syncer.renamed(final if renamed else None, meta if (renamed or kept) and index else None)
            if syncer is None:
                fsync_dir(self.root)
                if index:
                    self.index.add(meta)
        return final

    def _relative_log(self, log: str) -> str:
        if not log or not os.path.isabs(log):
            return log
        rel = os.path.relpath(log, self.root)
        if rel.startswith(".."):
            raise ValueError(f"a build log must live in the store's logs/, not at {log}")
        return rel

    # ------------------------------------------------------------ verify and gc

    def verify(self, repair: bool = False, full: bool = True) -> list[str]:
        """Entries changed since they were built, directories that are not entries, a damaged
        index; with repair, delete the first two and rebuild the index — under the exclusive
        lock, as gc: a build holding the shared one trusts that an entry it listed stays
        (Rebuilder.store_listing), and repair removes entries."""
        from .verify import verify

        with self.exclusive() if repair else self.shared():
            self.clean_temporaries(always=True)
            return verify(self, full, repair)

    def add_root(self, link: Path, entries: Iterable[str]) -> None:
        """Register `link` (e.g. a `result` symlink) as a GC root needing `entries` — everything
        its target needs to build and to run. Call under `shared()` (the one that covered the
        build), so no gc runs between the build and the registration; it takes it itself too."""
        with self.shared():
            write_root(self.root / "roots", link, entries)

    def drop_root(self, link: Path) -> None:
        """Forget `link` as a GC root (e.g. a deleted environment generation)."""
        with self.shared():
            drop_root(self.root / "roots", link)

    def roots(self) -> list[Root]:
        return read_roots(self.root / "roots", self.root)

    def live(self) -> set[str]:
        """The entries needed by every root whose link still points where it did."""
        return set(kept(self.roots()))

    def gc(self, dry_run: bool = False) -> GcReport:
        with self.exclusive():
            self.clean_temporaries(always=True)
            return collect(self, dry_run)


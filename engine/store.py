"""The store: a read-only, key-addressed directory of built packages (the index is index.py).

Layout (DESIGN §9):
  <store>/<key>-<name>-<version>[-flavours]/   an entry, read-only; `.jbuild-entry.json` inside
  <store>/.tmp-<random>/ (+ .tmp-<random>.lock)  a build in progress, tied to the flock on its lock
  <store>/.locks/<key>.lock                    held while building a key (never deleted)
  <store>/.store.lock                          shared by builds, exclusive for gc
  <store>/roots/                               GC roots (symlinks to result links)
  <store>/logs/<key>.log                       build logs
  <store>/index.sqlite                         a cache of the entries; rebuilt from them if lost
The directory is the truth: an entry exists once its rename succeeded, so a crash at any point
leaves no partial entry.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path

from jbuild.base.hashing import file_digest, key_of
from jbuild.base.locks import flock

from .index import Index

META = ".jbuild-entry.json"


class StoreError(Exception):
    exit_code = 1


def default_store() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("jbuild")) / "store"


def tree_digest(root: Path) -> tuple[str, int]:
    """(digest, size) of a directory tree: paths, modes (x bit), symlink targets, contents."""
    items, size = [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            if rel_dir == "." and name == META:
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                items.append([rel, "l", os.readlink(path)])
            else:
                items.append([rel, "x" if st.st_mode & 0o111 else "f", file_digest(path)])
                size += st.st_size
        if rel_dir != ".":
            items.append([rel_dir, "d", ""])
    return key_of(sorted(items)), size


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)
        for sub in ("", ".locks", "roots", "logs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.index = Index(self.root, lambda: ((e.name, self.meta(e)) for e in self.entries()))

    # ------------------------------------------------------------ entries

    def path(self, name: str) -> Path:
        return self.root / name

    def lookup(self, name: str) -> Path | None:
        p = self.root / name
        return p if (p / META).exists() else None

    @contextmanager
    def shared(self, timeout: float = 600):
        """The store-wide lock, shared: builds run together; gc waits."""
        with flock(self.root / ".store.lock", fcntl.LOCK_SH, timeout):
            yield

    @contextmanager
    def exclusive(self, timeout: float = 600):
        with flock(self.root / ".store.lock", fcntl.LOCK_EX, timeout):
            yield

    @contextmanager
    def key_lock(self, key: str, timeout: float = 3600):
        with flock(self.root / ".locks" / f"{key}.lock", fcntl.LOCK_EX, timeout):
            yield

    @contextmanager
    def temporary(self):
        """A fresh `.tmp-<random>` directory in the store, tied to the flock on its `.lock`.

        The lock exists (locked) before the directory does, and outlives it: a cleaner that can
        take the lock knows the builder is gone. The lock is created as `.lock.new` and renamed
        once held, so a cleaner never takes a lock its builder has not locked yet.
        """
        while True:
            name = f".tmp-{secrets.token_hex(8)}"
            lock = self.root / f"{name}.lock"
            fd = os.open(lock.with_name(lock.name + ".new"), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                os.rename(lock.with_name(lock.name + ".new"), lock)
                break
            except FileNotFoundError:  # a cleaner removed it before we held it: start over
                os.close(fd)
        tmp = self.root / name
        tmp.mkdir()
        try:
            yield tmp
        finally:
            _force_remove(tmp)
            os.unlink(lock)
            os.close(fd)

    def clean_temporaries(self) -> int:
        """Delete temporaries whose builder is gone (their flock is free)."""
        removed = 0
        for path in self.root.glob(".tmp-*"):
            if path.name.endswith((".lock", ".lock.new")):
                lock, tmp = path, self.root / path.name.split(".lock")[0]
            else:
                lock, tmp = self.root / f"{path.name}.lock", path
            try:
                fd = os.open(lock, os.O_RDWR)
            except FileNotFoundError:
                if tmp.is_dir() and not lock.with_name(lock.name + ".new").exists():
                    _force_remove(tmp)  # a directory whose lock is gone: its builder is too
                    removed += 1
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            _force_remove(tmp)
            try:
                os.unlink(lock)
            except FileNotFoundError:
                pass
            os.close(fd)
            removed += 1
        return removed

    def publish(self, out: Path, name: str, meta: dict) -> Path:
        """Hash `out`, write its metadata, make it read-only, fsync, rename into place."""
        digest, size = tree_digest(out)
        meta = dict(meta, output_hash=digest, size=size, name=name)
        (out / META).write_text(json.dumps(meta, sort_keys=True, indent=1))
        _make_read_only(out)
        _fsync_tree(out)
        final = self.root / name
        try:
            os.rename(out, final)
        except OSError:
            if not (final / META).exists():
                raise
        _fsync_dir(self.root)
        self.index.add(final.name, meta)
        return final

    def meta(self, entry: Path) -> dict:
        return json.loads((entry / META).read_text())

    def entries(self) -> list[Path]:
        return sorted(p for p in self.root.iterdir() if not p.name.startswith(".") and (p / META).exists())

    # ------------------------------------------------------------ verify and gc

    def verify(self, repair: bool = False) -> list[str]:
        """Rehash every entry; report (and with repair, evict) those that changed."""
        problems = []
        # Temporaries are not entries: a killed builder's are removed by the next build.
        for entry in self.entries():
            meta = self.meta(entry)
            digest, _ = tree_digest(entry)
            if digest != meta.get("output_hash"):
                problems.append(f"{entry.name}: contents changed since it was built")
                if repair:
                    _force_remove(entry)
                    self.index.remove(entry.name)
        for p in self.root.iterdir():
            if not p.name.startswith(".") and p.is_dir() and p.name not in ("roots", "logs") \
                    and not (p / META).exists():
                problems.append(f"{p.name}: an entry without metadata")
                if repair:
                    _force_remove(p)
        if repair:
            self.index.reindex()
        return problems

    def add_root(self, link: Path) -> None:
        """Register a result link (or any symlink into the store) as a GC root."""
        name = key_of(str(link.absolute()))[:16]
        root = self.root / "roots" / name
        tmp = root.with_suffix(".new")
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(link.absolute())
        os.replace(tmp, root)

    def live(self) -> set[str]:
        """Entry names reachable from the roots, through each entry's recorded dependencies."""
        todo = []
        for r in (self.root / "roots").iterdir():
            try:
                target = Path(os.path.realpath(r))
            except OSError:
                continue
            if target.parent == self.root.resolve() and (target / META).exists():
                todo.append(target.name)
        live: set[str] = set()
        while todo:
            name = todo.pop()
            if name in live or not (self.root / name / META).exists():
                continue
            live.add(name)
            todo.extend(self.meta(self.root / name).get("deps", []))
        return live

    def gc(self, dry_run: bool = False) -> tuple[list[str], int]:
        with self.exclusive():
            self.clean_temporaries()
            live = self.live()
            dead = [e for e in self.entries() if e.name not in live]
            freed = sum(self.meta(e).get("size", 0) for e in dead)
            if not dry_run:
                for e in dead:
                    _force_remove(e)
                    self.index.remove(e.name)
            return [e.name for e in dead], freed


def _make_read_only(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                mode = os.lstat(p).st_mode
                os.chmod(p, mode & ~0o222)
    for dirpath, _, _ in os.walk(root, topdown=False):
        os.chmod(dirpath, 0o555)


def _fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                fd = os.open(p, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _force_remove(path: Path) -> None:
    if not os.path.lexists(path):
        return
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o755)
        os.chmod(dirpath, 0o755)
    shutil.rmtree(path, ignore_errors=True)

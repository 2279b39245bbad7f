"""Layers, computed once per store entry and cached beside the store's entries.

An entry's layer holds what the entry exports, at the paths the environment gives it (`bin/`,
`lib/`, ...: the image's root filesystem is the environment, DESIGN §10). It depends only on
the entry (immutable) and its exports, so it is written once, the first time an image holds
the entry, and every later image reuses it:

  <store>/.layers/<entry>.<exports>.tar.gz    the blob (reproducible: tarball.py)
  <store>/.layers/<entry>.<exports>.json      its digests, its paths, the libraries its ELF files need

Both appear by rename after one syncfs, the blob first: a layer whose json is missing or whose
blob has another size is computed again, so a crash leaves at worst a stray temporary
(`.tmp-*`, removed by a later writer once an hour old). gc removes an entry's layers with the entry.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from jbuild.base.hashing import key_of

from . import elfinfo
from .tarball import Item, write_layer

FORMAT = 1  # bump when a layer's content or its json changes: every layer is recomputed
LAYERS = ".layers"


@dataclass(frozen=True)
class Layer:
    name: str  # the blob's stem under .layers (the entry's name and its exports' hash)
    source: str  # what it holds: an entry's name, or "host:" and the Debian packages
    digest: str  # sha256 of the blob
    diff_id: str  # sha256 of the uncompressed tar
    size: int
    files: tuple[str, ...] = ()  # non-directory paths (two layers may not both hold one)
    dirs: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # sonames its ELF files need (DT_NEEDED)
    interps: tuple[str, ...] = ()  # loaders its programs name (PT_INTERP)
    blob: str = ""  # path of the blob; not in the json

    def to_json(self) -> dict:
        data = asdict(self)
        del data["blob"]
        return {"format": FORMAT, **data}


def layers_dir(store_root: Path) -> Path:
    return Path(store_root) / LAYERS


def entry_layer_name(member) -> str:
    return f"{member.entry}.{_exports_hash(tuple(member.exports))}"


@lru_cache(maxsize=64)
def _exports_hash(exports: tuple[str, ...]) -> str:
    return key_of([FORMAT, list(exports)])[:12]


def cached(store_root: Path, name: str) -> Layer | None:
    """The layer `name` if it is complete in the cache."""
    base = os.path.join(store_root, LAYERS, name)
    try:
        with open(base + ".json", "rb") as f:
            data = json.loads(f.read())
        blob = base + ".tar.gz"
        if data.pop("format") != FORMAT or os.stat(blob).st_size != data["size"]:
            return None
        return Layer(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}, blob=blob)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def entry_layers(store, members: Sequence) -> tuple[list[Layer], int]:
    """One layer per member (its exports laid out at the environment's paths), from the cache
    or computed and cached now; and how many were computed. Call under the store's shared
    lock (no gc meanwhile)."""
    from ..runtime.environment import member_files

    names = [entry_layer_name(m) for m in members]
    out: dict[str, Layer | None] = {}
    todo = []
    for name, m in zip(names, members, strict=True):
        out[name] = cached(store.root, name)
        if out[name] is None:
            todo.append((name, m))
    def one(job) -> Layer:
        name, m = job
        return batch.write(name, m.entry, [Item(rel, src) for rel, src in member_files(store, m).items()])

    with Batch(store.root) as batch:
        if len(todo) > 1:  # zlib and file I/O release the GIL: layers compress in parallel
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
                out.update(zip([name for name, _ in todo], pool.map(one, todo), strict=True))
        elif todo:
            out[todo[0][0]] = one(todo[0])
    return [out[name] for name in names], len(todo)


class Batch:
    """Writes layers into temporaries, then makes them durable with one syncfs and renames
    them into place: hundreds of fsyncs would cost more than the layers themselves."""

    def __init__(self, store_root: Path):
        self.dir = layers_dir(store_root)
        self.pending: list[tuple[str, str]] = []  # (temporary stem, final stem)

    def __enter__(self) -> Batch:
        self._clean_stale()
        return self

    def _clean_stale(self, age: float = 3600) -> None:
        """Temporaries a crashed writer left (an hour old: no live writer takes that long)."""
        import time

        try:
            names = [n for n in os.listdir(self.dir) if n.startswith(".tmp-")]
        except FileNotFoundError:
            return
        for n in names:
            try:
                if os.lstat(self.dir / n).st_mtime < time.time() - age:
                    os.unlink(self.dir / n)
            except FileNotFoundError:
                pass

    def write(self, name: str, source: str, items: Iterable[Item]) -> Layer:
        items = list(items)
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = f".tmp-{secrets.token_hex(6)}-{name}"
        self.pending.append((tmp, name))
        with open(self.dir / f"{tmp}.tar.gz", "wb") as f:
            written = write_layer(items, f)
        needs, interps = elfinfo.scan(i.source for i in items if i.source)
        dirs = [i.path for i in items if _is_dir(i)]
        layer = Layer(name, source, written.digest, written.diff_id, written.size,
                      files=tuple(sorted(i.path for i in items if not _is_dir(i))), dirs=tuple(sorted(dirs)),
                      needs=needs, interps=interps, blob=str(self.dir / f"{name}.tar.gz"))
        os.chmod(self.dir / f"{tmp}.tar.gz", 0o444)  # output directories hard link it: keep it intact
        (self.dir / f"{tmp}.json").write_text(json.dumps(layer.to_json(), sort_keys=True))
        return layer

    def __exit__(self, kind, value, tb) -> None:
        try:
            if kind is None and self.pending:
                _syncfs(self.dir)
                for tmp, final in self.pending:
                    os.replace(self.dir / f"{tmp}.tar.gz", self.dir / f"{final}.tar.gz")
                    os.replace(self.dir / f"{tmp}.json", self.dir / f"{final}.json")
        finally:
            for tmp, _ in self.pending:
                for suffix in (".tar.gz", ".json"):
                    (self.dir / f"{tmp}{suffix}").unlink(missing_ok=True)


def _is_dir(item: Item) -> bool:
    if item.data is not None or item.link is not None:
        return False
    return not item.source or (os.path.isdir(item.source) and not os.path.islink(item.source))



def _syncfs(path: Path) -> None:
    import ctypes

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)

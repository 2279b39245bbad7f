"""An entry's tree as a listing (the manifest stored in the CAS), and its safe re-creation.

The listing is `[path, kind, value]` sorted by path: kind `d` (directory), `f` / `x` (a file,
executable or not; value = its sha256), `l` (a symlink; value = its target). Writing one
back treats it as hostile: paths must be plain relative paths whose parents are listed
directories (so nothing is ever written through a symlink), files are created exclusively
without following links, and every byte is checked against its sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from pathlib import Path

from ..store.entry import META

LISTING_FORMAT = 1


class Rejected(Exception):
    """What the cache returned is not what it claims to be; the message says what."""


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def listing(root: Path) -> list[list[str]]:
    """The listing of an entry (its metadata file left out: the AC record carries that)."""
    items = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in dirnames + filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel == META:
                continue
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                items.append([rel, "l", os.readlink(path)])
            elif stat.S_ISDIR(st.st_mode):
                items.append([rel, "d", ""])
            else:
                items.append([rel, "x" if st.st_mode & 0o111 else "f", sha256_file(path)])
    return sorted(items)


def encode(items: list[list[str]]) -> bytes:
    return json.dumps({"format": LISTING_FORMAT, "items": items}, sort_keys=True).encode()


def decode(data: bytes) -> list[list[str]]:
    try:
        doc = json.loads(data)
        items = doc["items"]
        if doc.get("format") != LISTING_FORMAT or not isinstance(items, list):
            raise ValueError
        for it in items:
            if not (isinstance(it, list) and len(it) == 3 and all(isinstance(x, str) for x in it)):
                raise ValueError
    except (ValueError, KeyError, TypeError):
        raise Rejected("its tree listing is not a jbuild listing") from None
    _check_paths(items)
    return items


def _check_paths(items: list[list[str]]) -> None:
    dirs = {"."}
    for rel, kind, _ in items:
        if kind == "d":
            dirs.add(rel)
    seen = set()
    for rel, kind, value in items:
        parts = rel.split("/")
        if (not rel or rel.startswith("/") or os.path.normpath(rel) != rel or ".." in parts or rel in seen
                or rel == META or kind not in "dfxl" or len(kind) != 1):
            raise Rejected(f"its tree listing holds a bad path {rel!r}")
        if (os.path.dirname(rel) or ".") not in dirs:
            raise Rejected(f"its tree listing puts {rel!r} under something that is not a listed directory")
        if kind in "fx" and not _is_sha256(value):
            raise Rejected(f"its tree listing gives {rel!r} a bad digest")
        seen.add(rel)


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def blobs(items: Iterable[list[str]]) -> set[str]:
    return {value for _, kind, value in items if kind in "fx"}


def write(items: list[list[str]], out: Path, fetch: Callable[[str, int], None], pool: Executor) -> None:
    """Re-create the listed tree under `out` (an empty directory). `fetch(sha256, fd)` writes
    the blob's verified bytes to the open file; files are fetched concurrently on `pool`."""
    for rel, kind, value in items:  # sorted: a directory comes before what it holds
        if kind == "d":
            os.mkdir(out / rel, 0o755)
        elif kind == "l":
            os.symlink(value, out / rel)
    files = [(rel, kind, value) for rel, kind, value in items if kind in "fx"]

    def one(item):
        rel, kind, digest = item
        fd = os.open(out / rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                     0o755 if kind == "x" else 0o644)
        try:
            fetch(digest, fd)
        finally:
            os.close(fd)

    for _ in pool.map(one, files):
        pass

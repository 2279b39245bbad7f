"""Reproducible layer tarballs: the same files give the same bytes on every run and machine.

Entries are sorted, parents come before children, every mtime is 0, every owner 0:0 with no
names, modes are normalised (directories 0755, files 0755 if executable else 0644, links
0777), hard links are written as plain files, and gzip gets mtime 0 and no file name. The
uncompressed stream is hashed for the layer's diff_id and the compressed one for its digest,
both while writing: one pass over the data, nothing read back.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass

# Anything here that changes a layer's bytes must bump layers.FORMAT (cached layers would disagree).
COMPRESSION = 1  # zlib level 1: ~25% faster than the default 6 on these layers, ~15% larger; once per entry


@dataclass(frozen=True)
class Item:
    """One path of a layer: a directory (source ""), a host file or link to copy, or text."""

    path: str  # relative, no leading slash: "bin/geotags"
    source: str = ""  # the file or symlink to copy; "" for a directory (or for `data`)
    data: bytes | None = None  # the content of a generated file
    link: str | None = None  # the target of a generated symlink
    mode: int | None = None  # a generated entry's mode (default: normalised)


@dataclass(frozen=True)
class Written:
    digest: str  # sha256 of the compressed blob, "sha256:..."
    diff_id: str  # sha256 of the uncompressed tar
    size: int  # bytes of the compressed blob


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to `sink`."""

    def __init__(self, sink):
        self.sink, self.hash, self.size = sink, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.hash.update(b)
        self.size += len(b)
        return self.sink.write(b) if self.sink is not None else len(b)


def with_parents(items: Iterable[Item]) -> list[Item]:
    """The items, sorted, with a directory item for every parent not listed."""
    by_path = {i.path: i for i in items}
    for path in list(by_path):
        parts = path.split("/")
        for n in range(1, len(parts)):
            by_path.setdefault("/".join(parts[:n]), Item("/".join(parts[:n])))
    return [by_path[p] for p in sorted(by_path)]


def write_layer(items: Iterable[Item], out) -> Written:
    """Write the gzip-compressed tar of `items` to the binary file `out`."""
    compressed = _Hashing(out)
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=COMPRESSION) as gz:
        plain = _Hashing(gz)
        write_tar(items, plain)
    return Written("sha256:" + compressed.hash.hexdigest(), "sha256:" + plain.hash.hexdigest(), compressed.size)


def write_tar(items: Iterable[Item], out) -> None:
    """An uncompressed reproducible tar of `items` (parents added) on the stream `out`."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for item in with_parents(items):
            info, data, path = _entry(item)
            if path:
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info, io.BytesIO(data) if data is not None else None)


def _entry(item: Item) -> tuple[tarfile.TarInfo, bytes | None, str]:
    """The header of `item`, and its content: bytes, or the path of the file to copy."""
    info = tarfile.TarInfo(item.path)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    if item.link is not None:
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, item.link, 0o777
        return info, None, ""
    if item.data is not None:
        info.size, info.mode = len(item.data), item.mode or 0o644
        return info, item.data, ""
    if not item.source:
        info.type, info.mode = tarfile.DIRTYPE, item.mode or 0o755
        return info, None, ""
    st = os.lstat(item.source)
    if stat.S_ISLNK(st.st_mode):
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, os.readlink(item.source), 0o777
        return info, None, ""
    if stat.S_ISDIR(st.st_mode):
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        return info, None, ""
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{item.source}: not a file, a directory or a symlink")
    info.size, info.mode = st.st_size, 0o755 if st.st_mode & 0o111 else 0o644
    return info, None, item.source

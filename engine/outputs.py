"""Checking a build's output before it is published (DESIGN §9: outputs are relocatable).

A build runs with its output at the fixed path /out; its entry is later mounted elsewhere
(/deps/<name>, an environment, another machine). So an output must not depend on where
anything was: no host path of the store, workspace or temporary directory in any file's
bytes or link target, and no symlink that leaves the entry. Real `make install` leaves
absolute links into /out (`bin/bzegrep -> /out/bin/bzgrep`); those are rewritten to the
equivalent relative link, anything else that leaves the entry is refused.

Outputs are hostile input: a FIFO is never opened (that would hang), nothing is followed
through a symlink (lstat everywhere), and files are streamed in chunks, skipping the holes of
sparse files, so a 64 GB sparse file costs nothing and a huge file never sits in memory.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

SANDBOX_OUT = "/out"  # where the sandbox mounts the output (engine/sandbox.py)
CHUNK = 1 << 20
PATTERN_SPAN = 64  # the longest text a pattern of `check_output` matches
MAX_HOPS = 40  # the kernel's own limit on symlinks followed in one lookup (ELOOP)

_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device"}


class OutputError(Exception):
    """The output is unacceptable; the message names the file relative to the output root."""


class OutputCancelled(Exception):
    """The check was cancelled (the build is being interrupted)."""


def check_output(out: Path, host_paths: list[str | re.Pattern], cancelled: Callable[[], bool] = lambda: False) -> list[str]:
    """Refuse an unacceptable output; rewrite absolute links into /out and the install prefix of
    pkg-config and libtool files (relocate.py); return notes of rewrites. A host path may be a
    pattern of bytes (sandbox_landlock.SANDBOX_PATHS: what a resolved /deps/<name> looks like)."""
    from .relocate import relocate

    out = Path(out)
    if not stat.S_ISDIR(os.lstat(out).st_mode):
        raise OutputError(f"{out} is not a directory")
    relocated = relocate(out, [SANDBOX_OUT, str(out), os.path.join(_real_dir(str(out.parent)), out.name)])
    texts = {os.fsencode(p.rstrip("/")) for p in host_paths if isinstance(p, str) and p.rstrip("/")}
    needles = [*sorted(texts, key=len), *(p for p in host_paths if isinstance(p, re.Pattern))]
    links: list[str] = []
    for rel, st in _walk(out):
        if cancelled():
            raise OutputCancelled()
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFLNK:
            links.append(rel)
            _scan_bytes(rel, os.readlink(out / rel).encode(), needles)
        elif kind == stat.S_IFREG:
            _scan_file(out, rel, needles, cancelled)
        elif kind != stat.S_IFDIR:
            what = _KINDS.get(kind, f"a special file (mode {kind:o})")
            raise OutputError(f"{rel} is {what}; an output may hold only regular files, directories and symlinks")
    for rel in links:
        _check_link(out, rel)
    return relocated + [note for rel in links if (note := _relativise(out, rel))]


@lru_cache(maxsize=16)
def _real_dir(path: str) -> str:
    """The store's real path, resolved once (a stat per component per action otherwise): the
    temporary `out` is made by jbuild in it, and is no symlink itself."""
    return os.path.realpath(path)


def _walk(root: Path, rel: str = "") -> Iterator[tuple[str, os.stat_result]]:
    """(path relative to root, lstat) of everything under root, never through a symlink."""
    try:
        entries = sorted(os.scandir(root / rel) if rel else os.scandir(root), key=lambda e: e.name)
    except OSError as e:
        raise OutputError(f"{rel or '.'}: cannot be listed ({e.strerror})") from None
    for entry in entries:
        path = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        yield path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, path)


def _scan_bytes(rel: str, data: bytes, needles: list[bytes]) -> None:
    for needle in needles:
        if isinstance(needle, re.Pattern):
            if found := needle.search(data):
                raise OutputError(f"{rel} contains {found.group().decode(errors='replace')}..., a dependency's path "
                                  "as the sandbox resolves it (realpath of /deps/NAME); name /deps/NAME or /env")
        elif needle in data:
            raise OutputError(f"{rel} contains the host path {needle.decode(errors='replace')}; "
                              "outputs must be relocatable")


def _scan_file(out: Path, rel: str, needles: list[bytes], cancelled: Callable[[], bool]) -> None:
    """Stream the data segments of one file; a needle cut by a chunk boundary is still seen."""
    if not needles:
        return
    overlap = max(len(n) if isinstance(n, bytes) else PATTERN_SPAN for n in needles) - 1
    try:
        fd = os.open(out / rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise OutputError(f"{rel}: cannot be read ({e.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the walk
            raise OutputError(f"{rel} is not a regular file")
        for start, end in _data_segments(fd):
            tail = b""
            pos = start
            while pos < end:
                if cancelled():
                    raise OutputCancelled()
                chunk = os.pread(fd, min(CHUNK, end - pos), pos)
                if not chunk:
                    break
                _scan_bytes(rel, tail + chunk, needles)
                tail = chunk[-overlap:] if overlap else b""
                pos += len(chunk)
    finally:
        os.close(fd)


def _data_segments(fd: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each stretch of data; holes read as zeros, and no path holds a NUL byte."""
    size = os.fstat(fd).st_size
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:  # only a hole remains
                return
            if e.errno == errno.EINVAL:  # the filesystem cannot say: all of it is data
                yield pos, size
                return
            raise
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, end
        pos = end


def _check_link(out: Path, rel: str) -> None:
    """Refuse a link whose target, followed as the kernel would, leaves the entry."""
    parent = rel.split("/")[:-1]
    reason = _escapes(out, parent, os.readlink(out / rel))
    if reason:
        raise OutputError(f"{rel} -> {os.readlink(out / rel)} {reason}; an output's symlinks must stay inside it")


def _escapes(out: Path, stack: list[str], target: str) -> str | None:
    """Why resolving `target` from the directory `stack` (inside out) leaves out, or None.

    Symlinks met on the way are followed (confined to out): `t -> s/../x` with `s -> .`
    leaves the entry although it looks inside.
    """
    stack = list(stack)
    todo = _start(target, stack)
    if todo is None:
        return "points outside the entry"
    hops = 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return "climbs out of the entry"
            stack.pop()
            continue
        stack.append(part)
        try:
            st = os.lstat(out.joinpath(*stack))
        except OSError:
            continue  # missing (dangling) or under a file: the rest is lexical
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > MAX_HOPS:
                return "is a symlink loop"
            stack.pop()
            more = _start(os.readlink(out.joinpath(*stack, part)), stack)
            if more is None:
                return f"goes through {'/'.join(stack + [part])}, which points outside the entry"
            todo = more + todo
    return None


def _start(target: str, stack: list[str]) -> list[str] | None:
    """The components to resolve; an absolute target inside /out restarts at the root (stack cleared)."""
    if not target.startswith("/"):
        return target.split("/")
    if target != SANDBOX_OUT and not target.startswith(SANDBOX_OUT + "/"):
        return None
    stack.clear()
    return target[len(SANDBOX_OUT):].split("/")


def _relativise(out: Path, rel: str) -> str | None:
    """Rewrite an absolute link into /out as the equivalent relative link (already checked)."""
    target = os.readlink(out / rel)
    if not target.startswith("/"):
        return None
    inside = target[len(SANDBOX_OUT):].strip("/")
    parent = os.path.dirname(rel)
    if ".." in inside.split("/"):  # keep the kernel's meaning: no lexical folding through a link
        new = "/".join([".."] * len(parent.split("/")) + [inside]) if parent else inside or "."
    else:
        new = os.path.relpath("/" + inside, "/" + parent)
    if target.endswith("/") and not new.endswith("/"):
        new += "/"
    tmp = out / f"{rel}.jbuild-relink"
    os.symlink(new, tmp)
    os.replace(tmp, out / rel)
    return f"{rel}: symlink {target} rewritten to {new}"

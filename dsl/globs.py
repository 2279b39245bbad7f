"""Glob patterns over a package's files: `*` within a name, `**` across directories.

A glob never crosses into a sub-package (a directory with its own BUILD file), as in Bazel.
"""

from __future__ import annotations

import os
import re
from collections import namedtuple
from functools import lru_cache

BUILD_FILE = "BUILD"


@lru_cache(maxsize=4096)
def compile_glob(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


DirState = tuple[int, str, str]  # (mtime_ns, digest of what is watched, what is watched)
GLOB, TREE = "glob", "tree"  # a glob sees every name; a pattern walk sees sub-directories and BUILD


def _relevant(entries, root: str) -> list:
    """What a glob can see in one directory: no hidden names, no symlinks that leave the
    workspace (a `result` link into the store is jbuild's output, not a source)."""
    out = []
    parents: dict[str, str] = {}  # a directory the links point into -> its realpath
    for e in entries:
        if e.name.startswith("."):
            continue
        if e.is_symlink():
            target = _resolved(e.path, parents)
            if target != root and not target.startswith(root + os.sep):
                continue
        out.append(e)
    return out


def _resolved(link: str, parents: dict[str, str]) -> str:
    """os.path.realpath(link), with the directory its target names resolved once per listing:
    a workspace root holding 10,000 `result-N` links into one store resolves the store's path
    once, then each link's last component by one lstat (realpath composes so)."""
    try:
        target = os.path.join(os.path.dirname(link), os.readlink(link))
    except OSError:
        return os.path.realpath(link)
    head, tail = os.path.split(target)
    if tail in ("", ".", "..") or not os.path.isabs(head):
        return os.path.realpath(link)
    parent = parents.get(head)
    if parent is None:
        parent = parents[head] = os.path.realpath(head)
    last = os.path.join(parent, tail)
    return os.path.realpath(last) if os.path.islink(last) else last


def escapes(path: str, root: str) -> str | None:
    """Where `path` really points if it is (or passes through) a symlink out of `root`."""
    if "\0" in path:
        return None  # no file can have that name: reported as missing
    target = os.path.realpath(path)
    if target == root or target.startswith(root + os.sep) or not os.path.lexists(path):
        return None
    real_root = os.path.realpath(root)
    return None if target == real_root or target.startswith(real_root + os.sep) else target


def _digest(entries, watched: str = GLOB) -> str:
    import xxhash

    names = sorted(("d:" if e.is_dir(follow_symlinks=False) else "f:") + e.name for e in entries
                   if watched == GLOB or e.name == BUILD_FILE or e.is_dir(follow_symlinks=False))
    return xxhash.xxh3_64_hexdigest("\0".join(names).encode("utf-8", "surrogateescape"))


def dir_state(path: str, root: str, watched: str = GLOB) -> DirState:
    mtime = os.stat(path).st_mtime_ns
    return mtime, _digest(_relevant(os.scandir(path), root), watched), watched


def dir_unchanged(path: str, recorded: DirState, root: str, since_ns: int, relisted=None) -> bool:
    """What a directory shows to a glob (or a pattern walk) is as recorded. An equal mtime
    older than `since_ns` (by the racy margin) proves it by one stat; otherwise the listing is
    read and compared. `relisted(state, taken_at)`, if given, is told the directory's new state
    when a listing proved it unchanged though its stat could not (a `result` link made again in
    it): recorded, it lets the next check be one stat again."""
    import time

    from jbuild.base.freshness import RACY_MARGIN_NS

    mtime_then, digest, watched = recorded
    try:
        taken_at = time.time_ns()
        mtime = os.stat(path).st_mtime_ns
        if mtime == mtime_then and mtime < since_ns - RACY_MARGIN_NS:
            return True
        if _digest(_relevant(os.scandir(path), root), watched) != digest:
            return False
    except OSError:
        return False
    if relisted is not None:
        relisted((mtime, digest, watched), taken_at)
    return True


# A directory below a package that could not be listed: `rel` to the package, and the `reason`
# (e.g. "Permission denied"). (namedtuple, not typing's: `typing` is kept off the no-op path.)
Unreadable = namedtuple("Unreadable", "rel reason")


def walk_package(pkg_dir: str, root: str, unreadable: list[Unreadable] | None = None
                 ) -> tuple[list[str], dict[str, DirState]]:
    """All files below `pkg_dir` (relative, sorted) that a glob may match, and the state of
    every directory walked. `root` is the workspace (or repository) root. A directory that
    cannot be listed (not one removed meanwhile) is added to `unreadable`: a glob that may
    reach into it cannot be answered (`reaches`), as in Bazel."""
    files: list[str] = []
    dirs: dict[str, DirState] = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        full = os.path.join(pkg_dir, rel) if rel else pkg_dir
        try:
            mtime = os.stat(full).st_mtime_ns
            entries = _relevant(os.scandir(full), root)
        except FileNotFoundError:
            continue
        except OSError as e:
            if unreadable is not None:
                unreadable.append(Unreadable(rel, e.strerror or str(e)))
            continue
        dirs[rel] = (mtime, _digest(entries), GLOB)
        for e in entries:
            path = f"{rel}/{e.name}" if rel else e.name
            if e.is_dir(follow_symlinks=False):
                if not os.path.exists(os.path.join(e.path, BUILD_FILE)):
                    stack.append(path)
            elif rel or e.name != BUILD_FILE:
                files.append(path)
    files.sort()
    return files, dirs


def reaches(pattern: str, rel_dir: str) -> bool:
    """Whether the glob `pattern` may match a file below the directory `rel_dir` (both relative
    to the package): `src/*.c` reaches `src`, `**/*.h` every directory, `*.c` none."""
    if not rel_dir:
        return True
    parts = pattern.split("/")
    for i, name in enumerate(rel_dir.split("/")):
        if i >= len(parts):
            return False
        if "**" in parts[i]:
            return True
        if i == len(parts) - 1 or not compile_glob(parts[i]).match(name):
            return False
    return True


def match(files: list[str], include: tuple[str, ...], exclude: tuple[str, ...]) -> list[str]:
    inc = [compile_glob(p) for p in include]
    exc = [compile_glob(p) for p in exclude]
    return [f for f in files if any(r.match(f) for r in inc) and not any(r.match(f) for r in exc)]

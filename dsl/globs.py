"""Glob patterns over a package's files: `*` within a name, `**` across directories.

A glob never crosses into a sub-package (a directory with its own BUILD file), as in Bazel.
"""

from __future__ import annotations

import os
import re
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


def walk_package(pkg_dir: str) -> tuple[list[str], dict[str, int]]:
    """All files below `pkg_dir` (relative, sorted) and the mtime_ns of every directory walked."""
    files: list[str] = []
    dirs: dict[str, int] = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        full = os.path.join(pkg_dir, rel) if rel else pkg_dir
        try:
            dirs[rel] = os.stat(full).st_mtime_ns
            entries = list(os.scandir(full))
        except OSError:
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            path = f"{rel}/{e.name}" if rel else e.name
            if e.is_dir(follow_symlinks=False):
                if not os.path.exists(os.path.join(e.path, BUILD_FILE)):
                    stack.append(path)
            elif rel or e.name != BUILD_FILE:
                files.append(path)
    files.sort()
    return files, dirs


def match(files: list[str], include: tuple[str, ...], exclude: tuple[str, ...]) -> list[str]:
    inc = [compile_glob(p) for p in include]
    exc = [compile_glob(p) for p in exclude]
    return [f for f in files if any(r.match(f) for r in inc) and not any(r.match(f) for r in exc)]

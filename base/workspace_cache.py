"""Where a workspace's caches live (its kept analysis, parses, stats, build servers): its own
`.jbuild/cache`, or — where that cannot be written (a read-only checkout or mount, `chmod -R
a-w .jbuild`) — a directory of the user's named after the workspace's path, as Bazel keeps its
output base under ~/.cache/bazel. The caches only save work: a build of a read-only workspace
still builds, into the store, at the speed of a writable one.

Imported by the thin client of the build server (jbuild/server_identity.py) before anything
else: builtin modules only."""

from __future__ import annotations

import os


def user_cache_root() -> str:
    """$XDG_CACHE_HOME/jbuild, else ~/.cache/jbuild (a relative value is ignored, as the XDG
    spec says: it would move the store with the current directory)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.expanduser("~/.cache")
    return os.path.join(base, "jbuild")


def inside(root: str | os.PathLike) -> str:
    return os.path.join(root, ".jbuild", "cache")


def elsewhere(root: str | os.PathLike) -> str:
    """The user's cache directory for the workspace at `root`: its name and a digest of its
    path (two checkouts of one name are two workspaces)."""
    from _blake2 import blake2b

    root = os.fspath(root)
    digest = blake2b(os.fsencode(root), digest_size=8).hexdigest()
    return os.path.join(user_cache_root(), "workspaces", f"{os.path.basename(root)}-{digest}")


def cache_dir(root: str | os.PathLike) -> str | None:
    """The workspace's `.jbuild/cache` if it can be written (or made), else `elsewhere(root)`
    (made, mode 0700), else None: nowhere to keep a cache. One access(2) in the usual case."""
    here = inside(root)
    for d in (here, os.path.dirname(here), os.fspath(root)):  # (the first that exists decides)
        if os.access(d, os.F_OK):
            if os.access(d, os.W_OK | os.X_OK):
                return here
            break
    there = elsewhere(root)
    try:
        os.makedirs(there, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return there if os.access(there, os.W_OK | os.X_OK) else None

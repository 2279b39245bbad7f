"""What `jbuild gc` keeps of the download cache (`<store>/.downloads`, downloads.py and git.py).

A fetched archive (`sha256/HEX`) or git cache (`git/<hash of url>.git`) is kept while
- a store entry gc keeps names it in its key (its sources' `sha256:HEX` or `git:COMMIT`): that
  entry can then be rebuilt offline (after `store verify --repair` evicted it, say); or
- it was used in the last `unused_for` seconds: each fetch and each reuse refreshes its mtime,
  so what `jbuild fetch` brought in for an offline build, or what a build not kept by any root
  used, stays for a while (`jbuild gc --unused-for DAYS`, default 7).
Anything else is deleted, each under its own flock, so a download of the same file in progress
keeps it. Partial downloads are already removed by the next download; the empty lock files stay
(deleting a lock file another process may hold would let two writers in).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path


def needed(metas: Iterable) -> tuple[set[str], set[str]]:
    """(archive sha256s, git commits) that the key inputs of `metas` name."""
    hashes, commits = set(), set()
    for meta in metas:
        for digest in (meta.inputs or {}).get("sources", {}).values():
            word = str(digest).split(" ", 1)[0]
            if word.startswith("sha256:"):
                hashes.add(word.removeprefix("sha256:"))
            elif word.startswith("git:"):
                commits.add(word.removeprefix("git:"))
    return hashes, commits


def sweep(root: Path, metas: Iterable, cutoff: float, dry_run: bool) -> list[tuple[str, int]]:
    """Delete what the policy above does not keep; (path relative to the store, bytes) of each."""
    hashes, commits = needed(metas)
    out = []
    for path in sorted((root / "sha256").glob("*")):
        if path.name in hashes or _used_since(path, cutoff):
            continue
        size = _size(path)
        if dry_run or _delete(path, root / "locks" / path.name):
            out.append((f"{root.name}/sha256/{path.name}", size))
    for repo in sorted((root / "git").glob("*.git")):
        if _used_since(repo, cutoff) or _holds_any(repo, commits):
            continue
        size = _size(repo)
        if dry_run or _delete(repo, repo.with_name(repo.name + ".lock")):
            out.append((f"{root.name}/git/{repo.name}", size))
    for stray in (root / "git").glob(".trash-*"):  # a sweep killed between rename and removal
        shutil.rmtree(stray, ignore_errors=True)
    return out


def touch(path: Path) -> None:
    """Mark a cached download as used now (best effort: another user's file keeps its time)."""
    try:
        os.utime(path)
    except OSError:
        pass


def _used_since(path: Path, cutoff: float) -> bool:
    try:
        return os.lstat(path).st_mtime >= cutoff
    except FileNotFoundError:
        return True  # gone meanwhile: nothing to delete


def _holds_any(repo: Path, commits: set[str]) -> bool:
    from .git import GIT, _env

    if not commits or shutil.which("git") is None:
        return bool(commits)  # without git, keep a cache a kept entry may need
    r = subprocess.run([*GIT, "--git-dir", str(repo), "cat-file", "--batch-check"], input="".join(
        f"{c}\n" for c in sorted(commits)), capture_output=True, text=True, env=_env())
    return any(line.split(" ")[1:2] == ["commit"] for line in r.stdout.splitlines())


def _delete(path: Path, lock: Path) -> bool:
    """Delete `path` unless its lock is held (a download or export of it is under way)."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        fd = None
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if path.is_dir():
            trash = path.with_name(f".trash-{path.name}")
            os.rename(path, trash)  # a crash leaves a .trash- directory, never half a repository
            shutil.rmtree(trash, ignore_errors=True)
        else:
            path.unlink()
        return True
    except (BlockingIOError, FileNotFoundError):
        return False
    finally:
        if fd is not None:
            os.close(fd)


def _size(path: Path) -> int:
    if not path.is_dir():
        return path.stat().st_size
    return sum(os.lstat(os.path.join(d, f)).st_size for d, _, files in os.walk(path) for f in files)

"""git(url = ..., commit = ...): one commit, exported into $SRC through a bare cache per URL.

`<store>/.downloads/git/<hash of url>.git` is a bare repository; a commit it lacks is fetched
(all refs first: that works over every transport, the dumb HTTP one included; then the commit
itself, which servers that allow it answer), and `git archive` exports it. Only the commit id
enters the key. Under --offline, a commit that is not cached already is an error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from jbuild.base.hashing import key_of
from jbuild.base.locks import flock

from . import FetchError
from .sweep import touch
from .unpack import unpack

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}
# The cache may belong to another user of a group-shared store: git's ownership check would refuse it.
GIT = ["git", "-c", "safe.directory=*"]


def export(root: Path, url: str, commit: str, dest: Path, offline: bool) -> None:
    """Write the tree of `commit` of `url` into `dest`."""
    repo = ensure(root, url, commit, offline)
    with flock(root / "git" / f"{repo.name}.lock"), tempfile.TemporaryDirectory(dir=root / "git") as tmp:
        tar = Path(tmp) / "export.tar"
        _git(["--git-dir", str(repo), "archive", "--format=tar", "-o", str(tar), commit], url)
        unpack(tar, dest, 0, f"git {url} {commit[:12]}")


def ensure(root: Path, url: str, commit: str, offline: bool) -> Path:
    """The bare cache of `url`, holding `commit` (fetched if it did not)."""
    if shutil.which("git") is None:
        raise FetchError(f"git {url}: this package has a git source, but git is not installed (apt-get install git)")
    repo = root / "git" / f"{key_of(url)[:24]}.git"
    repo.parent.mkdir(parents=True, exist_ok=True)
    with flock(root / "git" / f"{repo.name}.lock"):
        if not (repo / "HEAD").exists():
            _git(["init", "--bare", "--quiet", str(repo)], url)
        if not _has(repo, commit):
            if offline and not (url.startswith("/") or url.startswith("file://")):  # a local one is no network
                raise FetchError(f"git {url}: commit {commit} is not in the cache ({repo}), and --offline "
                                 "forbids fetching it; build once without --offline")
            _fetch(repo, url, commit)
    touch(repo)  # used now: gc keeps what was used lately (sweep.py)
    return repo


def _has(repo: Path, commit: str) -> bool:
    r = subprocess.run([*GIT, "--git-dir", str(repo), "cat-file", "-e", f"{commit}^{{commit}}"],
                       capture_output=True, env=_env())
    return r.returncode == 0


def _fetch(repo: Path, url: str, commit: str) -> None:
    source = url if "://" in url else os.path.abspath(url)
    attempts = [["fetch", "--quiet", "--no-tags", source, "+refs/heads/*:refs/jbuild/heads/*",
                 "+refs/tags/*:refs/jbuild/tags/*"],
                ["fetch", "--quiet", "--no-tags", source, f"+{commit}:refs/jbuild/commits/{commit}"]]
    errors = []
    for args in attempts:
        r = subprocess.run([*GIT, "--git-dir", str(repo), *args], capture_output=True, text=True, env=_env(),
                           timeout=600)
        if r.returncode != 0:
            errors.append(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}")
        if _has(repo, commit):
            return
    detail = errors[0] if errors else "the repository has no such commit"
    raise FetchError(f"git {url}: cannot fetch commit {commit}: {detail}")


def _git(args: list[str], url: str) -> None:
    r = subprocess.run([*GIT, *args], capture_output=True, text=True, env=_env())
    if r.returncode != 0:
        raise FetchError(f"git {url}: git {args[0] if args[0] != '--git-dir' else args[2]} failed: "
                         f"{r.stderr.strip() or r.returncode}")


def _env() -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"), **GIT_ENV}
    return env

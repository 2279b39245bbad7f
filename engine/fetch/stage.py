"""Fill an action's $SRC: fetched sources unpacked, declared files staged over them, patches
applied. Called by the rebuilder only when the action really builds, so a store hit needs no
network; the key was computed from the declared hashes (digest.py) without any of this."""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jbuild.dsl.model import Archive

from .patches import apply_all


def needs_staging(target) -> bool:
    """Does this target's $SRC need more than its declared files copied?"""
    return bool(getattr(target.sources, "fetched", ())) or bool(getattr(target, "patches", ()))


@dataclass
class Fetcher:
    root: Path  # the download cache: <store>/.downloads
    mirrors: tuple[str, ...] = ()
    offline: bool = False
    say: Callable[[str], None] = lambda text: print(text, file=sys.stderr)
    cancelled: Callable[[], bool] = lambda: False  # an interrupt: stop a download between chunks
    live: Callable[[str], None] | None = None  # a terminal's status line: progress shown in place
    _shown: dict = field(default_factory=dict)

    def stage(self, target, base: Path, dest: Path, copy_files: Callable) -> None:
        """$SRC of `target` in `dest`: each fetched source in order, then its declared files
        (a declared file replaces an archive's), then its patches in order."""
        from . import git  # (fetched sources only: a local package's edit needs neither)
        from .unpack import unpack

        dest.mkdir(exist_ok=True)
        for source in target.sources.fetched:
            if isinstance(source, Archive):
                path = self.archive(source.url, source.sha256)
                unpack(path, dest, source.strip, _name(source.url))
            else:
                git.export(self.root, source.url, source.commit, dest, self.offline)
        if target.sources.fetched:
            _writable(dest)
        patches = target.patches.paths if getattr(target, "patches", None) else ()
        local = [f for f in target.files if f not in patches]  # patches are not in $SRC
        for rel in local:  # a declared file replaces the archive's (which may be read-only)
            if (dest / rel).is_symlink() or (dest / rel).is_file():
                (dest / rel).unlink()
        copy_files(base, local, dest)
        if patches:
            apply_all(dest, base, patches, target.patch_strip)

    def archive(self, url: str, sha256: str) -> Path:
        """The verified archive in the download cache, fetched if needed."""
        from .downloads import DownloadCache

        cache = DownloadCache(self.root, self.mirrors, self.offline, self._progress, self.cancelled)
        start = time.monotonic()
        path = cache.ensure(url, sha256)
        if cache.came_from:
            size = path.stat().st_size
            self.say(f"fetched {_name(url)} ({_size(size)}) from {cache.came_from} "
                     f"in {time.monotonic() - start:.1f}s")
        return path

    def _progress(self, name: str, done: int, total: int | None) -> None:
        """A large download (> 4 MB) is seen moving: on a terminal in the status line, in place;
        elsewhere one line per quarter."""
        if not total or total < 4 << 20:
            return
        if self.live is not None:
            now = time.monotonic()
            if done >= total or now - self._shown.get(name, 0.0) >= 0.2:
                self._shown[name] = now
                self.live("" if done >= total else f"fetching {name}: {_size(done)} of {_size(total)}")
            return
        quarter = done * 4 // total
        if quarter > self._shown.get(name, 0) and quarter < 4:
            self._shown[name] = quarter
            self.say(f"fetching {name}: {_size(done)} of {_size(total)} ({quarter * 25}%)")


def _writable(root: Path) -> None:
    """Let staging and patch write where an archive's modes would not (a 0555 directory, a
    0444 file): the sandbox mounts $SRC read-only anyway."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if not stat.S_ISLNK(mode) and not mode & stat.S_IWUSR:
                os.chmod(path, stat.S_IMODE(mode) | stat.S_IWUSR)


def _name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"

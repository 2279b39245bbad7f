"""The download cache: each archive once, by its sha256, verified before it is kept.

Layout (under the store, so tests and users with several stores stay apart):
  <store>/.downloads/sha256/<hex>      verified archives, read-only
  <store>/.downloads/partial/<hex>.*   downloads in progress, each flocked by its writer
  <store>/.downloads/locks/<hex>       one flock per hash: two builds never download it twice
A download is written to a partial file, hashed while it streams, fsynced and renamed into
place only if its hash is the declared one; a kill leaves a partial file, which the next
download removes once nobody holds its lock. Nothing else is ever written under sha256/.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from jbuild.base.locks import flock

from . import FetchError
from .sweep import touch

CHUNK = 1 << 16
TIMEOUT = 30  # seconds without a byte before a download is given up
STALE = 5.0  # seconds: an unlocked partial file older than this is a killed download's
Progress = Callable[[str, int, int | None], None]  # (name, bytes so far, total or None)


@dataclass
class Origin:
    """One place an archive may come from: a mirror's candidate or the recipe's own URL."""

    where: str  # a URL or a local path
    label: str  # how messages name it


@dataclass
class DownloadCache:
    root: Path
    mirrors: tuple[str, ...] = ()  # local directories (absolute) or URL bases
    offline: bool = False
    progress: Progress | None = None
    cancelled: Callable[[], bool] = lambda: False
    tried: list[str] = field(default_factory=list)
    came_from: str = ""  # the origin's label, once fetched: "mirror DIR" or the URL

    def path(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256

    def ensure(self, url: str, sha256: str) -> Path:
        """The verified archive with this hash: from the cache, a mirror, or `url`."""
        final = self.path(sha256)
        if final.is_file():
            touch(final)  # used now: gc keeps what was used lately (sweep.py)
            return final
        for sub in ("sha256", "partial", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        with flock(self.root / "locks" / sha256):
            if final.is_file():  # another build fetched it meanwhile
                return final
            self._clean_partials()
            errors = []
            name = os.path.basename(urlsplit(url).path) or sha256
            for origin in self.origins(url, sha256):
                try:
                    self._fetch(origin, sha256, final, name)
                    self.came_from = origin.label
                    return final
                except FetchInterrupted:
                    raise
                except (_Missing, FetchError) as exc:  # a wrong file at a mirror: try the next
                    errors.append(str(exc))
        raise FetchError(self._not_found(url, sha256, errors))

    def origins(self, url: str, sha256: str) -> list[Origin]:
        """Mirrors first (by hash, then by file name), then the URL itself unless offline."""
        parts = urlsplit(url)
        name = os.path.basename(parts.path) or sha256
        wanted = [f"sha256/{sha256}", name]
        if parts.scheme == "mirror":  # mirror://NAME/PATH: also PATH under each mirror
            wanted.append(parts.path.lstrip("/"))
        out = [Origin(_join(m, w), f"mirror {m}") for m in self.mirrors for w in dict.fromkeys(wanted)]
        if (not self.offline or parts.scheme == "file" or url.startswith("/")) and parts.scheme != "mirror":
            out.append(Origin(url, url))
        return out

    def _fetch(self, origin: Origin, sha256: str, final: Path, name: str) -> None:
        fd, partial = _partial(self.root / "partial", sha256)
        try:
            with os.fdopen(fd, "wb") as out:
                got = self._copy(origin, out, name)
                out.flush()
                os.fsync(out.fileno())
            if got != sha256:
                raise FetchError(f"{origin.where}: sha256 mismatch: the recipe says {sha256}, the download "
                                 f"has {got}; nothing was kept (fix the recipe's sha256 if the new file is right)")
            os.chmod(partial, 0o444)
            os.rename(partial, final)
            _fsync_dir(final.parent)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)

    def _copy(self, origin: Origin, out, name: str) -> str:
        """Stream `origin` into `out`; its sha256. A missing file is `_Missing` (try the next)."""
        digest = hashlib.sha256()
        with _open(origin) as (stream, total):
            self.tried.append(origin.where)
            done = 0
            if self.progress:
                self.progress(name, 0, total)
            try:
                while chunk := stream.read(CHUNK):
                    if self.cancelled():
                        raise FetchInterrupted(f"{name}: the download was interrupted")
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if self.progress:
                        self.progress(name, done, total)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                raise _Missing(f"{origin.label}: {origin.where}: interrupted after {done} bytes: {exc}") from None
        return digest.hexdigest()

    def _clean_partials(self) -> None:
        """Remove downloads a killed jbuild left behind: partial files nobody holds a lock on."""
        for p in (self.root / "partial").iterdir():
            try:
                fd = os.open(p, os.O_RDONLY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if time.time() - os.fstat(fd).st_mtime > STALE:  # not one being created right now
                    os.unlink(p)
            except (BlockingIOError, FileNotFoundError):
                pass
            finally:
                os.close(fd)

    def _not_found(self, url: str, sha256: str, errors: list[str]) -> str:
        mismatches = [e for e in errors if "sha256 mismatch" in e]
        if mismatches:
            return "; ".join(mismatches)
        lines = [f"cannot fetch {url} (sha256 {sha256})"]
        if self.mirrors:
            lines.append("mirrors tried: " + ", ".join(self.mirrors) + f" (by sha256/{sha256[:12]}… and by name)")
        else:
            lines.append("no mirrors configured ([fetch] mirrors in jbuild.toml)")
        if urlsplit(url).scheme == "mirror":
            lines.append("a mirror:// URL is found only in a mirror: add a directory holding the file to "
                         "[fetch] mirrors (dev/fetch-mirror.sh fills one)")
        elif self.offline:
            lines.append("--offline forbids the network: put the file in a mirror directory, or build once without --offline")
        else:
            lines += [e for e in errors if not e.startswith("mirror ")][-1:]
        return "\n  ".join(lines)


class FetchInterrupted(FetchError):
    """Ctrl-C or SIGTERM while downloading: the partial file is removed, nothing is kept."""


class _Missing(Exception):
    """Not at this origin (a 404, no such file, a refused connection): try the next one."""


class _open:
    """A readable stream and its length (or None) for a local path or a URL."""

    def __init__(self, origin: Origin):
        self.origin = origin
        self.handle = None

    def __enter__(self):
        where = self.origin.where
        try:
            if _scheme(where) in ("http", "https", "file"):
                from urllib.request import urlopen  # http.client, ssl, email: for a download, not every build

                self.handle = urlopen(where, timeout=TIMEOUT)  # noqa: S310 (schemes checked)
                length = self.handle.headers.get("Content-Length") if hasattr(self.handle, "headers") else None
                return self.handle, int(length) if length and length.isdigit() else None
            self.handle = open(where, "rb")
            return self.handle, os.fstat(self.handle.fileno()).st_size
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            where = where if self.origin.label == where else f"{self.origin.label}: {where}"
            raise _Missing(f"{where}: {reason}") from None

    def __exit__(self, *exc):
        if self.handle is not None:
            self.handle.close()


def _scheme(text: str) -> str:
    try:
        return urlsplit(text).scheme
    except ValueError:
        return ""


def _join(mirror: str, rel: str) -> str:
    if _scheme(mirror) in ("http", "https", "file"):
        return mirror.rstrip("/") + "/" + rel
    return os.path.join(mirror, rel)


def _partial(directory: Path, sha256: str) -> tuple[int, str]:
    """A new partial file, flocked by us for as long as the fd is open."""
    import secrets

    path = str(directory / f"{sha256}.{secrets.token_hex(6)}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd, path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


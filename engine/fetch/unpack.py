"""Unpack an archive into $SRC safely: tar (gz, bz2, xz, plain) and zip, by content.

Tar members pass Python's `data` filter (3.11.4+): no absolute names, nothing outside the
destination, no links that leave it, no devices, no set-uid bits. `strip` drops leading path
components (`zlib-1.2.13/README` -> `README`), for link targets inside the archive as well.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from . import FetchError


def unpack(archive: Path, dest: Path, strip: int = 0, name: str = "") -> int:
    """Unpack `archive` into `dest` (which exists); how many members were written."""
    name = name or archive.name
    try:
        if zipfile.is_zipfile(archive):
            return _unzip(archive, dest, strip, name)
        with tarfile.open(archive, "r:*") as tar:
            return _untar(tar, dest, strip, name)
    except tarfile.TarError as exc:
        raise FetchError(f"{name}: not an archive jbuild can unpack (tar, tar.gz, tar.bz2, tar.xz "
                         f"or zip): {exc}") from None
    except (EOFError, OSError, zipfile.BadZipFile) as exc:
        raise FetchError(f"{name}: cannot unpack: {exc}") from None


def _stripped(path: str, strip: int) -> str | None:
    parts = [p for p in PurePosixPath(path).parts if p not in ("", ".")]
    if len(parts) <= strip:
        return None
    return "/".join(parts[strip:])


def _untar(tar: tarfile.TarFile, dest: Path, strip: int, name: str) -> int:
    written = 0
    for member in tar:
        rel = _stripped(member.name, strip)
        if rel is None:
            continue
        changes = {"name": rel}
        if member.islnk():  # a hard link names another member: strip it too
            target = _stripped(member.linkname, strip)
            if target is None:
                raise FetchError(f"{name}: hard link {member.name} points above strip = {strip}")
            changes["linkname"] = target
        try:
            safe = tarfile.data_filter(member.replace(**changes, deep=False), str(dest))
        except tarfile.FilterError as exc:
            raise FetchError(f"{name}: refused to unpack {member.name}: {exc}") from None
        if safe is None:
            continue
        tar.extract(safe, dest, set_attrs=True, filter="fully_trusted")  # already filtered above
        written += 1
    if written == 0:
        raise FetchError(f"{name}: nothing to unpack (an empty archive, or strip = {strip} removes every member)")
    return written


def _unzip(archive: Path, dest: Path, strip: int, name: str) -> int:
    written = 0
    root = os.path.realpath(dest)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            rel = _stripped(info.filename, strip)
            if rel is None:
                continue
            target = os.path.realpath(os.path.join(root, rel))
            if info.filename.startswith("/") or ".." in PurePosixPath(info.filename).parts or \
                    os.path.commonpath([root, target]) != root:
                raise FetchError(f"{name}: refused to unpack {info.filename}: it would be outside the destination")
            if info.is_dir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 16):
                    out.write(chunk)
            mode = (info.external_attr >> 16) & 0o777
            executable = stat.S_IMODE(mode) & 0o111
            os.chmod(target, 0o755 if executable else 0o644)
            written += 1
    if written == 0:
        raise FetchError(f"{name}: nothing to unpack (an empty archive, or strip = {strip} removes every member)")
    return written

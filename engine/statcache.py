"""Content hashes of files, reused while a stat proves the file unchanged (by the racy-clean
rule of jbuild.dsl.freshness); otherwise the file is hashed again."""

from __future__ import annotations

import os
import time
from pathlib import Path

from jbuild.base import cachefile
from jbuild.base.freshness import stat_key, trusted
from jbuild.base.hashing import file_digest

FORMAT = 2


class StatCache:
    def __init__(self, path: Path):
        self.path = path
        self.entries: dict = cachefile.read(path, FORMAT, {})
        self.dirty = False
        self.hashed = 0  # files actually read (tests and benchmarks)
        # Restored with a kept session, whose journal keeps these entries (session_file.py):
        # `save` leaves the shared file as it is (1.3 MB at 10,000 packages, every edit). Another
        # command line's analysis then re-hashes only what changed since it was last written.
        self.journaled = False

    def __getstate__(self):
        return {**self.__dict__, "journaled": False}

    def digest(self, path: str, remember: bool = True) -> tuple[str, bool]:
        """(content hash, executable?) of a file. Not `remember`: a file hashed anew is not
        cached (a check after a build: the cache must keep the stat its keys were computed
        from, so that the next run sees the file as changed)."""
        st = os.stat(path)
        executable = bool(st.st_mode & 0o111)
        cached = self.entries.get(path)
        if cached and trusted(st, cached[0], cached[2]):
            return cached[1], executable
        hashed_at = time.time_ns()
        digest = file_digest(path)
        self.hashed += 1
        if not remember:
            return digest, executable
        self.entries[path] = (stat_key(st), digest, hashed_at)
        self.dirty = True
        return digest, executable

    def kept(self, keep) -> StatCache:
        """A copy holding only the entries `keep(path)` says a kept session reads (`partial`):
        not those of other command lines, nor of the workspace this one was copied from."""
        entries = {p: e for p, e in self.entries.items() if keep(p)}
        if len(entries) == len(self.entries):
            return self
        out = StatCache.__new__(StatCache)
        out.__dict__.update(self.__dict__, entries=entries, partial=True)
        return out

    def merged(self) -> StatCache:
        """A partial cache's entries over the shared file's (each entry is checked by its stat)."""
        out = StatCache(self.path)
        out.entries.update(self.entries)
        out.dirty = True
        return out

    def save(self) -> None:
        if not self.dirty or getattr(self, "journaled", False):
            return
        cachefile.write(self.path, FORMAT, self.entries)
        self.dirty = False

"""Content hashes of files, reused while a stat proves the file unchanged.

An entry (mtime_ns, size, inode, ctime_ns) is trusted only if the file was last changed
before the moment its content was hashed, by a margin (git's racy-clean rule); otherwise the
file is hashed again.
"""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

from .hashing import file_digest

FORMAT = 1
RACY_MARGIN_NS = 20_000_000


class StatCache:
    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, tuple] = {}
        self.dirty = False
        self.hashed = 0  # files actually read (tests and benchmarks)
        try:
            with open(path, "rb") as f:
                fmt, entries = pickle.load(f)
            if fmt == FORMAT:
                self.entries = entries
        except (OSError, EOFError, pickle.PickleError, ValueError, TypeError):
            pass

    def digest(self, path: str) -> tuple[str, bool]:
        """(content hash, executable?) of a file."""
        st = os.stat(path)
        stat = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)
        executable = bool(st.st_mode & 0o111)
        cached = self.entries.get(path)
        if cached and cached[0] == stat and max(st.st_mtime_ns, st.st_ctime_ns) < cached[2] - RACY_MARGIN_NS:
            return cached[1], executable
        hashed_at = time.time_ns()
        digest = file_digest(path)
        self.hashed += 1
        self.entries[path] = (stat, digest, hashed_at)
        self.dirty = True
        return digest, executable

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            pickle.dump((FORMAT, self.entries), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, self.path)
        self.dirty = False

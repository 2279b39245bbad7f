"""The store directory's names, for a run that asks whether thousands of entries are present
(Rebuilder.store_listing): one listing of the directory, or, in the build server, a set kept up to
date between runs by the kernel's inotify events on that directory.

Listing ~30,000 names costs 12-18 ms (more as the store grows between two gcs), on every edit the
server builds; the events of a leaf edit are a few. The watch is added before the first listing
and every event after it is applied in order, so the set is the directory's names as of the last
look: a name created or renamed in (an entry published, a temporary made) is added, one deleted or
renamed out (gc, `store verify --repair`, a damaged entry set aside, `rm -r` by hand) removed. An
event applied to a listing that already showed it changes nothing, so events that came between
the watch and the listing may be applied again. A full event queue (the kernel's
max_queued_events: a full build publishes thousands), or the directory itself deleted or moved,
drops the set: the next look lists again. Without inotify (no such call, out of instances or
watches) each look lists.
"""

from __future__ import annotations

import os
import struct
import threading

IN_NAMES = 0x040 | 0x080 | 0x100 | 0x200  # IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE
IN_ADDED = 0x080 | 0x100  # IN_MOVED_TO, IN_CREATE
IN_SELF = 0x400 | 0x800  # IN_DELETE_SELF, IN_MOVE_SELF
IN_Q_OVERFLOW, IN_IGNORED, IN_ONLYDIR = 0x4000, 0x8000, 0x01000000
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (then the name, NUL-padded to len)

_kept: dict[str, _Watched] = {}
_keep = False
_lock = threading.Lock()


def keep_between_runs() -> None:
    """Keep each store's names from now on (a long-lived process: jbuild/server.py)."""
    global _keep
    _keep = True


def names(root: str) -> set[str]:
    """The names in the store directory `root` now (a set the caller may keep: its own copy)."""
    if not _keep:
        return set(os.listdir(root))
    with _lock:
        watched = _kept.get(root)
        if watched is None or watched.gone:
            watched = _kept[root] = _Watched(root)
        return watched.names()


class _Watched:
    def __init__(self, root: str):
        self.root = root
        self.fd = _watch(root)
        self.known: set[str] | None = None
        self.gone = False

    def names(self) -> set[str]:
        for _ in range(3):  # (a queue that keeps overflowing, a build publishing thousands: a listing)
            if self.fd is None:
                break
            if self.known is not None:
                if self._drain(self.known):
                    return set(self.known)
                self.known = None
                continue
            listed = set(os.listdir(self.root))
            if self._drain(listed):  # (what came meanwhile, applied again: see the module's doc)
                self.known = listed
                return set(listed)
        return set(os.listdir(self.root))

    def _drain(self, into: set[str]) -> bool:
        """Apply the queued events to `into`; False if they cannot say (an overflow, the
        directory gone: then the watch is given up, and the next look makes a new one)."""
        whole = True
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return whole
            at = 0
            while at < len(data):
                _wd, mask, _cookie, size = _HEADER.unpack_from(data, at)
                name = data[at + _HEADER.size:at + _HEADER.size + size].rstrip(b"\0")
                at += _HEADER.size + size
                if mask & IN_Q_OVERFLOW:
                    whole = False
                elif mask & (IN_SELF | IN_IGNORED):
                    whole, self.gone = False, True
                elif mask & IN_NAMES and name:
                    (into.add if mask & IN_ADDED else into.discard)(os.fsdecode(name))
            if self.gone:
                os.close(self.fd)
                self.fd = None
                return False


def _watch(root: str) -> int | None:
    """A non-blocking inotify descriptor watching `root`'s names, or None."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None
    if libc.inotify_add_watch(fd, os.fsencode(root), IN_NAMES | IN_SELF | IN_ONLYDIR) < 0:
        os.close(fd)
        return None
    return fd

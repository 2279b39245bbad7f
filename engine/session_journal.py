"""What a run changed in a kept session, appended to a journal beside its hot file instead of
rewriting the whole hot file (5 MB at 10,000 packages; a leaf edit changes a few entries).

The hot dicts of a restored session are `Tracked`: they remember which keys were set or
removed. A save appends one record — the touched entries and the few scalar attributes —
framed by its length and checksum, naming the hot file it follows and numbered after the record
it was computed from, at the end of the last whole record its run read (under a lock: what
follows it goes first). A load applies the records in order and stops at the first one that is
torn (a run killed mid-append), fails its checksum, names another hot file (a kill between
writing the hot file whole and removing the journal) or is numbered out of order. Every state
read back is one some run saved whole, never a mixture; of two runs started from one state,
the later one's record replaces the earlier's, as a whole file would.
"""

from __future__ import annotations

import copyreg
import fcntl
import io
import os
import pickle
import struct

import xxhash

HEADER = struct.Struct("<QQ")  # payload length, xxh3_64 of the payload
SCALARS = ("pending", "rekeyed", "started_at", "candidates", "decisions_stamp")  # Session attributes, written whole
GONE = "\0gone"  # a removed entry


class Tracked(dict):
    """A dict that remembers the keys set or removed since `touched` was last emptied."""

    __slots__ = ("touched", "whole")

    def __init__(self, *args):
        super().__init__(*args)
        self.touched, self.whole = set(), False

    def __setitem__(self, key, value):
        self.touched.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self.touched.add(key)
        super().__delitem__(key)

    def pop(self, key, *default):
        self.touched.add(key)
        return super().pop(key, *default)

    def setdefault(self, key, default=None):  # (readers: the set it returns is changed in place)
        self.touched.add(key)
        return super().setdefault(key, default)

    def update(self, *args, **kwargs):
        self.whole = True
        super().update(*args, **kwargs)

    def clear(self):
        self.whole = True
        super().clear()

    def popitem(self):
        self.whole = True
        return super().popitem()

    def __reduce__(self):  # written as a plain dict
        return dict, (dict(self),)


class Readers(dict):
    """The key computer's readers (dependency -> the nodes that read one of its keys): sets that
    only grow, through `setdefault(dep, set()).add(node)` (keys.py). Remembers what was added:
    libc's set holds every package at 10,000 of them, and an edit adds nothing to it."""

    __slots__ = ("touched", "whole")

    def __init__(self, *args):
        super().__init__(*args)
        self.touched, self.whole = {}, False

    def setdefault(self, key, default=None):
        return _Adding(super().setdefault(key, default), self.touched.setdefault(key, []))

    def __setitem__(self, key, value):
        self.whole = True
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self.whole = True
        super().__delitem__(key)

    def pop(self, key, *default):
        self.whole = True
        return super().pop(key, *default)

    update, clear, popitem = Tracked.update, Tracked.clear, Tracked.popitem

    def __reduce__(self):
        return dict, (dict(self),)


class _Adding:
    __slots__ = ("members", "added")

    def __init__(self, members: set, added: list):
        self.members, self.added = members, added

    def add(self, member) -> None:
        if member not in self.members:
            self.members.add(member)
            self.added.append(member)


def _slots(session) -> dict:
    """name -> (get, set) of each hot dict of a session."""
    c = session.computer
    keys, readers = c.keys, c.readers

    def attr(obj, name):
        return lambda: getattr(obj, name), lambda d: setattr(obj, name, d)

    def item(d, name):
        return lambda: d[name], lambda v: d.__setitem__(name, v)

    out = {"settled": attr(session, "settled"), "stats": attr(session.stats, "entries")}
    out.update({f"keys.{k}": attr(keys, k) for k in ("build", "interface", "inputs", "exported")})
    out.update({f"readers.{k}": item(readers, k) for k in readers})
    return out


def track(session) -> None:
    """Make each hot dict of `session` a Tracked one (Readers for readers), nothing touched yet."""
    for name, (get, put) in _slots(session).items():
        put((Readers if name.startswith("readers.") else Tracked)(get()))


def delta(session):
    """(scalars, name -> {key: value or GONE}) of what changed since `track`, or None if a
    dict was replaced or changed wholesale (the caller writes the hot file whole)."""
    out = {}
    for name, (get, _) in _slots(session).items():
        d = get()
        if type(d) is not (Readers if name.startswith("readers.") else Tracked) or d.whole:
            return None
        out[name] = {k: added for k, added in d.touched.items() if added} if type(d) is Readers else \
            {k: d.get(k, GONE) for k in d.touched}
    return {k: session.__dict__[k] for k in SCALARS}, out


def changed(session) -> tuple[set, set] | None:
    """(the nodes settled anew, the files hashed anew) since the session was restored or last
    saved; None if it is not tracked (a new analysis)."""
    settled, entries = session.__dict__.get("settled"), session.stats.entries
    if type(settled) is not Tracked or type(entries) is not Tracked or settled.whole or entries.whole:
        return None
    return set(settled.touched), set(entries.touched)


def state_of(session) -> tuple:
    """Which saved state the session is: (analysis token, hot file, records applied, the last)."""
    j = session.__dict__.get("journal")
    return (j.token, j.base, j.seq, j.last) if j is not None else ()


def settle_touched(session) -> None:
    for get, _ in _slots(session).values():
        get().touched.clear()


def apply(session, scalars: dict, changes: dict) -> None:
    session.__dict__.update(scalars)
    slots = _slots(session)
    for name, entries in changes.items():
        d = slots[name][0]()
        if name.startswith("readers."):
            for k, added in entries.items():
                d.setdefault(k, set()).update(added)
            continue
        for k, v in entries.items():
            if isinstance(v, str) and v == GONE:
                d.pop(k, None)
            else:
                d[k] = v


class Journal:
    """The journal of one hot file: where its last whole record ends, and how many precede it."""

    def __init__(self, path, token: str, base: str, seq: int = 0, end: int = 0, limit: int = 0):
        self.path, self.token, self.base = path, token, base  # the analysis and the hot file it follows
        self.seq, self.end, self.limit = seq, end, limit
        self.last = base  # the id of the last record (two runs from one state append two ids)

    def append(self, record, dispatch: dict) -> bool:
        """Append `record`; False (nothing written) if it would take the journal past its limit:
        every later run would replay it, and writing the hot file whole once is cheaper (the
        first run after a new analysis settles every action: a 3 MB record at 10,000 packages)."""
        buf = io.BytesIO()
        pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = {**copyreg.dispatch_table, **dispatch}
        rid = os.urandom(8).hex()
        pickler.dump((self.base, self.seq, rid, record))
        payload = buf.getbuffer()
        if self.end + HEADER.size + len(payload) > self.limit:
            return False
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # two runs of one command line: one record after the other
            os.ftruncate(fd, self.end)  # a torn or out-of-order tail goes
            os.pwrite(fd, HEADER.pack(len(payload), xxhash.xxh3_64_intdigest(payload)) + payload, self.end)
        finally:
            os.close(fd)
        self.end += HEADER.size + len(payload)
        self.seq, self.last = self.seq + 1, rid
        return True

    def replay(self, session, unpickler) -> None:
        """Apply this journal's whole, in-order records to `session` (just restored from the hot
        file whose `base` it names); stop at the first other."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError:
            return
        at = 0
        while at + HEADER.size <= len(data):
            size, check = HEADER.unpack_from(data, at)
            payload = memoryview(data)[at + HEADER.size:at + HEADER.size + size]
            if len(payload) != size or xxhash.xxh3_64_intdigest(payload) != check:
                return
            try:
                base, seq, rid, (scalars, changes) = unpickler(io.BytesIO(payload)).load()
            except (pickle.PickleError, EOFError, AttributeError, ImportError, TypeError, ValueError, IndexError):
                return
            if base != self.base or seq != self.seq:
                return
            apply(session, scalars, changes)
            at += HEADER.size + size
            self.end, self.seq, self.last = at, seq + 1, rid

"""The request jbuild hands the C stager child (stage_exec.c): a staged root's operations
(sandbox_root.StagedRoot.state()), the command and its environment, as flat bytes the child
reads without parsing anything: lengths and flags as 4-byte little-endian integers, each string
its bytes and a NUL. A dependency's part is encoded once per process (`dep_item`): an action
has hundreds, most shared with others. The stager loads this file by path, as it does
sandbox_root.py (sandbox_zygote.py).
"""

from __future__ import annotations

import os
from operator import itemgetter


def encode(state: tuple, stage: bytes, in_user_ns: bool, argv: list[str], env: dict[str, str]) -> bytes:
    """A request for the C stager child (stage_exec.c), which replays `StagedRoot.state()` as
    `StagedRoot.__call__` does and then execs `argv`: lengths and flags as 4-byte little-endian
    integers, each string its bytes and a NUL."""
    ops, uid_map, gid_map = state
    out = [u32(int(in_user_ns)), _str(uid_map), _str(gid_map), _str(stage), u32(len(ops))]
    for op in ops:
        out.append(_OP_CODES[op[0]])
        out.append(_ENCODERS.get(op[0], _plain)(op))
    out.append(u32(len(argv)))
    out += [_str(a) for a in argv]
    out.append(u32(len(env)))
    out += [_str(f"{k}={v}") for k, v in env.items()]
    return b"".join(out)


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def _str(s: str | bytes) -> bytes:
    b = s if type(s) is bytes else os.fsencode(s)
    return len(b).to_bytes(4, "little") + b + b"\0"


def _plain(op: tuple) -> bytes:
    """dir, file, tmpfs, seal, devpts (a path); link (target, path)."""
    return b"".join(_str(x) for x in op[1:])


def _bind_op(op: tuple) -> bytes:
    return _str(op[1]) + _str(op[2]) + u32(op[3])


def _fd_op(op: tuple) -> bytes:
    return _str(op[1]) + u32(op[2])


def _links_op(op: tuple) -> bytes:
    return b"".join([_str(op[1]), _str(op[2]), u32(len(op[3])), *(_pair(n, t) for n, t in op[3])])


def _pair(name: str, target: str) -> bytes:
    """A name and a link target encoded, once per process (a dependency's /deps link)."""
    got = _PAIRS.get((name, target))
    if got is None:
        got = _PAIRS[(name, target)] = _str(name) + _str(target)
        if len(_PAIRS) > 200_000:
            _PAIRS.clear()
    return got


_PAIRS: dict[tuple[str, str], bytes] = {}


def _deps_op(op: tuple) -> bytes:
    _, path, common, items, remount, remounts, blob = op
    if blob is not None:  # encoded by `read_only_tree`
        return b"".join([_str(path), _str(common), u32(len(items)), blob])
    each = remounts if remounts is not None else [remount] * len(items)
    return b"".join([_str(path), _str(common), u32(len(items)),
                     *(_str(n) + _str(rest) + u32(r) for (n, rest), r in zip(items, each, strict=True))])


def dep_item(name: str, source: str | os.PathLike) -> tuple[bytes, tuple[bytes, bytes], bytes]:
    """(source's directory and "/", (name, source's base name), both encoded for the C child),
    once per process: a store entry never moves. Keyed by the source as given (a job's Path,
    the same object for every build against that entry: no path is formatted per build)."""
    key = (name, source)
    got = _DEP_ITEMS.get(key)
    if got is None:
        parent, _, base = os.fsencode(source).rpartition(b"/")
        parent += b"/"
        parent = _PARENTS.setdefault(parent, parent)  # one object per directory: `set` of them compares none
        n = os.fsencode(name)
        got = _DEP_ITEMS[key] = (parent, (n, base), _str(n) + _str(base))
        if len(_DEP_ITEMS) > 200_000:  # a long-lived process (a watch) building ever new entries
            _DEP_ITEMS.clear()
            _PARENTS.clear()
    return got


def dep_items(sources: dict[str, str | os.PathLike]) -> list[tuple[bytes, tuple[bytes, bytes], bytes]]:
    """`dep_item` of each (name, source) of `sources`, by name: those a `SortedMounts` carries,
    else looked up in C (a map over the cache's `get`, keyed by tuples of strings the job
    holds), each dependency first seen in this process through Python. An action has up to a
    thousand dependencies (10,000 packages), nearly all of them seen by an earlier action of the run."""
    if type(sources) is SortedMounts:
        return sources.items_encoded
    names = sorted(sources)  # (sorting the keys alone: str's own fast comparison, not tuples')
    keys = list(zip(names, map(sources.__getitem__, names), strict=True))
    items = list(map(_DEP_ITEMS.get, keys))
    if None in items:
        items = [got if got is not None else dep_item(*key) for key, got in zip(keys, items, strict=True)]
    return items


_DEP_ITEMS: dict[tuple, tuple[bytes, tuple[bytes, bytes], bytes]] = {}
_PARENTS: dict[bytes, bytes] = {}


class SortedMounts(dict):
    """name -> source, inserted in name order, carrying `dep_item(name, source)` of each in that
    order (`items_encoded`), made by whoever knows them already: a build's dependencies each
    keep theirs (build_action.py), so an action with a thousand of them is neither sorted nor
    looked up again here."""

    __slots__ = ("items_encoded",)

    def __init__(self, pairs, items_encoded: list):
        super().__init__(pairs)
        self.items_encoded = items_encoded
PARENT, PAIR, ENCODED = itemgetter(0), itemgetter(1), itemgetter(2)


_OP_CODES = {"dir": b"D", "file": b"F", "tmpfs": b"T", "seal": b"S", "devpts": b"P", "link": b"L", "bind": b"B",
             "fd": b"O", "links": b"N", "deps": b"E", "deps_later": b"W"}
_ENCODERS = {"bind": _bind_op, "fd": _fd_op, "links": _links_op, "deps": _deps_op, "deps_later": _deps_op}

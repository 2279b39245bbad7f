"""The `result` links of a build (`result`, `result-2`, … as Nix names several) and the GC-root
record of each (engine/store/gc.py), made and checked in one batch, and the stamp that lets the
next no-op prove them unchanged without looking at them one by one.

A stamp is a plain tuple kept in the no-op snapshot (snapshot.Snapshot.links; plain, so that
reading the snapshot imports nothing more):
    (first link's absolute path, store root, how many links, (stat key of the links'
     directory, taken at), (stat key of <store>/roots, taken at), each link's record name
     ("\n"-joined), each record's stat key (packed: `_pack`))
It proves, by two stats (`unchanged`), what `settle` checked when it took it: a link is a
symlink, which cannot be changed in place — only replaced, removed or made, which changes its
directory's stat —, and a record is only ever written whole by a rename or removed (gc.py),
which changes the stat of <store>/roots. The directories' stats are trusted by the racy-clean
rule (base/freshness.py): each is taken before the links and records are looked at, so a
change made meanwhile is seen next time. (A record edited in place by hand is not seen until
something else changes that directory: jbuild never writes one so.)

Call `settle` under the store's shared lock, so that no gc runs between a build and the
registration of what it built.
"""

from __future__ import annotations

import os
import time

from jbuild.base.freshness import stat_key, trusted


def link_paths(base: str, count: int) -> list[str]:
    """`base`, then `base-2`, … `base-count` (none for none: a build of tests only)."""
    return [base, *(f"{base}-{i}" for i in range(2, count + 1))] if count else []


def unchanged(stamp: tuple | None, base: str, store_root: str, count: int) -> bool:
    """Does `stamp` prove, by a stat of each of the two directories, that the `count` links from
    `base` and their records are still as `settle` left them?"""
    if not stamp or stamp[:3] != (base, store_root, count):
        return False
    try:
        return trusted(os.stat(os.path.dirname(base)), *stamp[3]) and \
            trusted(os.stat(os.path.join(store_root, "roots")), *stamp[4])
    except OSError:
        return False


def settle(store_root: str, base: str, envs: list[str], stamp: tuple | None, entries_of) -> tuple | None:
    """Make each link from `base` point at its environment (`envs`: entry names, in root order)
    and each one's GC-root record name it and what it needs; the stamp of the result. Only what
    is wrong is written: a link that is missing or points elsewhere, a record that is missing or
    not the one `stamp` saw written (`entries_of()`, called only then: each root's closure
    entries, in root order, or None if they are not at hand — then nothing is written and None
    is returned). A link that cannot be made is bad input."""
    taken_at = time.time_ns()
    link_dir, roots_dir = os.path.dirname(base), os.path.join(store_root, "roots")
    dir_key, roots_key = _stat_key(link_dir), _stat_key(roots_dir)  # before anything is looked at
    links = link_paths(base, len(envs))
    if stamp and stamp[:3] == (base, store_root, len(envs)):
        names, seen = stamp[5].split("\n") if envs else [], _unpack(stamp[6])
    else:
        from .store.gc import record_name

        names, seen = list(map(record_name, links)), [None] * len(envs)
    targets = [os.path.join(store_root, env) for env in envs]
    wrong = [i for i, (link, target) in enumerate(zip(links, targets, strict=True)) if readlink_or_none(link) != target]
    keys = [_stat_key(os.path.join(roots_dir, name)) for name in names]
    stale = sorted({*wrong, *(i for i, (key, was) in enumerate(zip(keys, seen, strict=True))
                              if key is None or key != was)})
    if stale:
        entries = entries_of()
        if entries is None:
            return None
        for i in wrong:
            make_link(links[i], targets[i])
        from .store.gc import write_roots

        for i, key in zip(stale, write_roots(roots_dir, [
                (names[i], links[i], os.path.realpath(links[i]), [envs[i], *entries[i]]) for i in stale]), strict=True):
            keys[i] = key
    return (base, store_root, len(envs), (dir_key, taken_at), (roots_key, taken_at), "\n".join(names), _pack(keys))


def _pack(keys: list[tuple | None]) -> bytes | list:
    """Stat keys as one bytes object (10,000 tuples of four ints cost a no-op ~10 ms to read);
    a missing one as zeros. As they are if a value does not fit."""
    from array import array

    try:
        return array("Q", [n for key in keys for n in key or (0, 0, 0, 0)]).tobytes()
    except OverflowError:
        return keys


def _unpack(packed: bytes | list) -> list[tuple | None]:
    if isinstance(packed, list):
        return packed
    from array import array

    flat = array("Q", packed).tolist()
    keys = list(zip(*[iter(flat)] * 4, strict=True))
    return [None if key == (0, 0, 0, 0) else key for key in keys]


def _stat_key(path: str) -> tuple | None:
    try:
        return stat_key(os.stat(path))
    except OSError:
        return None


def readlink_or_none(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def make_link(link: str, target: str) -> None:
    """`link` -> `target`, replacing whatever link is there (by a rename: never missing meanwhile)."""
    from jbuild.base.errors import BadInput

    if not os.path.basename(link):
        raise BadInput(_unmade(link, "it is a directory"))
    tmp = os.path.join(os.path.dirname(link), f"{os.path.basename(link)}.jbuild-new-{os.getpid()}")  # one per writer
    try:
        if os.path.islink(tmp):
            os.unlink(tmp)
        os.symlink(target, tmp)
        os.replace(tmp, link)
    except OSError as e:  # a directory there, an unwritable or missing place
        if os.path.islink(tmp):
            os.unlink(tmp)
        raise BadInput(_unmade(link, e.strerror or str(e))) from None


def _unmade(link: str, why: str) -> str:
    return (f"cannot make the result link {link}: {why} (what was built is in the store; `--no-link` builds "
            "without a link, `--out-link PATH` puts it elsewhere)")

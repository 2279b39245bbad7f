"""A store entry's own metadata (`.jbuild-entry.json`) and the two digests of its tree.

The store alone knows the on-disk form. Reading tolerates unknown fields (a newer jbuild may
add some) and missing ones (an older jbuild wrote fewer), so a format bump never strands an
entry. Two digests: `tree_digest` reads every byte (what `store verify` trusts);
`stat_digest` only stats (paths, sizes, mtimes, symlink targets) and is cheap enough to
check before every reuse.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from jbuild.base.hashing import file_digest, key_of

META = ".jbuild-entry.json"
ENTRY_FORMAT = 2


@dataclass(frozen=True)
class EntryMeta:
    """What the store records about one entry. The caller fills the first block; `publish`
    fills output_hash, size and stat_digest."""

    key: str
    name: str
    label: str = ""
    node: str = ""
    interface_key: str = ""
    exported: str = ""  # the measured exported-interface digest
    exported_detail: dict = field(default_factory=dict)
    built_against: dict = field(default_factory=dict)  # dependency label -> {"entry": name, "exported": digest}
    members: list = field(default_factory=list)  # an environment's: [{"label", "entry", "exports"}] (runtime/)
    outputs: dict = field(default_factory=dict)  # a set's: output name -> its entry's name (sets.py)
    output: str = ""  # an output entry's: its output's name ("dev")
    set: str = ""  # an output entry's: the name of the set entry that completes it
    inputs: dict = field(default_factory=dict)
    sandbox: str = ""
    log: str = ""  # relative to the store, e.g. "logs/<key>.log"; never absolute
    duration: float = 0.0
    built_at: float = 0.0
    output_hash: str = ""
    size: int = 0
    stat_digest: str = ""

    def to_json(self) -> str:
        """One line, by the json module's C encoder: `indent` and `dataclasses.asdict` (a deep
        copy) would cost milliseconds per entry for a build against hundreds of dependencies.
        A `built_against` that is `Encoded` is spliced in as it is (it sorts first)."""
        fields = {f.name: getattr(self, f.name) for f in _FIELDS}
        against = fields["built_against"]
        if type(against) is not Encoded:
            return json.dumps({"format": ENTRY_FORMAT, **fields}, sort_keys=True, default=_plain)
        fields["built_against"] = _SPLICE
        text = json.dumps({"format": ENTRY_FORMAT, **fields}, sort_keys=True, default=_plain)
        return text.replace(_SPLICED, against.json, 1)

    @classmethod
    def from_json(cls, text: str) -> EntryMeta:
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def replace(self, **changes) -> EntryMeta:
        return dataclasses.replace(self, **changes)


_FIELDS = dataclasses.fields(EntryMeta)
_SPLICE = "\0built_against\0"
_SPLICED = json.dumps(_SPLICE)


class Encoded(dict):
    """A dict that carries its own JSON, exactly `json.dumps(d, sort_keys=True)`, made by its
    maker from parts encoded once: a build's `built_against` is hundreds of dependencies at
    10,000 packages, each part of hundreds of entries' metadata."""

    __slots__ = ("json",)

    def __init__(self, items, encoded: str):
        super().__init__(items)
        self.json = encoded


def _plain(value):
    """A dataclass nested in a field, as asdict would give it."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_meta(entry: Path) -> EntryMeta:
    return EntryMeta.from_json((entry / META).read_text())


def _walk(root: Path):
    """(relative path, lstat) of everything under root but the metadata file, sorted."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir != ".":
            yield rel_dir, os.lstat(dirpath)
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            if rel_dir == "." and name == META:
                continue
            path = os.path.join(dirpath, name)
            yield os.path.normpath(os.path.join(rel_dir, name)), os.lstat(path)


def tree_digest(root: Path) -> tuple[str, int]:
    """(digest, size) of a directory tree: paths, modes (x bit), symlink targets, contents."""
    digest, size, _ = digests(root, list(_walk(root)), stats=False)
    return digest, size


def stat_digest(root: Path) -> str:
    """A digest of what stat says of every path: cheap, and changed by any ordinary edit."""
    return digests(root, list(_walk(root)), contents=False)[2]


def listing(root: Path) -> list[tuple[str, os.stat_result]]:
    """(relative path, lstat) of everything under root but the metadata file, in the order both
    digests read it: publish lists an output once for sealing and both digests."""
    return list(_walk(root))


def digests(root: Path, items: list, contents: bool = True, stats: bool = True,
            modes: dict[str, int] | None = None) -> tuple[str, int, str]:
    """(tree digest, size, stat digest) of `root` from its `listing`; what is not asked for is
    "" (and 0). `modes`: the permission bits of paths changed since they were listed (seal's
    chmods: a chmod changes neither size nor mtime), so no second lstat is needed."""
    tree, by_stat, size = [], [], 0
    modes = modes or {}
    for rel, st in items:
        path = os.path.join(root, rel)
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            target = os.readlink(path)
            tree.append([rel, "l", target])
            by_stat.append([rel, "l", target])
        elif stat.S_ISDIR(mode):
            tree.append([rel, "d", ""])
            by_stat.append([rel, "d", modes.get(rel, mode & 0o7777)])
        else:
            if contents:
                tree.append([rel, "x" if mode & 0o111 else "f", file_digest(path)])
            size += st.st_size
            by_stat.append([rel, "f", st.st_size, st.st_mtime_ns, modes.get(rel, mode & 0o7777)])
    return (key_of(sorted(tree)) if contents else ""), (size if contents else 0), (key_of(by_stat) if stats else "")

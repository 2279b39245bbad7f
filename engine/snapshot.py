"""The snapshot of a successful build's inputs: the no-op path.

After a successful build, everything the plan was computed from is recorded with the stats it
was computed under: the BUILD files and jbuild.toml, the directories globs and patterns walked,
every declared source, the host tools' binaries, and the store entries the plan named. A later
build with the same command line stats those (git's racy-clean rule decides whether a stat may
be trusted), checks that every entry is still in the store, and stops — without importing the
parser, the resolver or networkx.

The analysis is invalidated by: any recorded file or directory changed, a store entry gone,
the flags that shape the graph (patterns, --strict, --sandbox, the store), and jbuild's version.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from jbuild.base import __version__, cachefile, file_memo
from jbuild.base.freshness import RACY_MARGIN_NS, all_trusted, stat_key
from jbuild.dsl.globs import dir_unchanged
from jbuild.dsl.workspace import stdlib_dir

FORMAT = 13  # 13: envs_dirty; 12: directories stamped again (dirs_since); 11: each root's detail apart, envs a list, links' stamp


@dataclass
class Snapshot:
    recorded_at: int  # when the plan started reading: every stat must be older than this
    files: dict[str, tuple] = field(default_factory=dict)  # path -> stat_key
    dirs: dict[str, tuple] = field(default_factory=dict)  # path -> globs.DirState
    store: str = ""  # the store the entries are in
    actions: list[tuple[str, str]] = field(default_factory=list)  # (node, entry name)
    roots: list[tuple[str, str, list[str]]] = field(default_factory=list)  # (node, entry, [])
    # ... or, where every root is an action, each root's position in `actions`: one int each,
    # where //... at 10,000 packages had 10,000 tuples to read and write on every edit
    root_at: list[int] = field(default_factory=list)
    envs: list[str] = field(default_factory=list)  # each root's environment's entry name, in root order; [] if not made
    envs_dirty: list[str] = field(default_factory=list)  # nodes that may differ from what `envs` were made of: builds
    #                         without links since (noop.record_since); `envs` answer no build then
    # Each root's members and closure entries are kept apart (`Detail`, read only when asked): at
    # 10,000 roots they are ~40 MB, which every no-op read (0.3 s, 80 MB) and none used.
    detail: str = ""  # the token of the detail file saved with this snapshot; "" if none
    has_members: bool = False  # the detail holds each root's members
    links: tuple | None = None  # the result links' stamp (result_links.py), when this snapshot made or checked them
    tests: list[str] = field(default_factory=list)  # test targets asked for (built, not run)
    tools: list[tuple[str, str, str]] = field(default_factory=list)  # (name, host path, resolved binary)
    root: str = ""  # the workspace root: symlinks leaving it are not globbable
    decisions_all_reused: bool = False
    outputs: list[str] = field(default_factory=list)  # the output entries of split packages' sets
    root_outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # root node -> output -> entry name
    session: tuple = ()  # the kept session state the recording run left (noop.record_since)
    store_stamp: tuple = ()  # (stat key of the store's directory, when taken): see noop._stamp_holds
    dirs_since: dict[str, int] = field(default_factory=dict)  # path -> when its state in `dirs` was taken, if
    #                                                        not at `recorded_at` (is_fresh: _restamp_dir)
    restamped: bool = False  # is_fresh stamped a directory again: the no-op saves the snapshot

    def root_entries(self) -> list[tuple[str, str]]:
        """(node, entry) of each root."""
        return [self.actions[i] for i in self.root_at] if self.root_at else [(n, e) for n, e, _ in self.roots]


def path_for(cache_dir: Path, command: tuple) -> Path:
    """The snapshot (and session, session_file.py) of `command` in this cache directory. Its
    name covers the directory itself: a workspace copied or moved elsewhere brings its cache
    along, whose files name the old place's paths; read there, an edit of the copy went unseen
    while the original stood unchanged (and the copy re-analysed whenever the original changed)."""
    import xxhash

    digest = xxhash.xxh3_64_hexdigest(repr((FORMAT, __version__, str(cache_dir), command)).encode())
    return cache_dir / f"analysis-{digest}.pickle"


@dataclass
class Detail:
    """What a snapshot keeps of each root apart from it, in root order."""
    members: Packed | list = field(default_factory=list)  # its run closure (Member.to_json); [] if not made
    entries: Packed | list = field(default_factory=list)  # what its GC root holds; [] without links
    hosts: tuple | None = None  # results.host_signature when `entries` were made (their host trees'); None: unknown


class Packed:
    """Lists of strings or dicts (each root's entries or members: ~470 each at 10,000 roots, most
    shared), each kept as the positions of its items in one table, packed in bytes: read and
    written as 10,000 bytes objects, not millions of references (~1 s and ~130 MB a build at
    10,000 roots), and one root's list is made only when asked for (`[i]`)."""

    def __init__(self, table: list | None = None, rows: list[bytes] | None = None):
        self.table, self.rows = table if table is not None else [], rows if rows is not None else []
        self.whole: int | None = None  # the table's size when its rows were last packed together (results._slack)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> list:
        from array import array

        table = self.table
        return [table[j] for j in array("I", self.rows[i])]

    def __iter__(self):
        return (self[i] for i in range(len(self.rows)))

    def packer(self, key=None, kept_key=None, value=None):
        """A function packing a list as a row of this table (adding what it lacks): `key` of an
        item and `kept_key` of what the table keeps find it (the item itself unless told), `value`
        is what the table keeps of an item (itself unless told)."""
        from array import array

        table = self.table
        at = {(kept_key(v) if kept_key else v): i for i, v in enumerate(table)}

        def pack(items) -> bytes:
            out = array("I")
            for item in items:
                k = item if key is None else key(item)
                i = at.get(k)
                if i is None:
                    i = at[k] = len(table)
                    table.append(item if value is None else value(item))
                out.append(i)
            return out.tobytes()

        return pack


def detail_path(path: Path) -> Path:
    return path.with_name(path.name.replace("analysis-", "roots-", 1))


def load_detail(path: Path, snap: Snapshot) -> Detail | None:
    """The detail saved with `snap` (at `path`), or None if it is not there (any more)."""
    if not snap.detail:
        return None
    found = cachefile.read(detail_path(path), FORMAT, None, freeze=False)
    return found[1] if found is not None and found[0] == snap.detail else None


def load(path: Path) -> Snapshot | None:
    kept = file_memo.recall("snapshot", str(path), (path,), keep=True)  # (the build server: what it saved
    #                                  last; changed only just before it is saved again: noop.py)
    return kept if kept is not None else cachefile.read(path, FORMAT, None)


def save(path: Path, snap: Snapshot, detail: Detail | None = None) -> None:
    """Save `snap`, and with it `detail` if given (first: a snapshot never names a detail that is
    not written whole; a detail replaced by a later save no longer matches the older snapshot)."""
    if detail is not None:
        snap.detail = f"{time.time_ns()}-{os.getpid()}"
        cachefile.write(detail_path(path), FORMAT, (snap.detail, detail))
    cachefile.write(path, FORMAT, snap)
    file_memo.keep("snapshot", str(path), (path,), snap)


CARRIED = 0  # the `recorded_at` of a snapshot a failed build carried forward (noop.carry): fresh never


def stat_of(path: Path) -> tuple:
    return stat_key(os.stat(path))


def is_fresh(a: Snapshot, seen: dict | None = None) -> bool:
    """Does every recorded stat still hold? (The caller checks the entries under the store lock.)
    `seen` gets the files' stats (freshness.all_trusted): an edit's session asks again at once."""
    from .platform import resolve_binary

    if a.recorded_at == CARRIED or any(resolve_binary(name, path_env) != binary for name, path_env, binary in a.tools):
        return False
    try:
        if not all_trusted(a.files, a.recorded_at, seen):
            return False
        for path, state in list(a.dirs.items()):
            since, taken_at = a.dirs_since.get(path, a.recorded_at), time.time_ns()
            mtime = os.stat(path).st_mtime_ns  # (before dir_unchanged's listing: see _restamp_dir)
            if mtime == state[0] and mtime < since - RACY_MARGIN_NS:
                continue  # one stat proves it
            if not dir_unchanged(path, state, _root_for(path, a.root), since):
                return False
            if mtime < taken_at - RACY_MARGIN_NS:  # (a stamp the next no-op will trust)
                _restamp_dir(a, path, state, mtime, taken_at)
    except OSError:
        return False
    return True


def _restamp_dir(a: Snapshot, path: str, state: tuple, mtime: int, taken_at: int) -> None:
    """A directory whose stat changed but whose listing still shows what was recorded (a stray
    file beside the sources, a `result` link made after the analysis read it): record its new
    stat, taken before that listing, so that the next no-op trusts one stat again rather than
    list it — at 10,000 `result` links in a workspace's root, each listing resolved each link
    (~0.4 s a no-op, for good). `a.restamped` asks the no-op to save the snapshot."""
    a.dirs[path] = (mtime, *state[1:])
    a.dirs_since[path] = taken_at
    a.restamped = True


ENTRY_META = ".jbuild-entry.json"  # store.META, named here: a no-op does not import the store package
LISTING_FROM = 256  # entries: from this many on, one listing of the store beats a stat each


def entries_present(root: str, names: list[str], listing_from: int = LISTING_FROM, listing=None) -> bool:
    """Is each of `names` a whole entry of the store at `root`? An entry appears there only whole
    (published by a rename with its metadata inside, removed by a rename out of it), so for many
    names one listing of the store answers; for a few, a stat of each one's metadata. `listing`:
    the store's names as a run under its lock listed them already (Rebuilder.store_listing)."""
    if len(names) < listing_from:
        return all(os.path.exists(os.path.join(root, name, ENTRY_META)) for name in names)
    try:
        present = listing() if listing is not None else set(os.listdir(root))
    except OSError:
        return False
    return present.issuperset(names)


def _root_for(path: str, root: str) -> str:
    std = str(stdlib_dir())
    return std if path == std or path.startswith(std + os.sep) else root

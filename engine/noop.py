"""The no-op path: what a successful build's plan was computed from (`record`, kept by
snapshot.py), and the answer to the next identical build when none of it changed (`answer`):
report every action reused, re-root the results, and stop — no parser, resolver or keys."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path

from jbuild.base.freshness import RACY_MARGIN_NS, stat_key, trusted
from jbuild.base.locks import STORE_LOCK, flock
from jbuild.dsl.workspace import Workspace

from . import snapshot
from .settings import Options, out_link

TYPE_CHECKING = False  # (not typing's: importing typing is ~3 ms of a no-op)
if TYPE_CHECKING:
    from .build import Plan, Result
    from .store import Store


def record(p: Plan, rb) -> snapshot.Snapshot:
    """What this plan was computed from, with the stats it was computed under (each root's
    members and closure entries apart: `detail`)."""
    from jbuild.dsl.model import Test

    from .platform import host_path

    files, dirs = p.loader.inputs()
    toml = p.workspace.root / "jbuild.toml"
    files[str(toml)] = snapshot.stat_of(toml)
    bases: dict = {}  # (repo, package) -> its directory: one per package, not one per node
    for node in p.node_closure:
        if isinstance(node.target, Test) or not getattr(node.target, "files", ()):
            continue  # a build never reads a test's sources (jbuild test hashes them)
        where = (node.label.repo, node.label.package)
        base = bases.get(where) or bases.setdefault(where, p.computer.package_dir(node))
        for rel in node.target.files:
            path = os.path.join(base, rel)
            files[path] = p.stats.entries[path][0]
    from . import dpkg

    if dpkg.available():  # a package upgrade changes host tools' fingerprints, not their binaries
        files[dpkg.STATUS] = snapshot.stat_of(Path(dpkg.STATUS))
    tools = []
    for fp in p.computer.host.values():
        for name, b in fp.binaries.items():
            files[b["path"]] = p.stats.entries[b["path"]][0]
            tools.append((name, host_path(), b["path"]))
    root_at = _root_positions(p)
    snap = snapshot.Snapshot(
        recorded_at=p.started_at, files=files, dirs=dirs, store=p.opts.store,
        actions=[(str(n), rb.entry_of(n)) for n in p.graph.nodes],
        roots=[] if root_at else [(r.id, rb.entry_of(r), []) for r in p.roots], root_at=root_at,
        envs=[p.envs[r].name for r in p.roots] if p.envs else [], links=p.links,
        has_members=bool(p.members) or p.recorded is not None,
        tests=[str(t) for t in p.tests], tools=tools, root=str(p.workspace.root),
        outputs=[o for n in p.graph.nodes if n.target.outputs
                 for o in p.store.meta(rb.entry_of(n)).outputs.values()],
        root_outputs={str(r): p.store.meta(rb.entry_of(r)).outputs for r in p.roots if r.target.outputs})
    return snap


def detail(p: Plan) -> snapshot.Detail | None:
    """Each root's members and closure entries, kept apart from `record`'s snapshot; None if
    neither was made."""
    if p.recorded is not None:  # (results.py: the last run's, with the roots it changed made again)
        return p.recorded
    from .results import host_signature

    if not p.members and not p.envs:
        return None
    return snapshot.Detail(members=_members_packed(p.members, p.roots),
                           entries=packed_entries(p.root_entries) if p.envs else [],
                           hosts=host_signature(p) if p.envs else None)


def packed_entries(entries: list[list[str]]) -> snapshot.Packed:
    out = snapshot.Packed()
    pack = out.packer()
    out.rows = [pack(e) for e in entries]
    out.whole = len(out.table)
    return out


def member_packer(packed: snapshot.Packed):
    """`Packed.packer` of runtime.Member lists, the table keeping each as JSON."""
    return packed.packer(key=lambda m: (m.label, m.entry, m.exports, m.output),
                         kept_key=lambda d: (d["label"], d["entry"], tuple(d["exports"]), d.get("output", "")),
                         value=lambda m: m.to_json())


def _root_positions(p: Plan) -> list[int]:
    """Each root's position among the actions; [] if a root is not an action."""
    if not p.roots:
        return []
    at = {n: i for i, n in enumerate(p.graph.nodes)}
    found = [at.get(r) for r in p.roots]
    return [] if None in found else found


def record_since(old: snapshot.Snapshot | None, p: Plan, rb, session, changed: tuple[set, set], entry_of=None):
    """`record`, from the snapshot the last run recorded, when that run left the very session
    state this plan was updated from and the analysis is the same (`session` names them both):
    only the `changed` (actions settled anew, files hashed anew) are looked up again — 10,000
    entry names and source stats are not. None when it cannot: the caller records whole.
    `entry_of`: each changed action's entry name (the run's, `rb.entry_of`, unless told)."""
    from .session_journal import state_of

    nodes, paths = changed
    before = session.__dict__.get("restored_from")
    if old is None or not old.session or old.session != before or p.envs or p.members:
        return None
    relowered = session.__dict__.get("relowered") or ("", {})  # (an edit taken in by relower.py: its file)
    if state_of(session)[0] != before[0] and relowered[0] != before[0]:  # analysed again meanwhile
        return None
    if any(n.target.outputs for n in nodes):
        return None
    files, entries = dict(old.files), p.stats.entries
    files.update(relowered[1] if relowered[0] == before[0] else {})
    for path in paths:
        if path in files:
            files[path] = entries[path][0]
    actions, roots = list(old.actions), list(old.roots)  # (roots: [] if they are positions in actions)
    root_names = list(map(itemgetter(0), roots)) if nodes and roots else []
    order, entry_of = session.order, entry_of or rb.entry_of
    for n in nodes:
        i, name = order.get(n), n.id
        if i is None or i >= len(actions) or actions[i][0] != name:
            return None  # not where the analysis puts it: record whole
        actions[i] = (name, entry_of(n))
        if name in root_names:
            roots[root_names.index(name)] = (name, actions[i][1], [])
    # a changed action may change any root's environment and members: they are made again when asked
    # A changed action, or a target re-lowered (its exports, config), may change any root's environment
    # and members: what was recorded of them answers no build now (`answer`), but the next build with
    # links makes again only the roots these reach (results._links_since), if `envs_dirty` names them.
    dirty, since = session.__dict__.get("env_dirty"), old.envs_dirty
    stale = {} if not nodes and dirty == set() else \
        {"envs_dirty": sorted({*since, *map(str, nodes), *map(str, dirty)})} if dirty is not None and old.envs else \
        {"envs": [], "envs_dirty": [], "detail": "", "has_members": False, "links": None}
    return dataclasses.replace(old, recorded_at=p.started_at, files=files, actions=actions, roots=roots,
                               decisions_all_reused=False, store_stamp=(), restamped=False, **stale)


def _keep_envs(snap: snapshot.Snapshot, old: snapshot.Snapshot | None, session, nodes: set) -> None:
    """A snapshot recorded whole by a build without links (the analysis written anew: a BUILD
    file read again the loader's way, its stat racy or its edit not one relower.py takes in)
    keeps the environments `old` recorded, as `record_since` would, when the session knows every
    node that may differ from them since (`env_dirty`, and `nodes`, the actions settled anew):
    they answer no build, and the next build with links makes again only the roots those reach
    (results._links_since). Else they are dropped (that build takes the full path)."""
    dirty = session.__dict__.get("env_dirty")
    if old is None or not old.envs or dirty is None or not old.session or \
            old.session != session.__dict__.get("restored_from"):
        return
    snap.envs, snap.links, snap.detail, snap.has_members = old.envs, old.links, old.detail, old.has_members
    snap.envs_dirty = sorted({*old.envs_dirty, *map(str, nodes), *map(str, dirty)})


def remember(cache: Path, old: snapshot.Snapshot | None, p: Plan, rb, session, changed) -> None:
    """Save what this successful build's plan was computed from, for the next no-op, naming the
    session state it goes with."""
    from .session_journal import state_of

    snap, kept = record_since(old, p, rb, session, changed) if changed is not None else None, None
    if snap is None or UNSETTLED in map(itemgetter(1), snap.actions):  # (carried: every one settled since?)
        snap, kept = record(p, rb), detail(p)
        if kept is None and changed is not None:
            _keep_envs(snap, old, session, changed[0])
    snap.session = state_of(session)
    snapshot.save(cache, snap, kept)


UNSETTLED = ""  # the entry name of an action a failed build left unsettled (`carry`): never in the store


def carry(cache: Path, old: snapshot.Snapshot | None, p: Plan, session, changed) -> None:
    """After a failed build: the snapshot the last successful one recorded, carried to the
    session state this one left, so that the build that succeeds next updates it with what it
    changed (`record_since`) rather than recording it whole (at 10,000 packages that reads the
    loader back: ~0.25 s). It answers no build (`snapshot.CARRIED`): each action names the entry
    it is settled at now — one a failure left unsettled, none — and a file the failure hashed
    anew its stat now. Left as it was if it cannot be carried (the next success records whole)."""
    from .keys import entry_name
    from .session_journal import state_of

    settled = session.settled

    def settled_entry(n) -> str:
        was = settled.get(n)
        return UNSETTLED if was is None else was[3] if len(was) > 3 else entry_name(n, was[0])

    snap = record_since(old, p, None, session, changed, settled_entry) if changed is not None else None
    if snap is not None:
        snap.recorded_at, snap.session = snapshot.CARRIED, state_of(session)
        snapshot.save(cache, snap)


def _members_packed(members: dict, roots: list) -> snapshot.Packed | list:
    """Each root's members (as JSON), in root order; [] if none were made."""
    if not members:
        return []
    out = snapshot.Packed()
    pack = member_packer(out)
    out.rows = [pack(members[r]) for r in roots]
    out.whole = len(out.table)
    return out


def answer(a: snapshot.Snapshot, store_root: Path, ws: Workspace, opts: Options, cache: Path,
           members: bool = True) -> Result | None:
    """Nothing changed: report, re-root the results under the store lock, and stop. None if an
    entry vanished meanwhile (a gc between the check and the lock), or what a result link or
    `members` needs was not kept: take the full path. (The store package is imported only to
    write its index or a GC root: not by a no-op after the first.)"""
    import fcntl

    from .build import Result
    from .progress import Reporter

    root = str(store_root)
    if not os.path.isdir(root):
        return None
    with flock(Path(root, STORE_LOCK), fcntl.LOCK_SH):  # Store.shared's lock: no gc meanwhile
        entries = _entries(a)  # a few: a stat of each one's metadata answers, damage included
        stamped = len(entries) >= snapshot.LISTING_FROM and _stamp_holds(a, root)
        if not stamped and not snapshot.entries_present(root, entries):
            return None  # (a split package's set counts only with all its outputs)
        roots = a.root_entries()
        link = out_link(opts, len(roots))
        if a.envs_dirty and (members or link):
            return None  # the environments recorded are not this build's (record_since)
        kept = snapshot.load_detail(cache, a) if members and (a.roots or a.root_at) else None
        if members and (a.roots or a.root_at) and (kept is None or not a.has_members):
            return None  # recorded by a build that skipped them
        changed, a.restamped = not a.decisions_all_reused or a.restamped, False  # (restamped: snapshot.is_fresh)
        if link:  # (before the report: a link that cannot be made is bad input, said first)
            if len(a.envs) != len(roots):
                return None  # recorded by a build without a link: assemble the environments once
            linked = _links(a, root, link, roots, cache, kept)
            if linked is None:
                return None
            changed = changed or linked != a.links
            a.links = linked
        reporter = Reporter(len(a.actions), opts.build_events)
        reporter.reused_unstarted([node for node, _ in a.actions], "inputs unchanged")
        if not a.decisions_all_reused:
            _store(root).index.mark_reused(str(ws.root), [node for node, _ in a.actions])
            a.decisions_all_reused = True
        reporter.summary(0, opts.keep_going)
        if (not stamped and len(entries) >= snapshot.LISTING_FROM and _restamp(a, root)) or changed:
            snapshot.save(cache, a)
    at = Path(root)
    return Result(0, EntryPaths(at, roots), tests=a.tests, reused_analysis=True,
                  envs=EntryPaths(at, list(zip(map(itemgetter(0), roots), a.envs, strict=True))
                                  if len(a.envs) == len(roots) and not a.envs_dirty else []),
                  members=RecordedMembers([node for node, _ in roots], kept.members) if kept else [],
                  outputs={node: {out: at / name for out, name in outs.items()}
                           for node, outs in a.root_outputs.items()}, unlinked=link != opts.out_link)


def _links(a: snapshot.Snapshot, root: str, out_link: str, roots: list, cache: Path, kept) -> tuple | None:
    """The stamp of the result links of `roots` and their GC roots, each made right if it is not
    (result_links.py): two stats when the snapshot's stamp proves them unchanged. None if a
    record must be written and each root's closure entries were not kept."""
    from . import result_links

    base = os.path.abspath(out_link)
    if result_links.unchanged(a.links, base, root, len(roots)):
        return a.links

    def entries_of():
        found = kept or snapshot.load_detail(cache, a)
        return found.entries if found is not None and len(found.entries) == len(roots) else None  # (Packed: each
        #                                                                         root's list made when asked)

    return result_links.settle(root, base, a.envs, a.links, entries_of)


def _store(root: str) -> Store:
    from .store import Store

    return Store(Path(root))


def _stamp_holds(a: snapshot.Snapshot, root: str) -> bool:
    """Is every recorded entry still in the store, by one stat of its directory? (Where a listing
    would answer: from `snapshot.LISTING_FROM` entries on.) An entry leaves
    it only by a rename out of that directory (gc, repair: under the exclusive lock), which
    changes its mtime; the stamp is a stat taken just before a listing that showed them all
    (`_restamp`), trusted by the racy-clean rule (base/freshness.py)."""
    return bool(a.store_stamp) and trusted(os.stat(root), *a.store_stamp)


def _restamp(a: snapshot.Snapshot, root: str) -> bool:
    """Stamp the store's directory (still under the shared lock): its stat, then a listing
    showing every entry — so whatever leaves after the stat changes what the stamp recorded.
    True if the snapshot is to be saved with it. A settled stamp that no longer holds means a
    store others write to: it is not stamped again (nor the snapshot rewritten) on every
    no-op; the listing answers there."""
    old = a.store_stamp
    if old and max(old[0][0], old[0][3]) < old[1] - RACY_MARGIN_NS:
        return False
    taken_at = time.time_ns()
    st = os.stat(root)
    if not snapshot.entries_present(root, _entries(a)):
        return False
    a.store_stamp = (stat_key(st), taken_at)
    return True


def _entries(a: snapshot.Snapshot) -> list[str]:
    return [*(name for _, name in a.actions), *a.outputs, *a.envs]


class EntryPaths(Sequence):
    """(node, store path) of each root, made when asked for: `//...` at 10,000 packages has
    10,000 roots, and the command line prints only how many unless told to list them."""

    def __init__(self, root: Path, named: list[tuple[str, str]]):
        self.root, self.named = root, named

    def __len__(self) -> int:
        return len(self.named)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [(node, self.root / name) for node, name in self.named[i]]
        node, name = self.named[i]
        return node, self.root / name

    def __eq__(self, other) -> bool:
        return list(self) == other

    def __repr__(self) -> str:
        return repr(list(self))


class RecordedMembers(Sequence):
    """(node, its run closure as runtime.Member) of each root, made when asked for: at 10,000
    roots that is millions of members (seconds and hundreds of MB), and `jbuild build` asks for
    none of them (runtime/named.py does)."""

    def __init__(self, nodes: list[str], recorded):  # (recorded: snapshot.Packed, or lists of JSON)
        if len(nodes) != len(recorded):
            raise ValueError(f"{len(nodes)} roots, {len(recorded)} members")
        self.nodes, self.recorded = nodes, recorded

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(len(self.nodes))[i]]
        return self.nodes[i], _members(self.recorded[i])

    def __eq__(self, other) -> bool:
        return list(self) == other

    def __repr__(self) -> str:
        return repr(list(self))


def _members(recorded: list[dict]) -> list:
    if not recorded:
        return []
    from .runtime.environment import Member

    return [Member.from_json(m) for m in recorded]

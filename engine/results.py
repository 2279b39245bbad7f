"""What a build leaves for its user: each root's environment (its run closure, runtime/), the
`result` links to them, and the GC roots holding everything those need to build and to run.
(`p` below is an engine.build.Plan, built and run.)"""

from __future__ import annotations

import os
from operator import attrgetter
from pathlib import Path

from jbuild.dsl.model import Package

from .graph import is_action
from .resolve import Closure, Node


def roots_built(p, rb) -> tuple[list, list, dict]:
    """(node, entry name) of each root built or reused, (node, why) of each other, and each split
    package root's output -> entry path. (10,000 roots of `//...`: no path made for them.)"""
    from .adopted import Adopted

    names = rb._names
    if len(rb.outcomes) == len(p.graph.nodes) and not any(map(attrgetter("shape.outputs"), p.roots)) and all(
            o.decision in ("built", "reused") for o in rb.decided.values()):
        # every action adopted (named at adoption) or built or reused (named when decided): C loops,
        # one dict lookup per root (the outcomes' keys are the graph's nodes: their count says all)
        try:
            return list(zip(map(attrgetter("id"), p.roots), map(names.__getitem__, p.roots), strict=True)), [], {}
        except KeyError:  # (a root with no outcome, if an outcome is not an action's: said below)
            pass
    roots, skipped, outputs = [], [], {}
    get = rb.outcomes.get
    for n in p.roots:
        o = get(n)
        if isinstance(o, Adopted) and not n.shape.outputs:  # (9,999 of 10,000 at an edit: named at adoption)
            roots.append((n.id, names[n]))
        elif o is not None and o.decision in ("built", "reused"):
            roots.append((n.id, rb.entry_of(n)))  # (a path each only if asked: noop.EntryPaths)
            if n.shape.outputs:
                outputs[n.id] = {out: p.store.path(name) for out, name in p.store.meta(o.entry.name).outputs.items()}
        elif o is not None and o.decision == "failed":
            skipped.append((n.id, f"failed: {o.reason}"))
        else:
            skipped.append((n.id, o.reason if o else "not built"))
    return roots, skipped, outputs


def environment_of(p, root: Node) -> Path:
    """The environment `result` points at: `root`'s run closure at this resolution
    (runtime/environment.py), assembled once per closure. Call under the store's shared lock."""
    from .runtime.config import environment_etc
    from .runtime.environment import assemble

    return assemble(p.store, p.members[root], environment_etc(run_packages(p.node_closure[root], root)),
                    title=root.label.name)


def run_packages(closure: Closure, root: Node) -> list[Package]:
    """The packages of `root`'s run closure at this resolution (config is rendered over them)."""
    from .graph import run_closure

    return [n.target for n in run_closure(closure, root) if is_action(n)]


def closure_entries(p, rb, root: Node) -> list[str]:
    """Every entry `root` needs to build and to run, at this resolution: its GC root's contents."""
    return sorted(rb.entry_of(n) for n in _closure_actions(p, root))


def root_entries(p, rb, root: Node) -> list[str]:
    """What a result link's GC root holds: `closure_entries`, and the host trees
    (`.host/<key>`, hostroot.py) their builds ran over, so gc keeps what rebuilds them."""
    return closure_entries(p, rb, root) + host_trees_of(p, root)


def host_trees_of(p, root: Node, memo: dict | None = None) -> list[str]:
    """`.host/<key>` of each host tree the actions of `root`'s closure build over (as
    build.py's _host_roots chooses them), none assembled here; [] outside bubblewrap. `memo`
    (a dict, for many roots of one run): each action's packages and each set's names, once."""
    from . import dpkg
    from .build import BUBBLEWRAP_KINDS
    from .hostroot import tree_names
    from .keys import host_tools_of

    if getattr(p, "sandbox_kind", None) not in BUBBLEWRAP_KINDS or not dpkg.available():
        return []
    memo = {} if memo is None else memo

    def packages(n) -> frozenset:
        found = memo.get(n)
        if found is None:
            found = memo[n] = frozenset(pkg for tool in host_tools_of(p.node_closure[n], n)
                                        for pkg in p.computer.host[tool.label].debian_packages)
        return found

    sets = frozenset(map(packages, _closure_actions(p, root)))
    names = memo.get(sets)
    if names is None:
        names = memo[sets] = tree_names(p.store.root, sets)
    return list(names)


def host_signature(p) -> tuple:
    """What `host_trees_of` names depend on beyond the closure: dpkg's status and the chosen
    alternatives (hostroot.tree_names); () outside bubblewrap."""
    from . import dpkg
    from .build import BUBBLEWRAP_KINDS

    if getattr(p, "sandbox_kind", None) not in BUBBLEWRAP_KINDS or not dpkg.available():
        return ()
    from .hostroot import chosen_alternatives

    return dpkg.status_signature(), chosen_alternatives()


def _closure_actions(p, root: Node) -> list[Node]:
    closure = p.node_closure[root]
    seen, stack = set(), [root]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(d for _, d in closure.deps.get(n, ()))
    return [n for n in seen if is_action(n)]


def members_and_links(p, rb) -> None:
    """Each root's run members (`p`: build.Plan, `rb`: its Rebuilder); with --out-link, its
    environment, the `result` link to it and its GC root (result_links.py: `p.links` gets the
    stamp, `p.root_entries` each root's closure entries, for the no-op snapshot). Called under the
    store's shared lock, so a concurrent gc cannot delete what was just built before it is rooted."""
    from .runtime.environment import run_members

    if p.opts.out_link and not p.want_members and _links_since(p, rb):
        return
    shared: dict = {}  # one object per distinct member: //... has N roots sharing closures
    p.members = {r: [shared.setdefault(m, m) for m in run_members(p.node_closure[r], r, rb.entry_of)]
                 for r in p.roots}
    if p.opts.out_link:
        from .result_links import settle

        p.envs = {r: environment_of(p, r) for r in p.roots}
        p.root_entries = [root_entries(p, rb, r) for r in p.roots]
        p.links = settle(str(p.store.root), os.path.abspath(p.opts.out_link), [p.envs[r].name for r in p.roots],
                         None, lambda: p.root_entries)


def root_whole_build(p, rb) -> None:
    """A build that makes no result links (more roots than Options.link_limit) keeps every entry
    it built or reused from gc by one GC root of its command line: a link in the workspace's cache
    directory to the workspace (it holds while that cache does: `jbuild clean` drops it), whose
    record lists each action's entry (rewritten only if that changed: store/gc.write_roots).
    Called under the store's shared lock, as `members_and_links`."""
    from .graph import is_action
    from .result_links import make_link, readlink_or_none

    link, target = str(p.whole_root), str(p.workspace.root)
    if readlink_or_none(link) != target:
        make_link(link, target)
    p.store.add_root(Path(link), [rb.entry_of(n) for n in p.graph.nodes if is_action(n)])


def _links_since(p, rb) -> bool:
    """`members_and_links` from what the run this session state was left by recorded
    (`p.env_base`): only the roots whose closure holds a node that may differ from that run's —
    an entry named anew, a target or its edges changed (`p.env_dirty`) — or whose environment is
    gone, are made again, found by the reverse edges from those nodes; every other root keeps
    its recorded environment, members and closure entries. False (nothing done) when that cannot
    be proved: the caller takes the full path."""
    from . import snapshot
    from .noop import member_packer

    if p.env_base is None or p.env_dirty is None or not p.roots:
        return False
    old, path = p.env_base
    roots = p.roots
    if len(old.envs) != len(roots) or [n for n, _ in old.root_entries()] != [r.id for r in roots]:
        return False
    closure_deps = {id(c.deps): c.deps for c in map(p.node_closure.__getitem__, roots)}  # (one, if shared)
    was = dict(old.actions)
    since = set(old.envs_dirty)  # (builds without links since the environments were recorded)
    changed = {n for n in p.graph.nodes if was.get(str(n)) != rb.entry_of(n)} | p.env_dirty | \
        ({n for n in p.node_closure if str(n) in since} if since else set())
    kept = snapshot.load_detail(path, old)
    packed = snapshot.Packed
    if kept is None or getattr(kept, "hosts", None) != host_signature(p) or not isinstance(kept.members, packed) \
            or not isinstance(kept.entries, packed) or len(kept.members) != len(roots) or len(kept.entries) != len(roots):
        return False
    reached = _reached(closure_deps.values(), changed)
    present = rb.store_listing()  # (listed once a run, under its shared lock: a listed entry stays)
    envs, members, entries = list(old.envs), kept.members, kept.entries  # (each root's row copied through)
    again = [i for i, r in enumerate(roots) if r in reached or envs[i] not in present]
    from .runtime.environment import run_members

    if len(again) == len(roots):  # (every row made again: the tables too, holding only what they name)
        members, entries = packed(rows=[b""] * len(roots)), packed(rows=[b""] * len(roots))
    elif _slack(members) or _slack(entries):  # (else each edit's new items stay for good)
        members, entries = _compacted(members), _compacted(entries)
    pack_members, pack_entries = member_packer(members), entries.packer()
    memo: dict = {}  # (host trees: each action's once)
    try:
        with _batched(p.store, len(again)):
            for i in again:  # (one root's members at a time: 10,000 roots' are millions of objects)
                r = roots[i]
                made = run_members(p.node_closure[r], r, rb.entry_of)
                p.members = {r: made}  # (environment_of reads them)
                envs[i] = environment_of(p, r).name
                members.rows[i] = pack_members(made)
                entries.rows[i] = pack_entries(closure_entries(p, rb, r) + host_trees_of(p, r, memo))
    finally:
        p.members = {}
    from .result_links import settle

    at = p.store.root
    p.envs = {r: at / name for r, name in zip(roots, envs, strict=True)}
    p.root_entries = entries  # (Packed: a root's list made when asked)
    p.recorded = snapshot.Detail(members=members, entries=entries, hosts=kept.hosts)
    p.links = settle(str(at), os.path.abspath(p.opts.out_link), envs, old.links, lambda: entries)
    p.envs_made = len(again)  # (tests: how many roots were made again)
    return True


def _batched(store, count: int):
    """Where many environments are made (a libc patch: every root's), their publications'
    fsyncs deferred to one syncfs every few seconds and at the end (store.deferred_sync: a kill
    or a power loss leaves the store consistent, durability.py); else each made durable as
    `assemble` does alone."""
    from contextlib import nullcontext

    from .store.durability import Syncer

    return store.deferred_sync() if count > Syncer.FEW else nullcontext()


SLACK = 4  # an item table is compacted when more than 1/SLACK of it was added since it was made whole


def _slack(packed) -> bool:
    """Has `packed`'s table grown by more than 1/SLACK since it was made whole? (Each edit adds
    its roots' new items; the rows that held the old ones no longer name them.)"""
    whole = getattr(packed, "whole", None)
    if whole is None:  # (kept by an earlier jbuild: from now on)
        packed.whole = whole = len(packed.table)
    return len(packed.table) > whole + whole // SLACK


def _compacted(packed):
    """`packed` with a table holding only what its rows name (each row packed again), and its
    size noted (`whole`); the rows made again after this are packed into it."""
    from array import array

    from .snapshot import Packed

    used = sorted({j for row in packed.rows for j in array("I", row)})
    at = {j: i for i, j in enumerate(used)}
    out = Packed([packed.table[j] for j in used],
                 [array("I", [at[j] for j in array("I", row)]).tobytes() for row in packed.rows])
    out.whole = len(out.table)
    return out


def _reached(edges, changed: set) -> set:
    """`changed` and every node whose closure holds one of them, by the reverse of `edges` (each
    distinct closure's: one where the resolution is shared; their union otherwise, which may
    reach a root that does not need it, never miss one that does)."""
    consumers: dict = {}
    for deps in edges:
        for n, row in deps.items():
            for _, d in row:
                consumers.setdefault(d, []).append(n)
    reached, stack = set(), list(changed)
    while stack:
        n = stack.pop()
        if n not in reached:
            reached.add(n)
            stack.extend(consumers.get(n, ()))
    return reached

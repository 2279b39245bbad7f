"""A shared resolution brought up to date after some families changed (a BUILD file edit): the
changed targets, and what reaches them, are resolved again; every other node, with its edges,
is kept as it was.

Only a resolution made without search (`resolve._resolve_roots`'s shared case: every family
reached has one version that every constraint on it admits, and no requirement selects a
flavour value) is updated so, and only while the changed families keep it so: the checks of
`_single_versions` are made again for the changed targets and for those that require them,
which are the only ones whose answer can differ. Anything else (a second version, a flavour
asked for, a cycle) returns None and the caller resolves everything again, as before.

A node's identity (`Node`: label, version, flavours, resolution) changes only where its
version or its resolution does; a kept node whose dependency was re-made (a changed build
script: the same id and resolution, another target) keeps its own object and gets new edges.
"""

from __future__ import annotations

from jbuild.dsl.labels import Label
from jbuild.dsl.model import Target

from .resolve import Closure, Node, _active, _flavour_values, resolution_of


def keep_unchanged(old: dict, new: dict) -> tuple[dict, set[Label]]:
    """(`new` families, where one made of the old objects is the old list, so that its nodes
    and cached keys stay valid; the labels of those equal to the old ones in every field but
    their spans (no span is part of a target's equality), moved: their new objects are taken,
    for the resolution's messages, but their keys hold)."""
    out, moved = {}, set()
    for label, family in new.items():
        before = old.get(label)
        if before is None or family is before or _same_objects(family, before):
            out[label] = family if before is None else before
            continue
        if family == before:
            moved.add(label)
        out[label] = family
    return out, moved


def _same_objects(a: list, b: list) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def update(closures: list[Closure], roots: list[Label], families: dict[Label, list[Target]],
           old_families: dict[Label, list[Target]], changed: set[Label] | None = None) -> list[Closure] | None:
    """The closures of `roots` over `families`, from `closures` (resolved over `old_families`);
    None if they cannot be updated so (the caller resolves everything). `changed`: the labels
    whose families differ, if the caller knows them (relower.py: not every family is at hand)."""
    if not closures or not roots or not all(c.shared for c in closures):
        return None
    old_nodes, old_deps = closures[0].nodes, closures[0].deps
    if any(c.nodes is not old_nodes or c.deps is not old_deps for c in closures):
        return None
    if changed is None:
        changed = {lb for lb in families.keys() | old_families.keys() if families.get(lb) is not old_families.get(lb)}
    requirers: dict[Label, list[Label]] = {}
    for n, edges in old_deps.items():
        for _, d in edges:
            requirers.setdefault(d.label, []).append(n.label)
    check = changed | {r for lb in changed for r in requirers.get(lb, ())}
    if not all(_single(lb, families) for lb in check if lb in families):
        return None
    fresh = {lb: families[lb][0] for lb in changed if lb in families}  # targets whose node is made anew
    if families.keys() == old_families.keys() and roots == [c.root.label for c in closures]:
        same = _same_shape(fresh, old_nodes, old_deps, requirers, roots)
        if same is not None:
            return same
    edges = _edges(roots, families, fresh, old_nodes, old_deps)
    if edges is None:
        return None
    order = _postorder(roots, edges)
    if order is None:
        return None
    new: dict[Label, Node] = {}
    deps: dict[Node, list] = {}
    for lb in order:
        node, row = _node(lb, fresh, old_nodes, old_deps, new)
        new[lb] = node
        deps[node] = row
    nodes = {lb: new[lb] for lb in old_nodes if lb in new}
    nodes.update((lb, n) for lb, n in new.items() if lb not in nodes)
    deps = {n: deps[n] for n in nodes.values()}
    return [Closure(nodes[r], nodes, deps, shared=True) for r in roots]


def _single(label: Label, families) -> bool:
    """`_single_versions`'s checks of one target: one version, and each of its requirements
    names one version its constraint admits, with no flavour value asked for."""
    family = families[label]
    if len(family) != 1:
        return False
    t = family[0]
    for r in _active(t, dict(_flavour_values(t, {}))):
        dep = families.get(r.label, [])
        if r.flavours or len(dep) != 1 or (dep[0].version is not None and not r.constraint.admits(dep[0].version)):
            return False
    return True


def _edges(roots, families, fresh: dict, old_nodes, old_deps) -> dict[Label, list[Label]] | None:
    """The labels each label reached from `roots` requires (a family reached for the first time
    is checked and made anew, added to `fresh`); None if one fails the checks."""
    out: dict[Label, list[Label]] = {}
    stack = list(roots)
    while stack:
        lb = stack.pop()
        if lb in out:
            continue
        if lb not in fresh and lb not in old_nodes:
            if lb not in families or not _single(lb, families):
                return None
            fresh[lb] = families[lb][0]
        if lb in fresh:
            t = fresh[lb]
            out[lb] = [r.label for r in _active(t, dict(_flavour_values(t, {})))]
        else:
            out[lb] = [d.label for _, d in old_deps[old_nodes[lb]]]
        stack.extend(out[lb])
    return out


def _postorder(roots, edges: dict[Label, list[Label]]) -> list[Label] | None:
    """Every label of `edges`, each after those it requires; None on a cycle (the whole
    resolution and the graph report it, as they do)."""
    order: list[Label] = []
    state: dict[Label, bool] = {}  # False: on the stack; True: done
    for start in edges:
        if start in state:
            continue
        state[start] = False
        stack = [(start, iter(edges[start]))]
        while stack:
            lb, it = stack[-1]
            for d in it:
                s = state.get(d)
                if s is None:
                    state[d] = False
                    stack.append((d, iter(edges[d])))
                    break
                if s is False:
                    return None
            else:
                stack.pop()
                state[lb] = True
                order.append(lb)
    return order


def _node(lb: Label, fresh: dict, old_nodes, old_deps, new: dict[Label, Node]) -> tuple[Node, list]:
    """The node of `lb` and its edges, its requirements' nodes (in `new`) being final."""
    if lb in fresh:
        t = fresh[lb]
        flavours = _flavour_values(t, {})
        row = [(r, new[r.label]) for r in _active(t, dict(flavours))]
        return Node(t, lb, str(t.version) if t.version else "", flavours, resolution_of(row)), row
    old = old_nodes[lb]
    row = old_deps[old]
    if all(new[d.label] is d for _, d in row):
        return old, row
    row = [(r, new[d.label]) for r, d in row]
    if all(n.id == d.id and n.resolution == d.resolution for (_, n), (_, d) in zip(row, old_deps[old], strict=True)):
        return old, row
    return Node(old.target, lb, old.version, old.flavours, resolution_of(row)), row


def _same_shape(fresh: dict, old_nodes, old_deps, requirers, roots) -> list[Closure] | None:
    """The update of an edit that changed no node's identity nor any edge (a build script, a
    source list, a span): each changed target's node has its version, flavours and requirements
    (kind and label, in order) as before, so its resolution too; its node is made anew with that
    resolution, and its requirers get edges to it. None if the edit changed more."""
    new: dict[Label, Node] = {}
    rows: dict[Label, list] = {}
    for lb, t in fresh.items():
        old = old_nodes.get(lb)
        if old is None:
            return None
        flavours = _flavour_values(t, {})
        active = _active(t, dict(flavours))
        was = old_deps[old]
        if (str(t.version) if t.version else "") != old.version or flavours != old.flavours or len(active) != len(was) \
                or any(r.kind is not o.kind or r.label != d.label for r, (o, d) in zip(active, was, strict=True)):
            return None
        new[lb] = Node(t, lb, old.version, flavours, old.resolution)
        rows[lb] = active
    for lb, active in rows.items():
        rows[lb] = [(r, new.get(d.label, d)) for r, (_, d) in zip(active, old_deps[old_nodes[lb]], strict=True)]
    for lb in {r for c in fresh for r in requirers.get(c, ())} - fresh.keys():
        rows[lb] = [(r, new.get(d.label, d)) for r, d in old_deps[old_nodes[lb]]]
    nodes = {lb: new.get(lb, n) for lb, n in old_nodes.items()}
    deps = {nodes[n.label]: rows.get(n.label, row) for n, row in old_deps.items()}
    return [Closure(nodes[r], nodes, deps, shared=True) for r in roots]

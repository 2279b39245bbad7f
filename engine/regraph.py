"""The action graph brought up to date after a re-resolution (reresolve.py), not made again:
a BUILD edit at 10,000 packages changes a node or two, and a whole graph costs 0.2 s.

Only the actions whose edges can differ get them again from the closure: those whose edges
changed (or that are new), those whose edge set held a node that was re-made (the same action
with another target: the graph must hold the new object) or removed, and every action that
has a build-only requirement on an action (its edges include that tool's run closure, which an
edit below it may change). Every other action keeps its edge set. If no edge set changed but
for re-made objects, the order is the last one with the new objects in it; otherwise it is
made again (a cycle is reported as by a whole graph).
"""

from __future__ import annotations

from jbuild.dsl.model import RequirementKind

from .graph import ActionGraph, _topological, is_action, run_closure
from .resolve import Closure, Node


def updated(closures: list[Closure], old: ActionGraph, old_deps: dict) -> ActionGraph | None:
    """The action graph of `closures` (all sharing one set of nodes and edges), from `old`, the
    graph of the closures whose edges were `old_deps`; None if it cannot be updated so."""
    if not closures or any(c.deps is not closures[0].deps for c in closures):
        return None
    closure = closures[0]
    deps, nodes = closure.deps, closure.nodes
    if len(nodes) != len(deps):
        return None
    found = _changes(deps, old_deps)
    if found is None:
        return None
    redo, replaced = found  # (redo: the re-made objects first, so that a set keeps them)
    gone = [o for o in replaced if o not in deps]
    consumers = old.consumers
    for o in replaced:
        redo.update(c for c in consumers.get(o, ()) if c in deps)
    users = old.__dict__.get("tool_users")
    if users is None:
        users = {n for n, row in deps.items() if _uses_tools(row)}
    else:
        users = {n for n in users if n in deps and n not in redo} | {n for n in redo if _uses_tools(deps[n])}
    redo |= users
    new_deps = dict(old.deps)  # (its keys: the kept objects; a re-made one's is replaced below)
    for o in replaced:
        new_deps.pop(o, None)
    spans = dict(old.spans)
    same = not gone
    for n in redo:
        if is_action(n):
            mine = new_deps[n] = _edges(closure, n, spans)
            same = same and mine == old.deps.get(n)  # (a re-made node equals the object it replaces)
        else:
            new_deps.pop(n, None)
    if same and len(new_deps) == len(old.nodes):
        order = list(old.nodes)
        at = {id(n): i for i, n in enumerate(order)} if replaced else {}
        for o in replaced:  # (each replaced by an equal object: none is gone)
            if id(o) in at:
                order[at[id(o)]] = nodes[o.label]
    else:
        order = _topological(new_deps, spans)
    graph = ActionGraph(order, new_deps, spans)
    graph.tool_users = {n for n in users if n in graph.deps}
    return graph


def _changes(deps: dict, old_deps: dict) -> tuple[set, list] | None:
    """(the nodes whose edges may differ, re-made ones first; the old objects replaced), from
    the two sets of edges side by side (an update keeps the order: no node is hashed); None if
    more than half were re-made (resolved anew: a whole graph is as quick)."""
    redo: set[Node] = set()
    remade: list[Node] = []
    replaced: list[Node] = []
    if len(deps) == len(old_deps):
        for (n, row), (o, was) in zip(deps.items(), old_deps.items(), strict=True):
            if n is o:
                if row is not was:
                    redo.add(n)
                continue
            if n.label != o.label:
                break
            remade.append(n)
            replaced.append(o)
        else:
            redo.update(remade)
            return None if len(remade) > len(deps) // 2 else (redo, replaced)
        redo.clear()
        remade.clear()
        replaced.clear()
    was = dict(zip(old_deps, old_deps, strict=True))  # node -> the equal object of the last resolution
    for n, row in deps.items():
        o = was.get(n)
        if o is not n:
            remade.append(n)
            redo.add(n)
        elif old_deps[n] is not row:
            redo.add(n)
    if len(remade) > len(deps) // 2:
        return None
    now = dict(zip(deps, deps, strict=True))
    return redo, [o for o in old_deps if now.get(o) is not o]


def _uses_tools(row) -> bool:
    tools = RequirementKind.BUILD_ONLY
    return any(r.kind is tools and is_action(d) for r, d in row)


def _current(n: Node, nodes: dict) -> Node:
    """The object of this resolution equal to `n` (a re-made node replaces it)."""
    found = nodes.get(n.label)
    return found if found == n else n


def _edges(closure: Closure, node: Node, spans: dict) -> set[Node]:
    """`node`'s edges, as `graph.action_graph` finds them."""
    mine: set[Node] = set()
    for req, dep in closure.deps.get(node, ()):
        if req.kind.at_build and is_action(dep):
            mine.add(dep)
            spans.setdefault((dep, node), req.span)
        if req.kind is RequirementKind.BUILD_ONLY:
            mine.update(d for d in run_closure(closure, dep) if is_action(d) and d != node)
    return mine

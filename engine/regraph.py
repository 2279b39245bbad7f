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
    was = dict(zip(old_deps, old_deps, strict=True))  # node -> the equal object of the last resolution
    redo: set[Node] = set()
    remade: set[Node] = set()
    for n, row in deps.items():
        if was.get(n) is not n:
            remade.add(n)
            redo.add(n)
        elif old_deps[n] is not row:
            redo.add(n)
    if len(remade) > len(deps) // 2:
        return None  # (resolved anew: a whole graph is as quick)
    gone = [n for n in old_deps if n not in deps]
    consumers = old.consumers
    for n in (*remade, *gone):
        redo.update(c for c in consumers.get(n, ()) if c in deps)
    tools = RequirementKind.BUILD_ONLY
    redo.update(n for n, row in deps.items() if any(r.kind is tools and is_action(d) for r, d in row))
    new_deps = {n: old.deps[n] for n in old.nodes if n in deps and n not in redo}  # (the kept objects)
    spans = dict(old.spans)
    same = not gone
    for n in redo:
        if is_action(n):
            mine = new_deps[n] = _edges(closure, n, spans)
            same = same and mine == old.deps.get(n)  # (a re-made node equals the object it replaces)
    if same and len(new_deps) == len(old.nodes):
        order = [_current(n, nodes) for n in old.nodes]
    else:
        order = _topological(new_deps, spans)
    return ActionGraph(order, {n: new_deps[n] for n in order}, spans)


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

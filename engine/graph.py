"""The DAG of build actions (networkx): one action per resolved package, edges from the
packages its build needs. A cycle is an error that prints the cycle with each edge's place."""

from __future__ import annotations

from jbuild.base.errors import BadInput
from jbuild.dsl.model import Package, RequirementKind

from .resolve import Closure, Node


class CycleError(BadInput):
    pass


def build_time_deps(closure: Closure, node: Node) -> list[Node]:
    """What a build of `node` sees (at /deps and /env), which is exactly what its key covers:
    the transitive closure of its build-and-run requirements (headers include headers; their
    exported digests chain), and the run closure of each build-only tool (a tool runs with its
    libraries)."""
    out: dict[Node, None] = {}
    stack = [dep for req, dep in closure.deps.get(node, ()) if req.kind is RequirementKind.BUILD_AND_RUN]
    while stack:
        dep = stack.pop()
        if dep in out:
            continue
        out[dep] = None
        stack.extend(d for r, d in closure.deps.get(dep, ()) if r.kind is RequirementKind.BUILD_AND_RUN)
    for req, dep in closure.deps.get(node, ()):
        if req.kind is RequirementKind.BUILD_ONLY:
            for n in run_closure(closure, dep):
                out[n] = None
    return list(out)


def run_closure(closure: Closure, node: Node) -> list[Node]:
    """`node` and everything it needs at run time (build-and-run and run-only, transitively)."""
    seen: dict[Node, None] = {}
    stack = [node]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen[n] = None
        stack.extend(d for r, d in closure.deps.get(n, ()) if r.kind.at_run)
    return list(seen)


def is_action(node: Node) -> bool:
    """Host tools are not built; tests are run, not built."""
    return isinstance(node.target, Package) and node.target.host_tool is None


def action_graph(closures: list[Closure]):
    """A networkx DiGraph over the Nodes of all closures, dep -> consumer, for build actions."""
    import networkx as nx

    g = nx.DiGraph()
    seen_nodes: set[int] = set()
    for closure in closures:
        if id(closure.nodes) in seen_nodes:  # closures resolved together share their nodes
            continue
        seen_nodes.add(id(closure.nodes))
        for node in closure.nodes.values():
            if not is_action(node):
                continue
            g.add_node(node)
            for req, dep in closure.deps.get(node, ()):
                if req.kind.at_build:
                    g.add_edge(dep, node, span=req.span) if is_action(dep) else None
            for dep in build_time_deps(closure, node):
                if is_action(dep) and dep != node and not g.has_edge(dep, node):
                    g.add_edge(dep, node, span=None)
    if nx.is_directed_acyclic_graph(g):
        return g
    cycle = nx.find_cycle(g)
    lines = ["dependency cycle:"]
    for a, b in cycle:
        span = g.edges[a, b].get("span")
        lines.append(f"  {b.label} requires {a.label}" + (f" ({span})" if span else ""))
    raise CycleError("\n".join(lines))

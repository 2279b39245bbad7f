"""The DAG of build actions, as plain data: one action per resolved package, edges from the
packages its build needs. A cycle is an error that prints the cycle with each edge's place."""

from __future__ import annotations

from jbuild.base.errors import BadInput
from jbuild.dsl.model import RequirementKind

from .resolve import Closure, Node


class CycleError(BadInput):
    pass


def build_time_deps(closure: Closure, node: Node, children: dict[Node, tuple] | None = None) -> list[Node]:
    """What a build of `node` sees (at /deps and /env), which is exactly what its key covers:
    the transitive closure of its build-and-run requirements (headers include headers; their
    exported digests chain), and the run closure of each build-only tool (a tool runs with its
    libraries). `children`, kept by the caller across calls on one closure: each node's direct
    build-and-run requirements, picked out once (a full build at 10,000 packages walks
    hundreds of them per action)."""
    # A depth-first walk, each node taken when popped: pushing a node already taken and
    # skipping it when popped gives the same order as not pushing it, and lets the stack grow
    # by a whole tuple at a time.
    out: dict[Node, None] = {}
    kids = {} if children is None else children
    stack = list(_bar_children(closure, node, kids))
    pop, extend = stack.pop, stack.extend
    while stack:
        dep = pop()
        if dep in out:
            continue
        out[dep] = None
        got = kids.get(dep)
        extend(got if got is not None else _bar_children(closure, dep, kids))
    for req, dep in closure.deps.get(node, ()):
        if req.kind is RequirementKind.BUILD_ONLY:
            for n in run_closure(closure, dep):
                out[n] = None
    return list(out)


def _bar_children(closure: Closure, node: Node, kids: dict[Node, tuple]) -> tuple:
    both = RequirementKind.BUILD_AND_RUN
    got = kids[node] = tuple(d for r, d in closure.deps.get(node, ()) if r.kind is both)
    return got


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
    """Host tools are not built; tests are run, not built. (Asked of the node's shape: a
    restored node answers without reading its target back.)"""
    return node.shape.action


class ActionGraph:
    """The build actions and their edges as plain data (dep -> consumer), in dependency order.

    Built in one pass over the closures without networkx (whose import alone costs 0.3 s and
    whose graph costs more at 10,000 actions); `to_networkx()` gives a DiGraph to whoever wants
    graph algorithms (query, DOT output). The small DiGraph-like surface below (`nodes`,
    `predecessors`, `successors`, `edges`, `has_edge`) keeps older callers working."""

    def __init__(self, nodes: list[Node], deps: dict[Node, set[Node]], spans: dict):
        self.nodes = nodes  # dependencies first
        self.deps = deps  # action -> the actions its build needs
        self.spans = spans  # (dep, consumer) -> the requirement's span, where one was written
        self.consumers: dict[Node, list[Node]] = {n: [] for n in nodes}
        for n, ds in deps.items():
            for d in ds:
                self.consumers[d].append(n)

    def __contains__(self, node) -> bool:
        return node in self.deps

    def __iter__(self):
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def predecessors(self, node: Node):
        return iter(self.deps[node])

    def successors(self, node: Node):
        return iter(self.consumers[node])

    def has_edge(self, a: Node, b: Node) -> bool:
        return a in self.deps.get(b, ())

    @property
    def edges(self) -> list[tuple[Node, Node]]:
        return [(d, n) for n in self.nodes for d in self.deps[n]]

    def reach(self, start) -> set[Node]:
        """`start` and every action that consumes it, transitively."""
        out: set[Node] = set()
        stack = [n for n in start if n in self.deps]
        while stack:
            n = stack.pop()
            if n not in out:
                out.add(n)
                stack.extend(self.consumers[n])
        return out

    def to_networkx(self):
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(self.nodes)
        for d, n in self.edges:
            g.add_edge(d, n, span=self.spans.get((d, n)))
        return g

    def __getstate__(self):
        """Kept by a session between CLI runs (engine/session_file.py) without the requirements'
        spans: they serve `to_networkx` (query, DOT output), never an update or a run, and are a
        tenth of what the graph costs to read back."""
        return {**self.__dict__, "spans": {}}


def action_graph(closures: list[Closure], previous: tuple | None = None) -> ActionGraph:
    """The build actions of all closures; a cycle is a CycleError. An action's edges are its
    direct build requirements and its tools' run closures: the rest of what its build sees
    (`build_time_deps`, the build-and-run requirements' closure) is ordered through them, and
    the graph stays linear in size (the transitive edges were millions at 10,000 packages).
    `previous`: (the last graph, the edges of the shared closure it was made from), updated
    where it can be (regraph.py)."""
    if previous is not None:
        from .regraph import updated

        found = updated(closures, *previous)
        if found is not None:
            return found
    deps: dict[Node, set[Node]] = {}
    spans: dict[tuple[Node, Node], object] = {}
    seen_nodes: set[int] = set()
    for closure in closures:
        if id(closure.nodes) in seen_nodes:  # closures resolved together share their nodes
            continue
        seen_nodes.add(id(closure.nodes))
        for node in closure.nodes.values():
            if not is_action(node) or node in deps:
                continue
            mine = deps[node] = set()
            for req, dep in closure.deps.get(node, ()):
                if req.kind.at_build and is_action(dep):
                    mine.add(dep)
                    spans.setdefault((dep, node), req.span)
                if req.kind is RequirementKind.BUILD_ONLY:  # a tool runs with its run-only requirements
                    mine.update(d for d in run_closure(closure, dep) if is_action(d) and d != node)
    order = _topological(deps, spans)
    return ActionGraph(order, deps, spans)


def _topological(deps: dict[Node, set[Node]], spans: dict) -> list[Node]:
    """Every action after its dependencies (an iterative depth-first search); a cycle raises a
    CycleError that prints it with each edge's place."""
    order: list[Node] = []
    state: dict[Node, int] = {}  # 1: on the path, 2: done
    for start in deps:
        if start in state:
            continue
        state[start] = 1
        path = [start]
        stack = [iter(deps[start])]
        while stack:
            for d in stack[-1]:
                s = state.get(d)
                if s is None:
                    state[d] = 1
                    path.append(d)
                    stack.append(iter(deps.get(d, ())))
                    break
                if s == 1:
                    raise CycleError(_cycle_message(path[path.index(d):] + [d], spans))
            else:
                stack.pop()
                done = path.pop()
                state[done] = 2
                order.append(done)
    return order


def _cycle_message(cycle: list[Node], spans: dict) -> str:
    """`cycle` runs consumer -> dependency; print each edge as 'X requires Y (where)'."""
    lines = ["dependency cycle:"]
    for consumer, dep in zip(cycle, cycle[1:], strict=False):
        span = spans.get((dep, consumer))
        lines.append(f"  {consumer.label} requires {dep.label}" + (f" ({span})" if span else ""))
    return "\n".join(lines)

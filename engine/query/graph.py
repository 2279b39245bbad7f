"""The resolved target graph a query walks: one node per label, one edge per requirement that
resolution kept (the chosen version's requirements, `when` conditions decided), each edge with
its kind as written in the recipe (`requires`, `build_requires`, `run_requires`).

Labels, not versions: a version family resolved differently under two roots (tinydb 1.4.2 for
geotags, 2.0.0 on its own) is one node with both versions and the union of their edges.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from jbuild.dsl.labels import Label
from jbuild.dsl.model import Target

from ..resolve import Closure, Node, resolve_roots


@dataclass
class TargetGraph:
    targets: dict[Label, list[Target]]  # every loaded version of each label
    versions: dict[Label, set[str]] = field(default_factory=dict)  # the versions resolution chose
    edges: dict[Label, dict[Label, set[str]]] = field(default_factory=dict)  # consumer -> dep -> kinds
    reverse: dict[Label, set[Label]] = field(default_factory=dict)
    closures: list[Closure] = field(default_factory=list)

    @classmethod
    def resolved(cls, roots: list[Label], targets: dict[Label, list[Target]]) -> TargetGraph:
        g = cls(targets)
        g.closures = resolve_roots(roots, targets)
        for c in g.closures:
            for node in c.nodes.values():
                g.add(node, c.deps.get(node, ()))
        return g

    def add(self, node: Node, deps) -> None:
        self.versions.setdefault(node.label, set()).add(node.version)
        out = self.edges.setdefault(node.label, {})
        for req, dep in deps:
            out.setdefault(dep.label, set()).add(req.kind.value)
            self.reverse.setdefault(dep.label, set()).add(node.label)
            self.versions.setdefault(dep.label, set()).add(dep.version)
            self.edges.setdefault(dep.label, {})

    def __contains__(self, label: Label) -> bool:
        return label in self.edges

    def kinds(self, consumer: Label, dep: Label) -> set[str]:
        return self.edges.get(consumer, {}).get(dep, set())

    # ------------------------------------------------------------ walks

    def forward(self, start, depth: int | None = None) -> set[Label]:
        """`start` and everything it requires, transitively (up to `depth` edges)."""
        return _reach(start, lambda n: self.edges.get(n, {}), depth)

    def backward(self, start, depth: int | None = None, within: set[Label] | None = None) -> set[Label]:
        """`start` and everything that requires it, transitively, inside `within`."""
        def up(n):
            found = self.reverse.get(n, ())
            return found if within is None else [m for m in found if m in within]

        return _reach(start, up, depth)

    def path(self, sources, targets) -> list[Label]:
        """A shortest path from a label of `sources` to one of `targets` ([] if none)."""
        targets = set(targets)
        parent: dict[Label, Label | None] = {}
        todo = deque()
        for s in sorted(set(sources) & set(self.edges)):
            parent[s] = None
            todo.append(s)
        while todo:
            n = todo.popleft()
            if n in targets:
                chain = [n]
                while parent[chain[-1]] is not None:
                    chain.append(parent[chain[-1]])
                return chain[::-1]
            for d in sorted(self.edges.get(n, {})):
                if d not in parent:
                    parent[d] = n
                    todo.append(d)
        return []


def _reach(start, step, depth: int | None) -> set[Label]:
    seen = set(start)
    frontier = list(seen)
    level = 0
    while frontier and (depth is None or level < depth):
        level += 1
        nxt = []
        for n in frontier:
            for d in step(n):
                if d not in seen:
                    seen.add(d)
                    nxt.append(d)
        frontier = nxt
    return seen

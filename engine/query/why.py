"""`jbuild why-depends A B` (as `nix why-depends`): the chain of requirements by which A, at the
versions and flavours resolution picks for it, comes to need B — each edge with its kind and
the place it is written; with `--entries`, each step's store entry at the current inputs and,
where a reused entry was built against another entry than the one it now runs with, both
(DESIGN §3: never silent)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from jbuild.dsl.loader import Loader, parse_cli_label
from jbuild.dsl.model import Requirement
from jbuild.dsl.workspace import Workspace

from ..resolve import Closure, Node, resolve_roots


@dataclass
class Chain:
    package: str
    dependency: str
    root: Node | None = None
    steps: list[tuple[Requirement, Node]] = field(default_factory=list)  # [] when there is no chain
    notes: dict[Node, str] = field(default_factory=dict)  # node -> its entry (with --entries)

    def render(self) -> str:
        if not self.steps:
            return f"{self.package} does not depend on {self.dependency}"
        lines = [str(self.root) + self._note(self.root)]
        for depth, (req, node) in enumerate(self.steps):
            kind = req.kind.value + (" (host tool)" if getattr(node.target, "host_tool", None) else "")
            where = f"  ({req.span})" if req.span else ""
            lines.append(f"{'   ' * depth}└─ {kind} {node}{where}{self._note(node)}")
        return "\n".join(lines)

    def _note(self, node: Node) -> str:
        return f"  [{self.notes[node]}]" if node in self.notes else ""


def why_depends(package: str, dependency: str, cwd: str | None = None, opts=None) -> Chain:
    """A shortest chain from `package` to `dependency` in `package`'s resolved closure; given
    build `opts`, planned (keys predicted) and annotated with store entries."""
    ws = Workspace.find(cwd)
    loader = Loader(ws)
    a, b = parse_cli_label(package, ws, cwd), parse_cli_label(dependency, ws, cwd)
    loader.lookup(a)  # an unknown label is an error with a did-you-mean
    loader.lookup(b)
    loader.save_cache()
    if opts is not None:
        from ..build import plan

        p = plan([package], opts, cwd)
        chain = shortest_chain(p.closures[0], str(a.label), b, dependency)
        _annotate(chain, p)
        return chain
    loaded = loader.closure([a.label])
    closure = resolve_roots([a.label], loaded.targets, {a.label: a.version} if a.version else None)[0]
    return shortest_chain(closure, str(a.label), b, dependency)


def shortest_chain(closure: Closure, package: str, b, dependency: str) -> Chain:
    """Breadth first from the closure's root to a node of label (and version) `b`."""
    chain = Chain(package, dependency, closure.root)
    parent: dict[Node, tuple[Requirement, Node] | None] = {closure.root: None}
    todo = deque([closure.root])
    while todo:
        node = todo.popleft()
        if node.label == b.label and node != closure.root and (b.version is None or node.version == b.version):
            while parent[node] is not None:
                req, prev = parent[node]
                chain.steps.append((req, node))
                node = prev
            chain.steps.reverse()
            break
        for req, dep in sorted(closure.deps.get(node, ()), key=lambda rd: (str(rd[1]), rd[0].kind.value)):
            if dep not in parent:
                parent[dep] = (req, node)
                todo.append(dep)
    return chain


def _annotate(chain: Chain, p) -> None:
    from ..explain import runs_with
    from ..keys import entry_name

    for node in [chain.root, *(n for _, n in chain.steps)]:
        if node not in p.keys.build or node not in p.graph:
            continue  # a host tool or a test: no entry
        name = entry_name(node, p.keys.build[node])
        chain.notes[node] = name + runs_with(p, node, name) if p.store.lookup(name) else "not in the store: would build"

"""`jbuild why-depends A B` (as `nix why-depends`): the chain of requirements by which A, at the
versions and flavours resolution picks for it, comes to need B — each edge with its kind and
the place it is written."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from jbuild.dsl.loader import Loader, parse_cli_label
from jbuild.dsl.model import Requirement
from jbuild.dsl.workspace import Workspace

from ..resolve import Node, resolve_roots


@dataclass
class Chain:
    package: str
    dependency: str
    root: Node | None = None
    steps: list[tuple[Requirement, Node]] = field(default_factory=list)  # [] when there is no chain

    def render(self) -> str:
        if not self.steps:
            return f"{self.package} does not depend on {self.dependency}"
        lines = [str(self.root)]
        for depth, (req, node) in enumerate(self.steps):
            kind = req.kind.value + (" (host tool)" if getattr(node.target, "host_tool", None) else "")
            where = f"  ({req.span})" if req.span else ""
            lines.append(f"{'   ' * depth}└─ {kind} {node}{where}")
        return "\n".join(lines)


def why_depends(package: str, dependency: str, cwd: str | None = None) -> Chain:
    """A shortest chain from `package` to `dependency` in `package`'s resolved closure."""
    ws = Workspace.find(cwd)
    loader = Loader(ws)
    a, b = parse_cli_label(package, ws, cwd), parse_cli_label(dependency, ws, cwd)
    loader.lookup(a)  # an unknown label is an error with a did-you-mean
    loader.lookup(b)
    loaded = loader.closure([a.label])
    pins = {a.label: a.version} if a.version else None
    closure = resolve_roots([a.label], loaded.targets, pins)[0]
    chain = Chain(str(a.label), dependency, closure.root)
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
    loader.save_cache()
    return chain

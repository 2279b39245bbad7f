"""`jbuild path-info [-s] [-S] [-r] //x` (as `nix path-info`): the store entry a target's
current inputs name, its size, and its closure's size — the closure being every entry it needs
to build and to run at this resolution, which is what its result link keeps from gc
(results.closure_entries). Sizes are the bytes of regular files the store measured when it
published each entry (a split package's: its outputs' together). `-r` lists a split package's
set entry, then each of its output entries."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jbuild.base.errors import BadInput, Failed

from ..keys import entry_name
from ..results import closure_entries
from ..store.sets import complete


class NotInStore(Failed):
    pass


@dataclass(frozen=True)
class PathInfo:
    node: str
    path: Path
    size: int
    closure_size: int

    def render(self, size: bool, closure_size: bool, human: bool) -> str:
        fmt = _human if human else str
        cols = [str(self.path)]
        if size:
            cols.append(fmt(self.size))
        if closure_size:
            cols.append(fmt(self.closure_size))
        return "\t".join(cols)


class _Predicted:
    """closure_entries() asks a rebuilder for entry names; here they come from predicted keys."""

    def __init__(self, p):
        self.p = p

    def entry_of(self, node) -> str:
        return entry_name(node, self.p.keys.build[node])


def path_info(patterns: list[str], opts, recursive: bool = False, cwd: str | None = None) -> list[PathInfo]:
    from ..build import plan
    from ..explain import predict

    p = plan(patterns, opts, cwd)
    if not p.roots:
        raise BadInput(f"{' '.join(patterns)} names no package (tests are run, not built; host tools are not built)")
    names = _Predicted(p)
    missing = {e.node: e.reason for e in predict(p).explanations if e.status == "would build"}
    nodes = sorted({n for r in p.roots for n in _closure_nodes(p, r)} if recursive else p.roots, key=str)
    rows = []
    for node in nodes:
        if str(node) in missing:
            raise NotInStore(f"{node} is not in the store at its current inputs ({missing[str(node)]}); "
                             f"build it first: jbuild build {node.label}")
        name = names.entry_of(node)
        closure = closure_entries(p, names, node)
        absent = [e for e in closure if not complete(p.store, e)]
        if absent:
            raise NotInStore(f"{node} is in the store, but not all of its closure ({absent[0]} is missing); "
                             f"build it again: jbuild build {node.label}")
        closure_size = sum(_size(p.store, e) for e in closure)
        rows.append(PathInfo(str(node), p.store.path(name), _size(p.store, name), closure_size))
        if recursive:
            rows.extend(_outputs(p.store, node, name, closure_size))
    return rows


def _outputs(store, node, name: str, closure_size: int) -> list[PathInfo]:
    """A split package's output entries, after its set entry: they are the closure's files (the
    set entry holds none). Each one's closure is its set's, which gc keeps whole (store/sets.py)."""
    outputs = store.meta(name).outputs
    return [PathInfo(f"{node} ({out})", store.path(entry), store.meta(entry).size, closure_size)
            for out, entry in sorted(outputs.items())]


def _size(store, name: str) -> int:
    """An entry's bytes; a split package's set entry holds no files, so its size is its outputs'
    (gc keeps a set whole: store/sets.py)."""
    meta = store.meta(name)
    return meta.size + sum(store.meta(o).size for o in meta.outputs.values())


def _closure_nodes(p, root) -> list:
    """The actions whose entries closure_entries() lists for `root`."""
    names = _Predicted(p)
    wanted = set(closure_entries(p, names, root))
    return [n for n in p.node_closure if n in p.graph and names.entry_of(n) in wanted]


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n} B"

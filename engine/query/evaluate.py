"""Evaluate a checked query expression (dsl/query.py) to a set of items: target labels, and the
BUILD files `buildfiles()` names. Functions that follow requirements walk the resolved target
graph (graph.py), which is built only when one of them is used: a plain pattern query costs
what pattern expansion costs."""

from __future__ import annotations

import json
from dataclasses import dataclass

from jbuild.dsl import query as q
from jbuild.dsl.canonical import target as canonical
from jbuild.dsl.labels import Label
from jbuild.dsl.model import Test

GRAPH_FUNCTIONS = {"deps", "rdeps", "somepath", "allpaths"}


@dataclass(frozen=True)
class BuildFile:
    """The BUILD file of a package, as `buildfiles()` returns it (`//libs:BUILD`, as Bazel)."""

    repo: str
    package: str
    path: str

    @property
    def name(self) -> str:
        return "BUILD"

    def __str__(self) -> str:
        return str(Label(self.repo, self.package, "BUILD"))


def sort_key(item) -> tuple:
    return (item.repo, item.package, item.name, isinstance(item, BuildFile))


def kind_of(item, targets) -> str:
    """What kind() matches: `package`, `host package` (a package with `host_tool`), `test`,
    `BUILD file`."""
    if isinstance(item, BuildFile):
        return "BUILD file"
    t = targets[0]
    if isinstance(t, Test):
        return "test"
    return "host package" if t.host_tool is not None else "package"


def attribute_text(t, name: str) -> str | None:
    """An attribute's value as attr() matches it (a list as `[a, b]`, as Bazel); None where the
    target has no such attribute."""
    if name in ("requires", "build_requires", "run_requires"):
        return "[" + ", ".join(str(r) for r in t.requires if r.kind.value == name) + "]"
    data = canonical(t)
    value = data.get({"sources": "files"}.get(name, name))
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(value) + "]"
    return json.dumps(value, sort_keys=True)


class Evaluator:
    """`session` is an engine.query.QuerySession: it expands patterns, looks targets up and
    holds the graph."""

    def __init__(self, session):
        self.s = session

    def eval(self, expr) -> set:
        if isinstance(expr, q.Pattern):
            return set(self.s.expand(expr))
        if isinstance(expr, q.SetOp):
            left, right = self.eval(expr.left), self.eval(expr.right)
            return {"union": left | right, "intersect": left & right, "except": left - right}[expr.op]
        return getattr(self, "_" + expr.name)(*expr.args)

    def _labels(self, items) -> set[Label]:
        return {i for i in items if isinstance(i, Label)}

    def _deps(self, x, depth=None):
        items = self.eval(x)
        return self.s.graph.forward(self._labels(items), depth.value if depth else None) | (items - self._labels(items))

    def _rdeps(self, universe, x, depth=None):
        within = self.s.graph.forward(self._labels(self.eval(universe)))
        start = self._labels(self.eval(x)) & within
        return self.s.graph.backward(start, depth.value if depth else None, within)

    def _somepath(self, a, b):
        return set(self.s.graph.path(self._labels(self.eval(a)), self._labels(self.eval(b))))

    def _allpaths(self, a, b):
        g = self.s.graph
        return g.forward(self._labels(self.eval(a))) & g.backward(self._labels(self.eval(b)))

    def _kind(self, regex, x):
        return {i for i in self.eval(x) if regex.pattern.search(kind_of(i, self.s.targets_of(i)))}

    def _attr(self, attribute, regex, x):
        out = set()
        for i in self._labels(self.eval(x)):
            texts = [attribute_text(t, attribute.name) for t in self.s.targets_of(i)]
            if any(text is not None and regex.pattern.search(text) for text in texts):
                out.add(i)
        return out

    def _filter(self, regex, x):
        return {i for i in self.eval(x) if regex.pattern.search(str(i))}

    def _tests(self, x):
        return {i for i in self._labels(self.eval(x)) if kind_of(i, self.s.targets_of(i)) == "test"}

    def _buildfiles(self, x):
        """The BUILD files declaring `x`, and those whose templates they call (as Bazel lists the
        .bzl files loaded): a change of any of them changes the targets."""
        ws, loader = self.s.workspace, self.s.loader
        packages = {(i.repo, i.package) for i in self._labels(self.eval(x))}
        packages |= {dep for repo, package in packages for dep in loader.template_files(repo, package)}
        return {BuildFile(repo, package, str(ws.build_file(repo, package))) for repo, package in packages}


def needs_graph(expr) -> bool:
    if isinstance(expr, q.Pattern):
        return False
    if isinstance(expr, q.SetOp):
        return needs_graph(expr.left) or needs_graph(expr.right)
    return expr.name in GRAPH_FUNCTIONS or any(needs_graph(a) for a in expr.args
                                               if isinstance(a, q.Pattern | q.Call | q.SetOp))

"""`jbuild query`: Bazel's query language over the resolved target graph (docs/query.md).

    result = run_query("rdeps(//..., //libs:libc)", cwd)
    result.items        # sorted labels (and BUILD files)
    result.session      # the workspace, the loaded targets and the graph, for the outputs
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from jbuild.dsl import query as q
from jbuild.dsl.errors import RecipeError
from jbuild.dsl.labels import Label, VersionedLabel
from jbuild.dsl.loader import Loader
from jbuild.dsl.span import NOWHERE
from jbuild.dsl.workspace import Workspace

from .evaluate import BuildFile, Evaluator, sort_key
from .graph import TargetGraph


class QuerySession:
    """One query's workspace, loader, expanded patterns and (lazily) its resolved graph."""

    def __init__(self, text: str, expr, cwd: str | None = None):
        self.text, self.expr, self.cwd = text, expr, cwd
        self.workspace = Workspace.find(cwd)
        self.loader = Loader(self.workspace)
        self._expanded: dict[str, list[Label]] = {}

    def expand(self, pattern: q.Pattern) -> list[Label]:
        """A pattern's labels; an unknown label or package is a QueryError under the word."""
        if pattern.text not in self._expanded:
            try:
                self._expanded[pattern.text] = self.loader.expand([pattern.text], self.cwd)
            except RecipeError as exc:
                first = exc.diagnostics[0]
                if first.span != NOWHERE:  # a broken BUILD file: its own file:line:col
                    raise
                raise q.QueryError(self.text, pattern.span, first.message, first.help) from None
        return self._expanded[pattern.text]

    @cached_property
    def graph(self) -> TargetGraph:
        """Every label the query names, resolved as a root, and all they require."""
        roots = sorted({lb for p in q.words(self.expr) for lb in self.expand(p)}, key=sort_key)
        loaded = self.loader.closure(roots)
        return TargetGraph.resolved(roots, loaded.targets)

    def targets_of(self, item) -> list:
        if isinstance(item, BuildFile):
            return []
        return self.loader.lookup(VersionedLabel(item, None))

    def save(self) -> None:
        self.loader.save_cache()


@dataclass
class QueryResult:
    items: list  # Label | BuildFile, sorted
    session: QuerySession


def run_query(text: str, cwd: str | None = None) -> QueryResult:
    expr = q.parse(text)
    session = QuerySession(text, expr, cwd)
    items = Evaluator(session).eval(expr)
    session.save()
    return QueryResult(sorted(items, key=sort_key), session)

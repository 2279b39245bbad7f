"""Lowering of file attributes: `sources`, `interface`, `patches` — paths inside the package,
`glob(...)`, and the fetched sources `archive(...)`/`git(...)` (sources.py)."""

from __future__ import annotations

from . import model as m
from . import sources
from . import syntax as st
from .errors import did_you_mean
from .lower_values import Values, expr_parts


class Files(Values):
    """Conversions of file attributes (schema types files, patches, count)."""

    def conv_files(self, expr, name) -> m.FileSet:
        parts = expr_parts(expr)
        paths, globs, fetched = [], [], []
        for part in parts:
            if isinstance(part, st.Call) and part.name in sources.FUNCTIONS and name == "sources":
                fetched.append(sources.fetched(self, part))
            elif isinstance(part, st.Call):
                globs.append(self.glob(part))
            elif isinstance(part, st.ListExpr):
                for item in part.items:
                    if isinstance(item, st.Call) and item.name in sources.FUNCTIONS and name == "sources":
                        fetched.append(sources.fetched(self, item))
                        continue
                    if not isinstance(item, st.Str):
                        self.fail(item.span, f"'{name}' takes file paths (strings) and glob(...)")
                    paths.append(self.relative_path(item))
            else:
                self.fail(part.span, f"'{name}' takes a list of paths or glob(...)",
                          f'write {name} = ["a.c"] or glob(["src/**"])')
        return m.FileSet(tuple(paths), tuple(globs), expr.span, tuple(fetched))

    conv_patches = sources.conv_patches

    conv_count = sources.conv_count

    def relative_path(self, item: st.Str) -> str:
        p = item.value
        if p.startswith("/") or ".." in p.split("/") or not p:
            self.fail(item.span, f"'{p}' is not a path inside this package",
                      "paths are relative to the BUILD file's directory")
        return p

    def glob(self, call: st.Call) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if call.name != "glob":
            self.fail(call.span, f"unknown function '{call.name}'", did_you_mean(call.name, ["glob"]))
        if len(call.args) != 1:
            self.fail(call.span, "glob takes one list of patterns", 'glob(["src/**/*.c"], exclude = [...])')
        include = tuple(self.relative_path(i) if isinstance(i, st.Str) else self.fail(i.span, "a glob pattern is a string")
                        for i in self.flatten_list(call.args[0], "glob"))
        exclude: tuple[str, ...] = ()
        for key, value in call.kwargs:
            if key != "exclude":
                self.fail(value.span, f"glob has no argument '{key}'", did_you_mean(key, ["exclude"]))
            exclude = self.conv_strings(value, "exclude")
        return include, exclude

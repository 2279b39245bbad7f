"""Lowering of a package's map attributes keyed by paths or names: `etc` (files of the
environment's etc/ and their text) and `outputs` (output name -> paths of $OUT)."""

from __future__ import annotations

from . import model as m
from . import syntax as st
from .errors import did_you_mean
from .lower_values import Skip, Values


class Maps(Values):
    """Conversions of `etc` and `outputs` (schema types templates, outputs)."""

    def conv_templates(self, expr, name) -> tuple[m.Template, ...]:
        """`etc = { "tinydb.conf" = "port = ${config.port}" }`: path under etc/ -> text."""
        if not isinstance(expr, st.MapExpr):
            self.fail(expr.span, f"'{name}' takes a map from file names to text",
                      f'write {name} = {{ "app.conf" = "port = ${{config.port}}" }}')
        out: dict[str, m.Template] = {}
        for path, value in expr.pairs:
            try:
                text = self.conv_string(value, path)
            except Skip:
                continue
            if path.startswith("/") or path.endswith("/") or not path or ".." in path.split("/"):
                self.error(value.span, f"'{path}' is not a path inside etc/",
                           'name a file relative to etc/, e.g. "tinydb.conf" or "tinydb/main.conf"')
            elif path in out:
                self.error(value.span, f"etc file '{path}' is declared twice",
                           f"the first is at {out[path].span}")
            else:
                out[path] = m.Template(path, text, value.span)
        return tuple(out.values())

    def conv_outputs(self, expr, name) -> tuple[m.Output, ...]:
        """`outputs = { bin = ["bin"], dev = ["include", "lib/*.a"] }`: output name -> paths of $OUT."""
        if not isinstance(expr, st.MapExpr) or not expr.pairs:
            self.fail(expr.span, f"'{name}' takes a map from output names to lists of paths",
                      f'write {name} = {{ bin = ["bin"], lib = ["lib/*.so*"], dev = ["include"] }}')
        out: dict[str, m.Output] = {}
        for key, value in expr.pairs:
            if key not in m.OUTPUT_NAMES:
                self.error(value.span, f"unknown output '{key}'",
                           did_you_mean(key, m.OUTPUT_NAMES) or f"outputs: {', '.join(m.OUTPUT_NAMES)}")
                continue
            if key in out:
                self.error(value.span, f"output '{key}' is declared twice", f"the first is at {out[key].span}")
                continue
            try:
                items = self.flatten_list(value, key)
            except Skip:
                continue
            paths = []
            for item in items:
                if not isinstance(item, st.Str):
                    self.error(item.span, f"output '{key}' takes a list of paths (strings)")
                    continue
                p = item.value.rstrip("/")
                if not p or p.startswith("/") or {".", ".."} & set(p.split("/")):
                    self.error(item.span, f"'{item.value}' is not a path inside the package's output",
                               'name a path relative to $OUT, e.g. "include" or "lib/*.a"')
                else:
                    paths.append(p)
            out[key] = m.Output(key, tuple(paths), value.span)
        return tuple(out.values())

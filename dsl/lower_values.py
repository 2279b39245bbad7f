"""Expressions -> plain values for lowering: strings, versions, lists, maps, labels, words.

The base of the lowering (lowering.py): every conversion of an attribute's value by its
schema type (`conv_<type>`) either returns the value or records a Diagnostic and raises Skip,
so lowering goes on with the next attribute and reports every error of a file at once.
"""

from __future__ import annotations

from . import model as m
from . import syntax as st
from .errors import Diagnostic
from .labels import Label, LabelError, parse_label
from .versions import Version, VersionError


class Skip(Exception):
    """An attribute could not be converted; its diagnostic is already recorded."""


class Values:
    """Conversions of values; `diags` collects what went wrong, `package`/`repo` resolve labels."""

    package: str
    repo: str
    diags: list[Diagnostic]

    def error(self, span, message, help=None):
        self.diags.append(Diagnostic(span, message, help))

    def fail(self, span, message, help=None):
        self.error(span, message, help)
        raise Skip

    def label(self, text: str, span) -> Label:
        try:
            vl = parse_label(text, self.package, self.repo)
        except LabelError as exc:
            self.fail(span, str(exc), exc.help)
        if vl.version:
            self.fail(span, f"'{text}': name a version with a constraint ('== {vl.version}'), not '@'")
        return vl.label

    def word(self, expr, name) -> str:
        if isinstance(expr, st.Word):
            return expr.name
        if isinstance(expr, st.Str):
            return expr.value
        self.fail(expr.span, f"'{name}' takes a name here, like 'on' or 'ssd'")

    def conv_string(self, expr, name) -> str:
        if isinstance(expr, st.Concat):
            return self.conv_string(expr.left, name) + self.conv_string(expr.right, name)
        if isinstance(expr, st.Str):
            return expr.value
        self.fail(expr.span, f"'{name}' takes a string", f"write {name} = \"...\"")

    conv_script = conv_string

    def conv_version(self, expr, name) -> Version:
        text = self.conv_string(expr, name)
        try:
            return Version.parse(text)
        except VersionError as exc:
            self.fail(expr.span, str(exc), 'e.g. version = "2.24" or "1.0.2k"')

    def conv_strings(self, expr, name) -> tuple[str, ...]:
        items = self.flatten_list(expr, name)
        out = []
        for item in items:
            if isinstance(item, (st.Str, st.Word)):
                out.append(item.value if isinstance(item, st.Str) else item.name)
            else:
                self.fail(item.span, f"'{name}' takes a list of strings")
        return tuple(out)

    def flatten_list(self, expr, name) -> list:
        if isinstance(expr, st.Concat):
            return self.flatten_list(expr.left, name) + self.flatten_list(expr.right, name)
        if isinstance(expr, st.ListExpr):
            return list(expr.items)
        self.fail(expr.span, f"'{name}' takes a list", f"write {name} = [...]")

    def conv_values(self, expr, name) -> tuple:
        return tuple(self.conv_value(i, name) for i in self.flatten_list(expr, name))

    def conv_map(self, expr, name) -> m.FrozenMap:
        if not isinstance(expr, st.MapExpr):
            self.fail(expr.span, f"'{name}' takes a map", f'write {name} = {{ KEY = "value" }}')
        return m.FrozenMap(tuple((k, self.conv_value(v, k)) for k, v in expr.pairs))

    def conv_value(self, expr, name):
        if isinstance(expr, (st.Str, st.Int, st.Bool)):
            return expr.value
        if isinstance(expr, st.Word):
            return expr.name
        if isinstance(expr, st.ListExpr):
            return tuple(self.conv_value(i, name) for i in expr.items)
        if isinstance(expr, st.MapExpr):
            return self.conv_map(expr, name)
        if isinstance(expr, st.Ref) and len(expr.parts) == 2 and expr.parts[0] == "config":
            return m.ConfigRef(expr.parts[1])
        if isinstance(expr, st.Concat):
            left, right = self.conv_value(expr.left, name), self.conv_value(expr.right, name)
            if type(left) is type(right) and isinstance(left, (str, tuple, int)):
                return left + right
            self.fail(expr.span, "'+' joins two strings, two lists or two numbers")
        self.fail(expr.span, f"'{name}' cannot take this value")


def expr_parts(expr) -> list:
    if isinstance(expr, st.Concat):
        return expr_parts(expr.left) + expr_parts(expr.right)
    return [expr]

"""Lark's tree -> the syntax tree (syntax.py): a thin transformer, one method per grammar rule.

Imported by parser.py only when a file is really parsed (lark costs ~0.1 s to import, and a warm
load parses nothing). Errors found while building the tree (a number out of range, a keyword
in the wrong place, a '+' chain too long) are RecipeErrors with the token's span.
"""

from __future__ import annotations

import re
import textwrap

import lark

from . import syntax as st
from .errors import RecipeError
from .parser import MAX_NESTING
from .span import Span


def meta_span(path: str, meta) -> Span:
    return Span(path, meta.line, meta.column, meta.end_line, meta.end_column)


def token_span(path: str, tok) -> Span:
    return Span(path, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1)


_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "$": "\\$"}


def _unquote(raw: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m[1], "\\" + m[1]), raw[1:-1])


def _long(raw: str) -> str:
    body = raw[3:-3]
    body = body.removeprefix("\n")
    return textwrap.dedent(body).rstrip() + ("\n" if body.strip() else "")


class ToSyntax(lark.visitors.Transformer_NonRecursive):
    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _s(self, meta) -> Span:
        return meta_span(self.path, meta)

    def _t(self, tok) -> Span:
        return token_span(self.path, tok)

    def start(self, items):
        templates = tuple(i for i in items if isinstance(i, st.TemplateDef))
        return st.File(self.path, tuple(i for i in items if not isinstance(i, st.TemplateDef)), templates)

    def template(self, items):
        kind, name, *rest = items
        self._keyword(kind, "template", "template NAME(PARAMS) { ... }")
        params = tuple(p for p in rest if isinstance(p, st.Param))
        return st.TemplateDef(str(name), params, tuple(m for m in rest if m is not None and not isinstance(m, st.Param)),
                              self._t(name))

    def param(self, items):
        name, default = items
        return st.Param(str(name), default, self._t(name))

    def choice_param(self, items):
        name, choices, default = items
        return st.Param(str(name), default, self._t(name), choices)

    def instance(self, items):
        kind, name, (callee, callee_span), *args, body = items
        self._keyword(kind, "package", "package NAME = TEMPLATE(ARGUMENTS)")
        arguments = tuple(a if isinstance(a, st.Argument) else st.Argument(None, a, a.span)
                          for a in args if a is not None)
        return st.Instance(str(kind), str(name), callee, arguments, body or (), self._t(kind), self._t(name),
                           callee_span)

    def callee(self, items):
        return (str(items[0]), self._t(items[0]))

    def body(self, items):
        return tuple(items)

    def _keyword(self, tok, word: str, form: str) -> None:
        if str(tok) != word:
            raise RecipeError.at(self._t(tok), f"unexpected '{tok}'", f"write '{form}'")

    @lark.v_args(meta=True)
    def block(self, meta, items):
        kind, name, *members = items
        return st.Block(
            str(kind), str(name) if name is not None else None, tuple(members),
            self._t(kind), self._t(name) if name is not None else None,
        )

    def attr(self, items):
        name, value = items
        return st.Attr(str(name), value, self._t(name))

    def flavour(self, items):
        name, values, default = items
        return st.FlavourDecl(str(name), values, default, self._t(name))

    def config_field(self, items):
        name, typ, default = items
        return st.ConfigFieldDecl(str(name), st.Word(str(typ), self._t(typ)), default, self._t(name))

    def setting(self, items):
        label, key, value = items
        return st.SettingDecl(str(label), str(key), value, self._t(label))

    @lark.v_args(meta=True)
    def concat(self, meta, items):
        left, right = items
        length = (left.length if isinstance(left, st.Concat) else 1) + 1
        if length > MAX_NESTING:
            raise RecipeError.at(self._s(meta), f"more than {MAX_NESTING} terms joined with '+'",
                                 "write one string or list instead")
        return st.Concat(left, right, self._s(meta), length)

    def string(self, items):
        return st.Str(_unquote(str(items[0])), self._t(items[0]), str(items[0]))

    def long_string(self, items):
        return st.Str(_long(str(items[0])), self._t(items[0]), str(items[0]))

    def integer(self, items):
        value = int(items[0]) if len(items[0]) < 30 else None
        if value is None or not -(2**63) <= value < 2**63:
            raise RecipeError.at(self._t(items[0]), "number out of range",
                                 "numbers are 64-bit integers; write a long value as a string")
        return st.Int(value, self._t(items[0]))

    @lark.v_args(meta=True)
    def true(self, meta, items):
        return st.Bool(True, self._s(meta))

    @lark.v_args(meta=True)
    def false(self, meta, items):
        return st.Bool(False, self._s(meta))

    def word(self, items):
        return st.Word(str(items[0]), self._t(items[0]))

    @lark.v_args(meta=True)
    def list(self, meta, items):
        return st.ListExpr(tuple(i for i in items if i is not None), self._s(meta))

    @lark.v_args(meta=True)
    def map(self, meta, items):
        return st.MapExpr(tuple(i for i in items if i is not None), self._s(meta))

    def pair(self, items):
        key, value = items
        k = _unquote(str(key)) if key.type == "STRING" else str(key)
        return (k, value)

    @lark.v_args(meta=True)
    def call(self, meta, items):
        name, *args = items
        pos = tuple(a for a in args if a is not None and not isinstance(a, st.Argument))
        kw = tuple((a.name, a.value) for a in args if isinstance(a, st.Argument))
        return st.Call(str(name), pos, kw, self._s(meta))

    def kwarg(self, items):
        return st.Argument(str(items[0]), items[1], self._t(items[0]))

    @lark.v_args(meta=True)
    def ref(self, meta, items):
        return st.Ref(tuple(str(i) for i in items), self._s(meta))

    @lark.v_args(meta=True)
    def requirement(self, meta, items):
        label, selection, *constraints, condition = items
        return st.RequirementExpr(
            str(label), selection or (), tuple(constraints), condition, self._s(meta)
        )

    def selection(self, items):
        return tuple(items)

    def choice(self, items):
        return (str(items[0]), str(items[1]))

    def constraint(self, items):
        op, version = items
        text = _unquote(str(version)) if version.type == "STRING" else str(version)
        return (str(op), text)

    def condition(self, items):
        return tuple(str(i) for i in items)

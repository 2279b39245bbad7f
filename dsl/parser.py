"""Text -> syntax tree (syntax.py). The only module that imports lark.

Lark's exceptions are translated here, at the boundary, into RecipeErrors that name tokens the
way a user wrote them; the grammar's terminal names never reach the user.
"""

from __future__ import annotations

import re
import textwrap
from functools import lru_cache
from pathlib import Path

from . import syntax as st
from .errors import Diagnostic, RecipeError
from .span import Span

GRAMMAR = Path(__file__).with_name("recipe.lark")

# How each terminal is named in an error message.
TERMINAL_NAMES = {
    "NAME": "a name",
    "STRING": "a string",
    "LONG_STRING": "a string",
    "SIGNED_INT": "a number",
    "LABEL": "a label",
    "VERSION": "a version",
    "CMP": "a comparison (>=, <, ==, ...)",
    "$END": "the end of the file",
}
OPENERS = {"{": "}", "[": "]", "(": ")"}
MAX_NESTING = 100  # brackets and blocks inside each other; also the length of a '+' chain
MAX_BYTES = 16 * 1024 * 1024  # a BUILD file larger than this is refused, not parsed

# Strings, comments and brackets: enough to follow nesting without the grammar (linear: no
# nested quantifiers, so a 10 MB string costs one C-level scan).
_SCAN = re.compile(r'"""[\s\S]*?(?:"""|\Z)|"[^"\\\n]*(?:\\.[^"\\\n]*)*"?|#[^\n]*|[{}\[\]()]')


@lru_cache(maxsize=1)
def _lark():
    import lark  # imported lazily: ~0.1 s, and a warm load never parses

    return lark.Lark.open(
        str(GRAMMAR), parser="lalr", propagate_positions=True, maybe_placeholders=True,
        cache=True,
    )


def parse(text: str, path: str) -> st.File:
    """Parse one BUILD file's text; raise RecipeError with a span on a syntax error.

    A large file is parsed in pieces of whole top-level items: lark's tree of a whole 10,000
    package file is tens of MB at once, which the process keeps as its peak. Each piece is
    padded so that lark counts lines and columns as in the file; if any piece fails, the whole
    file is parsed again (unless that piece was the whole file: a 10 MB unterminated string is
    not parsed twice), so an error is reported exactly as without pieces."""
    from . import pieces

    _check_nesting(text, path)
    if len(text) > pieces.PIECE_CHARS:
        files = []
        for piece in pieces.pieces(text, _SCAN, OPENERS):
            try:
                files.append(_parse_one(piece, path))
            except RecipeError:
                if len(piece) == len(text):  # the piece is the whole file (padding keeps offsets)
                    raise
                break  # reported below, by the parse of the whole file
        else:
            return st.File(path, tuple(b for f in files for b in f.blocks), tuple(t for f in files for t in f.templates))
    return _parse_one(text, path)


def _parse_one(text: str, path: str) -> st.File:
    import lark

    try:
        tree = _lark().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise RecipeError([_syntax_diagnostic(exc, text, path)]) from None
    try:
        return _ToSyntax(path).transform(tree)
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, RecipeError):
            raise exc.orig_exc from None
        raise


def _position(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _too_deep(span: Span) -> RecipeError:
    return RecipeError.at(span, f"nested more than {MAX_NESTING} levels deep",
                          "flatten it: a recipe never needs this much nesting")


def _check_nesting(text: str, path: str) -> None:
    """Refuse absurd nesting before the parser sees it (the tree walks recurse)."""
    depth = 0
    for m in _SCAN.finditer(text):
        c = m[0]
        if c in OPENERS:
            depth += 1
            if depth > MAX_NESTING:
                line, col = _position(text, m.start())
                raise _too_deep(Span(path, line, col, line, col + 1))
        elif c in ")]}":
            depth = max(0, depth - 1)


# ---------------------------------------------------------------- tree -> syntax


def _span(path: str, meta) -> Span:
    return Span(path, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(path: str, tok) -> Span:
    return Span(path, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1)


_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "$": "\\$"}


def _unquote(raw: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m[1], "\\" + m[1]), raw[1:-1])


def _long(raw: str) -> str:
    body = raw[3:-3]
    body = body.removeprefix("\n")
    return textwrap.dedent(body).rstrip() + ("\n" if body.strip() else "")


def _make_transformer():
    import lark

    class ToSyntax(lark.visitors.Transformer_NonRecursive):
        def __init__(self, path: str):
            super().__init__()
            self.path = path

        def _s(self, meta) -> Span:
            return _span(self.path, meta)

        def _t(self, tok) -> Span:
            return _tok_span(self.path, tok)

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

    return ToSyntax


@lru_cache(maxsize=1)
def _transformer_class():
    return _make_transformer()


def _ToSyntax(path: str):
    return _transformer_class()(path)


# ---------------------------------------------------------------- syntax errors


def _describe(name: str) -> str:
    if name in TERMINAL_NAMES:
        return TERMINAL_NAMES[name]
    try:
        pattern = _lark().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    return f"'{pattern.value}'"


def _expected(names) -> str:
    described = sorted({_describe(n) for n in names})
    if len(described) > 6:
        described = described[:6] + ["..."]
    return ", ".join(described)


def _unclosed(text: str, path: str) -> Diagnostic | None:
    """The innermost bracket never closed, skipping strings and comments."""
    found = _innermost_opener(text)
    if found is None:
        return None
    opener, ln, cl, _ = found
    return Diagnostic(
        Span(path, ln, cl, ln, cl + 1), f"unclosed '{opener}'", f"add '{OPENERS[opener]}' to close it"
    )


def _innermost_opener(text: str) -> tuple[str, int, int, int] | None:
    """(bracket, line, col, offset) of the innermost bracket left open, skipping strings and
    comments."""
    stack: list[tuple[str, int]] = []
    for m in _SCAN.finditer(text):
        c = m[0]
        if c in OPENERS:
            stack.append((c, m.start()))
        elif c in ")]}" and stack and OPENERS[stack[-1][0]] == c:
            stack.pop()
    if not stack:
        return None
    c, pos = stack[-1]
    return (c, *_position(text, pos), pos)


_CONSTRAINT = r"(?:>=|<=|==|!=|>|<)\s*[^\s,\][]+"


def _comma_in_constraints(text: str, pos: int) -> str | None:
    """`>= 1.0 < 2` if the comparison at `pos` follows a constraint and a comma."""
    before = re.search(f"({_CONSTRAINT})\\s*,\\s*$", text[max(0, pos - 200):pos])
    after = re.compile(_CONSTRAINT).match(text, pos, pos + 200)
    if not (before and after):
        return None
    spaced = [re.sub(r"^([<>=!]=?)\s*", r"\1 ", c) for c in (before[1], after[0])]
    return " ".join(spaced)


def _syntax_diagnostic(exc, text: str, path: str) -> Diagnostic:
    import lark

    line = getattr(exc, "line", 1) or 1
    col = getattr(exc, "column", 1) or 1
    if line < 1:  # lark reports -1 at the end of the input
        line, col = text.count("\n") + 1, len(text) - text.rfind("\n")
    span = Span(path, line, col, line, col + 1)

    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        if ch == '"':
            return Diagnostic(span, "unterminated string", 'close it with \'"\' on the same line, '
                              'or use """...""" for text over several lines')
        if ch in "^~":
            return Diagnostic(span, f"'{ch}' is not a version operator",
                              f"compare with >=, <=, ==, !=, > or <: for '{ch}1.2' write '>= 1.2 < 2'")
        return Diagnostic(span, f"unexpected character '{ch}'", None)

    token = getattr(exc, "token", None)
    expected = set(getattr(exc, "expected", ()) or ())
    if isinstance(exc, lark.exceptions.UnexpectedEOF) or (token is not None and token.type == "$END"):
        return _unclosed(text, path) or Diagnostic(
            span, "unexpected end of file", f"expected {_expected(expected)}"
        )
    assert token is not None
    span = _tok_span(path, token)
    shown = str(token).splitlines()[0] if str(token) else token.type
    if len(shown) > 30:
        shown = shown[:27] + "..."
    if token.type == "CMP":
        joined = _comma_in_constraints(text, token.start_pos)
        if joined:
            return Diagnostic(span, f"constraints are space-separated: write '{joined}'",
                              "a comma separates requirements; one requirement's constraints follow "
                              "each other, e.g. //lib:x >= 1.0 < 2")
    starts_value = {"STRING", "LONG_STRING", "NAME", "LABEL", "SIGNED_INT", "VERSION", "LSQB"}
    if token.type in starts_value and "COMMA" in expected:
        opener = _innermost_opener(text[: token.start_pos])
        before = text[: opener[3]].rstrip()[-1:] if opener else ""
        what = {"[": "list items", "(": "arguments"}.get(opener[0] if opener else "")
        if opener and opener[0] == "{" and before in ("=", ":", ",", "[", "("):
            what = "the entries of a map"
        if what:
            return Diagnostic(span, f"missing ',' before '{shown}'", f"separate {what} with ','")
    if token.type == "EQUAL" and "CMP" in expected:
        return Diagnostic(span, "'=' sets a value; to compare, write '=='", None)
    prev = text[: token.start_pos].rstrip()
    if token.type == "EQUAL" and prev.endswith("="):
        return Diagnostic(span, "'==' compares; to set an attribute, write '='", None)
    if token.type == "RBRACE" and ("RSQB" in expected or "RPAR" in expected):
        return _unclosed(text[: token.start_pos], path) or Diagnostic(
            span, f"unexpected '{shown}'", f"expected {_expected(expected)}"
        )
    if token.type == "LBRACE" and not prev:
        return Diagnostic(span, "a block needs a kind and a name", "write 'package NAME { ... }'")
    opener = _innermost_opener(text[: token.start_pos])
    if opener and opener[0] == "{" and text[: opener[3]].rstrip()[-1:] not in ("=", ":", ",", "[", "("):
        return Diagnostic(
            span, f"unexpected '{shown}'",
            "inside a block, write 'name = value', a nested block 'name { ... }', or '}' to end it",
        )
    return Diagnostic(span, f"unexpected '{shown}'", f"expected {_expected(expected)}")

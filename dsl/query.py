"""The query language (`dsl/query.lark`, docs/query.md): text -> a checked expression tree.

Bazel's query syntax over our labels: target patterns, `deps`, `rdeps`, `somepath`,
`allpaths`, `kind`, `attr`, `filter`, `tests`, `buildfiles`, and `+ ^ -` (or `union intersect
except`). Every argument is checked here, against the table of functions, so that the engine
only evaluates; every mistake is a QueryError with a caret under the offending word. Lark is
imported lazily (only queries pay for it) and its exceptions never reach the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jbuild.base.errors import BadInput

from . import schema
from .errors import did_you_mean
from .labels import FLAKE_HINT, LabelError, from_cwd, parse_pattern
from .span import Span

GRAMMAR = Path(__file__).with_name("query.lark")
PATH = "<query>"

# Each function's parameters: expr (a set of targets), depth (optional, a whole number),
# regex (a regular expression, quoted or a plain word), attribute (an attribute's name).
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "deps": ("expr", "depth?"),
    "rdeps": ("expr", "expr", "depth?"),
    "somepath": ("expr", "expr"),
    "allpaths": ("expr", "expr"),
    "kind": ("regex", "expr"),
    "attr": ("attribute", "regex", "expr"),
    "filter": ("regex", "expr"),
    "tests": ("expr",),
    "buildfiles": ("expr",),
}
PARAMETER_NAMES = {"expr": "expression", "depth?": "depth", "regex": "regex", "attribute": "attribute"}
OPERATORS = {"+": "union", "^": "intersect", "-": "except",
             "union": "union", "intersect": "intersect", "except": "except"}
# attr(NAME, ...) accepts every attribute a package or a test may declare, and their label.
ATTRIBUTES = frozenset({"label", "kind", *schema.PACKAGE, *schema.PACKAGE_BLOCKS, *schema.TEST})
MAX_LENGTH = 100_000  # characters of query text; longer is refused, not parsed
MAX_NESTING = 100  # parentheses inside each other (the tree walks recurse)
MAX_OPERATORS = 200  # set operators in one query (a chain is a left-deep tree)


class QueryError(BadInput):
    """A mistake in a query, shown as the query with a caret under it (exit 2)."""

    def __init__(self, text: str, span: Span, message: str, help: str | None = None):
        self.text, self.span, self.message, self.help = text, span, message, help
        super().__init__(self.render())

    def render(self) -> str:
        lines = self.text.split("\n")
        out = [self.message]
        if 0 < self.span.line <= len(lines):
            num = str(self.span.line)
            line = lines[self.span.line - 1]
            out.append(f"{num} | {line}")
            out.append(f"{' ' * len(num)} | {' ' * (self.span.col - 1)}{'^' * self.span.width}")
        if self.help:
            out.append(f"help: {self.help}")
        return "\n".join(out)


# ---------------------------------------------------------------- the expression tree


@dataclass(frozen=True)
class Pattern:
    """A target pattern as written (`//libs/...`, `:geotags`)."""

    text: str
    span: Span


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple  # of Expr, Depth, Regex, Attribute, in the order of FUNCTIONS[name]
    span: Span


@dataclass(frozen=True)
class SetOp:
    op: str  # union | intersect | except
    left: object
    right: object
    span: Span


@dataclass(frozen=True)
class Depth:
    value: int
    span: Span


@dataclass(frozen=True)
class Regex:
    text: str
    pattern: re.Pattern
    span: Span


@dataclass(frozen=True)
class Attribute:
    name: str
    span: Span


Expr = Pattern | Call | SetOp


# ---------------------------------------------------------------- parsing


@lru_cache(maxsize=1)
def _lark():
    import lark

    return lark.Lark.open(str(GRAMMAR), parser="lalr", propagate_positions=True, maybe_placeholders=False,
                          cache=True)


def parse(text: str) -> Expr:
    """Parse and check a query; raise QueryError with a caret on any mistake."""
    if len(text) > MAX_LENGTH:
        raise QueryError(text[:200], Span(PATH, 0, 0), f"the query is {len(text)} characters long; at most "
                         f"{MAX_LENGTH} are accepted")
    if not text.strip():
        raise QueryError(text, Span(PATH, 0, 0), "the query is empty",
                         "write a target pattern such as //... or a function such as deps(//x)")
    _check_size(text)
    simple = _patterns_only(text)
    if simple is not None:
        return simple
    import lark  # only here: a query of patterns alone never pays for it

    try:
        tree = _lark().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    return _Checker(text).expr(tree)


_PLAIN_WORD = re.compile(r"[^\s()'\",+^-][^\s()'\",]*")


def _check_size(text: str) -> None:
    """Refuse absurd nesting and chains before any tree walk recurses through them."""
    depth, operators = 0, 0
    for m in re.finditer(r'"[^"\n]*"?|\'[^\'\n]*\'?|[()]|(?:^|(?<=\s))(?:[-+^]|union|intersect|except)(?=\s|$)', text):
        if m[0] == "(":
            depth += 1
            if depth > MAX_NESTING:
                line, col = _position(text, m.start())
                raise QueryError(text, Span(PATH, line, col, line, col + 1), f"nested more than {MAX_NESTING} "
                                 "levels deep")
        elif m[0] == ")":
            depth = max(0, depth - 1)
        elif m[0][0] not in "\"'":
            operators += 1
            if operators > MAX_OPERATORS:
                line, col = _position(text, m.start())
                raise QueryError(text, Span(PATH, line, col, line, col + len(m[0])),
                                 f"more than {MAX_OPERATORS} set operators in one query",
                                 "name the targets with a pattern (//pkg/..., //pkg:all) or a function")


def _patterns_only(text: str) -> Expr | None:
    """`//...`, `//... - //db/...`: patterns and operators only, the common query, parsed
    without lark (a warm `jbuild query //...` stays as fast as pattern expansion). None when
    the text is anything else; the grammar then decides."""
    if "\n" in text:
        return None
    tokens = list(re.finditer(r"\S+", text))
    if len(tokens) % 2 == 0 or any(t[0] not in OPERATORS for t in tokens[1::2]) \
            or any(not _PLAIN_WORD.fullmatch(t[0]) for t in tokens[::2]):
        return None
    checker = _Checker(text)

    def pattern(m) -> Pattern:
        return checker.pattern_text(m[0], Span(PATH, 1, m.start() + 1, 1, m.end() + 1))

    expr = pattern(tokens[0])
    for op, word in zip(tokens[1::2], tokens[2::2], strict=True):
        expr = SetOp(OPERATORS[op[0]], expr, pattern(word), Span(PATH, 1, tokens[0].start() + 1, 1, word.end() + 1))
    return expr


def _span_of(tok) -> Span:
    return Span(PATH, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1)


def _tree_span(tree) -> Span:
    m = tree.meta
    return Span(PATH, m.line, m.column, m.end_line, m.end_column) if not m.empty else Span(PATH, 0, 0)


def _position(text: str, pos: int) -> tuple[int, int]:
    return text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _unclosed_paren(text: str) -> int | None:
    """The offset of the first '(' never closed (strings skipped), else None."""
    stack = []
    for m in re.finditer(r'"[^"\n]*"?|\'[^\'\n]*\'?|[()]', text):
        if m[0] == "(":
            stack.append(m.start())
        elif m[0] == ")" and stack:
            stack.pop()
    return stack[0] if stack else None


EXPECTED = {"WORD": "a target pattern or a function", "STRING": "a quoted string", "LPAR": "'('",
            "RPAR": "')'", "COMMA": "','"}


def _syntax_error(text: str, exc) -> QueryError:
    """A lark exception, said the way the user wrote the query (no terminal names)."""
    import lark

    line, col = getattr(exc, "line", 1) or 1, getattr(exc, "column", 1) or 1
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        ch = text[exc.pos_in_stream]
        span = Span(PATH, line, col, line, col + 1)
        if ch in "\"'":
            return QueryError(text, span, "unclosed string", f"end it with {ch} on the same line")
        return QueryError(text, span, f"unexpected character '{ch}' in the query",
                          "quote a regular expression that holds it: filter(\"...\", //...)")
    token = exc.token
    if token.type == "$END":
        open_at = _unclosed_paren(text)
        if open_at is not None:
            ln, cl = _position(text, open_at)
            return QueryError(text, Span(PATH, ln, cl, ln, cl + 1), "unclosed '('", "add the matching ')'")
        ln, cl = _position(text, len(text.rstrip()))
        return QueryError(text, Span(PATH, ln, cl, ln, cl + 1), "the query ends too early",
                          "an operator needs an expression on each side")
    span = _span_of(token)
    expected = {EXPECTED.get(e, "") for e in exc.expected} - {""}
    if token.type in ("WORD", "STRING") and exc.expected & {"PLUS", "MINUS", "CIRCUMFLEX", "UNION"}:
        return QueryError(text, span, f"unexpected '{token}': two expressions need an operator between them",
                          "join them with '+' (union), '^' (intersect) or '-' (except)")
    if token.type == "RPAR" and "a target pattern or a function" not in expected:
        return QueryError(text, span, "unmatched ')'", "remove it, or add the '(' it closes")
    if token.type == "RPAR":
        return QueryError(text, span, "unexpected ')': an argument is missing", "remove the extra ',' or "
                          "write the missing argument")
    said = " or ".join(sorted(expected)) if expected else "something else"
    return QueryError(text, span, f"unexpected '{token}' in the query; expected {said}")


class _Checker:
    """The lark tree -> Expr, checking each function's name, arity and argument kinds."""

    def __init__(self, text: str):
        self.text = text

    def fail(self, span: Span, message: str, help: str | None = None):
        raise QueryError(self.text, span, message, help)

    def expr(self, tree) -> Expr:
        kind = tree.data
        if kind == "word":
            return self.pattern(tree.children[0], str(tree.children[0]))
        if kind == "string":
            return self.pattern(tree.children[0], str(tree.children[0])[1:-1])
        if kind == "setop":
            left, op, right = tree.children
            return SetOp(OPERATORS[str(op.children[0])], self.expr(left), self.expr(right), _tree_span(tree))
        if kind == "call":
            return self.call(tree)
        raise AssertionError(f"unknown query node {kind}")  # the grammar has no other

    def pattern(self, tok, text: str) -> Pattern:
        return self.pattern_text(text, _span_of(tok))

    def pattern_text(self, text: str, span: Span) -> Pattern:
        if text in FUNCTIONS:
            self.fail(span, f"'{text}' is a function, not a target pattern", f"call it: {text}(...)")
        if "#" in text:
            self.fail(span, f"'{text}' is not a target pattern: {FLAKE_HINT}",
                      "write '//PACKAGE:NAME' or a pattern ('//...'); `jbuild query //...` lists every target")
        relative = not text.startswith("-") and from_cwd(text, "") != text  # `pkg:x`, `pkg/...` (labels.py)
        if not text.startswith(("//", ":", "@")) and not relative:
            hint = did_you_mean(text, FUNCTIONS) if "/" not in text else None
            self.fail(span, f"'{text}' is not a target pattern",
                      hint or f"labels start with '//' or ':': did you mean ':{text}' or '//{text}'?")
        if relative:  # checked where it is expanded, against the current directory (loader.py)
            return Pattern(text, span)
        try:
            parse_pattern(text)
        except LabelError as exc:
            help = exc.help
            if "-//" in text or "+//" in text:
                help = "put spaces around '-' and '+' between two patterns"
            self.fail(span, str(exc), help)
        return Pattern(text, span)

    def call(self, tree) -> Call:
        name_tok, *args = tree.children
        args = [a for a in args if a is not None]
        name, span = str(name_tok), _tree_span(tree)
        params = FUNCTIONS.get(name)
        if params is None:
            self.fail(_span_of(name_tok), f"unknown function '{name}'",
                      did_you_mean(name, FUNCTIONS) or f"the functions are {', '.join(FUNCTIONS)}")
        needed = sum(1 for p in params if not p.endswith("?"))
        if not needed <= len(args) <= len(params):
            count = f"{needed}" if needed == len(params) else f"{needed} or {len(params)}"
            shape = ", ".join(PARAMETER_NAMES[p] if not p.endswith("?") else f"[{PARAMETER_NAMES[p]}]" for p in params)
            self.fail(span, f"{name}() takes {count} argument{'s' if len(params) > 1 else ''}, not {len(args)}",
                      f"write {name}({shape})")
        return Call(name, tuple(self.argument(p, a) for p, a in zip(params, args, strict=False)), span)

    def argument(self, param: str, tree):
        if param == "expr":
            return self.expr(tree)
        tok = tree.children[0] if tree.data in ("word", "string") else None
        if tok is None:
            self.fail(_tree_span(tree), f"expected a {PARAMETER_NAMES[param]} here, not an expression")
        text = str(tok)[1:-1] if tree.data == "string" else str(tok)
        span = _span_of(tok)
        if param == "depth?":
            if not text.isdigit() or len(text) > 9:
                self.fail(span, f"the depth must be a whole number, not '{text}'", "e.g. deps(//x, 1): x and "
                          "what it requires directly")
            return Depth(int(text), span)
        if param == "attribute":
            if text not in ATTRIBUTES:
                self.fail(span, f"unknown attribute '{text}'",
                          did_you_mean(text, ATTRIBUTES) or f"attributes: {', '.join(sorted(ATTRIBUTES))}")
            return Attribute(text, span)
        try:
            return Regex(text, re.compile(text), span)
        except re.error as exc:
            self.fail(span, f"bad regular expression '{text}': {exc.msg}")


def words(expr: Expr) -> list[Pattern]:
    """Every target pattern the expression names, in order."""
    if isinstance(expr, Pattern):
        return [expr]
    if isinstance(expr, SetOp):
        return words(expr.left) + words(expr.right)
    return [p for a in expr.args if isinstance(a, Pattern | Call | SetOp) for p in words(a)]


def from_arguments(args: list[str]) -> str:
    """Several command-line arguments as one query: `//... -//db/...` (the pattern lists
    `jbuild build` takes) becomes `//... - //db/...`; a plain argument is a union."""
    out = []
    for i, a in enumerate(args):
        if a.startswith("-") and i:
            out.append(f"- {a[1:]}")
        else:
            out.append(f"+ {a}" if i else a)
    return " ".join(out)

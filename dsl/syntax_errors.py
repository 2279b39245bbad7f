"""A syntax error, as a sentence: what lark could not parse, named the way the user wrote it,
with the common mistakes (a missing comma, an unclosed bracket, `=` for `==`, a comma between
constraints) getting a sentence of their own.

Lark-free: parser.py turns lark's exception into an `Unexpected` (plain facts) at the boundary,
so the grammar's terminal names never reach the user (`TERMINAL_NAMES`, else the text of the
terminal's pattern, which the parser looks up).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .errors import Diagnostic
from .scan import OPENERS, innermost_opener
from .span import Span

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
_STARTS_VALUE = {"STRING", "LONG_STRING", "NAME", "LABEL", "SIGNED_INT", "VERSION", "LSQB"}
_CONSTRAINT = r"(?:>=|<=|==|!=|>|<)\s*[^\s,\][]+"


@dataclass(frozen=True)
class Token:
    """The token lark did not expect."""

    type: str  # the grammar's terminal name
    text: str
    start_pos: int  # offset in the text
    span: Span


@dataclass(frozen=True)
class Unexpected:
    """Where lark stopped and what it found there: a character no terminal matches (`char`),
    the end of the file (`at_end`), or a token (`token`), with the terminals it `expected`."""

    line: int
    column: int
    char: str | None = None
    at_end: bool = False
    token: Token | None = None
    expected: frozenset[str] = frozenset()


def explain(u: Unexpected, text: str, path: str, pattern_of: Callable[[str], str | None]) -> Diagnostic:
    """The diagnostic for a syntax error; `pattern_of` gives the text of a terminal's pattern
    (None: no such terminal)."""
    span = Span(path, u.line, u.column, u.line, u.column + 1)
    if u.char is not None:
        return _unexpected_character(span, u.char)
    expected = _expected(u.expected, pattern_of)
    if u.at_end:
        return unclosed(text, path) or Diagnostic(span, "unexpected end of file", f"expected {expected}")
    assert u.token is not None
    return _unexpected_token(u.token, u.expected, expected, text, path)


def unclosed(text: str, path: str) -> Diagnostic | None:
    """The innermost bracket never closed, skipping strings and comments."""
    found = innermost_opener(text)
    if found is None:
        return None
    opener, ln, cl, _ = found
    return Diagnostic(
        Span(path, ln, cl, ln, cl + 1), f"unclosed '{opener}'", f"add '{OPENERS[opener]}' to close it"
    )


def _unexpected_character(span: Span, ch: str) -> Diagnostic:
    if ch == '"':
        return Diagnostic(span, "unterminated string", 'close it with \'"\' on the same line, '
                          'or use """...""" for text over several lines')
    if ch in "^~":
        return Diagnostic(span, f"'{ch}' is not a version operator",
                          f"compare with >=, <=, ==, !=, > or <: for '{ch}1.2' write '>= 1.2 < 2'")
    return Diagnostic(span, f"unexpected character '{ch}'", None)


def _unexpected_token(token: Token, names: frozenset[str], expected: str, text: str, path: str) -> Diagnostic:
    span = token.span
    shown = token.text.splitlines()[0] if token.text else token.type
    if len(shown) > 30:
        shown = shown[:27] + "..."
    if token.type == "CMP":
        joined = _comma_in_constraints(text, token.start_pos)
        if joined:
            return Diagnostic(span, f"constraints are space-separated: write '{joined}'",
                              "a comma separates requirements; one requirement's constraints follow "
                              "each other, e.g. //lib:x >= 1.0 < 2")
    if token.type in _STARTS_VALUE and "COMMA" in names:
        what = _separated_by_commas(text, token.start_pos)
        if what:
            return Diagnostic(span, f"missing ',' before '{shown}'", f"separate {what} with ','")
    if token.type == "EQUAL" and "CMP" in names:
        return Diagnostic(span, "'=' sets a value; to compare, write '=='", None)
    prev = text[: token.start_pos].rstrip()
    if token.type == "EQUAL" and prev.endswith("="):
        return Diagnostic(span, "'==' compares; to set an attribute, write '='", None)
    if token.type == "RBRACE" and ("RSQB" in names or "RPAR" in names):
        return unclosed(text[: token.start_pos], path) or Diagnostic(
            span, f"unexpected '{shown}'", f"expected {expected}"
        )
    if token.type == "LBRACE" and not prev:
        return Diagnostic(span, "a block needs a kind and a name", "write 'package NAME { ... }'")
    opener = innermost_opener(text[: token.start_pos])
    if opener and opener[0] == "{" and text[: opener[3]].rstrip()[-1:] not in ("=", ":", ",", "[", "("):
        return Diagnostic(
            span, f"unexpected '{shown}'",
            "inside a block, write 'name = value', a nested block 'name { ... }', or '}' to end it",
        )
    return Diagnostic(span, f"unexpected '{shown}'", f"expected {expected}")


def _separated_by_commas(text: str, pos: int) -> str | None:
    """What the bracket open at `pos` holds, if its items are separated by commas: list items,
    arguments, the entries of a map (a `{` after `=`, `:`, `,`, `[` or `(`, not a block's)."""
    opener = innermost_opener(text[:pos])
    before = text[: opener[3]].rstrip()[-1:] if opener else ""
    what = {"[": "list items", "(": "arguments"}.get(opener[0] if opener else "")
    if opener and opener[0] == "{" and before in ("=", ":", ",", "[", "("):
        what = "the entries of a map"
    return what


def _describe(name: str, pattern_of: Callable[[str], str | None]) -> str:
    if name in TERMINAL_NAMES:
        return TERMINAL_NAMES[name]
    literal = pattern_of(name)
    return name.lower() if literal is None else f"'{literal}'"


def _expected(names, pattern_of) -> str:
    described = sorted({_describe(n, pattern_of) for n in names})
    if len(described) > 6:
        described = described[:6] + ["..."]
    return ", ".join(described)


def _comma_in_constraints(text: str, pos: int) -> str | None:
    """`>= 1.0 < 2` if the comparison at `pos` follows a constraint and a comma."""
    before = re.search(f"({_CONSTRAINT})\\s*,\\s*$", text[max(0, pos - 200):pos])
    after = re.compile(_CONSTRAINT).match(text, pos, pos + 200)
    if not (before and after):
        return None
    spaced = [re.sub(r"^([<>=!]=?)\s*", r"\1 ", c) for c in (before[1], after[0])]
    return " ".join(spaced)

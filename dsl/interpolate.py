"""`${config.KEY}` inside strings: found with their offsets (so an error points at the
reference, not at the whole string) and substituted with a package's resolved config.

Used by lowering (to check references) and by the environment's renderer (etc/ templates,
service commands). Any other `${...}` is left as written: it belongs to the shell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .span import Span

REFERENCE = re.compile(r"\$\{config\.([A-Za-z_][A-Za-z0-9_]*)\}")
ATTEMPT = re.compile(r"\$\{config\.")  # any use of config, well-formed or not


@dataclass(frozen=True)
class Reference:
    key: str
    start: int  # offset of '$' in the string's value
    end: int


def references(text: str) -> list[Reference]:
    return [Reference(m[1], m.start(), m.end()) for m in REFERENCE.finditer(text)]


def malformed(text: str) -> list[int]:
    """Offsets of `${config.` that do not open a well-formed `${config.KEY}`."""
    good = {r.start for r in references(text)}
    return [m.start() for m in ATTEMPT.finditer(text) if m.start() not in good]


def render_value(value) -> str:
    """How a config value reads inside text: `true`/`false`, digits, a list's items joined
    by spaces (like a shell word list)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return " ".join(render_value(v) for v in value)
    return str(value)


def substitute(text: str, values: Mapping[str, object]) -> str:
    """`text` with each `${config.KEY}` replaced; a key missing from `values` raises KeyError."""
    return REFERENCE.sub(lambda m: render_value(values[m[1]]), text)


def span_in(raw: str, span: Span, value: str, ref: Reference) -> Span:
    """Where `ref` (found in a string's unquoted `value`) was written: `raw` is the string's
    source text starting at `span`. A reference's text has no escapes, so the k-th occurrence
    in the value is the k-th in the source."""
    token = value[ref.start:ref.end]
    nth = value.count(token, 0, ref.start)
    off = -1
    for _ in range(nth + 1):
        off = raw.find(token, off + 1)
        if off < 0:
            return span
    newlines = raw.count("\n", 0, off)
    col = span.col + off if newlines == 0 else off - raw.rfind("\n", 0, off)
    line = span.line + newlines
    return Span(span.path, line, col, line, col + len(token))


def in_expression(expr):
    """Every config reference in a syntax expression, with where it was written: `${config.K}`
    inside strings, and bare `config.K` values. Yields (key, Span), and (None, Span) for a
    malformed `${config.`."""
    from . import syntax as st

    if isinstance(expr, st.Str):
        for ref in references(expr.value):
            yield ref.key, span_in(expr.raw, expr.span, expr.value, ref) if expr.raw else expr.span
        for start in malformed(expr.value):
            bad = Reference("", start, start + len("${config."))
            yield None, span_in(expr.raw, expr.span, expr.value, bad) if expr.raw else expr.span
    elif isinstance(expr, st.Ref) and expr.parts[0] == "config" and len(expr.parts) == 2:
        yield expr.parts[1], expr.span
    elif isinstance(expr, st.ListExpr):
        for item in expr.items:
            yield from in_expression(item)
    elif isinstance(expr, st.MapExpr):
        for _, value in expr.pairs:
            yield from in_expression(value)
    elif isinstance(expr, st.Concat):
        yield from in_expression(expr.left)
        yield from in_expression(expr.right)

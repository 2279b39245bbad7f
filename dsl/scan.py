"""Strings, comments and brackets found without the grammar: enough to follow nesting before
lark sees a file (parser.py refuses absurd nesting, pieces.py cuts a large file between its
top-level items) and after lark failed on it (syntax_errors.py names the bracket left open).

The pattern is linear (no nested quantifiers), so a 10 MB string costs one C-level scan.
"""

from __future__ import annotations

import re

SCAN = re.compile(r'"""[\s\S]*?(?:"""|\Z)|"[^"\\\n]*(?:\\.[^"\\\n]*)*"?|#[^\n]*|[{}\[\]()]')
OPENERS = {"{": "}", "[": "]", "(": ")"}
CLOSERS = ")]}"


def position(text: str, pos: int) -> tuple[int, int]:
    """(line, column), 1-based, of offset `pos`."""
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def innermost_opener(text: str) -> tuple[str, int, int, int] | None:
    """(bracket, line, col, offset) of the innermost bracket left open, skipping strings and
    comments."""
    stack: list[tuple[str, int]] = []
    for m in SCAN.finditer(text):
        c = m[0]
        if c in OPENERS:
            stack.append((c, m.start()))
        elif c in CLOSERS and stack and OPENERS[stack[-1][0]] == c:
            stack.pop()
    if not stack:
        return None
    c, pos = stack[-1]
    return (c, *position(text, pos), pos)

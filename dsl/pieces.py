"""A large BUILD file cut into pieces of whole top-level items, for parser.py to parse one by
one: lark's tree of a whole 10,000-package file is tens of MB at once, which the process keeps
as its peak. Each piece is padded so that lark counts lines and columns as in the file."""

from __future__ import annotations

import re
from collections.abc import Iterator

PIECE_CHARS = 128 * 1024


def pieces(text: str, scan: re.Pattern, openers) -> Iterator[str]:
    """The text cut after a `}` that closes a top-level item, every PIECE_CHARS or so. `scan`
    finds strings, comments and brackets (parser._SCAN), so a brace inside a string or a
    comment never cuts."""
    start = depth = 0
    for m in scan.finditer(text):
        c = m[0]
        if c in openers:
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
            if c == "}" and depth == 0 and m.end() - start >= PIECE_CHARS:
                yield padded(text, start, m.end())
                start = m.end()
    if text[start:].strip():
        yield padded(text, start, len(text))


def padded(text: str, start: int, end: int) -> str:
    """text[start:end] behind the newlines and spaces that put its first character where it was."""
    line_start = text.rfind("\n", 0, start) + 1
    return "\n" * text.count("\n", 0, start) + " " * (start - line_start) + text[start:end]

"""A large BUILD file cut into pieces of whole top-level items, for parser.py to parse one by
one: lark's tree of a whole 10,000-package file is tens of MB at once, which the process keeps
as its peak. Each piece is padded so that lark counts lines and columns as in the file."""

from __future__ import annotations

from collections.abc import Iterator

from .scan import CLOSERS, OPENERS, SCAN

PIECE_CHARS = 128 * 1024


def pieces(text: str) -> Iterator[str]:
    """The text cut after a `}` that closes a top-level item, every PIECE_CHARS or so. The scan
    (scan.SCAN) finds strings, comments and brackets, so a brace inside a string or a comment
    never cuts."""
    start = depth = 0
    for m in SCAN.finditer(text):
        c = m[0]
        if c in OPENERS:
            depth += 1
        elif c in CLOSERS:
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

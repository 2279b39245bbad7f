"""A large BUILD file cut into pieces of whole top-level items, for parser.py to parse one by
one (lark's tree of a whole 10,000-package file is tens of MB at once, which the process keeps
as its peak) and for piece_cache.py to keep each piece's targets by the digest of its text.
Each piece is padded so that lark counts lines and columns as in the file.

Where a piece ends depends on its own items only (a cut needs PIECE_CHARS behind it and an
item whose text hashes to a cut, as in content-defined chunking), so an edit that changes the
length of one item moves the cuts of its piece and seldom those of the pieces after it."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from .scan import CLOSERS, OPENERS, SCAN

PIECE_CHARS = 16 * 1024  # (a one-item edit of a 10,000-package file parses ~16 KB: 30 ms)
CUT_ONE_IN = 4  # an item ends a piece (past PIECE_CHARS) when its hash says so, one in this many


def bounds(text: str, start: int = 0) -> Iterator[tuple[int, int]]:
    """(start, end) of each piece: cut after a `}` that closes a top-level item, at least
    PIECE_CHARS (at most twice that) after the piece's start. The scan (scan.SCAN) finds
    strings, comments and brackets, so a brace inside a string or a comment never cuts.
    `start`: where a piece of the whole scan starts (the scan's state there is as at 0)."""
    item, depth = start, 0
    for m in SCAN.finditer(text, start):
        c = m[0]
        if c in OPENERS:
            depth += 1
        elif c in CLOSERS:
            depth = max(0, depth - 1)
            if c == "}" and depth == 0:
                size = m.end() - start
                if size >= 2 * PIECE_CHARS or size >= PIECE_CHARS and \
                        zlib.crc32(text[item:m.end()].encode()) % CUT_ONE_IN == 0:
                    yield start, m.end()
                    start = m.end()
                item = m.end()
    if text[start:].strip():
        yield start, len(text)


def rebounds(text: str, before: list[tuple[bytes, int]], key) -> list[tuple[int, int]]:
    """`bounds(text)`, from the last text's pieces (`before`: each one's key and length; `key`:
    (start, end) -> the key of text[start:end]) without scanning the whole text: the pieces at
    its start found unchanged (each ended by a cut, which its own text decides) are kept, the
    text after them is scanned until a cut falls where an unchanged piece of its end starts (the
    scan's state at a cut is as at 0: what follows cuts as before), and those are kept but the
    last (it may have ended where the text did), which is scanned again. An edit anywhere in a
    2 MB file scans a piece or three, lines added on top included."""
    out, at = [], 0
    for k, size in before[:-1]:
        if at + size > len(text) or key(at, at + size) != k:
            break
        out.append((at, at + size))
        at += size
    tail = _tail(text, before[len(out):], at, key)
    for s, e in bounds(text, at):
        if s in tail:
            break
        out.append((s, e))
    else:
        return out
    while s in tail:
        out.append((s, tail[s]))
        s = tail[s]
    out.extend(bounds(text, s))
    return out


def _tail(text: str, rest: list[tuple[bytes, int]], at: int, key) -> dict[int, int]:
    """start -> end of each unchanged piece of `rest` at the end of `text` (after `at`), found
    from the last one (which ends at the end, or before the blanks there), that one left out."""
    tail: dict[int, int] = {}
    if len(rest) < 2:
        return tail
    for end in (len(text), len(text.rstrip())):
        k, size = rest[-1]
        if end - size < at or key(end - size, end) != k:
            continue
        end -= size
        for k, size in reversed(rest[:-1]):
            if end - size < at or key(end - size, end) != k:
                break
            tail[end - size] = end
            end -= size
        return tail
    return tail


def pieces(text: str) -> Iterator[str]:
    """Each piece's text, padded (`padded`)."""
    for start, end in bounds(text):
        yield padded(text, start, end)


def padded(text: str, start: int, end: int) -> str:
    """text[start:end] behind the newlines and spaces that put its first character where it was."""
    line_start = text.rfind("\n", 0, start) + 1
    return "\n" * text.count("\n", 0, start) + " " * (start - line_start) + text[start:end]

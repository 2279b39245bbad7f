"""The targets of a large BUILD file kept between runs piece by piece (pieces.py), each by the
digest of its text, so that an edit re-parses and re-lowers the pieces it touched only.

A piece's key covers everything its targets depend on but its line: its text, its first column
(the first line's spans count from there), the file's name as shown, its package, and the
jbuild version and the loader's cache format (what lowers it: a change of lowering bumps the
format). Its targets are kept with every span's line counted from the piece's first line and
rebased as they are read back (`_shifted`), so lines added or removed above a piece leave it
kept, and its messages still name the right line. A file that defines or calls a template, or
has any error, is not lowered here (None): the loader then parses it whole, so its targets and
its messages are exactly those of a whole parse. Entries are pickled bytes, written again as
they are when their piece is unchanged.

A caller that still holds a piece's targets from the last load (`kept`, by key and line: the
loader's entry of the file, expanded) gets them back as they are: nothing is read back for it.
"""

from __future__ import annotations

import copyreg
import io
import os
import pickle
from pathlib import Path
from typing import NamedTuple

from jbuild.base import __version__, cachefile

from . import syntax as st
from .errors import RecipeError
from .model import Target
from .span import Span

FORMAT = 2  # 2: keys without the line, spans kept relative to the piece's first line


class Piece(NamedTuple):
    key: bytes
    line: int  # of its first character, 0-based
    targets: list[Target]
    kept: bool  # the caller's own targets (`kept`), not lowered or read back here
    size: int  # of its text, in characters (the next edit finds its cuts from them: pieces.rebounds)


def cache_path(cache_dir: Path, build_file: str) -> Path:
    import xxhash

    return cache_dir / "pieces" / f"{xxhash.xxh3_64_hexdigest(build_file.encode())}.pickle"


def lower_by_pieces(text: str, display: str, package: str, repo: str, path: Path,
                    lowering: int = 0, kept: dict | None = None, before: list | None = None) -> list[Piece] | None:
    """The file's pieces with their targets, each unchanged piece taken from `kept` ((key, line)
    -> targets) or read back from `path`; None if the file must be loaded whole (a template, an
    error, or a file of one piece). `lowering`: the loader's cache format, kept with the pieces
    (another one reads none back). `before`: (key, size) of each piece of the file's last text,
    from which its cuts are found scanning only around what changed (pieces.rebounds). Only the
    pieces lowered here are checked for nesting: a kept one was checked with its whole file (a
    cut falls at depth 0, so the file's depth is each piece's)."""
    from . import pieces
    from .lowering import duplicates

    def key(start: int, end: int) -> bytes:
        return _key(text, start, end, display, package, repo)

    cut = pieces.rebounds(text, before, key) if before else list(pieces.bounds(text))
    if len(cut) < 2:
        return None
    kept = kept or {}
    old: dict[bytes, bytes] = cachefile.read(path, (FORMAT, lowering), {}, freeze=False)
    new: dict[bytes, bytes] = {}
    out: list[Piece] = []
    line = last = 0
    for start, end in cut:
        line, last = line + text.count("\n", last, start), start  # (counted from the last piece's start)
        k = key(start, end)
        blob = old.get(k)
        mine = kept.get((k, line))
        if mine is not None and blob is not None:
            out.append(Piece(k, line, mine, True, end - start))
        elif blob is None:
            lowered = _lower(pieces.padded(text, start, end), display, package, repo)
            if lowered is None:
                return None
            blob = _dumps(lowered, line)
            out.append(Piece(k, line, lowered, False, end - start))
        else:
            out.append(Piece(k, line, _loads(blob, line), False, end - start))
        new[k] = blob
    if duplicates([t for p in out for t in p.targets], package, repo):
        return None
    if new.keys() != old.keys():
        cachefile.write(path, (FORMAT, lowering), new)
    return out


def repiece(text: str, display: str, package: str, repo: str, path: Path, lowering: int,
            before: list[tuple[bytes, int, int]]) -> tuple[list[tuple[bytes, int, int]], dict[int, list[Target]]] | None:
    """An edited file's pieces as (key, line, size), and the targets of each piece that is not
    one of `before`'s ((key, line, size) of the last text's pieces: those kept are not read back
    nor lowered; one kept on another line is the caller's to move), by position; None if a piece
    lowered has an error or a template (the caller loads the file the usual way, which reports
    it). The pieces kept here are updated."""
    from . import pieces

    def key(start: int, end: int) -> bytes:
        return _key(text, start, end, display, package, repo)

    last = {k for k, _, _ in before}
    cut = pieces.rebounds(text, [(k, size) for k, _, size in before], key)
    old: dict[bytes, bytes] = cachefile.read(path, (FORMAT, lowering), {}, freeze=False)
    out, lowered, new = [], {}, {}
    line = at = 0
    for i, (start, end) in enumerate(cut):
        line, at = line + text.count("\n", at, start), start
        k = key(start, end)
        out.append((k, line, end - start))
        if k in last:
            if k not in old:
                return None
            new[k] = old[k]
            continue
        found = _lower(pieces.padded(text, start, end), display, package, repo)
        if found is None:
            return None
        lowered[i], new[k] = found, _dumps(found, line)
    if new.keys() != old.keys():
        cachefile.write(path, (FORMAT, lowering), new)
    return out, lowered


def trim(cache_dir: Path, live: set[Path], before_ns: int) -> int:
    """Remove the kept pieces of BUILD files no longer lowered by pieces (deleted, or small
    now): every file of `cache_dir`/pieces not in `live` and last written before `before_ns`
    (another process may have written one since it read the parse cache). Returns how many."""
    gone = 0
    try:
        names = os.scandir(cache_dir / "pieces")
    except OSError:
        return 0
    with names:
        for e in names:
            try:
                if Path(e.path) not in live and e.stat().st_mtime_ns < before_ns:
                    os.unlink(e.path)
                    gone += 1
            except OSError:
                pass
    return gone


def _key(text: str, start: int, end: int, display: str, package: str, repo: str) -> bytes:
    import xxhash

    col = start - (text.rfind("\n", 0, start) + 1)
    h = xxhash.xxh3_128(f"{__version__}\0{display}\0{repo}\0{package}\0{col}\0".encode())
    h.update(text[start:end].encode())
    return h.digest()


def _span_at(path: str, line: int, col: int, end_line: int, end_col: int, via):
    """A span of a kept piece, its lines counted from the piece's first: `_Unpickler` resolves
    this name to a function adding the piece's line."""
    raise RuntimeError("read by piece_cache._Unpickler")


def _dumps(targets: list[Target], base: int) -> bytes:
    def relative(s: Span):
        return _span_at, (s.path, s.line - base if s.line else 0, s.col,
                          s.end_line - base if s.end_line else 0, s.end_col, s.via)

    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, Span: relative}
    pickler.dump(targets)
    return buf.getvalue()


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, base: int):
        super().__init__(file)
        self.base = base

    def find_class(self, module: str, name: str):
        if module == __name__ and name == "_span_at":
            return _shifted(self.base)
        return super().find_class(module, name)


def _shifted(base: int):
    def span(path: str, line: int, col: int, end_line: int, end_col: int, via):
        return Span(path, line + base if line else 0, col, end_line + base if end_line else 0, end_col, via)

    return span


def _loads(blob: bytes, base: int) -> list[Target]:
    return _Unpickler(io.BytesIO(blob), base).load()


def _lower(piece: str, display: str, package: str, repo: str) -> list[Target] | None:
    """One piece's targets, or None if it has an error or a template (a whole parse reports
    and expands them)."""
    from .lowering import lower_plain
    from .parser import check_nesting, parse_one

    try:
        check_nesting(piece, display)
        syntax = parse_one(piece, display)
    except RecipeError:
        return None
    if syntax.templates or any(isinstance(b, st.Instance) for b in syntax.blocks):
        return None
    targets, diags = lower_plain(syntax.blocks, package, repo)
    return None if diags else targets

"""A large BUILD file's parse-cache entry made from its pieces (piece_cache.py): the pieces an
edit did not touch keep the last load's targets, expanded, as they are (the same objects: the
engine finds them unchanged without comparing them), and only the others' targets are expanded.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from jbuild.base.freshness import stat_key

from .build_file import ParsedFile
from .declared_files import expand
from .errors import Diagnostic
from .model import Target


def by_pieces(loader, text: str, where: tuple, path: Path, old: ParsedFile | None, lowering: int) -> list | None:
    """A large file's pieces with their targets (piece_cache.py: only the pieces an edit
    touched are parsed; those `old` still holds expanded are taken from it); None: parse it
    whole. `where`: (display, package, repo)."""
    from . import pieces
    from .piece_cache import cache_path, lower_by_pieces

    if len(text) <= pieces.PIECE_CHARS:
        return None
    before = [(row[0], row[3]) for row in old.pieces] if old is not None and old.pieces \
        and all(len(row) > 3 for row in old.pieces) else None
    return lower_by_pieces(text, *where, cache_path(loader.ws.cache_dir, str(path)), lowering,
                           kept_pieces(loader, path, old), before)


def kept_pieces(loader, path: Path, old: ParsedFile | None) -> dict:
    """(key, line) -> targets, expanded, of each piece of `old` (the entry of this file's last
    load), if its expansion still holds."""
    if old is None or not old.pieces or old.expanded is None or not loader._dirs_unchanged(str(path.parent), old) \
            or not all(os.path.isfile(p) for p in old.explicit):
        return {}
    kept, at = {}, 0
    for key, line, count, *_ in old.pieces:
        kept[(key, line)] = old.expanded[at:at + count]
        at += count
    return kept


def from_pieces(loader, path: Path, text: str, where: tuple, st, read: tuple, pieced: list,
                old: ParsedFile | None) -> ParsedFile:
    """The entry of a file lowered by pieces. Where some pieces were kept expanded, only the
    others' targets are expanded (their problems are those a whole expansion reports: the
    kept ones had none); if any has a problem, every piece is read back and expanded."""
    rows = tuple((p.key, p.line, len(p.targets), p.size) for p in pieced)
    if old is None or not any(p.kept for p in pieced):
        return ParsedFile(stat_key(st), *read, [t for p in pieced for t in p.targets], pieces=rows)
    pkg_dir, walked_at = str(path.parent), time.time_ns()
    fresh = [t for p in pieced if not p.kept for t in p.targets]
    diags: list[Diagnostic] = []
    found = expand(loader.ws, pkg_dir, loader._root_of(pkg_dir), fresh, diags) if fresh else None
    if fresh and found is None:  # read back whole, it is expanded whole: its problems in order
        again = loader._by_pieces(text, *where, path, None)
        assert again is not None  # (the same text was lowered by pieces a moment ago)
        return from_pieces(loader, path, text, where, st, read, again, None)
    by_piece = iter(_as_before(found.targets, old.expanded) if found else ())
    expanded = [t for p in pieced for t in (p.targets if p.kept else [next(by_piece) for _ in p.targets])]
    dirs, explicit = dict(old.dirs), set(old.explicit)  # (a removed target's: checked, harmlessly)
    if found:
        dirs.update(found.dirs)
        explicit.update(found.explicit)
    return ParsedFile(stat_key(st), *read, None, expanded, dirs, sorted(explicit),
                      min(old.walked_at, walked_at), pieces=rows)


def _as_before(targets: list[Target], before: list[Target]) -> list[Target]:
    """`targets`, each the same in every field and span as one of `before` (its piece was
    lowered again for an edit of another item) being that object: the engine then finds it
    unchanged without comparing it again."""
    old: dict = {}
    for t in before:
        old[(t.label, t.version)] = None if (t.label, t.version) in old else t
    out = []
    for t in targets:
        o = old.get((t.label, t.version))
        out.append(o if o is not None and o == t and repr(o) == repr(t) else t)
    return out


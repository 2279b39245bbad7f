"""The targets of a large BUILD file kept between runs piece by piece (pieces.py), each by the
digest of its text, so that an edit re-parses and re-lowers the pieces it touched only.

A piece's key covers everything its targets depend on: its text, where it starts (line and
column: every span counts from there), the file's name as shown, its package, and the jbuild
version and the loader's cache format (what lowers it: a change of lowering bumps the format). A
file that defines or calls a template, or has any error, is not lowered here (None): the loader then
parses it whole, so its targets and its messages are exactly those of a whole parse. Entries
are pickled bytes, written again as they are when their piece is unchanged.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from jbuild.base import __version__, cachefile

from . import syntax as st
from .errors import RecipeError
from .model import Target

FORMAT = 1


def cache_path(cache_dir: Path, build_file: str) -> Path:
    import xxhash

    return cache_dir / "pieces" / f"{xxhash.xxh3_64_hexdigest(build_file.encode())}.pickle"


def lower_by_pieces(text: str, display: str, package: str, repo: str, path: Path,
                    lowering: int = 0) -> list[Target] | None:
    """The file's targets from its pieces, each unchanged piece read back from `path`; None if
    the file must be loaded whole (a template, an error, or a file of one piece). `lowering`:
    the loader's cache format, kept with the pieces (another one reads none back)."""
    from . import pieces
    from .lowering import duplicates
    from .parser import check_nesting

    try:
        check_nesting(text, display)
    except RecipeError:
        return None
    cut = list(pieces.bounds(text))
    if len(cut) < 2:
        return None
    old: dict[bytes, bytes] = cachefile.read(path, (FORMAT, lowering), {}, freeze=False)
    new: dict[bytes, bytes] = {}
    targets: list[Target] = []
    for start, end in cut:
        key = _key(text, start, end, display, package, repo)
        blob = old.get(key)
        if blob is None:
            lowered = _lower(pieces.padded(text, start, end), display, package, repo)
            if lowered is None:
                return None
            blob = pickle.dumps(lowered, protocol=pickle.HIGHEST_PROTOCOL)
        else:
            lowered = pickle.loads(blob)
        new[key] = blob
        targets.extend(lowered)
    if duplicates(targets, package, repo):
        return None
    if new.keys() != old.keys():
        cachefile.write(path, (FORMAT, lowering), new)
    return targets


def _key(text: str, start: int, end: int, display: str, package: str, repo: str) -> bytes:
    import xxhash

    line = text.count("\n", 0, start)
    col = start - (text.rfind("\n", 0, start) + 1)
    h = xxhash.xxh3_128(f"{__version__}\0{display}\0{repo}\0{package}\0{line}\0{col}\0".encode())
    h.update(text[start:end].encode())
    return h.digest()


def _lower(piece: str, display: str, package: str, repo: str) -> list[Target] | None:
    """One piece's targets, or None if it has an error or a template (a whole parse reports
    and expands them)."""
    from .lowering import lower_plain
    from .parser import parse_one

    try:
        syntax = parse_one(piece, display)
    except RecipeError:
        return None
    if syntax.templates or any(isinstance(b, st.Instance) for b in syntax.blocks):
        return None
    targets, diags = lower_plain(syntax.blocks, package, repo)
    return None if diags else targets

"""One BUILD file as the loader keeps it between runs (`ParsedFile`, the parse cache's entry),
what is checked before it is parsed (that it is a readable regular file of a sane size, in
UTF-8), and how it is read into an entry (`parse_entry`: parsed whole, or by pieces, or the last
entry kept when its content did not change).

An entry is trusted while the file's stat is (git's racy-clean rule, base/freshness.py) and
so are the stats of the files whose templates it calls (`deps_fresh`).
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from jbuild.base.freshness import stat_key, trusted

from .errors import Diagnostic, RecipeError
from .span import Span


@dataclass
class ParsedFile:
    stat: tuple
    digest: str
    read_at: int
    raw: list | None  # targets as lowered (None: dropped by Loader.__getstate__, parsed again if needed)
    expanded: list | None = None  # with files filled in
    dirs: dict = field(default_factory=dict)  # dir a glob walked -> globs.DirState
    explicit: list = field(default_factory=list)  # paths named without a glob: each must exist
    walked_at: int = 0
    templates: dict = field(default_factory=dict)  # name -> syntax.TemplateDef defined here
    deps: dict = field(default_factory=dict)  # BUILD file whose templates this one calls -> (stat, read_at)
    pieces: tuple = ()  # lowered by pieces (piece_cache.py): (key, line, number of targets, size) of each, in order


def unreadable(path: Path, st: os.stat_result, display: str) -> Diagnostic | None:
    """Why a BUILD file that is a directory, too large, or unreadable cannot be loaded (an
    error of its package); None if it can."""
    from .parser import MAX_BYTES

    problem = None
    if stat.S_ISDIR(st.st_mode):
        problem = (f"'{display}' is a directory; a BUILD file must be a file",
                   "rename the directory: the name BUILD marks a package")
    elif not stat.S_ISREG(st.st_mode):
        problem = (f"'{display}' is not a regular file", "a BUILD file must be a file")
    elif st.st_size > MAX_BYTES:
        problem = (f"'{display}' is {st.st_size // (1024 * 1024)} MB; a BUILD file may be at most "
                   f"{MAX_BYTES // (1024 * 1024)} MB", "move large data into a source file")
    elif not os.access(path, os.R_OK):
        problem = (f"cannot read '{display}': permission denied", "check the file's permissions")
    return Diagnostic(Span(display, 0, 0), *problem) if problem else None


def decode(data: bytes, display: str) -> str:
    """The file's text; a RecipeError at the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise RecipeError([Diagnostic(Span(display, line, col, line, col + 1),
                                      f"not UTF-8 text: byte 0x{data[exc.start]:02x} ({exc.reason})",
                                      "save the file as UTF-8")]) from None


def deps_fresh(entry: ParsedFile) -> bool:
    """Are the files whose templates this entry's file calls unchanged since it was expanded?"""
    for path, (recorded, read_at) in entry.deps.items():
        try:
            if not trusted(os.stat(path), recorded, read_at):
                return False
        except OSError:
            return False
    return True


def parse_entry(loader, path: Path, where: tuple, st, old: ParsedFile | None) -> ParsedFile | None:
    """Read `path` into its entry of `loader`'s parse cache (None: an error, in `loader.diags`).
    `where`: (display, package, repo). `old`, the file's last entry, is kept if the content is
    the same (a touch), and gives a file lowered by pieces the targets of its untouched pieces."""
    import xxhash

    display, package, repo = where
    read_at = time.time_ns()
    try:
        data = path.read_bytes()
    except OSError as exc:
        loader.diags.append(Diagnostic(Span(display, 0, 0), f"cannot read '{display}': {exc.strerror}"))
        return None
    digest = xxhash.xxh3_128_hexdigest(data)
    if old is not None and old.digest == digest:
        old.stat, old.read_at = stat_key(st), read_at
        loader._dirty = True
        return old
    try:
        text = decode(data, display)
    except RecipeError as exc:
        loader.diags.extend(exc.diagnostics)
        return None
    loader.parsed_files += 1
    from .pieced import from_pieces  # (a restored session parses nothing: no parser imports)

    pieced = loader._by_pieces(text, display, package, repo, path, old)
    if pieced is not None:
        entry = from_pieces(loader, path, text, where, st, (digest, read_at), pieced, old)
    else:
        entry = _parse_whole(loader, path, text, where)
        if entry is None:
            loader._cache.pop(str(path), None)
            return None
        entry.stat, entry.digest, entry.read_at = stat_key(st), digest, read_at
    loader._cache[str(path)] = entry
    loader._dirty = True
    return entry


def _parse_whole(loader, path: Path, text: str, where: tuple) -> ParsedFile | None:
    """The entry of a file parsed whole (its stat and digest are the caller's to set), with the
    files whose templates it calls."""
    from .lowering import lower_file
    from .parser import parse
    from .syntax import Instance
    from .templates import std_templates_path

    display, package, repo = where
    deps: dict = {}
    try:
        syntax = parse(text, display)
        raw = lower_file(syntax, package, repo, lambda label, span: loader._templates_of(label, span, deps))
    except RecipeError as exc:
        loader.diags.extend(exc.diagnostics)
        return None
    if any(isinstance(b, Instance) for b in syntax.blocks):
        std = std_templates_path()
        deps[str(std)] = (stat_key(os.stat(std)), time.time_ns())
    return ParsedFile((), "", 0, raw, templates={t.name: t for t in syntax.templates}, deps=deps)

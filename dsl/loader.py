"""Load the BUILD files a pattern needs into typed targets, with declared sources expanded.

A parse is cached per BUILD file by content hash, next to the stat it was read under; an
unchanged file costs one stat (git's racy-clean rule decides when a stat may be trusted). The
expansion of declared sources is cached with the mtimes of the directories it walked.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

from jbuild.base import cachefile
from jbuild.base.freshness import trusted

from . import globs, references
from .build_file import ParsedFile, deps_fresh, unreadable
from .declared_files import expand
from .errors import Diagnostic, RecipeError, did_you_mean
from .labels import STD, Label, LabelError, Pattern, VersionedLabel, from_cwd, parse_label, parse_pattern
from .model import Target
from .span import NOWHERE, Span
from .workspace import Workspace

CACHE_FORMAT = 14  # 9: templates; 10: fetched sources and patches; 11: both; 12: slotted data classes;
# 13: the entry is build_file.ParsedFile; 14: a file lowered by pieces is kept without its targets


@dataclass
class Loaded:
    """What a load produced: targets by label (several for a version family)."""

    workspace: Workspace
    targets: dict[Label, list[Target]]
    roots: list[Label]


class Loader:
    def __init__(self, workspace: Workspace):
        self.ws = workspace
        self.cache_path = workspace.cache_dir / "parse.pickle"
        self._cache: dict[str, ParsedFile] = cachefile.read(self.cache_path, CACHE_FORMAT, {})
        self._dirty = False
        self.packages: dict[tuple[str, str], list[Target] | None] = {}
        self._index: dict[tuple[str, str], dict[str, list[Target]]] = {}
        self.diags: list[Diagnostic] = []
        self.errors: dict[tuple[str, str], list[Diagnostic]] = {}  # a package's own errors
        self.parsed_files = 0  # how many BUILD files were really parsed (tests, bench)
        self.walked_dirs: dict[str, globs.DirState] = {}  # directories pattern expansion looked at
        self.walks: dict[tuple[str, str], list[str]] = {}  # (repo, package) of a recursive pattern -> its packages
        self._loading: set[tuple[str, str]] = set()  # packages being parsed (a cycle of templates)
        self._started = time.time_ns()  # (pieces written since by others are not trimmed)

    # ------------------------------------------------------------ cache

    def __getstate__(self):
        """A loader kept by an engine session (engine/session_file.py) keeps each BUILD file's
        entry without its parse (`raw`: a second copy of every target, needed only to expand the
        file again, which then parses it again)."""
        state = dict(self.__dict__)
        state.pop("_walked_unchanged", None)  # (one expansion's)
        state["_cache"] = {p: e if e.raw is None else dataclasses.replace(e, raw=None) for p, e in self._own().items()}
        return state

    def _own(self) -> dict[str, ParsedFile]:
        """The entries of this workspace's files and this jbuild's recipes: a copy made with
        `cp -a` carries its original's, never read here (written again after every edit)."""
        ours = (os.path.join(self.ws.root, ""), os.path.join(self.ws.repo_root(STD), ""))
        return {p: e for p, e in self._cache.items() if p.startswith(ours)}

    def save_cache(self) -> None:
        """Write the parse cache. A file lowered by pieces is kept without its targets: its
        pieces are (piece_cache.py), and a parse cache holding a 10,000-target file's targets
        twice would be written whole after every edit of it. The kept pieces of files no longer
        lowered by pieces (deleted, small now, or with a template) are removed."""
        from .piece_cache import cache_path, trim

        own = self._own()
        if self._dirty or len(own) != len(self._cache):
            self._cache = own
            cachefile.write(self.cache_path, CACHE_FORMAT, {
                p: dataclasses.replace(e, raw=None, expanded=None) if e.pieces else e for p, e in own.items()})
            self._dirty = False
        if (self.ws.cache_dir / "pieces").is_dir():  # (the pieces of a deleted BUILD file go too)
            live = {cache_path(self.ws.cache_dir, p) for p, e in self._cache.items() if e.pieces and os.path.isfile(p)}
            trim(self.ws.cache_dir, live, getattr(self, "_started", 0))

    # ------------------------------------------------------------ one package

    def package(self, repo: str, package: str) -> list[Target] | None:
        """The targets of one package, or None if it has no BUILD file."""
        key = (repo, package)
        if key not in self.packages:
            before = len(self.diags)
            self._loading.add(key)
            try:
                self.packages[key] = self._load_package(repo, package)
            finally:
                self._loading.discard(key)
            if len(self.diags) > before:
                self.errors[key] = self.diags[before:]
        return self.packages[key]

    def _load_package(self, repo: str, package: str) -> list[Target] | None:
        try:
            path = self.ws.build_file(repo, package)
        except KeyError:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not self._readable(path, st, repo, package):
            return []
        cache_key = str(path)
        entry = self._cache.get(cache_key)
        if entry is None or not trusted(st, entry.stat, entry.read_at) or not deps_fresh(entry):
            entry = self._parse(path, repo, package, st, entry if entry and deps_fresh(entry) else None)
            if entry is None:
                return []
        pkg_dir = str(path.parent)
        if entry.expanded is not None and self._dirs_unchanged(pkg_dir, entry) \
                and all(os.path.isfile(p) for p in entry.explicit):
            return entry.expanded
        if entry.raw is None:  # kept without its parse (__getstate__): read it again to expand it
            entry = self._parse(path, repo, package, st, None)
            if entry is None:
                return []
        expanded = self._expand(pkg_dir, entry)
        return expanded if expanded is not None else []

    def _readable(self, path: Path, st, repo: str, package: str) -> bool:
        """A BUILD file that is a directory, too large, or unreadable is an error of its package."""
        problem = unreadable(path, st, self.ws.display_path(repo, package))
        if problem:
            self.diags.append(problem)
        return problem is None

    def _parse(self, path: Path, repo: str, package: str, st, old: ParsedFile | None) -> ParsedFile | None:
        from .build_file import parse_entry

        return parse_entry(self, path, (self.ws.display_path(repo, package), package, repo), st, old)

    def _by_pieces(self, text: str, display: str, package: str, repo: str, path: Path,
                   old: ParsedFile | None) -> list | None:
        from .pieced import by_pieces

        return by_pieces(self, text, (display, package, repo), path, old, CACHE_FORMAT)

    def templates_in(self, repo: str, package: str) -> list[str]:
        """Names of the templates a package's BUILD file defines (once it has been loaded)."""
        entry = self._cache.get(str(self.ws.build_file(repo, package)))
        return sorted(entry.templates) if entry is not None else []

    def template_files(self, repo: str, package: str) -> list[tuple[str, str]]:
        """(repo, package) of each BUILD file whose templates `package`'s file is expanded with
        (a change of one re-expands it), as far as this loader has parsed it."""
        entry = self._cache.get(str(self.ws.build_file(repo, package)))
        out = []
        for path in sorted(entry.deps if entry is not None else ()):
            for r in (STD, ""):  # std first: the stdlib may lie inside a workspace
                rel = os.path.relpath(path, self.ws.repo_root(r))
                if not rel.startswith(".."):
                    out.append((r, "" if os.path.dirname(rel) in ("", ".") else os.path.dirname(rel)))
                    break
        return out

    def _templates_of(self, label: Label, span: Span, deps: dict) -> dict:
        """The templates defined in another package's BUILD file (templates.External), noting
        that file as one the caller's parse depends on."""
        key = (label.repo, label.package)
        if key in self._loading:
            raise RecipeError.at(span, f"'{self.ws.display_path(*key)}' uses templates of a file that uses its own",
                                 "move the templates into a file of their own")
        targets = self.package(label.repo, label.package)
        if targets is None:
            raise RecipeError.at(span, f"no such package '{label.package or '//'}' for template '{label}'")
        path = str(self.ws.build_file(label.repo, label.package))
        entry = self._cache.get(path)
        if entry is None:  # its own errors are reported with its package
            raise RecipeError.at(span, f"template '{label}': its file has errors")
        deps[path] = (entry.stat, entry.read_at)
        return entry.templates

    def _dirs_unchanged(self, pkg_dir: str, entry: ParsedFile) -> bool:
        root = self._root_of(pkg_dir)
        return all(globs.dir_unchanged(os.path.join(pkg_dir, rel) if rel else pkg_dir, state, root, entry.walked_at)
                   for rel, state in entry.dirs.items())

    def _root_of(self, pkg_dir: str) -> str:
        std = str(self.ws.repo_root("std"))
        return std if pkg_dir == std or pkg_dir.startswith(std + os.sep) else str(self.ws.root)

    def _expand(self, pkg_dir: str, entry: ParsedFile) -> list[Target] | None:
        walked_at = time.time_ns()
        found = expand(self.ws, pkg_dir, self._root_of(pkg_dir), entry.raw, self.diags)
        if found is None:
            return None
        entry.expanded, entry.dirs, entry.walked_at, entry.explicit = found.targets, found.dirs, walked_at, found.explicit
        self._dirty = True
        return found.targets

    # ------------------------------------------------------------ labels and patterns

    def lookup(self, vl: VersionedLabel, span: Span = NOWHERE) -> list[Target]:
        """The targets a label names, or a diagnostic with a did-you-mean."""
        label = vl.label
        try:
            self.ws.repo_root(label.repo)
        except KeyError:
            self._fail(span, f"unknown repository '@{label.repo}'", did_you_mean(label.repo, ["std"]))
        targets = self.package(label.repo, label.package)
        if targets is None:
            siblings = [p for p in self.ws.packages_under(label.repo, "") if p != label.package]
            where = f"in {label.package}/" if label.package else "at the workspace root"
            build = self.ws.build_file(label.repo, label.package)
            if os.path.islink(build) and not os.path.exists(build):  # (a loop, or a link to nothing)
                where += f" ({os.path.relpath(build, self.ws.repo_root(label.repo))} is a broken symlink)"
            hint = did_you_mean(label.package, siblings)
            tails = [p for p in siblings if label.package.endswith("/" + p)]  # (`pkg:x` typed inside pkg/)
            if hint is None and tails:
                hint = (f"did you mean '//{max(tails, key=len)}:{label.name}'? (a label typed without // is "
                        "relative to the current directory)")
            self._fail(span, f"no such package '{label.package or '//'}': no BUILD file {where}", hint)
        if self.errors.get((label.repo, label.package)):
            # As in Bazel: a package with an error fails every target in it, with that error.
            raise RecipeError(self.errors[(label.repo, label.package)])
        found = self._by_label(label.repo, label.package).get(label.name, [])
        if not found:
            names = sorted({t.label.name for t in targets})
            where = self.ws.display_path(label.repo, label.package)
            self._fail(span, f"no such target '{label}': not declared in {where}", did_you_mean(label.name, names))
        if vl.version:
            found = [t for t in found if t.version is not None and str(t.version) == vl.version]
            if not found:
                self._fail(span, f"no version {vl.version} of '{label}'", None)
        return found

    def inputs(self) -> tuple[dict[str, tuple], dict[str, globs.DirState]]:
        """What the loaded targets were read from: BUILD file stats and walked directories'
        mtimes (for the engine's cached analysis)."""
        files, dirs = {}, dict(self.walked_dirs)
        for (repo, package), targets in self.packages.items():
            path = self.ws.build_file(repo, package)
            entry = self._cache.get(str(path))
            if targets is None or entry is None:
                if path.parent.is_dir():  # a BUILD file may appear here
                    dirs[str(path.parent)] = globs.dir_state(str(path.parent), self._root_of(str(path.parent)), globs.TREE)
                continue
            files[str(path)] = entry.stat
            files.update({dep: stat for dep, (stat, _) in entry.deps.items()})
            for rel, state in entry.dirs.items():
                dirs[os.path.join(str(path.parent), rel) if rel else str(path.parent)] = state
        return files, dirs

    def _by_label(self, repo: str, package: str) -> dict[str, list[Target]]:
        key = (repo, package)
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = {}
            for t in self.package(repo, package) or ():
                index.setdefault(t.label.name, []).append(t)
        return index

    def label_error(self, text: str, exc: LabelError, current: str = "") -> RecipeError:
        """A command-line word that is no label, said as typed, with a hint (typed_labels.py)."""
        from .typed_labels import label_error

        return label_error(self, text, exc, current)

    def _fail(self, span: Span, message: str, help: str | None):
        raise RecipeError.at(span, message, help)

    def expand(self, patterns: list[str], cwd: str | None = None, skip_manual: bool = False,
               walked_unchanged: bool = False) -> list[Label]:
        """Labels matched by `patterns` (a `-` prefix subtracts), sorted. `walked_unchanged`: the
        caller proved every directory an earlier expansion walked (`walked_dirs`) unchanged (the
        engine's edit check, by their stats): a recursive pattern walked before takes the packages
        it found then, without walking the workspace again."""
        self._walked_unchanged = walked_unchanged
        current = self.ws.package_of(cwd or os.getcwd())
        chosen: set[Label] = set()
        for text in patterns:
            try:
                pat = parse_pattern(text, current)
            except LabelError as exc:
                raise self.label_error(text, exc, current) from None
            matched = self._match(pat, skip_manual)
            chosen = chosen - matched if pat.negative else chosen | matched
        self.raise_errors()
        return sorted(chosen, key=lambda lb: (lb.repo, lb.package, lb.name))

    def _match(self, pat: Pattern, skip_manual: bool) -> set[Label]:
        if pat.name is not None and not pat.recursive:
            try:
                return {t.label for t in self.lookup(VersionedLabel(Label(pat.repo, pat.package, pat.name), None))}
            except RecipeError as exc:  # reported with every other pattern's errors
                self.diags.extend(exc.diagnostics)
                return set()
        try:
            pkgs = self._walk(pat) if pat.recursive else [pat.package]
        except KeyError:
            raise RecipeError.at(NOWHERE, f"unknown repository '@{pat.repo}'") from None
        if not pkgs and not pat.negative:
            hint = did_you_mean(pat.package, self.ws.packages_under(pat.repo, ""))
            raise RecipeError.at(NOWHERE, f"no packages match '{pat}'", hint)
        out = set()
        for p in pkgs:
            targets = self.package(pat.repo, p)
            if targets is None and not pat.recursive:
                self.lookup(VersionedLabel(Label(pat.repo, p, "all"), None))
            for t in targets or ():
                if not (skip_manual and "manual" in t.tags):
                    out.add(t.label)
        return out

    def _walk(self, pat: Pattern) -> list[str]:
        """The packages at or below a recursive pattern's package: walked, each directory's state
        kept (`walked_dirs`), unless `expand` was told the last walk's directories are unchanged."""
        walks = self.__dict__.setdefault("walks", {})  # (a loader kept by an earlier jbuild has none)
        key = (pat.repo, pat.package)
        if self.__dict__.get("_walked_unchanged") and key in walks:
            return walks[key]
        root = str(self.ws.repo_root(pat.repo))
        _inside(pat, root)
        walked: list[str] = []
        pkgs = walks[key] = self.ws.packages_under(pat.repo, pat.package, walked)
        for d in walked:
            self.walked_dirs[d] = globs.dir_state(d, root, globs.TREE)
        return pkgs

    def raise_errors(self) -> None:
        if self.diags:
            diags, self.diags = list(dict.fromkeys(self.diags)), []
            self.save_cache()
            raise RecipeError(diags)

    # ------------------------------------------------------------ closures

    def closure(self, roots: list[Label]) -> Loaded:
        """Load the roots and everything their requirements name, checking every reference."""
        targets: dict[Label, list[Target]] = {}
        todo = list(roots)
        while todo:
            label = todo.pop()
            if label in targets:
                continue
            try:
                targets[label] = self.lookup(VersionedLabel(label, None))
            except RecipeError as exc:
                self.diags.extend(exc.diagnostics)
                targets[label] = []
                continue
            for t in targets[label]:
                for req in references.references(t):
                    if req.label not in targets:
                        if self._exists(req.label, req.span):
                            todo.append(req.label)
        self.raise_errors()
        self.diags.extend(references.check(targets))
        self.raise_errors()
        self.save_cache()
        return Loaded(self.ws, targets, list(roots))

    def _exists(self, label: Label, span: Span | None) -> bool:
        try:
            self.lookup(VersionedLabel(label, None), span or NOWHERE)
            return True
        except RecipeError as exc:
            self.diags.extend(exc.diagnostics)
            return False


def _inside(pat: Pattern, root: str) -> None:
    """A recursive pattern is expanded inside its repository only: its package directory (or one
    above it) being a symlink out of it is an error, not a walk of whatever it names. (The walk
    itself never follows a symlinked directory below it, as `//...` never did. Bazel does follow
    them, unless told not to by a marker file; a label names a path here, so a package reached
    through a link would have two labels, or one naming a place outside the workspace.)"""
    if not pat.package:
        return
    real, real_root = os.path.realpath(os.path.join(root, pat.package)), os.path.realpath(root)
    if os.path.commonpath([real, real_root]) != real_root:
        raise RecipeError.at(NOWHERE, f"'{pat}' would walk {real}, outside the workspace: '{pat.package}' is, or is "
                             "below, a symlink leading out of it; a pattern is expanded only inside the workspace",
                             "name the targets there by their labels, or move their directory into the workspace")


def load(patterns: list[str], start: str | None = None, skip_manual: bool = False) -> Loaded:
    """Find the workspace from `start`, expand `patterns`, load their closure."""
    ws = Workspace.find(start)
    loader = Loader(ws)
    roots = loader.expand(patterns, start, skip_manual)
    return loader.closure(roots)


def parse_cli_label(text: str, ws: Workspace, cwd: str | None = None) -> VersionedLabel:
    """A label typed on the command line: `:x` and `pkg:x` are relative to the current directory."""
    current = ws.package_of(cwd or os.getcwd())
    try:
        return parse_label(from_cwd(text, current), current)
    except LabelError as exc:
        raise Loader(ws).label_error(text, exc, current) from None


"""Load the BUILD files a pattern needs into typed targets, with declared sources expanded.

A parse is cached per BUILD file by content hash, next to the stat it was read under; an
unchanged file costs one stat (git's racy-clean rule decides when a stat may be trusted). The
expansion of declared sources is cached with the mtimes of the directories it walked.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from jbuild.base import cachefile
from jbuild.base.freshness import stat_key, trusted

from . import globs, references
from .errors import Diagnostic, RecipeError, did_you_mean
from .labels import STD, Label, LabelError, Pattern, VersionedLabel, parse_label, parse_pattern
from .model import Package, Target
from .span import NOWHERE, Span
from .workspace import Workspace

CACHE_FORMAT = 12  # 9: templates; 10: fetched sources and patches; 11: both; 12: slotted data classes


@dataclass
class _Entry:
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
        self._cache: dict[str, _Entry] = cachefile.read(self.cache_path, CACHE_FORMAT, {})
        self._dirty = False
        self.packages: dict[tuple[str, str], list[Target] | None] = {}
        self._index: dict[tuple[str, str], dict[str, list[Target]]] = {}
        self.diags: list[Diagnostic] = []
        self.errors: dict[tuple[str, str], list[Diagnostic]] = {}  # a package's own errors
        self.parsed_files = 0  # how many BUILD files were really parsed (tests, bench)
        self.walked_dirs: dict[str, globs.DirState] = {}  # directories pattern expansion looked at
        self._loading: set[tuple[str, str]] = set()  # packages being parsed (a cycle of templates)

    # ------------------------------------------------------------ cache

    def __getstate__(self):
        """A loader kept by an engine session (engine/session_file.py) keeps each BUILD file's
        entry without its parse (`raw`: a second copy of every target, needed only to expand the
        file again, which then parses it again)."""
        state = dict(self.__dict__)
        state["_cache"] = {p: e if e.raw is None else dataclasses.replace(e, raw=None) for p, e in self._cache.items()}
        return state

    def save_cache(self) -> None:
        if not self._dirty:
            return
        cachefile.write(self.cache_path, CACHE_FORMAT, self._cache)
        self._dirty = False

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
        if entry is None or not trusted(st, entry.stat, entry.read_at) or not _deps_fresh(entry):
            entry = self._parse(path, repo, package, st, entry if entry and _deps_fresh(entry) else None)
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
        from .parser import MAX_BYTES

        display = self.ws.display_path(repo, package)
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
        if problem:
            self.diags.append(Diagnostic(Span(display, 0, 0), *problem))
        return problem is None

    def _parse(self, path: Path, repo: str, package: str, st, old: _Entry | None) -> _Entry | None:
        import xxhash

        from .lowering import lower_file
        from .parser import parse

        read_at = time.time_ns()
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.diags.append(Diagnostic(Span(self.ws.display_path(repo, package), 0, 0),
                                         f"cannot read '{self.ws.display_path(repo, package)}': {exc.strerror}"))
            return None
        digest = xxhash.xxh3_128_hexdigest(data)
        if old is not None and old.digest == digest:
            old.stat, old.read_at = stat_key(st), read_at
            self._dirty = True
            return old
        display = self.ws.display_path(repo, package)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            self.diags.append(Diagnostic(Span(display, line, col, line, col + 1),
                                         f"not UTF-8 text: byte 0x{data[exc.start]:02x} ({exc.reason})",
                                         "save the file as UTF-8"))
            return None
        self.parsed_files += 1
        from .syntax import Instance as st_Instance  # (a restored session parses nothing: no parser imports)
        from .templates import std_templates_path

        deps: dict = {}
        try:
            syntax = parse(text, display)
            raw = lower_file(syntax, package, repo, lambda label, span: self._templates_of(label, span, deps))
        except RecipeError as exc:
            self.diags.extend(exc.diagnostics)
            self._cache.pop(str(path), None)
            return None
        if any(isinstance(b, st_Instance) for b in syntax.blocks):
            std = std_templates_path()
            deps[str(std)] = (stat_key(os.stat(std)), time.time_ns())
        entry = _Entry(stat_key(st), digest, read_at, raw, templates={t.name: t for t in syntax.templates},
                       deps=deps)
        self._cache[str(path)] = entry
        self._dirty = True
        return entry

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

    def _dirs_unchanged(self, pkg_dir: str, entry: _Entry) -> bool:
        root = self._root_of(pkg_dir)
        return all(globs.dir_unchanged(os.path.join(pkg_dir, rel) if rel else pkg_dir, state, root, entry.walked_at)
                   for rel, state in entry.dirs.items())

    def _root_of(self, pkg_dir: str) -> str:
        std = str(self.ws.repo_root("std"))
        return std if pkg_dir == std or pkg_dir.startswith(std + os.sep) else str(self.ws.root)

    def _expand(self, pkg_dir: str, entry: _Entry) -> list[Target] | None:
        walked_at = time.time_ns()
        # Only a glob needs the directory listing (and its changes); named paths need to exist.
        filesets = [fs for t in entry.raw for fs in (t.sources, getattr(t, "interface", None),
                                                    getattr(t, "patches", None)) if fs]
        needs_walk = any(fs.globs for fs in filesets)
        files, dirs = globs.walk_package(pkg_dir, self._root_of(pkg_dir)) if needs_walk else ([], {})
        explicit = sorted({os.path.join(pkg_dir, p) for fs in filesets for p in fs.paths})
        root = self._root_of(pkg_dir)
        present = set(files) if needs_walk else {os.path.relpath(p, pkg_dir) for p in explicit
                                                 if os.path.isfile(p) and not globs.escapes(p, root)}
        out, ok = [], True
        for t in entry.raw:
            if not t.sources:
                out.append(t)
                continue
            srcs = self._fileset(t, t.sources, files, present, "sources")
            if isinstance(t, Package):
                iface = self._fileset(t, t.interface, files, present, "interface") if t.interface else ()
                stray = sorted(set(iface or ()) - set(srcs or ()))
                if stray:
                    self.diags.append(Diagnostic(
                        t.interface.span, f"interface file '{stray[0]}' is not among the declared sources",
                        "an interface is part of the sources: add it to 'sources'"))
                    ok = False
                    continue
                patches = self._fileset(t, t.patches, files, present, "patches") if t.patches else ()
                if srcs is None or iface is None or patches is None:
                    ok = False
                    continue
                srcs = tuple(sorted(set(srcs) | set(patches)))  # a patch is a declared source
                out.append(dataclasses.replace(t, files=srcs, interface_files=iface))
            else:
                if srcs is None:
                    ok = False
                    continue
                out.append(dataclasses.replace(t, files=srcs))
        if not ok:
            return None
        entry.expanded, entry.dirs, entry.walked_at, entry.explicit = out, dirs, walked_at, explicit
        self._dirty = True
        return out

    def _fileset(self, t, fs, files, present, what) -> tuple[str, ...] | None:
        chosen: set[str] = set()
        ok = True
        for p in fs.paths:
            if p in present:
                chosen.add(p)
            else:
                repo_root = str(self.ws.repo_root(t.label.repo))
                pkg_dir = os.path.join(repo_root, t.label.package)
                outside = globs.escapes(os.path.join(pkg_dir, p), repo_root)
                if outside:
                    self.diags.append(Diagnostic(
                        fs.span, f"{what} of '{t.label.name}': '{p}' is a symlink that leaves the workspace "
                        f"(-> {outside})", "sources must be inside the workspace"))
                    ok = False
                    continue
                listing = files or globs.walk_package(pkg_dir, repo_root)[0]
                self.diags.append(Diagnostic(
                    fs.span, f"{what} of '{t.label.name}': no file '{p}'",
                    did_you_mean(p, listing) or "paths are relative to the BUILD file's directory"))
                ok = False
        for include, exclude in fs.globs:
            found = globs.match(files, include, exclude)
            bad = sorted(f for f in found if not _utf8(f))
            if bad:
                self.diags.append(Diagnostic(
                    fs.span, f"{what} of '{t.label.name}': the file name {bad[0].encode('utf-8', 'surrogateescape')!r} "
                    "is not UTF-8", "rename it, or exclude it from the glob"))
                ok = False
                continue
            if not found:
                self.diags.append(Diagnostic(
                    fs.span, f"{what} of '{t.label.name}': glob({list(include)}) matches no file",
                    "check the pattern; '**' matches across directories, '*' within one"))
                ok = False
            chosen.update(found)
        return tuple(sorted(chosen)) if ok else None

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
            siblings = self.ws.packages_under(label.repo, "")
            where = f"in {label.package}/" if label.package else "at the workspace root"
            self._fail(span, f"no such package '{label.package or '//'}': no BUILD file {where}",
                       did_you_mean(label.package, siblings))
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

    def _fail(self, span: Span, message: str, help: str | None):
        raise RecipeError.at(span, message, help)

    def expand(self, patterns: list[str], cwd: str | None = None, skip_manual: bool = False) -> list[Label]:
        """Labels matched by `patterns` (a `-` prefix subtracts), sorted."""
        current = self.ws.package_of(cwd or os.getcwd())
        chosen: set[Label] = set()
        for text in patterns:
            try:
                pat = parse_pattern(text, current)
            except LabelError as exc:
                raise RecipeError.at(NOWHERE, str(exc), exc.help) from None
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
            walked: list[str] = []
            pkgs = self.ws.packages_under(pat.repo, pat.package, walked) if pat.recursive else [pat.package]
            root = str(self.ws.repo_root(pat.repo))
            for d in walked:
                self.walked_dirs[d] = globs.dir_state(d, root, globs.TREE)
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


def load(patterns: list[str], start: str | None = None, skip_manual: bool = False) -> Loaded:
    """Find the workspace from `start`, expand `patterns`, load their closure."""
    ws = Workspace.find(start)
    loader = Loader(ws)
    roots = loader.expand(patterns, start, skip_manual)
    return loader.closure(roots)


def _deps_fresh(entry: _Entry) -> bool:
    """Are the files whose templates this entry's file calls unchanged since it was expanded?"""
    for path, (recorded, read_at) in entry.deps.items():
        try:
            if not trusted(os.stat(path), recorded, read_at):
                return False
        except OSError:
            return False
    return True


def _utf8(name: str) -> bool:
    try:
        name.encode()
        return True
    except UnicodeEncodeError:
        return False


def parse_cli_label(text: str, ws: Workspace, cwd: str | None = None) -> VersionedLabel:
    try:
        return parse_label(text, ws.package_of(cwd or os.getcwd()))
    except LabelError as exc:
        raise RecipeError.at(NOWHERE, str(exc), exc.help) from None

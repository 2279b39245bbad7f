"""A package's declared files (`sources`, `interface`, `patches`) found on disk: a named path
must exist, a glob is matched against the package directory's listing. Each problem is a
diagnostic at the attribute: a missing file (with a did-you-mean), a symlink that leaves the
workspace, a glob that matches nothing, a file name that is not UTF-8.

Only a glob needs the directory listing (and so its changes, `dirs`); named paths need only to
exist (`explicit`). The loader caches the result with both (loader.py).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from . import globs
from .errors import Diagnostic, did_you_mean
from .model import Package, Target
from .workspace import Workspace


@dataclass
class Expansion:
    targets: list[Target]  # with `files` (and a package's `interface_files`) filled in
    dirs: dict  # dir a glob walked -> globs.DirState
    explicit: list[str]  # paths named without a glob: each must exist


def expand(ws: Workspace, pkg_dir: str, root: str, raw: list[Target], diags: list[Diagnostic]) -> Expansion | None:
    """The targets of one BUILD file (`raw`, as lowered) with their declared files; None, with
    the problems in `diags`, if any is missing."""
    filesets = [fs for t in raw for fs in (t.sources, getattr(t, "interface", None),
                                           getattr(t, "patches", None)) if fs]
    needs_walk = any(fs.globs for fs in filesets)
    unreadable: list[globs.Unreadable] = []
    files, dirs = globs.walk_package(pkg_dir, root, unreadable) if needs_walk else ([], {})
    explicit = sorted({os.path.join(pkg_dir, p) for fs in filesets for p in fs.paths})
    present = set(files) if needs_walk else {os.path.relpath(p, pkg_dir) for p in explicit
                                             if os.path.isfile(p) and not globs.escapes(p, root)}
    found = _Found(ws, files, present, diags, unreadable)
    out = [found.target(t) for t in raw]
    if any(t is None for t in out):
        return None
    return Expansion(out, dirs, explicit)


@dataclass
class _Found:
    ws: Workspace
    files: list[str]  # the package directory's listing (empty when nothing needed a walk)
    present: set[str]  # the files a path may name
    diags: list[Diagnostic]
    unreadable: list[globs.Unreadable]  # directories below the package that could not be listed

    def target(self, t: Target) -> Target | None:
        if not t.sources:
            return t
        srcs = self.fileset(t, t.sources, "sources")
        if not isinstance(t, Package):
            return None if srcs is None else dataclasses.replace(t, files=srcs)
        iface = self.fileset(t, t.interface, "interface") if t.interface else ()
        stray = sorted(set(iface or ()) - set(srcs or ()))
        if stray:
            self.diags.append(Diagnostic(
                t.interface.span, f"interface file '{stray[0]}' is not among the declared sources",
                "an interface is part of the sources: add it to 'sources'"))
            return None
        patches = self.fileset(t, t.patches, "patches") if t.patches else ()
        if srcs is None or iface is None or patches is None:
            return None
        srcs = tuple(sorted(set(srcs) | set(patches)))  # a patch is a declared source
        return dataclasses.replace(t, files=srcs, interface_files=iface)

    def fileset(self, t: Target, fs, what: str) -> tuple[str, ...] | None:
        chosen: set[str] = set()
        ok = True
        for p in fs.paths:
            if p in self.present:
                chosen.add(p)
            else:
                self._missing(t, fs, what, p)
                ok = False
        for include, exclude in fs.globs:
            blocked = next((u for u in self.unreadable for p in include if globs.reaches(p, u.rel)), None)
            if blocked is not None:
                self.diags.append(Diagnostic(
                    fs.span, f"{what} of '{t.label.name}': glob({list(include)}) cannot read the directory "
                    f"'{os.path.join(t.label.package, blocked.rel).rstrip('/') or '.'}': {blocked.reason}",
                    "make it readable (chmod a+rx), or narrow the glob, or move the directory out of the package"))
                ok = False
                continue
            found = globs.match(self.files, include, exclude)
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

    def _missing(self, t: Target, fs, what: str, p: str) -> None:
        repo_root = str(self.ws.repo_root(t.label.repo))
        pkg_dir = os.path.join(repo_root, t.label.package)
        outside = globs.escapes(os.path.join(pkg_dir, p), repo_root)
        if outside:
            self.diags.append(Diagnostic(
                fs.span, f"{what} of '{t.label.name}': '{p}' is a symlink that leaves the workspace "
                f"(-> {outside})", "sources must be inside the workspace"))
            return
        listing = self.files or globs.walk_package(pkg_dir, repo_root)[0]
        self.diags.append(Diagnostic(
            fs.span, f"{what} of '{t.label.name}': no file '{p}'",
            did_you_mean(p, listing) or "paths are relative to the BUILD file's directory"))


def _utf8(name: str) -> bool:
    try:
        name.encode()
        return True
    except UnicodeEncodeError:
        return False

"""Split outputs: which file of $OUT goes to which declared output, and who sees which output.

A package that declares `outputs = { bin = [...], lib = [...], dev = [...], doc = [...] }` is
published as one store entry per output plus a set entry (store/sets.py). Each file, symlink
or empty directory of $OUT belongs to exactly one output: a path matched by two outputs, or by
none, is an error naming it (an unassigned file is not silently put anywhere: it would land in
what consumers or images see, or be lost); an empty directory nobody claims is dropped. A
symlink must stay inside its output, since outputs are mounted and linked apart.

Who sees what (DESIGN §3: a consumer's key covers exactly what its sandbox shows it):
  a build against the package (requires)   dev + lib   — also what its exported digest measures
  a build-only tool (build_requires)       bin + lib + dev   (it runs, and enters with its build key)
  environments and images (run closures)   bin + lib   — no headers, no static archives
  doc                                      nobody; its own entry only (`jbuild build` prints it)
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from jbuild.dsl.model import Output, Package

from .outputs import OutputError
from .store.sets import output_name

BUILD = ("lib", "dev")
TOOL = ("bin", "lib", "dev")
RUN = ("bin", "lib")
MEASURED = BUILD
LISTED = 5  # paths named in one error


def visible(pkg: Package, set_name: str, role: tuple[str, ...]) -> list[tuple[str, str]]:
    """(output, entry name) of the outputs `role` sees of `pkg`'s entry `set_name`; for a package
    that declares no outputs, [("", set_name)]: its one entry, as before."""
    if not pkg.outputs:
        return [("", set_name)]
    return [(o.name, output_name(set_name, o.name)) for o in pkg.outputs if o.name in role]


def _regex(pattern: str) -> re.Pattern:
    """A declared path as a regex over paths relative to $OUT: `**` crosses directories, `*`
    and `?` stay within a name, and a match takes everything below it."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"(?:/.*)?\Z", re.DOTALL)


def _leaves(root: Path, rel: str = ""):
    """(path relative to root, lstat) of every file, symlink and empty directory, sorted."""
    with os.scandir(root / rel if rel else root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode) and os.listdir(root / path):
            yield from _leaves(root, path)
        else:
            yield path, st


def assign(out: Path, outputs: tuple[Output, ...]) -> dict[str, str]:
    """Path of each leaf of `out` -> its output. Raises OutputError on a path claimed by two
    outputs, files claimed by none, or a symlink into another output."""
    patterns = [(o.name, p, _regex(p)) for o in outputs for p in o.paths]
    owner: dict[str, str] = {}
    unclaimed, twice = [], []
    for rel, st in _leaves(out):
        claims = {}
        for name, text, rx in patterns:
            if rx.match(rel):
                claims.setdefault(name, text)
        if len(claims) > 1:
            twice.append(f"{rel} (" + ", ".join(f"{n} by \"{t}\"" for n, t in claims.items()) + ")")
        elif claims:
            owner[rel] = next(iter(claims))
        elif not stat.S_ISDIR(st.st_mode):
            unclaimed.append(rel)
    if twice:
        raise OutputError(f"{_some(twice)} {'is' if len(twice) == 1 else 'are'} claimed by two outputs; "
                          "a path belongs to one output (make the paths of the outputs disjoint)")
    if unclaimed:
        one = len(unclaimed) == 1
        them = "it" if one else "them"
        raise OutputError(f"{_some(unclaimed)} {'belongs' if one else 'belong'} to no output; add {them} to one "
                          f"of the declared outputs ({', '.join(o.name for o in outputs)}), or do not install {them}")
    _check_links(out, owner)
    return owner


def _some(paths: list[str]) -> str:
    more = f" (and {len(paths) - LISTED} more)" if len(paths) > LISTED else ""
    return ", ".join(paths[:LISTED]) + more


def _check_links(out: Path, owner: dict[str, str]) -> None:
    """A symlink whose target is in another output would dangle once the outputs are apart."""
    for rel, mine in owner.items():
        if not os.path.islink(out / rel):
            continue
        target = os.path.normpath(os.path.join(os.path.dirname(rel), os.readlink(out / rel)))
        theirs = {o for path, o in owner.items() if path == target or path.startswith(target + "/")}
        if theirs - {mine}:
            raise OutputError(f"{rel} (output {mine}) is a symlink to {target}, which is in output "
                              f"{', '.join(sorted(theirs - {mine}))}; a symlink must stay inside its output "
                              "(put both paths in one output)")


def split(out: Path, outputs: tuple[Output, ...], new_dir) -> dict[str, Path]:
    """Move the files of `out` into one directory per declared output (`new_dir(name)`, e.g. a
    store temporary's `output`), keeping their paths. Every declared output gets its directory,
    even an empty one: a package's set of outputs does not depend on what a build installed."""
    owner = assign(out, outputs)
    parts = {o.name: new_dir(o.name) for o in outputs}
    for rel, name in owner.items():
        dest = parts[name] / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(out / rel, dest)
    return parts

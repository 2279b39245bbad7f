"""/env: a build's dependencies merged, as a tree of symlinks into /deps (staged per action),
and the environment variables that point at it.

Only build-only tools bring `bin/` and `libexec/`: a library's programs are implementation,
outside its consumers' keys, so running one must not be the silent default (declare it in
build_requires, where its whole build key enters).
"""

from __future__ import annotations

import os
from itertools import compress
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .sandbox import Job

ENV_DIRS = ("bin", "lib", "include", "share", "etc", "libexec")


def variables(job: Job) -> dict[str, str]:
    """The build's environment variables: fixed paths, the job's own on top."""
    env = {"PATH": "/env/bin:/usr/bin:/bin", "SRC": "/src", "OUT": "/out", "TMPDIR": "/tmp", "HOME": "/tmp",
           "LANG": "C", "LC_ALL": "C", "SOURCE_DATE_EPOCH": "0", "LIBRARY_PATH": "/env/lib",
           "LD_LIBRARY_PATH": "/env/lib", "C_INCLUDE_PATH": "/env/include",
           # Install prefix (docs/language.md): the output, whose pkg-config files are made
           # relocatable at publish (engine/outputs.py); the dependencies' .pc files under /env.
           "PREFIX": "/out", "PKG_CONFIG_PATH": "/env/lib/pkgconfig:/env/share/pkgconfig"}
    env.update(job.extra_env)
    return env


def stage_env(job: Job, root: Path) -> Path | None:
    """The links of `env_plan`, made under `root` on disk; None when there is nothing to link
    (no directory made: each costs on a busy disk)."""
    return write_env(env_plan(job), root)


def write_env(plan: list, root: Path) -> Path | None:
    for rel, links in plan:
        (root / rel).mkdir(parents=True, exist_ok=True)
        for name, target in links:
            os.symlink(target, root / rel / name)
    return root if plan else None


def env_plan(job: Job) -> list[tuple[str, list[tuple[str, str]]]]:
    """(directory under /env, [(name, link target)]) for each dependency's bin/lib/include/...:
    symlinks to /deps/<name>/..., the first dependency (by name) that has a path winning it.
    A root staged in a tmpfs makes these there (sandbox.py), with no disk operation at all.
    Most dependencies export none of these directories: each such one costs a dictionary look-up
    in C (`_listed`), as an action sees up to a thousand."""
    plan, taken = [], set()
    tools = job.tools
    for name, listing in sorted(_listed(job.deps)):
        subs = ENV_DIRS if name in tools else _LIBRARY_DIRS
        for rel, names in listing:
            if rel.split("/", 1)[0] not in subs:
                continue
            taken.add(rel)
            links = []
            for f in names:
                if f"{rel}/{f}" not in taken:
                    taken.add(f"{rel}/{f}")
                    links.append((f, f"/deps/{name}/{rel}/{f}"))
            plan.append((rel, links))
    return plan


def _listed(deps: dict[str, str | os.PathLike]) -> zip:
    """(name, listing) of each dependency whose listing is not empty: the listings looked up in
    C (a map over the cache's `get`; a job's entries are str, hashed in C, or the Path objects
    of a run), only an entry first seen in this process listed through Python (`env_listing`)."""
    listings = list(map(_LISTINGS.get, deps.values()))
    if None in listings:
        listings = [got if got is not None else env_listing(entry)
                    for entry, got in zip(deps.values(), listings, strict=True)]
    return zip(compress(deps, listings), filter(None, listings), strict=True)


def env_listing(entry: str | os.PathLike) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(directory relative to the entry, the names to link in it) under each of ENV_DIRS: files,
    and symlinks to directories. A store entry never changes, so each is listed once per
    process — an action sees hundreds of dependencies (the closure of its requirements) — by
    one listing of its top directory, not a stat per name of ENV_DIRS."""
    found = _LISTINGS.get(entry)
    if found is None:
        top = os.fspath(entry)
        found = _LISTINGS.get(top)
        if found is None:
            found = _list(top)
            _LISTINGS[top] = found
        _LISTINGS[entry] = found
        if len(_LISTINGS) > 400_000:  # a long-lived process (a watch) building ever new entries
            _LISTINGS.clear()
    return found


def _list(entry: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    try:
        present = {e.name for e in os.scandir(entry) if e.name in ENV_DIRS and e.is_dir()}
    except (FileNotFoundError, NotADirectoryError):
        return ()
    out = []
    for sub in ENV_DIRS:
        if sub not in present:
            continue
        for dirpath, dirnames, filenames in os.walk(os.path.join(entry, sub)):
            names = filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
            out.append((os.path.relpath(dirpath, entry), tuple(names)))
    return tuple(out)


_LIBRARY_DIRS = tuple(d for d in ENV_DIRS if d not in ("bin", "libexec"))
_LISTINGS: dict = {}  # an entry (its path, and the Path object a job names it by) -> its listing

"""What changed since a kept session's analysis, by stats alone (the CLI's view of an edit).

A stat proves a file unchanged when it matches the one taken at the analysis and the file was not
written within the racy-clean margin before it (base/freshness.py); everything else is handed
to `Session.update` as changed. Something structural (jbuild.toml, a host tool, a directory a
pattern walked) answers None: the caller analyses again.
"""

from __future__ import annotations

import os


def changed_files(session, seen: dict | None = None) -> list[str] | None:
    """The inputs whose stats no longer prove them unchanged (the CLI's view of an edit);
    None if something structural changed (the caller analyses again). `seen` (path -> stat):
    stats this process took a moment ago (the no-op check's), used rather than taken again
    (an edit at 10,000 packages stats every source once, not twice)."""
    from jbuild.base.freshness import trusted, untrusted_of
    from jbuild.dsl.globs import dir_unchanged

    from .platform import host_path, resolve_binary

    for fp in session.host.values():
        if any(resolve_binary(name, host_path()) != b["path"] for name, b in fp.binaries.items()):
            return None
    out: list[str] = []
    try:
        for path, stat in session.structural.items():
            if not trusted(os.stat(path), stat, session.analysed_at):
                return None
        for d in session.new_package_dirs:
            walked = session.walked_states.get(d)
            if walked is None:
                continue
            state, root, *at = walked  # (a session saved before walked states had their own time: none)
            if not dir_unchanged(d, state, root, at[0] if at else session.walked_at,
                                 relisted=_restamp(session.walked_states, d, root)):
                return None
    except OSError:
        return None
    out += untrusted_of(session.sources, session.stats.entries, seen or {})  # (no Python call per source)
    out += _untrusted(session.build_files, session.read_stats.get, 2)
    for d in session.glob_dirs:
        globbed = session.glob_states.get(d)
        if globbed is None or not dir_unchanged(d, *globbed, relisted=_restamp(session.glob_states, d, globbed[1])):
            out.append(d)
    return out


def _restamp(states: dict, d: str, root: str):
    """Records a directory's new state (a glob's or a pattern walk's) once its listing proved it
    unchanged: a kept session (the build server's) then proves it by one stat again."""
    def relisted(state, taken_at: int) -> None:
        states[d] = (state, root, taken_at)
    return relisted


def _untrusted(paths, cached, at: int, seen: dict | None = None) -> list[str]:
    """The paths whose current stat (or the one in `seen`) does not match the cached (stat, _, read_at)."""
    from jbuild.base.freshness import trusted

    out, seen = [], seen or {}
    for p in paths:
        c = cached(p)
        try:
            if c is None or not trusted(seen.get(p) or os.stat(p), c[0], c[at]):
                out.append(p)
        except OSError:
            out.append(p)
    return out

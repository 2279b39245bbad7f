"""A BUILD edit of a restored session that re-lowers the edited pieces only (issue 12: "no parser or
resolver for what did not change").

A session restored from its files (session_file.py) has the nodes, edges and keys at once, and the
loader and families only when read back (`HEAVY`: every target of the analysis, 0.3 s at 10,000
packages). An edit of a BUILD file lowered by pieces (dsl/piece_cache.py) — its other pieces
unchanged, the same targets declared in the same order — is brought in here without them: the
edited pieces are lowered and expanded (the others' targets, on other lines if lines were added or
removed above them, are moved by their records' shifts, never read), each changed target compared
with its node's (read back alone), the shared resolution and the action graph updated
(reresolve.py, regraph.py), and the indexes of what each file feeds patched. The loader, read back
later, is patched to match (`patch_loader`: its entry of the file names the new pieces; its targets
are the analysis's records, which the new targets replace by number, analysis_file.py). Anything
else — a template, an error, a target added or removed, or one changed in what other targets'
references or the pattern see (flavours, config, slots, settings, contributions, a service, tags, a
host tool, globs) — returns None before anything is changed, and the caller re-lowers the usual
way.
"""

from __future__ import annotations

import os
import time

from jbuild.base.freshness import stat_key
from jbuild.dsl.model import Package, Test

SAME = ("flavours", "config", "slots", "settings", "contributions", "service", "host_tool")  # what others see


def indexed(session, loader) -> None:
    """Keep with the session what an edit compares with (`summary`); any patch of an earlier
    loader is dropped (applied to this one when it was read back, or made for another)."""
    session.pieced = summary(loader)
    session.__dict__.pop("heavy_patch", None)


def summary(loader) -> dict:
    """path -> (digest, pieces, labels) of each BUILD file the loader lowered by pieces: what an
    edit of it compares with, without the loader (kept in the analysis's core)."""
    out = {}
    for path, e in loader._cache.items():
        if e.pieces and e.expanded is not None and all(len(r) > 3 for r in e.pieces):
            labels = [t.label for t in e.expanded]
            if len(set(labels)) == len(labels):  # (one version of each: a node each)
                out[path] = (e.digest, e.pieces, labels)
    return out


def update(session, packages: set) -> set | None:
    """The nodes to re-key after `packages` were edited, if the edit could be taken in here
    (see above); None (nothing changed) otherwise."""
    d = session.__dict__
    if "loader" in d or d.get("analysis") is None or len(packages) != 1 or d.get("pins"):
        return None
    key = next(iter(packages))
    path = str(session.ws.build_file(*key))
    last = d.get("pieced", {}).get(path)
    if last is None:
        return None
    found = _relowered(session, path, key, last)
    if found is None:
        return None
    return _apply(session, path, *found)


def _relowered(session, path: str, key: tuple, last: tuple):
    """(the file's new entry facts, label -> new target of each edited piece, the moved targets'
    shifts), or None."""
    import xxhash
    from jbuild.dsl.build_file import decode
    from jbuild.dsl.declared_files import expand
    from jbuild.dsl.errors import RecipeError
    from jbuild.dsl.loader import CACHE_FORMAT
    from jbuild.dsl.piece_cache import cache_path, repiece

    digest, rows, labels = last
    if len({r[0] for r in rows}) != len(rows):
        return None
    repo, package = key
    read_at = time.time_ns()
    try:
        st = os.stat(path)
        data = open(path, "rb").read()  # noqa: SIM115 (closed with the object)
        display = session.ws.display_path(repo, package)
        text = decode(data, display)
    except (OSError, RecipeError):
        return None
    new_digest = xxhash.xxh3_128_hexdigest(data)
    if new_digest == digest:
        return None
    found = repiece(text, display, package, repo, cache_path(session.ws.cache_dir, path), CACHE_FORMAT,
                    [(r[0], r[1], r[3]) for r in rows])
    if found is None:
        return None
    placed = _placed(*found, rows, labels)
    if placed is None:
        return None
    fresh, pieces, shifted = placed
    pkg_dir = os.path.dirname(path)
    diags: list = []
    root = str(session.ws.repo_root(repo))
    expanded = expand(session.ws, pkg_dir, root, fresh, diags) if fresh else None
    if fresh and (expanded is None or diags or expanded.dirs):
        return None
    entry = {"stat": stat_key(st), "digest": new_digest, "read_at": read_at, "pieces": tuple(pieces),
             "explicit": expanded.explicit if expanded else []}
    return entry, {t.label: t for t in (expanded.targets if expanded else ())}, shifted


def _placed(cut: list, lowered: dict, rows: tuple, labels: tuple):
    """(the edited pieces' new targets, the file's new piece rows, (label, line shift) of each
    target only moved), or None when the labels' order changed (a target added, removed or
    renamed: the caller's earlier path handles it)."""
    where, at = {}, 0
    for r in rows:
        where[r[0]] = labels[at:at + r[2]]
        at += r[2]
    lines = {r[0]: r[1] for r in rows}
    order, fresh, pieces, shifted = [], [], [], []
    for i, (k, line, size) in enumerate(cut):
        mine = lowered.get(i)
        if mine is None and line != lines[k]:
            shifted += [(label, line - lines[k]) for label in where[k]]
        order += where[k] if mine is None else [t.label for t in mine]
        fresh += mine or ()
        pieces.append((k, line, len(where[k]) if mine is None else len(mine), size))
    if order != list(labels):
        return None
    return fresh, pieces, shifted


def _fits(old, new, nodes: dict) -> bool:
    """Can `new` replace `old` here: the same kind of target, the same as others see it, and
    each requirement naming a node whose flavours it asks for exist?"""
    from jbuild.dsl import references

    if type(old) is not type(new) or not isinstance(new, (Package, Test)):
        return False
    if any(getattr(old, f, None) != getattr(new, f, None) for f in SAME):
        return False
    if ("manual" in old.tags) != ("manual" in new.tags) or _globbed(old) or _globbed(new):
        return False
    for r in new.requires:
        node = nodes.get(r.label)
        if node is None or references._check_selection(r, [node.target]):
            return False
    return True


def _globbed(t) -> bool:
    return any(fs is not None and fs.globs for fs in (t.sources, getattr(t, "interface", None),
                                                     getattr(t, "patches", None)))


def _apply(session, path: str, entry: dict, targets: dict, shifted: list) -> set | None:
    """Bring the session up to date with the new targets (see `update`); None if the resolution
    cannot be updated from the last one (the caller re-lowers: a target only moved has its new
    object, and the pieces moved their shifts, which is what it finds too)."""
    from . import regraph
    from .reresolve import update as reresolve

    closures = session.closures
    nodes = closures[0].nodes if closures else {}
    changed, moved = {}, []
    for label, new in targets.items():
        node = nodes.get(label)
        if node is None:
            return None
        old = node.target
        if new == old:
            if repr(new) != repr(old):  # (else its piece was edited elsewhere)
                moved.append((node, new))
            continue
        if not _fits(old, new, nodes):
            return None
        changed[label] = new
    if shifted and not _shift(session, nodes, shifted):
        return None
    for node, new in moved:  # the same in all but its spans: its node, edges and keys hold
        node.__dict__["target"] = new  # (written as a new record)
    roots = [c.root.label for c in closures]
    view = _Families(nodes, changed)
    found = reresolve(closures, roots, view, _Families(nodes, {}), set(changed)) if changed else closures
    if found is None:
        return None
    graph = regraph.updated(found, session.graph, closures[0].deps) if found is not closures else session.graph
    if graph is None:
        from .graph import action_graph

        graph = action_graph(found)
    dirty = _dirty(session, nodes, found[0].nodes if found else {})
    _install(session, found, graph, nodes)
    _remember(session, path, entry)
    session.computer.forget(dirty)
    return dirty


def _install(session, found: list, graph, before: dict) -> None:
    """The new resolution and graph, with the session's indexes of them."""
    from .session import node_closures

    session.closures, session.graph = found, graph
    session.node_closure = node_closures(found)
    session.order = {n: i for i, n in enumerate(graph.nodes)}
    base = len(session.order)
    for n in session.node_closure:
        session.order.setdefault(n, base + len(session.order))
    _reindex(session, before, found[0].nodes if found else {})
    session.cold_token = None
    session.candidates = None
    settled = session.settled  # (in place: a Tracked dict stays one, session_journal.py)
    for n in [n for n in settled if n not in session.node_closure]:
        del settled[n]


def _remember(session, path: str, entry: dict) -> None:
    """The file's new stat, what its next edit compares with, the loader's patch, and what the
    no-op snapshot must record anew (noop.record_since)."""
    session.read_stats[path] = (entry["stat"], None, entry["read_at"])
    inputs = session.__dict__.get("loader_inputs")
    if inputs is not None:  # (in place of the loader's, as `patch_loader` makes it: Session._DeferredLoader)
        session.loader_inputs = ({**inputs[0], path: entry["stat"]}, inputs[1])
    digest, _, labels = session.pieced[path]
    session.pieced = {**session.pieced, path: (entry["digest"], entry["pieces"], labels)}
    patch = dict(session.__dict__.get("heavy_patch") or {})
    was = patch.get(path, {})
    patch[path] = {**entry, "explicit": sorted(set(was.get("explicit", ())) | set(entry["explicit"]))}
    session.heavy_patch = patch
    restored = session.__dict__.get("restored_from") or ("",)
    session.relowered = (restored[0], {path: entry["stat"]})


def _shift(session, nodes: dict, shifted: list) -> bool:
    """Move the spans of the targets of pieces kept on other lines (lines added or removed above
    them) by their records' shifts (analysis_file.py): they are read back, or copied into the
    next analysis, at their new lines, and their nodes stay as they are. False if one was read
    back already (nothing is moved then)."""
    analysis = session.__dict__.get("analysis")
    records = []
    for label, delta in shifted:
        node = nodes.get(label)
        kept = node.__dict__.get("_kept") if node is not None else None
        if kept is None or kept[0] is not analysis or "target" in node.__dict__:
            return False
        records.append((kept[1], delta))
    for record, delta in records:
        analysis.shifts[record] += delta
    return True


def _dirty(session, before: dict, after: dict) -> set:
    """The nodes whose target changed, as `Session._reload` finds them, looking only at the
    nodes that are not the objects they were."""
    out = set()
    for label, n in after.items():
        prev = before.get(label)
        if prev is n:
            continue
        was = prev.target if prev is not None and prev == n else None
        if was is not n.target and not isinstance(n.target, Test):
            out.add(n)
    return out


def _reindex(session, before: dict, after: dict) -> None:
    """`Session.sources` (declared file -> the nodes it feeds) with each re-made node in place
    of the one it replaces."""
    sources = session.sources
    for label, n in after.items():
        prev = before.get(label)
        if prev is n:
            continue
        root = session._package_dir(n)
        if prev is not None:
            for rel in prev.target.files:
                row = sources.get(os.path.join(root, rel), [])
                row[:] = [x for x in row if x is not prev]
        for rel in n.target.files:
            sources.setdefault(os.path.join(root, rel), []).append(n)
    for p in [p for p, row in sources.items() if not row]:
        del sources[p]


class _Families:
    """The families of a restored session as reresolve.py asks for them, without the loader:
    each node's target, or the changed one."""

    def __init__(self, nodes: dict, changed: dict):
        self.nodes, self.changed = nodes, changed

    def keys(self):
        return self.nodes.keys()

    def __contains__(self, label) -> bool:
        return label in self.nodes

    def __getitem__(self, label):
        found = self.changed.get(label)
        return [found if found is not None else self.nodes[label].target]

    def get(self, label, default=None):
        return self[label] if label in self.nodes else default


def patch_loader(session) -> None:
    """The loader just read back from an analysis written after such edits (its entries of the
    files are the last whole write's): each file's entry as the edits left it."""
    patch = session.__dict__.pop("heavy_patch", None)
    if not patch:
        return
    loader = session.__dict__["loader"]
    for path, facts in patch.items():
        e = loader._cache.get(path)
        if e is None:
            continue
        e.stat, e.digest, e.read_at, e.pieces = facts["stat"], facts["digest"], facts["read_at"], facts["pieces"]
        e.explicit = sorted(set(e.explicit) | set(facts["explicit"]))
    loader._dirty = True

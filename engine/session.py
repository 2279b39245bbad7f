"""The analysis of one command line, kept between builds: an edit costs what it touches.

A `Session` owns what a build is planned from — the loader with its parsed BUILD files, the
loaded families, the resolution, the action graph and every predicted key — and what the last
run settled (each action's actual key and measured exported digest). `update(changed_paths)`
turns a set of changed files into a `Plan` by redoing only what they reach:

- a declared source: its targets' source digests (through the stat cache), then `rekey`, which
  re-keys them and the consumers that read a value that changed, stopping where the build key,
  interface key and predicted exported digest all come out as before;
- a BUILD file, or a directory one of its globs walked: that package is lowered again (the
  loader keeps every other package's targets); targets whose canonical form is unchanged keep
  their identity, and only a real change re-resolves and rebuilds the (plain-data) graph;
- `jbuild.toml`, a host tool, dpkg's status, a directory a pattern walked: the whole analysis.

The plan's `affected` actions are those whose predicted key differs from what the last run
settled; `run` (build.py) re-checks them and their consumers and adopts every other action's
settled entry without re-encoding a key. Watch mode keeps a session in memory; the CLI keeps it
in `<ws>/.jbuild/cache/session-*.pickle` (session_file.py) and finds the changed files by stats.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from jbuild.dsl.globs import BUILD_FILE
from jbuild.dsl.model import Package, Test
from jbuild.dsl.workspace import MARKER, Workspace

from .graph import action_graph, is_action
from .keys import KeyComputer
from .reresolve import keep_unchanged
from .resolve import resolve_roots
from .settings import Options, resolve
from .statcache import StatCache
from .store import Store

if TYPE_CHECKING:
    from .build import Plan


class Session:
    """One command line's analysis (patterns, options, cwd), updated in place."""

    def __init__(self, patterns: list[str], opts: Options, cwd: str | None = None):
        self.patterns, self.cwd = list(patterns), cwd
        self.ws = Workspace.find(cwd)
        self.opts = resolve(self.ws, opts)
        self.stats = StatCache(self.ws.cache_dir / "stat-v1.pickle")
        self.store = None  # opened after the caches are read: reading one freezes every object
        # (cachefile.py), and a frozen store's index would never be closed, nor its WAL checkpointed
        self.settled: dict = {}  # action Node -> (actual key, exported digest, KeyInputs, entry name) of the last run
        self.pending: set[str] = set()  # paths of an update that failed: retried by the next one
        self.rekeyed = 0  # nodes re-keyed by the last update (benchmarks, tests)
        self.decisions_stamp = None  # of the decisions the last run recorded (store/index.py)
        self.analysed_at = 0
        self.cold_token, self.node_list = None, []  # the analysis as last saved (session_file.py)
        self._analyse()

    # ------------------------------------------------------------ the whole analysis

    def _analyse(self) -> None:
        """Load, resolve, graph and key everything (the first plan, or a structural change)."""
        from jbuild.dsl.loader import Loader

        from .build import _known_exported, _sandbox_key, _version_pins, sandbox_kind, with_host_versions

        self.analysed_at = self.started_at = time.time_ns()
        self.cold_token = None  # the saved analysis is stale
        self.env_dirty = None  # (see `_env_dirty`)
        if self.stats.__dict__.get("partial"):  # a restored session's holds only what its analysis read
            self.stats = self.stats.merged()
        ws = self.ws = Workspace.find(self.cwd)  # jbuild.toml may have changed
        self.kind = sandbox_kind(self.opts.sandbox)
        loader = Loader(ws)
        self.store = self.store or Store(Path(self.opts.store))
        patterns, self.pins = _version_pins(self.patterns, loader, self.cwd)
        self.roots = loader.expand(patterns, self.cwd, skip_manual=True)
        loaded = loader.closure(self.roots)
        self.hosted: dict = {}  # label -> (family as lowered, with detected versions, fingerprint)
        self.host = with_host_versions(loaded, self.stats, self.hosted)
        self.loader, self.families = loader, loaded.targets
        self.walked_at = self.analysed_at
        self._resolve()
        self.computer = KeyComputer(ws.root, self.stats, self.host, _sandbox_key(self.kind), self.opts.strict,
                                    known_exported=_known_exported(self.store))
        for n, c in self.node_closure.items():
            if isinstance(n.target, Package):  # tests are run, not built
                self.computer.build_key(n, c)
                self.computer.interface_key(n, c)
        self.rekeyed = len(self.node_closure)
        self.candidates = None  # every action
        self.structural = self._structural_inputs()
        self.stats.journaled = False  # a whole analysis refreshes the file other command lines read
        self.stats.save()

    def _resolve(self, previous: tuple | None = None, walked: dict | None = None) -> None:
        """Resolution and graph of the current families; indexes of what each file feeds.
        `previous`: the last closures and families (resolve_roots updates them where it can);
        `walked`: the pattern walk's directories as the edit check last proved them (`_index_packages`)."""
        last = previous[0] if previous else None
        self.closures = resolve_roots(self.roots, self.families, self.pins, previous)
        graph = action_graph(self.closures, (self.graph, last[0].deps) if last and all(
            c.deps is last[0].deps for c in last) else None)  # (updated from the last graph: regraph.py)
        node_closure = self.node_closure = node_closures(self.closures)
        self.graph = graph
        self.order = {n: i for i, n in enumerate(graph.nodes)}
        base = len(self.order)
        for n in node_closure:  # host tools and tests: keyed, never dirty, ordered after nothing
            self.order.setdefault(n, base + len(self.order))
        self.sources: dict[str, list] = {}
        for n in node_closure:
            if n.target.files:
                root = self._package_dir(n)
                for rel in n.target.files:
                    self.sources.setdefault(os.path.join(root, rel), []).append(n)
        self._index_packages(walked)

    def _package_dir(self, node) -> str:
        repo_root = str(self.ws.repo_root(node.label.repo))
        return os.path.join(repo_root, node.label.package) if node.label.package else repo_root

    def _index_packages(self, walked: dict | None = None) -> None:
        """Which package each BUILD file and each glob-walked directory belongs to, and what of
        the loader `changed_files` compares with (so that it needs no loader: a restored
        session reads the loader back only when a BUILD file changed, analysis_file.py).
        `walked`: the pattern walk's directories as the edit check last proved them (their states
        taken again once a listing proved one unchanged, session_changes._restamp): kept where the
        loader did not walk them again, so that a directory of 10,000 result links is not listed
        again by the next edit."""
        loader = self.loader
        self.build_files: dict[str, tuple[str, str]] = {}
        self.glob_dirs: dict[str, tuple[str, str]] = {}
        self.new_package_dirs: set[str] = set(loader.walked_dirs)  # a new BUILD file here is a new package
        self.read_stats: dict[str, tuple] = {}  # BUILD file -> (stat, None, read_at) of its parse
        walked = walked or {}
        self.walked_states = {d: walked.get(d) or (state, str(loader._root_of(d)), self.walked_at)
                              for d, state in loader.walked_dirs.items()}
        self.glob_states: dict[str, tuple] = {}  # directory a glob walked -> (its DirState, root, walked at)
        for key, targets in loader.packages.items():
            path = self.ws.build_file(*key)
            if targets is None:
                self.new_package_dirs.add(str(path.parent))
                continue
            self.build_files[str(path)] = key
            entry = loader._cache.get(str(path))
            if entry is None:
                continue
            self.read_stats[str(path)] = (entry.stat, None, entry.read_at)
            for rel, state in entry.dirs.items():
                d = os.path.join(str(path.parent), rel) if rel else str(path.parent)
                self.glob_dirs[d] = key
                self.glob_states[d] = (state, str(loader._root_of(d)), entry.walked_at)
        self.loader_inputs = loader.inputs()  # (what a no-op snapshot records: `_DeferredLoader`)
        from .relower import indexed

        indexed(self, loader)  # (what relower.py compares an edit with)

    def _structural_inputs(self) -> dict[str, tuple]:
        """Files whose change redoes the whole analysis, with their stats: jbuild.toml, the host
        tools' binaries, dpkg's status."""
        from . import dpkg
        from .snapshot import stat_of

        out = {str(self.ws.root / MARKER): stat_of(self.ws.root / MARKER)}
        if dpkg.available():
            out[dpkg.STATUS] = stat_of(Path(dpkg.STATUS))
        for fp in self.host.values():
            for b in fp.binaries.values():
                out[b["path"]] = self.stats.entries[b["path"]][0]
        return out

    # ------------------------------------------------------------ an update

    def update(self, changed: Iterable[str]) -> Plan:
        """The plan after `changed` paths changed (created, written, removed or renamed)."""
        started = self.started_at = time.time_ns()
        paths = {os.path.abspath(p) for p in changed} | self.pending
        self.pending = set(paths)  # until this update succeeds
        if self._is_structural(paths):
            self._analyse()
            dirty = set()
        else:
            packages = {self.build_files.get(p) or self.glob_dirs.get(os.path.dirname(p)) or self.glob_dirs.get(p)
                        for p in paths if p not in self.sources}
            # a declared source that is gone: its package is expanded again (and says what is missing)
            packages |= {(n.label.repo, n.label.package) for p in paths if p in self.sources and not os.path.isfile(p)
                         for n in self.sources[p]}
            packages.discard(None)
            dirty = self._reload(packages) if packages else set()
            for p in paths:  # a test's own sources key no build (`jbuild test` hashes them)
                nodes = [n for n in self.sources.get(p, ()) if not n.shape.test]
                self.computer.forget(nodes)
                dirty.update(nodes)
            self._env_dirty(dirty)
            self.rekeyed = len(dirty)
            changed = self.computer.rekey(dirty, self.order, self.node_closure, self.graph.consumers)
            if self.candidates is not None:
                self.candidates |= changed
        self.pending = set()
        return self.plan(started)

    def _is_structural(self, paths: set[str]) -> bool:
        for p in paths:
            if p in self.structural or (os.path.basename(p) == BUILD_FILE and p not in self.build_files
                                        and os.path.dirname(p) in self.new_package_dirs):
                return True
            if p not in self.sources and (p in self.new_package_dirs or os.path.isdir(p) and (
                    os.path.dirname(p) in self.new_package_dirs or os.path.dirname(p) in self.glob_dirs)):
                return True  # a directory appeared or went where packages or globs look
        return False

    def _env_dirty(self, nodes) -> None:
        """Note `nodes` as ones whose target, edges or entry may differ from what the run the
        session was restored from saw: `env_dirty`, the set of them since (results.py reuses the
        environment of each root whose closure holds none of them, and whose entries the run
        left as they were); None when unknown (a new analysis or resolution: none is reused)."""
        found = self.__dict__.get("env_dirty")
        if found is not None:
            found.update(nodes)

    # ------------------------------------------------------------ what to watch

    def watch_dirs(self) -> set[str]:
        """The directories holding every input of this analysis: declared sources, BUILD files,
        directories globs and patterns walked, and the workspace root (jbuild.toml)."""
        dirs = {os.path.dirname(p) for p in self.sources} | {os.path.dirname(p) for p in self.build_files}
        return dirs | set(self.glob_dirs) | self.new_package_dirs | {str(self.ws.root)}

    def relevant(self, path: str, how: str) -> bool:
        """Could this change of `path` change the plan? A modified file that nothing declares
        cannot; a file appearing or going where a glob or a pattern looks can."""
        if path in self.sources or path in self.build_files or path in self.structural:
            return True
        parent = os.path.dirname(path)
        looked_at = parent in self.glob_dirs or parent in self.new_package_dirs
        if os.path.basename(path) == BUILD_FILE and looked_at:
            return True
        return how != "modified" and (looked_at or path in self.glob_dirs or path in self.new_package_dirs)

    def _reload(self, packages: set[tuple[str, str]]) -> set:
        """Lower `packages` again; returns the nodes to re-key. Unchanged targets (by canonical
        form: a comment or reformatting) keep their identity and nothing is re-resolved."""
        from .build import _version_pins, with_host_versions
        from .relower import update as relowered

        deps = self.closures[0].deps if self.closures else {}
        before = {n: [d for _, d in edges] for n, edges in deps.items()}  # (what `_env_dirty` compares with)
        if not all(c.deps is deps for c in self.closures):
            self.env_dirty = None  # (edges apart per root: not compared)
        fast = relowered(self, packages)  # (a restored session's in-place edit: no loader read back)
        if fast is not None:
            after = self.closures[0].deps if self.closures else {}
            self._env_dirty({n for n, edges in after.items() if before.get(n) != [d for _, d in edges]})
            return fast
        loader = self.loader
        self.cold_token = None  # the saved analysis is stale
        for key in packages:
            loader.packages.pop(key, None)
            loader._index.pop(key, None)
            loader.errors.pop(key, None)
        patterns, pins = _version_pins(self.patterns, loader, self.cwd)
        states = dict(loader.walked_dirs)  # (not structural: every directory the patterns walked is as it was,
        roots = loader.expand(patterns, self.cwd, skip_manual=True, walked_unchanged=True)  # its packages too)
        walked = {d: v for d, v in self.walked_states.items() if loader.walked_dirs.get(d) is states.get(d)}
        loaded = loader.closure(roots)
        hosted = dict(self.hosted)
        host = with_host_versions(loaded, self.stats, hosted)
        families, moved = keep_unchanged(self.families, loaded.targets)
        unchanged = families.keys() == self.families.keys() and all(
            families[lb] is self.families[lb] for lb in families)
        self.hosted, self.host = hosted, host
        if unchanged and roots == self.roots and pins == self.pins:
            self._index_packages(walked)
            return set()
        previous = (self.closures, self.families)
        self.roots, self.pins, self.families = roots, pins, families
        self.env_dirty = None  # re-resolved: any closure may differ
        old_targets = {n: n.target for n in self.node_closure}
        self._resolve(previous, walked)
        self.candidates = None  # nodes were re-identified: compare every action
        dirty = {n for n in self.node_closure if old_targets.get(n) is not n.target and not isinstance(n.target, Test)
                 and not (n.label in moved and n in old_targets)}  # (moved: its keys hold)
        self.computer.host = host
        self.computer.forget(dirty)
        self.settled = {n: v for n, v in self.settled.items() if n in self.node_closure}
        return dirty

    # ------------------------------------------------------------ plans and runs

    def plan(self, started_at: int | None = None) -> Plan:
        from .build import Plan

        keys = self.computer.keys.build
        settled = self.settled
        # Only what was re-keyed since the last run, or not settled by it, can differ; after a
        # re-resolution (or before any run) every action is a candidate.
        candidates = self.graph.nodes if self.candidates is None else \
            [n for n in self.candidates if n in self.graph]
        affected = None if not settled else {
            n for n in candidates if n not in settled or settled[n][0] != keys.get(n)}
        loader = self.__dict__.get("loader") or _DeferredLoader(self, "loader")  # (read back only if asked)
        return Plan(started_at or self.started_at, loader, self.ws, self.opts, self.closures, self.node_closure,
                    self.graph, self.computer, self.stats, self.kind, self.store,
                    [c.root for c in self.closures if is_action(c.root)],
                    [c.root for c in self.closures if c.root.shape.test],
                    affected=affected, settled=settled, rekeyed=self.rekeyed,
                    decisions_since=self.decisions_stamp, env_dirty=self.__dict__.get("env_dirty"))

    def settle(self, rb) -> None:
        """Learn from a run (session_settle.py)."""
        from .session_settle import settle

        settle(self, rb)

    def __getstate__(self):  # the store (an open index) is re-opened by `restore`
        return {k: v for k, v in self.__dict__.items() if k != "store"}

    def __getattr__(self, name: str):
        """Only for what the instance lacks: a session restored from a kept analysis reads the
        loader, families and roots back when first asked for them (analysis_file.py)."""
        analysis = self.__dict__.get("analysis")
        if analysis is None or name not in analysis.HEAVY:
            raise AttributeError(name)
        from .relower import patch_loader

        self.__dict__.update(analysis.heavy(self.node_list))
        patch_loader(self)  # (edits taken in without the loader)
        return self.__dict__[name]

    def with_options(self, opts: Options) -> Session:
        """The same analysis under this invocation's options (jobs, events, links differ by run)."""
        self.opts = resolve(self.ws, opts)
        return self

    # ------------------------------------------------------------ what changed, by stats

    def changed_files(self, seen: dict | None = None) -> list[str] | None:
        """The inputs whose stats no longer prove them unchanged (the CLI's view of an edit);
        None if something structural changed (the caller analyses again): session_changes.py."""
        from .session_changes import changed_files

        return changed_files(self, seen)


def node_closures(closures: list) -> dict:
    """Which closure each node was resolved in (the first that holds it). Made again when a kept
    session is restored rather than read back: a few C calls over each shared set of nodes."""
    node_closure, seen = {}, set()
    for c in closures:
        if id(c.nodes) in seen:  # closures resolved together share their nodes: once, not N times
            continue
        seen.add(id(c.nodes))
        if not node_closure:
            node_closure = dict.fromkeys(c.nodes.values(), c)
            continue
        for n in c.nodes.values():
            node_closure.setdefault(n, c)
    return node_closure


class _Deferred:
    """One of a restored session's heavy parts (the loader) for a plan, read back only if some
    attribute of it is asked for (a no-op snapshot recorded whole, "nothing to build")."""

    def __init__(self, session: Session, name: str):
        self._session, self._name = session, name

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(getattr(self._session, self._name), attr)


class _DeferredLoader(_Deferred):
    """The loader of a restored session: what its targets were read from (`inputs`, which the
    no-op snapshot records) is kept with the session, so recording a snapshot whole (a build
    with links) does not read the loader back — which would leave a build server's session
    holding it, and every later BUILD edit re-lowered without relower.py."""

    def inputs(self) -> tuple[dict, dict]:
        kept = self._session.__dict__.get("loader_inputs")
        if kept is None:  # (a session kept by an earlier jbuild)
            return self._session.loader.inputs()
        files, dirs = kept
        return dict(files), dict(dirs)

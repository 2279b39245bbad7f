"""A build, end to end: load -> resolve -> graph -> keys -> schedule (rebuilder per action)."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from jbuild.dsl.loader import Loaded, Loader
from jbuild.dsl.model import Package
from jbuild.dsl.versions import Version
from jbuild.dsl.workspace import Workspace

from . import analysis
from .graph import action_graph, build_time_deps, is_action
from .keys import KeyComputer, entry_name
from .platform import detect, host_path
from .resolve import Closure, Node, resolve_roots
from .statcache import StatCache
from .store import Store, default_store


@dataclass
class Options:
    jobs: int = os.cpu_count() or 2
    keep_going: bool = False
    strict: bool = False
    sandbox: str = "auto"  # auto | bwrap | fallback | dry-run
    store: str | None = None
    build_events: str | None = None
    out_link: str | None = "result"


@dataclass
class Plan:
    """Everything known before anything runs."""

    started_at: int
    loader: Loader
    workspace: Workspace
    closures: list[Closure]
    node_closure: dict[Node, Closure]
    graph: object
    keys: object
    computer: KeyComputer
    stats: StatCache
    sandbox_kind: str
    store: Store
    roots: list[Node] = field(default_factory=list)


def store_path(ws: Workspace, opts: Options) -> Path:
    """Command line > JBUILD_STORE > jbuild.toml [store] path > the user's cache directory."""
    if opts.store:
        return Path(opts.store)
    if os.environ.get("JBUILD_STORE"):
        return Path(os.environ["JBUILD_STORE"])
    configured = ws.settings.get("store", {}).get("path")
    if configured:
        return (ws.root / configured).resolve()
    return default_store()


def sandbox_kind(requested: str) -> str:
    from .sandbox import BwrapExecutor

    if requested != "auto":
        if requested == "bwrap" and not BwrapExecutor.available():
            raise SandboxUnavailable("bubblewrap cannot create its namespaces here (is it installed?)")
        return requested
    if BwrapExecutor.available():
        return "bwrap"
    print("warning: bubblewrap is not available; building in the weaker fallback sandbox", file=sys.stderr)
    return "fallback"


class SandboxUnavailable(Exception):
    exit_code = 2


def with_host_versions(loaded: Loaded, stats: StatCache) -> dict:
    """Detect every host tool's version and fingerprint; put the version on its package."""
    host = {}
    for label, family in loaded.targets.items():
        new = []
        for t in family:
            if isinstance(t, Package) and t.host_tool is not None:
                fp = detect(str(label), t.host_tool, stats)
                host[label] = fp
                t = dataclasses.replace(t, version=Version.parse(fp.version))
            new.append(t)
        loaded.targets[label] = new
    return host


def plan(patterns: list[str], opts: Options, cwd: str | None = None) -> Plan:
    started_at = time.time_ns()
    ws = Workspace.find(cwd)
    loader = Loader(ws)
    roots = loader.expand(patterns, cwd, skip_manual=True)
    loaded = loader.closure(roots)
    stats = StatCache(ws.cache_dir / "stat-v1.pickle")
    host = with_host_versions(loaded, stats)
    closures = resolve_roots([r for r in roots if all(isinstance(t, Package) for t in loaded.targets[r])],
                             loaded.targets)
    graph = action_graph(closures)
    kind = sandbox_kind(opts.sandbox)
    computer = KeyComputer(ws.root, stats, host, "bwrap" if kind == "dry-run" else kind, opts.strict)
    node_closure: dict[Node, Closure] = {}
    seen: set[int] = set()
    for c in closures:
        if id(c.nodes) in seen:
            continue
        seen.add(id(c.nodes))
        for n in c.nodes.values():
            node_closure.setdefault(n, c)
            computer.build_key(n, c)
            computer.interface_key(n, c)
    stats.save()
    return Plan(started_at, loader, ws, closures, node_closure, graph, computer.keys, computer, stats, kind,
                Store(store_path(ws, opts)), [c.root for c in closures])


def run(p: Plan, opts: Options) -> tuple[int, dict]:
    """Build every action of the plan. Returns (exit code, outcomes)."""
    from .progress import Reporter
    from .rebuilder import Rebuilder
    from .sandbox import make_executor
    from .scheduler import State, schedule

    store = p.store
    executor = make_executor(p.sandbox_kind)
    actions = list(p.graph.nodes)
    reporter = Reporter(len(actions), opts.build_events)
    rb = Rebuilder(store, executor, p.keys, p.node_closure, p.workspace.root, p.computer.package_dir,
                   p.stats, reporter)
    deps = {n: {d for d in build_time_deps(p.node_closure[n], n) if is_action(d)} for n in actions}
    with store.shared():
        store.clean_temporaries()
        try:
            states = schedule(deps, rb.realise, opts.jobs, opts.keep_going, on_interrupt=executor.cancel,
                              inline=rb.try_reuse)
        except KeyboardInterrupt:
            reporter.summary(8, opts.keep_going)
            raise
        finally:
            rb.save_decisions()
    p.stats.save()
    failed = any(s is not State.DONE for s in states.values())
    code = 1 if failed else 0
    reporter.summary(code, opts.keep_going)
    return code, rb.outcomes


def root_entry(p: Plan, node: Node) -> Path | None:
    if not is_action(node):
        return None
    return p.store.path(entry_name(node, p.keys.build[node]))


def link_result(store: Store, link: Path, entry: Path, needs: list[str]) -> None:
    """Point `link` at `entry` atomically and register it as a GC root."""
    tmp = link.with_name(link.name + ".jbuild-new")
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(entry)
    os.replace(tmp, link)
    store.add_root(link, needs)

@dataclass
class Result:
    code: int
    roots: list[tuple[str, Path]]  # (node, store entry) of each root that was built
    reused_analysis: bool = False


def build(patterns: list[str], opts: Options, cwd: str | None = None) -> Result:
    """`jbuild build`: the cached analysis if nothing changed, else plan and run."""
    ws = Workspace.find(cwd)
    store = store_path(ws, opts)
    command = (tuple(patterns), ws.package_of(cwd or os.getcwd()), opts.strict, opts.sandbox, str(store))
    cache = analysis.path_for(ws.cache_dir, command)
    cached = analysis.load(cache)
    if cached is not None and analysis.is_fresh(cached, store):
        return _noop(cached, Store(store), ws, opts, cache)
    p = plan(patterns, opts, cwd)
    code, _ = run(p, opts)
    roots = [(str(n), e) for n in p.roots if (e := root_entry(p, n)) is not None and e.exists()]
    if code == 0:
        analysis.save(cache, record(p))
        if len(p.roots) == 1 and opts.out_link and roots:
            link_result(p.store, Path(opts.out_link).absolute(), roots[0][1],
                        [entry_name(n, p.keys.build[n]) for n in p.graph.nodes])
    return Result(code, roots)


def record(p: Plan) -> analysis.Analysis:
    """What this plan was computed from, with the stats it was computed under."""
    files, dirs = p.loader.inputs()
    toml = p.workspace.root / "jbuild.toml"
    files[str(toml)] = analysis_stat(toml)
    for node in p.node_closure:
        pkg = node.target
        base = p.computer.package_dir(node)
        for rel in getattr(pkg, "files", ()):
            path = os.path.join(base, rel)
            files[path] = p.stats.entries[path][0]
    tools = []
    for fp in p.computer.host.values():
        for name, b in fp.binaries.items():
            files[b["path"]] = p.stats.entries[b["path"]][0]
            tools.append((name, host_path(), b["path"]))
    return analysis.Analysis(
        recorded_at=p.started_at, files=files, dirs=dirs,
        actions=[(str(n), entry_name(n, p.keys.build[n])) for n in p.graph.nodes],
        roots=[(str(n), entry_name(n, p.keys.build[n])) for n in p.roots if is_action(n)],
        tools=tools, root=str(p.workspace.root))


def analysis_stat(path: Path) -> tuple:
    from jbuild.base.freshness import stat_key

    return stat_key(os.stat(path))


def _noop(a: analysis.Analysis, store: Store, ws: Workspace, opts: Options, cache: Path) -> Result:
    from .progress import Reporter

    reporter = Reporter(len(a.actions), opts.build_events)
    for node, _ in a.actions:
        reporter.reused(node, "inputs unchanged")
    if not a.decisions_all_reused:
        store.index.mark_reused(str(ws.root), [node for node, _ in a.actions])
        a.decisions_all_reused = True
        analysis.save(cache, a)
    reporter.summary(0, opts.keep_going)
    roots = [(node, store.path(name)) for node, name in a.roots]
    if len(roots) == 1 and opts.out_link:
        link = Path(opts.out_link).absolute()
        if os.path.realpath(link) != str(roots[0][1].resolve()):
            link_result(store, link, roots[0][1], [name for _, name in a.actions])
    return Result(0, roots, reused_analysis=True)

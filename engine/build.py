"""A build, end to end: load -> resolve -> graph -> predicted keys -> schedule (rebuilder per
action) -> results and GC roots. The no-op path (noop.py, snapshot.py) short-cuts all of it."""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from jbuild.base import quick_exit
from jbuild.base.errors import BadInput, Failed, Interrupted
from jbuild.dsl.workspace import Workspace

from . import noop, snapshot
from .settings import Options, out_link, resolve

TYPE_CHECKING = False  # (not typing's: importing typing is ~3 ms of a no-op)
if TYPE_CHECKING:  # the no-op path imports neither the parser nor the resolver nor the keys
    from jbuild.dsl.loader import Loaded, Loader

    from .keys import KeyComputer
    from .resolve import Closure, Node
    from .statcache import StatCache
    from .store import Store


@dataclass
class Plan:
    """Everything known before anything runs."""

    started_at: int
    loader: Loader
    workspace: Workspace
    opts: Options
    closures: list[Closure]
    node_closure: dict[Node, Closure]
    graph: object  # graph.ActionGraph of action Nodes (`.to_networkx()` for a DiGraph)
    computer: KeyComputer
    stats: StatCache
    sandbox_kind: str
    store: Store
    roots: list[Node] = field(default_factory=list)
    tests: list[Node] = field(default_factory=list)  # test targets asked for (built, not run)
    members: dict[Node, list] = field(default_factory=dict)  # each root's run closure (runtime.Member), once built
    envs: dict[Node, Path] = field(default_factory=dict)  # each root's environment, once assembled
    root_entries: list[list[str]] = field(default_factory=list)  # each root's closure entries (its GC root), once linked
    links: tuple | None = None  # the stamp of the result links and their GC roots (result_links.py), once linked
    # Incremental plans (session.py): the actions whose predicted key differs from what the last
    # run settled (None: check every action), and what it settled (Node -> (key, exported, inputs)).
    affected: set[Node] | None = None
    settled: dict[Node, tuple] = field(default_factory=dict)
    rekeyed: int = 0  # nodes whose keys this plan recomputed
    decisions_since: str | None = None  # the stamp of the decisions the last run recorded (index.py)
    want_members: bool = False  # compute each root's run closure (members) without result links too (build())
    whole_root: Path | None = None  # without result links (Options.link_limit): the build's one GC root (results.py)
    # What results.py may reuse each root's environment from: nodes whose target or edges changed since
    # the session was restored (Session.env_dirty; None: unknown), and (snapshot, its path) of the
    # run that session state was left by, when that run recorded environments (None: assemble all).
    env_dirty: set | None = None
    env_base: tuple | None = None
    recorded: object = None  # snapshot.Detail of each root, when results.py made it without `members`
    envs_made: int | None = None  # roots whose environment results.py made again without the full path (tests)

    @property
    def keys(self):
        return self.computer.keys


class SandboxUnavailable(BadInput):
    pass


BUBBLEWRAP_KINDS = ("bwrap", "landlock")  # sandboxes over a declared host /usr (hostroot.py)


def sandbox_kind(requested: str) -> str:
    from .sandbox import BwrapExecutor

    if requested != "auto":
        if requested in BUBBLEWRAP_KINDS and not BwrapExecutor.available():
            raise SandboxUnavailable(f"--sandbox {requested}: {BwrapExecutor.why_unavailable()}")
        if requested == "landlock" and not BwrapExecutor.landlock_available():
            from .sandbox_landlock import why_not

            raise SandboxUnavailable("--sandbox landlock: Landlock cannot confine a sandbox here"
                                     + (f" ({why_not()})" if why_not() else "") + "; use --sandbox bwrap")
        return requested
    if BwrapExecutor.available():
        return "bwrap"
    print(f"warning: {BwrapExecutor.why_unavailable()}; building in the weaker fallback sandbox", file=sys.stderr)
    return "fallback"


def with_host_versions(loaded: Loaded, stats: StatCache, cache: dict | None = None) -> dict:
    """Detect every host tool's version and fingerprint; put the version on its package.
    `cache` (label -> (family as loaded, family with versions, fingerprint)) lets a session skip
    the families it has seen."""
    from jbuild.dsl.model import Package
    from jbuild.dsl.versions import Version

    from .platform import detect

    host = {}
    cache = {} if cache is None else cache
    for label, family in loaded.targets.items():
        if not any(isinstance(t, Package) and t.host_tool is not None for t in family):
            continue
        hit = cache.get(label)
        if hit is not None and len(hit[0]) == len(family) and all(a is b for a, b in zip(hit[0], family, strict=True)):
            loaded.targets[label], host[label] = hit[1], hit[2]
            continue
        new = []
        for t in family:
            if isinstance(t, Package) and t.host_tool is not None:
                fp = detect(str(label), t.host_tool, stats)
                host[label] = fp
                t = dataclasses.replace(t, version=Version.parse(fp.version))
            new.append(t)
        cache[label] = (family, new, host[label])
        loaded.targets[label] = new
    return host


def plan(patterns: list[str], opts: Options, cwd: str | None = None) -> Plan:
    """The whole analysis of a command line (session.py keeps one to update it)."""
    from .session import Session

    return Session(patterns, opts, cwd).plan()


def _sandbox_key(kind: str) -> str:
    """What of the sandbox enters every build key: its kind, and for bubblewrap the versions of
    the base every script runs with (/bin/sh and coreutils). `dry-run` is a test seam that keys
    like a bare bwrap."""
    if kind not in BUBBLEWRAP_KINDS:
        return "bwrap" if kind == "dry-run" else kind
    from .hostroot import base_fingerprint

    base = base_fingerprint()
    return f"{kind}+{base}" if base else kind


def _version_pins(patterns: list[str], loader: Loader, cwd) -> tuple[list[str], dict]:
    """`//db:tinydb@1.4.2` asks for one version of a family: (patterns without versions, pins)."""
    from jbuild.dsl.loader import parse_cli_label

    plain, pins = [], {}
    for text in patterns:
        if text.startswith("-") or "@" not in text.rpartition("//")[2]:
            plain.append(text)
            continue
        vl = parse_cli_label(text, loader.ws, cwd)
        loader.lookup(vl)  # an unknown version is an error naming the declared ones
        loader.raise_errors()
        pins[vl.label] = vl.version
        plain.append(str(vl.label))
    return plain, pins


def _known_exported(store: Store):
    """What the store knows of a dependency's exported digest, for the prediction."""
    from .keys import entry_name

    def known(node: Node, key: str, interface_key: str) -> str | None:
        name = entry_name(node, key)
        if store.lookup(name):
            return store.meta(name).exported
        found = store.index.exported_for(interface_key)
        return found[0] if found else None

    return known


def run(p: Plan, extra=None, carried: dict | None = None) -> tuple[int, object]:
    """Build every action of the plan. Returns (exit code, the rebuilder with its outcomes).
    An incremental plan schedules only its affected actions and their consumers; every other
    action is adopted at the entry the last run settled (one stat each, no key encoded).

    `extra` (engine/testing/schedule.py's TestSchedule) adds ids of its own to the schedule, each
    waiting on the actions in `extra.deps[id]` and run by `extra.work` on the same workers.
    `carried`: the outcomes of the actions a first try of this build built (Rebuilder.carried)."""
    from .progress import Reporter
    from .rebuilder import Rebuilder
    from .sandbox import make_executor
    from .scheduler import State

    opts = p.opts
    executor = make_executor(p.sandbox_kind) if not opts.remote_executor else _remote_executor(opts)
    if p.affected is None or p.affected:  # an action is likely to run: its sandbox's stager starts now
        getattr(executor, "prestart", lambda: None)()
    reporter = Reporter(len(p.graph.nodes), opts.build_events)
    rb = Rebuilder(p.store, executor, p.computer, p.node_closure, p.workspace.root, p.stats, reporter,
                   jobs=opts.jobs, strict_interfaces=opts.strict_interfaces, verify_inputs=opts.verify_inputs,
                   host_root=_host_roots(p), settled=p.settled, fetcher=_fetcher(p, reporter, executor),
                   prebuilt_only=opts.prebuilt_only, remote=None if opts.prebuilt_only else _remote(p),
                   decisions_since=p.decisions_since, carried=carried or {})
    with p.store.shared():
        p.store.clean_temporaries()
        try:
            states = _schedule(p, rb, executor, reporter, extra)
        except BaseException:  # (its status line ends with it: `Reporter.stop`)
            reporter.stop()
            raise
        finally:  # (interrupted too: a process that builds again keeps no stager of this build)
            getattr(executor, "drop_spare", lambda: None)()
        if states is None:  # an adopted entry vanished meanwhile (a gc): decide them all
            reporter.stop()
            built = {n: o for n, o in rb.decided.items() if o.decision == "built"}
            return run(dataclasses.replace(p, affected=None), extra, {**(carried or {}), **built})
        rb.save_decisions()
        p.stats.save()
        if opts.remote_executor:
            print(executor.summary(), file=sys.stderr)
        code = 1 if any(s is not State.DONE for s in states.values()) else 0
        try:  # the links before the summary: a reader that stops at the first lines (`| head`) kills us there
            if code == 0 and (opts.out_link or p.want_members):
                from .results import members_and_links

                members_and_links(p, rb)
            if code == 0 and p.whole_root is not None:
                from .results import root_whole_build

                root_whole_build(p, rb)
        finally:
            reporter.summary(code, opts.keep_going)
    return code, rb


def _schedule(p: Plan, rb, executor, reporter, extra) -> dict | None:
    """Decide every action (the scheduler's states), adopting what the plan lets it; None if an
    entry to adopt vanished from the store meanwhile. Skipped actions are reported."""
    from .adopted import to_check
    from .scheduler import NoWorker, State, schedule

    opts, actions = p.opts, list(p.graph.nodes)
    todo, rest = to_check(p, rb, actions, waves=extra is None)
    deps = {n: {d for d in p.graph.deps[n] if d in todo} for n in (todo if len(todo) == 1 else actions) if n in todo}
    work, inline = rb.realise, rb.try_reuse
    if extra is not None:  # tests wait on what is scheduled; adopted actions are settled already
        work, inline = extra.attach(rb, executor, reporter, deps, work, inline)
        for t in extra.deps:
            deps[t] = {d for d in deps[t] if d in deps}

    def scheduled(deps: dict, idle=None) -> dict:
        try:
            # one syncfs every few seconds, not fsyncs per entry; one temporary per worker, not per action
            with p.store.deferred_sync(), p.store.reused_temporaries():
                return schedule(deps, work, opts.jobs, opts.keep_going, on_interrupt=executor.cancel,
                                inline=inline, idle=idle)
        except KeyboardInterrupt:
            rb.save_decisions()
            reporter.summary(8, opts.keep_going)
            raise Interrupted("") from None
        except NoWorker as exc:
            raise Failed(str(exc)) from None

    # The rest is prepared while the first builds run (none reads it), decided once they ran:
    # adopted in bulk where the settled keys hold (cutoff.py).
    states = scheduled(deps, rest.prepare if rest else None)
    if rest:
        decided = rest.decide(states, opts.keep_going)
        if decided is None:  # an entry to adopt vanished meanwhile (a gc)
            return None
        again, skipped = decided
        states.update(skipped)
        deps.update({n: p.graph.deps[n] for n in skipped})
        more = {n: {d for d in p.graph.deps[n] if d in again} for n in again}
        deps.update(more)
        states.update(scheduled(more) if more else {})
    for n, st in states.items():
        if st is State.SKIPPED:
            (extra.skipped if extra is not None and n in extra.deps else rb.skipped)(
                n, [str(d.label) for d in deps[n] if states.get(d) is State.FAILED])
    return states


def _fetcher(p: Plan, reporter, executor):
    """Where archives and git sources come from: the store's download cache, [fetch] mirrors,
    their URLs unless --offline (engine/fetch/)."""
    from .fetch.stage import Fetcher

    return Fetcher(p.store.root / ".downloads", p.opts.mirrors, bool(p.opts.offline), reporter.note,
                   cancelled=lambda: executor.cancelled, live=reporter.progress if reporter.tty else None)


def _remote(p: Plan):
    from .remote import open_remote

    return open_remote(p.workspace, p.opts)


def _remote_executor(opts):
    """The Remote Execution API executor (imports grpc: only when asked for)."""
    from .reapi.executor import RemoteExecutor

    return RemoteExecutor(opts.remote_executor, opts.remote_instance, opts.remote_ca_cert)


def _host_roots(p: Plan):
    """Which /usr each action sees: the Debian packages of the host tools it declares (and the
    sandbox's base shell), assembled once per set (hostroot.py). Without dpkg, or outside
    bubblewrap: None, the host's own /usr."""
    from . import dpkg
    from .hostroot import host_root
    from .keys import host_tools_of

    if p.sandbox_kind not in BUBBLEWRAP_KINDS or not dpkg.available():
        return lambda node: None

    made: dict[frozenset, object] = {}  # per set of packages, once per build (a few stats each)

    def root(node: Node):
        packages = frozenset(pkg for tool in host_tools_of(p.node_closure[node], node)
                             for pkg in p.computer.host[tool.label].debian_packages)
        found = made.get(packages)
        if found is None:
            found = made[packages] = host_root(p.store.root, packages)
        return found

    return root


@dataclass
class Result:
    code: int
    roots: list[tuple[str, Path]]  # (node, store entry) of each root that was built
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (node, why) of roots not built
    tests: list[str] = field(default_factory=list)
    reused_analysis: bool = False
    envs: list[tuple[str, Path]] = field(default_factory=list)  # (node, its environment), when linked
    members: list[tuple[str, list]] = field(default_factory=list)  # (node, its run closure: runtime.Member)
    outputs: dict[str, dict[str, Path]] = field(default_factory=dict)  # root node -> output -> entry, for split packages
    unlinked: bool = False  # no result links: more roots than Options.link_limit (settings.out_link)


def build(patterns: list[str], opts: Options, cwd: str | None = None, members: bool = True) -> Result:
    """`jbuild build`: the cached analysis if nothing changed, else plan and run. `members`:
    report each root's run closure (with `//...` at 10,000 packages that is millions of members,
    kept apart from the no-op's snapshot: the CLI asks for none; a build that makes result
    links reports them anyway)."""
    deferred = sys.modules.get("jbuild.base.after_answer")  # (imported where saves are deferred: the server)
    if deferred is not None:
        deferred.run_pending()  # (the saves of a build before, if this request builds again)
    quick_exit.release()  # (the last build's session, if this process builds again: `jbuild watch`)
    ws = Workspace.find(cwd)
    opts = resolve(ws, opts)
    command = (tuple(patterns), ws.package_of(cwd or os.getcwd()), opts.strict, opts.sandbox, opts.store)
    cache = snapshot.path_for(ws.cache_dir, command)
    cached = snapshot.load(cache)
    seen: dict = {}  # path -> stat, taken by the no-op check: the session's check reads them (not stats again)
    if cached is not None and (cached.roots or cached.root_at or cached.tests) and not opts.verify_inputs and \
            snapshot.is_fresh(cached, seen):
        result = noop.answer(cached, Path(opts.store), ws, opts, cache, members)
        if result is not None:
            return result
    p, session = _incremental_plan(patterns, opts, cwd, cache, seen)
    link = out_link(opts, len(p.roots))
    if link != opts.out_link:  # (more roots than links are made for: one GC root for the whole build)
        p.opts = dataclasses.replace(p.opts, out_link=link)
        p.whole_root = cache.with_name("gcroot-" + cache.stem.split("-", 1)[-1])
    from . import nothing_to_build

    nothing_to_build.check(p, patterns, cwd)  # "0 built" for a pattern of templates says why, exit 4
    if session.cold_token is None and _saved_first(session, p):  # a new analysis is written before the run:
        _save_session(session, cache)  # pickling it costs ~60 MB at 10,000 packages, on top of the run's
    p.want_members = members
    if cached is not None and cached.envs and cached.session and \
            cached.session == session.__dict__.get("restored_from"):
        p.env_base = (cached, cache)  # (results.py: the environments of the run that left this session)
    code, rb = run(p)
    session.settle(rb)
    from .session_journal import changed

    since = changed(session)  # (what the no-op snapshot must update; the save forgets it)
    from .results import roots_built

    roots, skipped, outputs = roots_built(p, rb)

    def save() -> None:  # (the build server's client has its answer first: base/after_answer.py)
        _save_session(session, cache)
        if code == 0:
            noop.remember(cache, cached, p, rb, session, since)
        else:
            noop.carry(cache, cached, p, session, since)

    from jbuild.base import after_answer

    after_answer.later(save)
    quick_exit.keep(p, rb, session, cached, seen)  # (freed by the process's end, not object by object: ~50 ms at 10k)
    return Result(code, noop.EntryPaths(p.store.root, roots), skipped, [str(t) for t in p.tests],
                  envs=[(str(n), e) for n, e in p.envs.items()],
                  members=[(str(n), m) for n, m in p.members.items()], outputs=outputs,
                  unlinked=link != opts.out_link)


def _incremental_plan(patterns: list[str], opts: Options, cwd, cache: Path, seen: dict | None = None):
    """(plan, session): the saved session of this command line updated with the files whose
    stats changed, or a whole analysis when there is none or something structural changed."""
    from . import session_file
    from .analysis_file import DamagedAnalysis
    from .session import Session

    session = None if opts.verify_inputs else session_file.restore(cache, opts)
    changed = session.changed_files(seen) if session is not None else None
    if changed is not None:
        try:
            return session.update(changed), session
        except DamagedAnalysis as e:  # (removed: analysed again, once, below)
            print(f"warning: the kept analysis {e.path} is damaged; it was removed: analysing again", file=sys.stderr)
    session = Session(patterns, opts, cwd)
    return session.plan(), session


SAVED_AFTER_UP_TO = 64  # actions a plan of an updated session may build with its analysis saved after the run


def _saved_first(session, p: Plan) -> bool:
    """Is a changed analysis written before the run? Yes for a whole new analysis, or a plan
    building more than SAVED_AFTER_UP_TO actions: its pickling's memory is not added to a big
    run's, and a build killed mid-run leaves it for the next (test_build_session_early.py). Not
    for an updated session's small plan (a BUILD edit): written after the run with the rest, it
    is one write of the session's hot part instead of two, which the build server makes once its
    client has its answer. Killed before, such a build leaves the session it was updated from,
    whole, and the next build re-reads the BUILD file whose stat changed."""
    return session.__dict__.get("restored_from") is None or p.affected is None or \
        len(p.affected) > SAVED_AFTER_UP_TO


def _save_session(session, cache: Path) -> None:
    from . import session_file

    session_file.save(session, cache)

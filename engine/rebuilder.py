"""The rebuilder: for one action, decide store hit or build, do it, publish, and record why.

Knows keys, store and executor; knows nothing of ordering (that is the scheduler's). An
action's actual build key is computed when the scheduler hands it over, from what its
dependencies turned out to export (measured, or read from their entries): a rebuild whose
exported interface comes out unchanged stops the cascade there (early cutoff).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jbuild.dsl.model import RequirementKind, flavour_environment

from .adopted import Adopted, AdoptedAfter
from .fetch import FetchError
from .fetch.stage import needs_staging
from .graph import build_time_deps, is_action
from .keys import KeyComputer, KeyInputs, combined_exported, describe_change, entry_name, is_host_tool, tool_nodes
from .resolve import Closure, Node
from .sandbox import Job, env_plan, stage_env
from .store import EntryMeta, Store

BIND_SOURCES_UP_TO = 32  # declared files bound one by one in a staged root; more are copied
UNCHANGED = "inputs unchanged"  # the reason of a reuse whose inputs are all as settled


@dataclass
class Outcome:
    node: Node
    decision: str  # built | reused | failed | interrupted | skipped
    reason: str
    entry: Path | None = None
    log: Path | None = None
    exit_code: int = 0
    duration: float = 0.0


class InterfaceMismatch(Exception):
    """A build's measured exported interface broke its declared interface's prediction."""


@dataclass
class Rebuilder:
    store: Store
    executor: object
    computer: KeyComputer
    closures: dict[Node, Closure]  # which closure each node was resolved in
    workspace: Path
    stats: object
    reporter: object
    jobs: int = 1
    strict_interfaces: bool = False
    verify_inputs: bool = False
    host_root: Callable[[Node], object | None] = lambda node: None
    fetcher: object | None = None  # fetch.Fetcher: archives, git sources and patches into $SRC
    remote: object | None = None  # the shared cache (engine/remote/entries.RemoteCache), tried after the store
    prebuilt_only: bool = False  # a miss is a failure, never a build (env create --channel)
    outcomes: dict[Node, Outcome] = field(default_factory=dict)
    actual: dict[Node, str] = field(default_factory=dict)  # build keys, as built or reused
    exported: dict[Node, str] = field(default_factory=dict)  # exported digests, as measured
    inputs: dict[Node, KeyInputs] = field(default_factory=dict)
    settled: dict[Node, tuple] = field(default_factory=dict)  # (key, exported, inputs) the last run settled
    _deps: dict[Node, list] = field(default_factory=dict, repr=False)  # build_time_deps of builds running now
    # Entry names and paths, made once: each dependency is mounted by hundreds of builds at 10,000 packages.
    _names: dict[Node, str] = field(default_factory=dict, repr=False)
    _paths: dict[str, Path] = field(default_factory=dict, repr=False)
    _values: dict[Node, tuple[str, str]] = field(default_factory=dict, repr=False)  # _read_value's
    _built: set[Node] = field(default_factory=set, repr=False)  # built by this run

    # ------------------------------------------------------------------ keys

    def key(self, node: Node) -> str:
        """`node`'s actual build key: its dependencies are settled, so their digests are known."""
        if node not in self.actual and self._settled_holds(node):
            self.actual[node], self.inputs[node] = self.settled[node][0], self.settled[node][2]
        if node not in self.actual:
            closure = self.closures[node]
            inputs = self.computer.inputs(node, closure, self._exported_of, self._key_of)
            predicted = self.computer.keys.inputs.get(node)
            # Inputs equal to the prediction's have its key: no need to encode them again, nor to
            # keep a second copy (at 10,000 packages each holds hundreds of digests).
            same = inputs == predicted
            self.inputs[node] = predicted if same else inputs
            self.actual[node] = self.computer.keys.build[node] if same else inputs.key()
        return self.actual[node]

    def _settled_holds(self, node: Node) -> bool:
        """Does `node`'s settled key still hold? Yes if its prediction is the one it was settled
        with (nothing re-keyed it since) and every dependency value its key read came out as
        then: a consumer of a rebuild whose export is unchanged is not keyed again (a libc patch
        at 10,000 packages re-checks 9,999 of them)."""
        was = self.settled.get(node)
        if was is None or self.computer.keys.inputs.get(node) is not was[2]:
            return False
        inputs, closure = was[2], self.closures[node]
        interfaces, read = inputs.interfaces, self._read_value
        for r, d in closure.deps.get(node, ()):
            if r.kind is RequirementKind.BUILD_AND_RUN:
                label, value = read(d)
                if interfaces.get(label) != value:
                    return False
        tools = self.computer.tools_of(node, closure)
        return not tools or all(inputs.tools.get(str(n)) == self._key_of(n) for n in tools if not is_host_tool(n))

    def _read_value(self, dep: Node) -> tuple[str, str]:
        """(label, the value a consumer's key reads of `dep`): its build key under --strict, else
        its exported digest. Once `dep` is decided it stays: kept, as libc's is read 10,000 times."""
        got = self._values.get(dep)
        if got is None:
            got = self._values[dep] = (str(dep.label),
                                       self._key_of(dep) if self.computer.strict else self._exported_of(dep))
        return got

    def adopt_many(self, nodes: list[Node], settled: dict[Node, tuple], names: list[str]) -> None:
        """Take the entries the last run settled for `nodes` (nothing they read has changed
        since), named `names`: no key, no path made, one bulk event."""
        actual, exported, inputs, outcomes, store = self.actual, self.exported, self.inputs, self.outcomes, self.store
        self._names.update(zip(nodes, names, strict=True))  # (the no-op snapshot lists them all)
        for n in nodes:
            key, exported[n], inputs[n] = settled[n]
            actual[n] = key
            outcomes[n] = Adopted(n, key, store)
        self.reporter.reused_unstarted([str(n) for n in nodes], "inputs unchanged")

    def adopt_held(self, node: Node, name: str) -> str:
        """Take `node`'s settled entry, `name`, after its dependencies ran and its settled key was
        found to hold (cutoff.py); returns the reason, to report in bulk."""
        key, self.exported[node], self.inputs[node] = self.settled[node]
        self.actual[node] = key
        self._names[node] = name
        why = self._why_reused(node)
        self.outcomes[node] = Adopted(node, key, self.store) if why == UNCHANGED else \
            AdoptedAfter(node, key, self.store, why)
        return why

    def _why_reused(self, node: Node) -> str:
        if not self._built:
            return UNCHANGED
        built = self._built
        rebuilt = [str(d.label) for r, d in self.closures[node].deps.get(node, ())  # direct: linear, not
                   if d in built and r.kind.at_build]  # quadratic
        return UNCHANGED + f" ({', '.join(rebuilt)} rebuilt; exported interface unchanged)" if rebuilt else UNCHANGED

    def _key_of(self, dep: Node) -> str:
        if is_host_tool(dep):
            return self.computer.build_key(dep, self.closures[dep])
        return self.actual[dep]

    def _exported_of(self, dep: Node) -> str:
        if is_host_tool(dep):
            return self._key_of(dep)
        return self.exported[dep]

    def entry_of(self, node: Node) -> str:
        name = self._names.get(node)
        if name is None:
            name = self._names[node] = entry_name(node, self.key(node))  # a key, once known, stays
        return name

    # ------------------------------------------------------------------ decide

    def try_reuse(self, node: Node) -> bool | None:
        """A store hit settles the action without a worker; None means it must be built."""
        name = self.entry_of(node)
        was = self.settled.get(node)
        if (was is not None and was[0] == self.actual[node] and not self.verify_inputs and self.store.lookup(name)
                and (not node.target.outputs or self.store.check(name))):  # a set: all its outputs too
            self.exported[node] = was[1]  # settled by the last run: its digest is known
            return self._reused(node, name, known=True)
        if self.store.lookup(name) and self.store.check(name, full=self.verify_inputs):
            return self._reused(node, name)
        return None

    def realise(self, node: Node) -> bool:
        if self.executor.cancelled:
            return False
        name = self.entry_of(node)
        with self.store.key_lock(self.key(node)):
            if self.store.lookup(name) and self.store.check(name):  # another jbuild built it meanwhile
                return self._reused(node, name, "built by another jbuild meanwhile")
            if self.remote is not None and self.remote.fetch(self.store, name):
                return self._reused(node, name, "downloaded from the remote cache", "remote")
            if self.prebuilt_only:
                return self._refuse(node)
            reason = describe_change(self.store.index.last_inputs(str(node)), self.inputs[node])
            self.reporter.started(node, reason)
            outcome = self._build(node, name, reason)
        self.outcomes[node] = outcome
        if outcome.decision == "built":
            self._built.add(node)
            if self.remote is not None:
                self.remote.upload(self.store, name)
        return outcome.decision == "built"

    def _refuse(self, node: Node) -> bool:
        why = "not prebuilt: only prebuilt entries may be installed here, and this one is not in the store"
        self.outcomes[node] = Outcome(node, "failed", why)
        self.reporter.failed(node, why, self.store.log_path(self.key(node)))
        return False

    def _reused(self, node: Node, name: str, why: str | None = None, source: str = "local", known: bool = False) -> bool:
        if not known:
            self.exported[node] = self.store.meta(name).exported
        if why is None:
            why = self._why_reused(node)
        self.outcomes[node] = Outcome(node, "reused", why, self.store.path(name))
        self.reporter.reused(node, why, source)
        return True

    def skipped(self, node: Node, failed: list[str]) -> None:
        why = f"not built: {', '.join(failed)} failed" if failed else "not built: the build stopped"
        self.outcomes[node] = Outcome(node, "skipped", why)
        self.reporter.skipped(node, why)

    def save_decisions(self) -> None:
        """Record why each action was built or reused (read by `jbuild explain`), in one write;
        an adopted action's row is only rewritten if it said something else."""
        outcomes = list(self.outcomes.values())
        self.store.index.record_decisions(str(self.workspace), [
            (str(o.node), str(o.node.label), self.actual.get(o.node, ""), o.decision, o.reason)
            for o in outcomes if type(o) is not Adopted], [(str(o.node), o.node.label, o.key) for o in outcomes
                                                           if type(o) is Adopted])

    # ------------------------------------------------------------------ build

    def _build(self, node: Node, name: str, reason: str) -> Outcome:
        try:
            return self._build_in(node, name, reason)
        finally:
            self._deps.pop(node, None)

    def _build_deps(self, node: Node) -> list[Node]:
        """build_time_deps, once per build (the mounts and the entry's metadata both need it)."""
        if node not in self._deps:
            self._deps[node] = list(build_time_deps(self.closures[node], node))
        return self._deps[node]

    def _build_in(self, node: Node, name: str, reason: str) -> Outcome:
        from .outputs import OutputCancelled, OutputError

        key = self.key(node)
        log = self.store.log_path(key)
        start = time.monotonic()
        # A worker need not wait for the deletion; within a run the temporary is reused (temporaries.Pool).
        with self.store.temporary(remove_later=True, reuse=True) as tmp:
            try:
                job = self._job(node, tmp, log)
            except FetchError as exc:  # a source not fetched, not verified, or a patch not applied
                return self._sources_failed(node, exc, log, time.monotonic() - start)
            code = self.executor.run(job)
            duration = time.monotonic() - start
            if code != 0 and self.executor.cancelled:
                self.reporter.interrupted(node)
                return Outcome(node, "interrupted", "the build was interrupted", None, log, code, duration)
            if code != 0:
                self.reporter.failed(node, code, log, job.script)
                return Outcome(node, "failed", f"exit code {code}", None, log, code, duration)
            try:
                own, exported, note, parts = self._check_and_measure(node, tmp)
            except OutputCancelled:
                self.reporter.interrupted(node)
                return Outcome(node, "interrupted", "the build was interrupted", None, log, 1, duration)
            except (OutputError, InterfaceMismatch) as exc:
                _append(log, f"\njbuild: {exc}\n")
                self.reporter.failed(node, str(exc), log)
                return Outcome(node, "failed", str(exc), None, log, 1, duration)
            meta = EntryMeta(key=key, name=name, label=str(node.label), node=str(node),
                             interface_key=self.computer.interface_key(node, self.closures[node]),
                             exported=exported, exported_detail=own.detail,
                             built_against={str(d.label): {"entry": self.entry_of(d), "exported": self.exported[d]}
                                            for d in self._build_deps(node) if is_action(d)},
                             inputs=self.inputs[node].as_dict(), sandbox=self.executor.kind,
                             log=os.path.relpath(log, self.store.root), duration=duration, built_at=time.time())
            entry = self.store.publish_set(parts, meta) if parts else self.store.publish(tmp.out, meta)
        self.exported[node] = exported
        self.reporter.built(node, duration)
        return Outcome(node, "built", reason + (f"; {note}" if note else ""), entry, log, 0, duration)

    def _sources_failed(self, node: Node, exc: Exception, log: Path, duration: float) -> Outcome:
        if self.executor.cancelled:  # an interrupt stopped a download
            self.reporter.interrupted(node)
            return Outcome(node, "interrupted", "the build was interrupted", None, log, 1, duration)
        log.write_text(f"jbuild: {exc}\n")  # the detail, once: the failure block shows the log's tail
        self.reporter.failed(node, "preparing its sources failed", log)
        return Outcome(node, "failed", str(exc).splitlines()[0], None, log, 1, duration)

    def _check_and_measure(self, node: Node, tmp):
        """Check the output (outputs.py), that no input changed meanwhile, split it into its
        declared outputs (split.py), and measure what it exports: (own exported interface,
        combined exported digest, a note for explain, the outputs' directories or {})."""
        from .exported import measure_all
        from .outputs import OutputError, check_output
        from .sandbox_landlock import SANDBOX_PATHS  # a resolved /deps/<name> (docs/keys.md)
        from .split import MEASURED, split

        check_output(tmp.out, [str(self.store.root.resolve()), str(self.workspace), *SANDBOX_PATHS],
                     cancelled=lambda: self.executor.cancelled)
        changed = [p for p in node.target.files if self._changed(node, p)]
        if changed:
            raise OutputError(f"inputs changed during the build: {', '.join(changed)}")
        parts = split(tmp.out, node.target.outputs, tmp.output) if node.target.outputs else {}
        own = measure_all([d for o, d in parts.items() if o in MEASURED] if parts else [tmp.out])
        exported = combined_exported(own.digest, {str(d.label): self._exported_of(d)
                                                  for r, d in self.closures[node].deps.get(node, ())
                                                  if r.kind is RequirementKind.BUILD_AND_RUN})
        return own, exported, self._check_prediction(node, exported, own.detail), parts

    def _job(self, node: Node, tmp, log: Path) -> Job:
        src = tmp.work / "src"
        base = Path(self.computer.package_dir(node))
        deps, tool_names = self._mounts(node)
        env = {"JOBS": str(self.jobs), **flavour_environment(node.flavours)}
        job = Job(script=node.target.build or "true", src=src, out=tmp.out, tmp=tmp.work, deps=deps, log=log,
                  extra_env=env, tools=frozenset(tool_names))
        job.host = self.host_root(node)
        staged = getattr(self.executor, "stages", lambda job: False)(job)
        if staged and not needs_staging(node.target) and len(node.target.files) <= BIND_SOURCES_UP_TO:
            # A staged root binds each declared file read-only at /src/<rel> in its tmpfs and makes
            # /env there: nothing on the store's disk to make and delete, so `work` itself is /tmp
            # (an edit meanwhile fails the build as a copy's would: `_check_and_measure` compares
            # the sources with the key's).
            job.src_files = [(rel, str(base / rel)) for rel in node.target.files]
            job.env_links = env_plan(job)
            return job
        job.tmp = tmp.work / "scratch"
        job.tmp.mkdir()
        if needs_staging(node.target):
            from .fetch.stage import Fetcher

            fetcher = self.fetcher or Fetcher(self.store.root / ".downloads")
            fetcher.stage(node.target, base, src, _stage_sources)
        else:
            _stage_sources(base, node.target.files, src)
        if staged:
            job.env_links = env_plan(job)  # made in the staged root's tmpfs: no disk operation
        else:
            job.env_tree = stage_env(job, tmp.work / "env")
        return job

    def _mounts(self, node: Node) -> tuple[dict[str, Path], set[str]]:
        """What the build of `node` sees at /deps: name -> entry, and which names are tools.
        A split dependency is mounted per output it shows that build, at /deps/NAME.OUTPUT
        (split.py: dev and lib to a build against it, bin too for a tool)."""
        from .split import BUILD, TOOL, visible

        deps: dict[str, Path] = {}
        tools = set(tool_nodes(self.closures[node], node))
        tool_names, bases = set(), set()
        for dep in self._build_deps(node):
            if is_action(dep):
                base = _dep_name(dep, bases)
                bases.add(base)
                for output, entry in visible(dep.target, self.entry_of(dep), TOOL if dep in tools else BUILD):
                    name = f"{base}.{output}" if output else base
                    path = self._paths.get(entry)
                    deps[name] = path if path is not None else self._paths.setdefault(entry, self.store.path(entry))
                    if dep in tools:
                        tool_names.add(name)
        return deps, tool_names

    def _check_prediction(self, node: Node, exported: str, detail: dict) -> str:
        """Same declared interface, different measured export: say so (or fail, for CI)."""
        if not self.computer.declares_interface(node):
            return ""
        iface = self.computer.interface_key(node, self.closures[node])
        known = self.store.index.exported_for(iface)
        if known is None or known[0] == exported:
            return ""
        from .exported import describe

        old = self.store.lookup(known[1])
        if old and self.store.meta(known[1]).exported_detail == detail:
            return ""  # its own export is as declared: a requirement's changed, and is flagged there
        what = describe(self.store.meta(known[1]).exported_detail, detail) if old else "its measured digest differs"
        msg = f"{node.label}: exported interface changed though its declared interface did not: {what}"
        if self.strict_interfaces:
            raise InterfaceMismatch(msg + " (--strict-interfaces)")
        print(f"warning: {msg}; rebuilding its consumers", file=sys.stderr)
        return "exported interface changed though the declared interface did not"

    def _changed(self, node: Node, rel: str) -> bool:
        digest, exe = self.stats.digest(os.path.join(self.computer.package_dir(node), rel))
        return self.inputs[node].sources.get(rel) != digest + ("+x" if exe else "")


def _append(path: Path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)


def _dep_name(node: Node, taken: dict) -> str:
    name = node.label.name
    return name if name not in taken else f"{node.label.package.replace('/', '_')}_{name}"


def _stage_sources(base: Path, files, dest: Path) -> None:
    """Exactly the declared sources, at their relative paths, copied with their mtimes.

    Not hard links: linking changes the source's ctime (its link count), twice per build, and
    the stat cache trusts (mtime, size, inode, ctime) — every source would be re-hashed after
    every build and the no-op path would never hold (docs/keys.md).
    """
    dest.mkdir(exist_ok=True)
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(base / rel, target)

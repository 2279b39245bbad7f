"""The build half of the rebuilder: for one action the rebuilder decided to build, its job (the
sandbox's inputs: sources, dependencies, /env), the run, the output's checks and measured
export, and the publishing of its entry. `ActionBuilder` is mixed into `Rebuilder`
(rebuilder.py), whose fields it reads: the decision is there, the doing here.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path

from jbuild.dsl.model import RequirementKind, flavour_environment

from .fetch import FetchError
from .fetch.stage import needs_staging
from .graph import build_time_deps, is_action
from .keys import combined_exported, tool_nodes
from .resolve import Node
from .sandbox import Job, env_plan, stage_env
from .sandbox_zygote import StagerError
from .stage_request import SortedMounts, dep_item
from .store import EntryMeta
from .store.entry import Encoded

BIND_SOURCES_UP_TO = 32  # declared files bound one by one in a staged root; more are copied


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


class ActionBuilder:
    """Builds one action for `Rebuilder` (its store, executor, keys and closures)."""


    def _build(self, node: Node, name: str, reason: str) -> Outcome:
        try:
            return self._build_in(node, name, reason)
        finally:
            self._deps.pop(node, None)
            self._by_label.pop(node, None)

    def _build_deps(self, node: Node) -> tuple[list[Node], list[tuple], list[tuple]]:
        """build_time_deps, each one's `_seen_as`, and those of the actions among them, once per
        build (the mounts and the entry's metadata both need them)."""
        got = self._deps.get(node)
        if got is None:
            deps = self._walked.pop(node, None) or self._walk(node)
            views = list(map(self._dep_views.get, deps))  # (in C: all but the first build's are known)
            if None in views:
                views = [v if v is not None else self._seen_as(d)
                         for d, v in zip(deps, views, strict=True)]
            got = self._deps[node] = (deps, views, list(filter(None, views)))
        return got

    def walked_deps(self, node: Node) -> list[Node]:
        """build_time_deps of an action the plan reads before it builds it (adopted.py), kept
        for its build: one walk of its (at 10,000 packages, ~1,000) dependencies, not two."""
        got = self._walked.get(node)
        if got is None:
            got = self._walked[node] = self._walk(node)
        return got

    def _walk(self, node: Node) -> list[Node]:
        closure = self.closures[node]
        return build_time_deps(closure, node, self._children.setdefault(id(closure), {}))

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
            try:
                code = self.executor.run(job)
            except StagerError as exc:  # killed from outside (sandbox.BwrapExecutor._run_staged)
                return self._stager_died(node, exc, log, time.monotonic() - start)
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
                             built_against=self._built_against(node),
                             inputs=self.inputs[node].as_dict(), sandbox=self.executor.kind,
                             log=os.path.relpath(log, self.store.root), duration=duration, built_at=time.time())
            entry = self.store.publish_set(parts, meta) if parts else self.store.publish(tmp.out, meta)
        self.exported[node] = exported
        self.reporter.built(node, duration)
        return Outcome(node, "built", reason + (f"; {note}" if note else ""), entry, log, 0, duration)

    def _stager_died(self, node: Node, exc: Exception, log: Path, duration: float) -> Outcome:
        if self.executor.cancelled:
            self.reporter.interrupted(node)
            return Outcome(node, "interrupted", "the build was interrupted", None, log, 1, duration)
        _append(log, f"\njbuild: {exc}\n")
        self.reporter.failed(node, str(exc), log)
        return Outcome(node, "failed", str(exc), None, log, 1, duration)

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

        if self._foreign is None:  # paths no output may name (resolved once, not per build)
            self._foreign = [str(self.store.root.resolve()), str(self.workspace), *SANDBOX_PATHS]
        check_output(tmp.out, self._foreign, cancelled=lambda: self.executor.cancelled)
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

    def _mounts(self, node: Node) -> tuple[dict[str, str], set[str]]:
        """What the build of `node` sees at /deps: name -> entry, and which names are tools.
        A split dependency is mounted per output it shows that build, at /deps/NAME.OUTPUT
        (split.py: dev and lib to a build against it, bin too for a tool)."""
        from .split import TOOL, visible

        tools = set(tool_nodes(self.closures[node], node))
        if not tools:  # the usual case: no tool, no two dependencies of one name (all in C)
            views = self._build_deps(node)[2]
            by_name = dict(zip(map(_NAME, views), views, strict=True))
            if len(by_name) == len(views):
                names = sorted(by_name)  # (str's own fast comparison)
                ordered = list(map(by_name.__getitem__, names))
                if len(set(map(_PREFIX, ordered))) <= 1:  # labels "<one prefix><name>": in the same order
                    self._by_label[node] = ordered
                items = list(map(_ITEM, ordered))
                # Each mounted whole under its own name: in name order, each one's item as kept
                # (not under Landlock, whose /deps links keep the walk's order).
                if None not in items and not getattr(self.executor, "landlock", False):
                    return SortedMounts(zip(names, map(_PATH, ordered), strict=True), items), set()
                return dict(chain.from_iterable(map(_MOUNTS_IN_FULL, views))), set()
        deps: dict[str, str] = {}
        tool_names, bases = set(), set()
        for dep, seen in zip(*self._build_deps(node)[:2], strict=True):
            if not seen:
                continue
            base = seen[0] if seen[0] not in bases else seen[1]  # a name taken: package_name
            bases.add(base)
            if dep not in tools:
                for suffix, path in seen[4]:
                    deps[base + suffix] = path
                continue
            for output, entry in visible(dep.shape, self.entry_of(dep), TOOL):
                name = f"{base}.{output}" if output else base
                deps[name] = os.fspath(self.store.path(entry))
                tool_names.add(name)
        return deps, tool_names

    def _seen_as(self, dep: Node) -> tuple:
        """What every build against the action `dep` takes of it, made once: at 10,000 packages
        hundreds of builds take each dependency (libc, all of them). (its name at /deps, that
        name if it is taken, its label, its `built_against` value, its mounts as a build sees
        them: (suffix of the name, entry path), its `built_against` item as JSON, its mounts
        named in full under its own name, and where it is one mount under its own name: its
        `stage_request.dep_item` and its entry path, else None and None; its label up to its
        name, one str object per package); () for what is not an action. Its entry and
        exported digest are settled before any build against it starts. The entry paths are
        str, not Path: the sandbox's per-process caches key by them (a Path hashes in Python)."""
        got = self._dep_views.get(dep)
        if got is None:
            from .split import BUILD, visible

            if not is_action(dep):
                got = ()
            else:
                entry, label = self.entry_of(dep), dep.label
                mounts = tuple((f".{output}" if output else "", os.fspath(self.store.path(name)))
                               for output, name in visible(dep.shape, entry, BUILD))
                value = {"entry": entry, "exported": self.exported[dep]}
                whole = len(mounts) == 1 and not mounts[0][0]
                got = (label.name, f"{label.package.replace('/', '_')}_{label.name}", str(label), value, mounts,
                       _json_item(str(label), entry, value),
                       tuple((label.name + suffix, path) for suffix, path in mounts),
                       dep_item(label.name, mounts[0][1]) if whole else None, mounts[0][1] if whole else None,
                       _label_prefix(str(label), label.name))
            self._dep_views[dep] = got
        return got

    def _built_against(self, node: Node) -> Encoded:
        """label -> {"entry", "exported"} of each action the build of `node` saw, with its JSON
        joined from each dependency's, encoded once (`_seen_as`)."""
        ordered = self._by_label.get(node)  # in name order, which is theirs (`_mounts`)
        if ordered is not None:
            labels = list(map(_LABEL, ordered))
        else:
            views = self._build_deps(node)[2]
            seen = dict(zip(map(_LABEL, views), views, strict=True))  # (in C: ~1,000 at 10,000 packages)
            labels = sorted(seen)
            ordered = list(map(seen.__getitem__, labels))
        return Encoded(zip(labels, map(_VALUE, ordered), strict=True), "{" + ", ".join(map(_JSON, ordered)) + "}")

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
        """Did `rel` change since its key was computed? What it reads anew is not cached: the
        cache keeps the stat the key came from, so the next run re-keys an edited file."""
        digest, exe = self.stats.digest(os.path.join(self.computer.package_dir(node), rel), remember=False)
        return self.inputs[node].sources.get(rel) != digest + ("+x" if exe else "")


# Of a `_seen_as`:
_NAME, _LABEL, _VALUE, _JSON, _MOUNTS_IN_FULL, _ITEM, _PATH, _PREFIX = (itemgetter(i) for i in (0, 2, 3, 5, 6, 7, 8, 9))


def _label_prefix(label: str, name: str) -> object:
    """`label` up to `name`, one str object for all of a package's labels; where it does not
    end with `name`, an object equal to no other (its order is not its name's)."""
    return sys.intern(label[:-len(name)]) if name and label.endswith(name) else object()


def _json_item(label: str, entry: str, value: dict) -> str:
    """`"label": {"entry": ..., "exported": ...}` as json.dumps(sort_keys=True) writes it, with
    its C string quoting called directly (an action at 10,000 packages has ~1,000 of them)."""
    exported = value["exported"]
    if not isinstance(exported, str):
        return f"{json.dumps(label)}: {json.dumps(value, sort_keys=True)}"
    return f'{_quote(label)}: {{"entry": {_quote(entry)}, "exported": {_quote(exported)}}}'


_quote = json.encoder.encode_basestring_ascii  # json.dumps's own (ensure_ascii) quoting


def _append(path: Path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)


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

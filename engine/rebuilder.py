"""The rebuilder: for one action, decide store hit or build, do it, publish, and record why.

Knows keys, store and executor; knows nothing of ordering (that is the scheduler's).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jbuild.dsl.model import RequirementKind

from . import dpkg
from .graph import build_time_deps, is_action, run_closure
from .hostroot import host_root
from .keys import Keys, describe_change, entry_name
from .platform import host_path, resolve_binary
from .resolve import Closure, Node
from .sandbox import Job, stage_env
from .store import Store


@dataclass
class Outcome:
    node: Node
    decision: str  # built | reused | failed | interrupted
    reason: str
    entry: Path | None = None
    log: Path | None = None
    exit_code: int = 0
    duration: float = 0.0


@dataclass
class Rebuilder:
    store: Store
    executor: object
    keys: Keys
    closures: dict[Node, Closure]  # which closure each node was resolved in
    workspace: Path
    package_dir: object  # Node -> str
    stats: object
    reporter: object
    outcomes: dict[Node, Outcome] = field(default_factory=dict)

    def entry_of(self, node: Node) -> str:
        return entry_name(node, self.keys.build[node])

    def try_reuse(self, node: Node) -> bool | None:
        """A store hit settles the action without a worker; None means it must be built."""
        name = self.entry_of(node)
        return self._reused(node, name) if self.store.lookup(name) else None

    def realise(self, node: Node) -> bool:
        name = self.entry_of(node)
        if self.executor.cancelled:
            return False
        with self.store.key_lock(self.keys.build[node]):
            if self.store.lookup(name):  # another process built it while we waited
                return self._reused(node, name, "built by another jbuild meanwhile")
            reason = describe_change(self.store.index.last_inputs(str(node)), self.keys.inputs[node])
            self.reporter.started(node, reason)
            outcome = self._build(node, name, reason)
        self._record(outcome)
        return outcome.decision == "built"

    def _reused(self, node: Node, name: str, why: str | None = None) -> bool:
        if why is None:
            rebuilt = [str(d.label) for d in build_time_deps(self.closures[node], node)
                       if d in self.outcomes and self.outcomes[d].decision == "built"]
            why = "inputs unchanged"
            if rebuilt:
                why += f" ({', '.join(rebuilt)} rebuilt; interface unchanged)"
        outcome = Outcome(node, "reused", why, self.store.path(name))
        self._record(outcome)
        self.reporter.reused(node, why)
        return True

    def _record(self, o: Outcome) -> None:
        self.outcomes[o.node] = o

    def save_decisions(self) -> None:
        """Record why each action was built or reused (read by `jbuild explain`), in one write."""
        self.store.index.record_decisions(str(self.workspace), [
            (str(o.node), str(o.node.label), self.keys.build[o.node], o.decision, o.reason)
            for o in list(self.outcomes.values())])

    def _build(self, node: Node, name: str, reason: str) -> Outcome:
        pkg = node.target
        closure = self.closures[node]
        log = self.store.root / "logs" / f"{self.keys.build[node]}.log"
        start = time.monotonic()
        with self.store.temporary() as tmp:
            src, out, scratch = tmp / "src", tmp / "out", tmp / "scratch"
            for d in (out, scratch):
                d.mkdir()
            _stage_sources(Path(self.package_dir(node)), pkg.files, src)
            deps = {}
            for dep in build_time_deps(closure, node):
                if is_action(dep):
                    deps[_dep_name(dep, deps)] = self.store.path(self.entry_of(dep))
            job = Job(script=pkg.build or "true", src=src, out=out, tmp=scratch, deps=deps, log=log)
            if dpkg.available():  # WIRING FOR THE LEAD TO REDO: the declared tools' /usr only
                job.host = host_root(self.store.root, _host_packages(closure, node))
            job.env_tree = stage_env(job, tmp / "env")
            code = self.executor.run(job)
            duration = time.monotonic() - start
            if code != 0 and self.executor.cancelled:
                self.reporter.interrupted(node)
                return Outcome(node, "interrupted", "the build was interrupted", None, log, code, duration)
            if code != 0:
                self.reporter.failed(node, code, log, job.script)
                return Outcome(node, "failed", f"exit code {code}", None, log, code, duration)
            leak = _host_path_leak(out, [str(self.store.root.resolve()), str(self.workspace), str(tmp)])
            if leak:
                with open(log, "a") as f:
                    f.write(f"\njbuild: {leak}\n")
                self.reporter.failed(node, "host path in output", log)
                return Outcome(node, "failed", leak, None, log, 1, duration)
            changed = [p for p in pkg.files if self._changed(node, p)]
            if changed:
                self.reporter.failed(node, f"inputs changed during the build: {', '.join(changed)}", log)
                return Outcome(node, "failed", "inputs changed during the build", None, log, 1, duration)
            run_deps = [self.entry_of(d) for _, d in closure.deps.get(node, ()) if is_action(d)]
            meta = {"key": self.keys.build[node], "label": str(node), "node": str(node),
                    "interface_key": self.keys.interface[node], "deps": sorted(set(run_deps)),
                    "built_against": {k: v.name for k, v in deps.items()},
                    "inputs": asdict(self.keys.inputs[node]), "log": str(log), "duration": duration,
                    "built_at": time.time()}
            entry = self.store.publish(out, name, meta)
        self.reporter.built(node, duration)
        return Outcome(node, "built", reason, entry, log, 0, duration)

    def _changed(self, node: Node, rel: str) -> bool:
        digest, exe = self.stats.digest(os.path.join(self.package_dir(node), rel))
        return self.keys.inputs[node].sources.get(rel) != digest + ("+x" if exe else "")


def _host_packages(closure: Closure, node: Node) -> set[str]:
    """The Debian packages of the host tools this action declares (build-only, as in keys.py)."""
    pkgs: set[str] = set()
    for req, dep in closure.deps.get(node, ()):
        if req.kind is RequirementKind.BUILD_ONLY:
            for n in run_closure(closure, dep):
                tool = getattr(n.target, "host_tool", None)
                if tool is not None:
                    pkgs.update(tool.debian_packages or dpkg.owners(
                        p for p in (resolve_binary(b, host_path()) for b in tool.binaries) if p))
    return pkgs


def _dep_name(node: Node, taken: dict) -> str:
    name = node.label.name
    return name if name not in taken else f"{node.label.package.replace('/', '_')}_{name}"


def _stage_sources(base: Path, files, dest: Path) -> None:
    """Exactly the declared sources, at their relative paths, copied with their mtimes.

    Not hard links: linking changes the source's ctime (its link count), twice per build, and
    the stat cache trusts (mtime, size, inode, ctime) — every source would be re-hashed after
    every build and the no-op path would never hold (docs/keys.md).
    """
    dest.mkdir()
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(base / rel, target)


def _host_path_leak(out: Path, needles: list[str]) -> str | None:
    encoded = [n.encode() for n in needles if n and n != "/"]
    for dirpath, _, filenames in os.walk(out):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                target = os.readlink(p).encode()
                hit = next((n for n in encoded if n in target), None)
            else:
                with open(p, "rb") as f:
                    data = f.read()
                hit = next((n for n in encoded if n in data), None)
            if hit:
                return f"{os.path.relpath(p, out)} contains the host path {hit.decode()}; outputs must be relocatable"
    return None

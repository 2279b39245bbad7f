"""The rebuilder: for one action, decide store hit or build, do it, publish, and record why.

Knows keys, store and executor; knows nothing of ordering (that is the scheduler's). An
action's actual build key is computed when the scheduler hands it over, from what its
dependencies turned out to export (measured, or read from their entries): a rebuild whose
exported interface comes out unchanged stops the cascade there (early cutoff). Building an
action (its job, the run, checks, publishing) is build_action.py's, mixed in.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter, itemgetter
from pathlib import Path

from jbuild.dsl.model import RequirementKind

from .adopted import Adopted, AdoptedAfter, adopted_each
from .build_action import ActionBuilder, InterfaceMismatch, Outcome  # noqa: F401 - part of this module's interface
from .keys import KeyComputer, KeyInputs, describe_change, entry_name, is_host_tool
from .resolve import Closure, Node
from .store import Store, decision_causes

UNCHANGED = "inputs unchanged"  # the reason of a reuse whose inputs are all as settled


@contextmanager
def no_collection():
    """No cyclic collection while thousands of objects kept to the end are made (a collection
    of the young generations met each of them, and the big maps made since the last: ~10-15
    ms at a libc patch's adoption). They are counted still: the next collection comes later."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass
class Rebuilder(ActionBuilder):
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
    # The stamp of the decisions this session's last run recorded, and of those this run did.
    decisions_since: str | None = None
    decisions_stamp: str | None = None
    outcomes: dict[Node, Outcome] = field(default_factory=dict)
    # The outcomes of the actions this run decided one by one (built, reused by a lookup, failed,
    # skipped): every other outcome is an adoption at the settled entry, which the run's
    # bookkeeping (settle, decisions, results) need not look at (module docstring of adopted.py).
    decided: dict[Node, Outcome] = field(default_factory=dict)
    # Built by this build before it started over whole (build.run: an entry to adopt had left the
    # store): found in the store now, each is still reported as built, with why.
    carried: dict[Node, Outcome] = field(default_factory=dict)
    actual: dict[Node, str] = field(default_factory=dict)  # build keys, as built or reused
    exported: dict[Node, str] = field(default_factory=dict)  # exported digests, as measured
    inputs: dict[Node, KeyInputs] = field(default_factory=dict)
    settled: dict[Node, tuple] = field(default_factory=dict)  # (key, exported, inputs) the last run settled
    _deps: dict[Node, tuple] = field(default_factory=dict, repr=False)  # _build_deps of builds running now
    # Entry names and paths, made once: each dependency is mounted by hundreds of builds at 10,000 packages.
    _names: dict[Node, str] = field(default_factory=dict, repr=False)
    _children: dict[int, dict] = field(default_factory=dict, repr=False)  # per closure: build_time_deps's memo
    _walked: dict[Node, list] = field(default_factory=dict, repr=False)  # build_action.walked_deps's
    _dep_views: dict[Node, tuple] = field(default_factory=dict, repr=False)  # build_action._seen_as's
    _by_label: dict[Node, list] = field(default_factory=dict, repr=False)  # build_action._mounts's, for _built_against
    _foreign: list[str] | None = field(default=None, repr=False)  # paths no output may name
    _values: dict[Node, tuple[str, str]] = field(default_factory=dict, repr=False)  # _read_value's
    _built: set[Node] = field(default_factory=set, repr=False)  # built by this run
    _reasons: dict[tuple, str] = field(default_factory=dict, repr=False)  # _why_reused's, by what was rebuilt
    _listing: set[str] | None = field(default=None, repr=False)  # store_listing's
    _causes: dict[str, list[str]] = field(default_factory=dict, repr=False)  # cause -> ids adopted after it

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

    def adopt_many(self, nodes: list[Node], values: list[tuple], names: list[str]) -> None:
        """Take the entries the last run settled for `nodes` (nothing they read has changed
        since): `values`, what each was settled at, named `names`. No key, no path made, one
        bulk event; C loops over them (10,000 at an edit), no Python call each."""
        keys = list(map(itemgetter(0), values))
        self._names.update(zip(nodes, names, strict=True))  # (the no-op snapshot lists them all)
        self.actual.update(zip(nodes, keys, strict=True))
        self.exported.update(zip(nodes, map(itemgetter(1), values), strict=True))
        self.inputs.update(zip(nodes, map(itemgetter(2), values), strict=True))
        self.outcomes.update(zip(nodes, adopted_each(nodes, keys, self.store), strict=True))
        self.reporter.reused_unstarted(list(map(attrgetter("id"), nodes)), UNCHANGED)

    def adopt_held(self, names: dict[Node, str], keys: dict[Node, str], exported: dict[Node, str],
                   inputs: dict[Node, KeyInputs], by_reason: dict[str, tuple[list[Node], list[str]]]) -> None:
        """Take the settled entries of the actions held behind the first wave, once their
        dependencies ran and each one's settled key was found to hold (cutoff.py): `names`,
        `keys`, `exported`, `inputs` map each to what the last run settled (dicts merged whole:
        10,000 at a libc patch, no Python call each); `by_reason`: (the actions, in the order to
        report, and their keys) under the reason each was reused for (`reason_after`). One event
        batch per reason."""
        self._names.update(names)
        self.actual.update(keys)
        self.exported.update(exported)
        self.inputs.update(inputs)
        store, outcomes = self.store, self.outcomes
        for reason, (nodes, taken) in by_reason.items():
            ids = list(map(attrgetter("id"), nodes))
            with no_collection():  # (10,000 outcomes kept to the end: a collection of them found nothing)
                if reason == UNCHANGED:
                    outcomes.update(zip(nodes, adopted_each(nodes, taken, store), strict=True))
                else:
                    outcomes.update(zip(nodes, map(tuple.__new__, repeat(AdoptedAfter),
                                                   zip(nodes, taken, repeat(store), repeat(reason))), strict=True))
                    self._causes.setdefault(decision_causes.split(reason), []).extend(ids)
            self.reporter.reused_unstarted(ids, reason)

    def reason_after(self, via: tuple[Node, ...]) -> str:
        """The reason an action is reused whose direct build-time requirements among the first
        wave are `via`: "inputs unchanged", naming those of them rebuilt (their export came out
        unchanged). One string per set rebuilt (the 9,999 consumers of a rebuilt libc share it)."""
        return self._reason_rebuilt(tuple(str(d.label) for d in via if d in self._built))

    def _reason_rebuilt(self, rebuilt: tuple[str, ...]) -> str:
        if not rebuilt:
            return UNCHANGED
        found = self._reasons.get(rebuilt)
        if found is None:
            found = self._reasons[rebuilt] = UNCHANGED + f" ({', '.join(rebuilt)} rebuilt; exported interface unchanged)"
        return found

    def store_listing(self) -> set[str]:
        """The store's names, listed once a run (an edit's two adoptions and its cutoff asked
        for ~10,000 names each). The run holds the store's shared lock, and no entry leaves the
        store but under its exclusive lock (gc, repair): a name listed stays. One published
        meanwhile is missing: its action goes through the scheduler, which finds it. (The build
        server keeps the names between runs: store/listing.py.)"""
        if self._listing is None:
            from .store import listing

            self._listing = listing.names(str(self.store.root))
        return self._listing

    def changed_values(self, decided) -> tuple[set[Node], set[Node]]:
        """Of the `decided` actions, (those whose build key, those whose exported digest) is not
        the one the last run settled (or that it did not settle): what a consumer's key may
        read anew."""
        settled, actual, exported = self.settled, self.actual, self.exported
        keyed, measured = set(), set()
        for n in decided:
            was = settled.get(n)
            if was is None or actual.get(n) != was[0]:
                keyed.add(n)
            if was is None or exported.get(n) != was[1]:
                measured.add(n)
        return keyed, measured

    def reads_key_of(self, node: Node, nodes: set[Node]) -> bool:
        """Does `node`'s key read the build key of one of `nodes` (a tool it runs; under --strict,
        any requirement)?"""
        return self.computer.strict or not nodes.isdisjoint(self.computer.tools_of(node, self.closures[node]))

    def _why_reused(self, node: Node) -> str:
        if not self._built:
            return UNCHANGED
        built = self._built
        return self._reason_rebuilt(tuple(str(d.label) for r, d in self.closures[node].deps.get(node, ())  # direct:
                                          if d in built and r.kind.at_build))  # linear, not quadratic

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
                and (not node.shape.outputs or self.store.check(name))):  # a set: all its outputs too
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
        self.outcomes[node] = self.decided[node] = outcome
        if outcome.decision == "built":
            self._built.add(node)
            if self.remote is not None:
                self.remote.upload(self.store, name)
        return outcome.decision == "built"

    def _refuse(self, node: Node) -> bool:
        why = "not prebuilt: only prebuilt entries may be installed here, and this one is not in the store"
        self.outcomes[node] = self.decided[node] = Outcome(node, "failed", why)
        self.reporter.failed(node, why, self.store.log_path(self.key(node)))
        return False

    def _reused(self, node: Node, name: str, why: str | None = None, source: str = "local", known: bool = False) -> bool:
        if not known:
            self.exported[node] = self.store.meta(name).exported
        carried = self.carried.get(node)
        if carried is not None and carried.entry == self.store.path(name):
            self.outcomes[node] = self.decided[node] = carried
            self._built.add(node)
            self.reporter.built(node, carried.duration)
            return True
        if why is None:
            why = self._why_reused(node)
        self.outcomes[node] = self.decided[node] = Outcome(node, "reused", why, self.store.path(name))
        self.reporter.reused(node, why, source)
        return True

    def skipped(self, node: Node, failed: list[str]) -> None:
        why = f"not built: {', '.join(failed)} failed" if failed else "not built: the build stopped"
        self.outcomes[node] = self.decided[node] = Outcome(node, "skipped", why)
        self.reporter.skipped(node, why)

    def save_decisions(self) -> None:
        """Record why each action was built or reused (read by `jbuild explain`), in one write;
        an adopted action's row is only rewritten if it said something else. If no one recorded
        decisions since this session's last run (`decisions_since`), the rows of the thousands
        adopted at the entries that run settled are not even looked at (index.record_decisions).
        An action adopted after a cutoff keeps "inputs unchanged" in its row and its cause in
        one row for all (store/decision_causes.py): a libc patch and a leaf edit in turn wrote
        10,000 rows each."""
        outcomes, decided = self.outcomes, list(self.decided.values())
        causes = self._causes  # (an AdoptedAfter's reason is UNCHANGED and its cause: adopt_held's)

        def reused(other: dict | None) -> list[tuple[str, object, str, str]]:
            """Every adopted row says UNCHANGED: those `other` (the rows that say something else)
            lists are to write (a few: looked up by id); all if it is None."""
            if other is None:
                rows = [o for o in outcomes.values() if isinstance(o, Adopted)]
            else:
                by_id = dict(zip(map(attrgetter("id"), outcomes), outcomes.values(), strict=True))  # (C loops)
                rows = [o for o in map(by_id.get, other) if isinstance(o, Adopted)]
            return [(o.node.id, o.node.label, o.key, UNCHANGED) for o in rows]

        self.decisions_stamp = self.store.index.record_decisions(str(self.workspace), [
            (o.node.id, str(o.node.label), self.actual.get(o.node, ""), o.decision, o.reason)
            for o in decided if not isinstance(o, Adopted)], reused, self.decisions_since, causes,
            lambda: set(map(attrgetter("id"), outcomes)))

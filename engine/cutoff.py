"""Early cutoff across a run, in bulk: an incremental plan first runs only its affected actions
(and what lies between two of them); the actions that merely consume them are then checked in
one pass, and every one whose settled key still holds (each dependency it reads came out as it
was settled with) is adopted at its settled entry — no scheduler, no per-action event. Only
those whose inputs did change go through the scheduler, in a second wave.

A libc implementation patch at 10,000 packages rebuilds libc, finds its export unchanged, and
adopts the 9,999 consumers. What deciding them needs that libc's build cannot change (which
were settled and are still predicted so, their entries' names and presence, the reason each
would give) is gathered while libc builds (`Held.prepare`, the scheduler's idle time); what is
left once it ran is a few set operations and a bulk adoption (`Held.decide`).
"""

from __future__ import annotations

import gc
from itertools import filterfalse

from jbuild.base import quick_exit

from .scheduler import State


def split(graph, affected: set) -> tuple[set, set]:
    """(first, held): `first` holds the affected actions and every action on a path between
    two of them (it must be decided before the later one); `held` is the rest of what they
    reach, decided after `first` ran."""
    down = graph.reach(affected)
    first: set = set()
    stack = [n for n in affected if n in down]
    while stack:  # the ancestors of affected actions, within what they reach
        n = stack.pop()
        if n in first:
            continue
        first.add(n)
        stack.extend(d for d in graph.deps[n] if d in down and d not in first)
    return first, down - first


class Held:
    """What an incremental plan leaves after its first wave (`first`): the actions held behind
    it (`nodes`, those it reaches; `down` with `first`, if known yet) and the rest, adopted as
    they were settled but for `adopted` (those its builds read, adopted before they ran).
    Prepared while the first wave runs, decided after it (module docstring)."""

    def __init__(self, p, rb, first: set, down: set | None, adopted: list):
        self.p, self.rb, self.graph, self.first, self.down, self.adopted = p, rb, p.graph, first, down, adopted
        self.prepared = self.whole = False

    @classmethod
    def nothing(cls, p, rb) -> Held:
        """Nothing after the scheduler's one wave (it decides every action)."""
        held = cls(p, rb, set(), set(), [])
        held.prepared = held.whole = True
        held.nodes, held.order = set(), []
        return held

    def __bool__(self) -> bool:
        return not (self.prepared and not self.nodes and self.whole)

    def prepare(self) -> None:
        """Once: adopt the actions neither the first wave reaches nor its builds read (`whole`:
        False if one's entry vanished from the store), and gather what deciding the held ones
        needs that no first-wave outcome changes: the held actions in dependency order; of those
        whose prediction is still the one the last run settled with and whose settled entry is
        whole in the store, that entry's name and settled values (`ready`); the others (`stale`:
        decided again); and the ready ones grouped by the first-wave actions they require
        directly at build time (their reason, once it is known which were rebuilt)."""
        if self.prepared:
            return
        from .adopted import adopt

        rb, first = self.rb, self.first
        self.order, rest = self._split_rest()
        self.whole = adopt(self.p, rb, rest)
        self.nodes = held = self.down - first
        self.ready = self._settled_and_present()
        self.via = _by_first_requirements(rb, self.graph, self.ready, first)
        if quick_exit.armed():  # what was made so far lives to the process's end: out of every later collection
            gc.freeze()  # (a libc patch's collections after this: ~2 ms, not ~10-20; in-process callers never)
        self.stale = held.difference(self.ready[0])  # (a dict: its keys' hashes are reused, no Python call)
        self.prepared = True

    def _split_rest(self) -> tuple[list, list]:
        """(the held actions, the rest but those adopted already), each in dependency order; what
        the first wave reaches (`down`) found on the way if it was not known: in one pass over
        the actions in dependency order, a set test in C of each one's dependencies (a libc
        patch's 10,000 consumers: a walk of their 40,000 edges cost three times as much)."""
        first, taken, deps = self.first, set(self.adopted), self.graph.deps
        marks = {n._hash for n in first}  # (a Node's hash, kept by it: a test before `in`, no Python call)
        order, rest, down = [], [], self.down
        if down is None:
            down = self.down = set(first)
            for n in self.graph.nodes:
                if n._hash in marks and n in first:
                    continue
                if not down.isdisjoint(deps[n]):
                    down.add(n)
                    order.append(n)
                elif not taken or n not in taken:
                    rest.append(n)
            return order, rest
        held, skip = down - first, down | taken if taken else down
        order = list(filter(held.__contains__, self.graph.nodes)) if held else []  # (C loops: a leaf edit's
        return order, list(filterfalse(skip.__contains__, self.graph.nodes))  # 9,999 others, no Python call)

    def _settled_and_present(self) -> tuple[dict, dict, dict, dict]:
        """(entry name, key, exported digest, key inputs) the last run settled, of each held
        action whose prediction is still the one it was settled with and whose entry is whole in
        the store: one listing of the store answers for thousands (an entry appears there only
        whole: snapshot.entries_present; the run's, Rebuilder.store_listing); a split package's
        set is checked output by output."""
        from .keys import entry_name
        from .store.sets import complete

        rb = self.rb
        try:
            listed = rb.store_listing()
        except OSError:
            listed = frozenset()
        settled, predicted, store = rb.settled, rb.computer.keys.inputs, rb.store
        names, keys, exported, inputs = {}, {}, {}, {}
        for n in self.order:
            was = settled.get(n)
            if was is None or predicted.get(n) is not was[2]:
                continue
            name = was[3] if len(was) > 3 else entry_name(n, was[0])
            if complete(store, name) if n.shape.outputs else name in listed:
                names[n], keys[n], exported[n], inputs[n] = name, was[0], was[1], was[2]
        return names, keys, exported, inputs

    def decide(self, states: dict, keep_going: bool) -> tuple[set, dict] | None:
        """After the first wave ran: adopt each held action whose settled key still holds and
        whose entry is in the store; skip those behind a failure. Returns (the second wave: the
        held actions whose inputs changed, with every held action that consumes them; {skipped
        action: its state}), or None if an entry to adopt (not held) vanished from the store.

        Only a held action that reads a value a first-wave action changed (`rb.changed_values`:
        an exported digest, or the build key of a tool) is checked input by input (`_one_by_one`):
        every other dependency of a held action was adopted at the entry it was settled with,
        and what a consumer was settled with is what its dependencies were settled with then (a
        run that changes a dependency's value decides or unsettles each of its consumers:
        session.settle)."""
        self.prepare()
        if not self.whole:
            return None
        rb, graph, held = self.rb, self.graph, self.nodes
        if not held:
            return set(), {}
        if not keep_going and any(s is not State.DONE for s in states.values()):
            return set(), dict.fromkeys(self.order, State.SKIPPED)
        skipped = _reach(graph, [n for n, s in states.items() if s is not State.DONE], held)
        fresh = held - skipped
        keyed, exported = rb.changed_values(n for n, s in states.items() if s is State.DONE)
        check = _consumers(graph, exported, fresh)
        if keyed:
            check |= _key_readers(rb, graph, keyed, fresh)
        again = _reach(graph, self.stale & fresh, fresh)
        region = _reach(graph, check - again, fresh - again)  # decided one by one, in order
        self._adopt(skipped | again | region)
        if region:
            again |= self._one_by_one([n for n in self.order if n in region], again, check)
        return again, dict.fromkeys([n for n in self.order if n in skipped], State.SKIPPED)

    def _adopt(self, leave: set) -> None:
        """Adopt every ready action but those in `leave`, in bulk, reported by reason."""
        names, keys, exported, inputs = self.ready
        if not leave.isdisjoint(names):
            names, keys, exported, inputs = (_without(d, leave) for d in self.ready)
        by_reason: dict[str, tuple[list, list]] = {}
        for via, (nodes, taken) in self.via.items():
            if leave:
                kept = [(n, k) for n, k in zip(nodes, taken, strict=True) if n in names]
                nodes, taken = [n for n, _ in kept], [k for _, k in kept]
            if nodes:
                to = by_reason.setdefault(self.rb.reason_after(via), ([], []))
                to[0].extend(nodes), to[1].extend(taken)
        self.rb.adopt_held(names, keys, exported, inputs, by_reason)

    def _one_by_one(self, order: list, again: set, check: set) -> set:
        """The actions of `order` (each a consumer of a changed value, or behind one), decided
        in dependency order: each reads the values of those adopted before it. The ones to
        build (added to `again`)."""
        rb, deps, (names, keys, exported, inputs) = self.rb, self.graph.deps, self.ready
        via_of = {n: via for via, (nodes, _) in self.via.items() for n in nodes}
        for n in order:
            if n not in names or not again.isdisjoint(deps[n]) or (n in check and not rb._settled_holds(n)):
                again.add(n)
                continue
            rb.adopt_held({n: names[n]}, {n: keys[n]}, {n: exported[n]}, {n: inputs[n]},
                          {rb.reason_after(via_of[n]): ([n], [keys[n]])})
        return again


def _without(d: dict, leave: set) -> dict:
    """`d` less the keys in `leave` (a copy keeps its keys' hashes: one Python hash per key left)."""
    d = dict(d)
    for n in leave:
        d.pop(n, None)
    return d


def _by_first_requirements(rb, graph, ready: tuple, first: set) -> dict[tuple, tuple[list, list]]:
    """The `ready` actions grouped by the first-wave actions each requires directly at build
    time (in its requirements' order), with their settled keys: the reason of an adoption names
    those of them that were rebuilt.

    An action that runs no tool of the workspace (its settled key read none: `tools`) has for
    action-graph edges exactly its direct build-time requirements (graph.action_graph): those
    in the first wave are a set intersection in C. The others, and one requiring several of
    the first wave (their order is its requirements'), are read from the closure."""
    keys, inputs, deps, closures = ready[1], ready[3], graph.deps, rb.closures
    bulk: dict[frozenset, tuple[list, list]] = {}
    groups: dict[tuple, tuple[list, list]] = {}
    for (n, inp), key in zip(inputs.items(), keys.values(), strict=True):  # (made in one order)
        hit = first.intersection(deps[n])
        if inp.tools or len(hit) > 1:
            via = tuple(d for r, d in closures[n].deps.get(n, ()) if d in first and r.kind.at_build)
            nodes, taken = groups.setdefault(via, ([], []))
        else:
            nodes, taken = bulk.setdefault(frozenset(hit), ([], []))  # (hashed in C: a Node's hash is kept)
        nodes.append(n)
        taken.append(key)
    for hit, (nodes, taken) in bulk.items():
        to = groups.setdefault(tuple(hit), ([], []))
        to[0].extend(nodes), to[1].extend(taken)
    return groups


def _reach(graph, seeds, inside: set) -> set:
    """The actions of `inside` that consume one of `seeds`, transitively, with the seeds that
    are inside themselves."""
    out: set = set()
    consumers = graph.consumers
    stack = list(seeds)
    for n in stack:
        if n in inside:
            out.add(n)
    while stack:
        n = stack.pop()
        for c in consumers[n]:
            if c in inside and c not in out:
                out.add(c)
                stack.append(c)
    return out


def _consumers(graph, nodes, inside: set) -> set:
    """The direct consumers of `nodes` that are in `inside`."""
    consumers = graph.consumers
    return {c for n in nodes for c in consumers[n] if c in inside}


def _key_readers(rb, graph, keyed: set, inside: set) -> set:
    """The actions of `inside` whose key reads the build key of one of `keyed` (a tool each
    runs), direct consumers of it: as the key computer recorded its readers (keys.py: those it
    re-keys when a build key changes; a reader once is kept, so at worst the action is checked
    input by input) — not each consumer's tools gathered anew (a libc patch would ask it of
    10,000). Under --strict, every consumer reads it."""
    if rb.computer.strict:
        return _consumers(graph, keyed, inside)
    readers = rb.computer.readers["build"]
    found: set = set()
    for k in keyed:
        found.update(readers.get(k, ()))
    deps = graph.deps
    return {n for n in found if n in inside and not keyed.isdisjoint(deps[n])}

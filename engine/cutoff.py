"""Early cutoff across a run, in bulk: an incremental plan first runs only its affected actions
(and what lies between two of them); the actions that merely consume them are then checked in
one pass, in dependency order, and every one whose settled key still holds (each dependency it
reads came out as it was settled with) is adopted at its settled entry — no scheduler, no
per-action event. Only those whose inputs did change go through the scheduler, in a second wave.

A libc implementation patch at 10,000 packages rebuilds libc, finds its export unchanged, and
adopts the 9,999 consumers in one pass (they were a scheduler round and an event each).
"""

from __future__ import annotations

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


def decide_held(rb, graph, held: set, states: dict, keep_going: bool) -> tuple[set, dict]:
    """After `first` ran: adopt each held action whose settled key still holds and whose entry
    is in the store; skip those behind a failure. Returns (the second wave: the held actions
    whose inputs changed, with every held action that consumes them; {skipped action: its
    state}).

    Only a held action that reads a value a first-wave action changed (`rb.changed_values`: an
    exported digest, or the build key of a tool) is checked input by input: every other
    dependency of a held action was adopted at the entry it was settled with, and what a
    consumer was settled with is what its dependencies were settled with then (a run that
    changes a dependency's value decides or unsettles each of its consumers: session.settle)."""
    stopped = not keep_going and any(s is not State.DONE for s in states.values())
    present = _presence(rb.store, rb.store_listing)
    # Sets, tested with isdisjoint: a set keeps its members' hashes (a Node hashes in Python).
    blocked = {n for n, s in states.items() if s is not State.DONE}
    keyed, exported = rb.changed_values(n for n, s in states.items() if s is State.DONE)
    settled, predicted, holds = rb.settled, rb.computer.keys.inputs, rb._settled_holds
    reads_key = _key_readers(rb, keyed)
    again: set = set()
    skipped: dict = {}
    take, names, their_deps = [], [], []  # adopted in bulk: at the end, or before a `holds` reads them
    adopted: dict[str, list[str]] = {}  # reason -> actions

    def adopt_taken() -> None:
        for why, nodes in rb.adopt_held(take, names, their_deps).items():
            adopted.setdefault(why, []).extend(nodes)
        take.clear(), names.clear(), their_deps.clear()

    for n in [n for n in graph.nodes if n in held]:  # dependencies first
        deps = graph.deps[n]
        if stopped or not blocked.isdisjoint(deps):
            blocked.add(n)
            skipped[n] = State.SKIPPED
            continue
        was = settled.get(n)
        if was is None or predicted.get(n) is not was[2] or not again.isdisjoint(deps):
            again.add(n)
            continue
        if not (exported.isdisjoint(deps) and (keyed.isdisjoint(deps) or not reads_key(n))):
            adopt_taken()  # (`holds` reads the values of the dependencies adopted so far)
            if not holds(n):
                again.add(n)
                continue
        name = present(n, was[0])
        if not name:
            again.add(n)
            continue
        take.append(n), names.append(name), their_deps.append(deps)
    adopt_taken()
    for why, nodes in adopted.items():
        rb.reporter.reused_unstarted(nodes, why)
    return again, skipped


def _key_readers(rb, keyed: set):
    """Does an action's key read the build key of one of `keyed` (a tool it runs)? As the key
    computer recorded its readers (keys.py: those it re-keys when a build key changes; a reader
    once is kept, so at worst the action is checked input by input) — not each action's tools
    gathered anew (a libc patch asks it of 10,000 consumers). Under --strict, every one does."""
    if rb.computer.strict:
        return lambda n: True
    readers = rb.computer.readers["build"]
    found: set = set()
    for k in keyed:
        found.update(readers.get(k, ()))
    return found.__contains__


def _presence(store, listing):
    """Is an action's settled entry whole in the store? One listing of the store answers for
    thousands (an entry appears there only whole: snapshot.entries_present; `listing`: the run's,
    Rebuilder.store_listing); a split package's set is checked output by output."""
    from .keys import entry_name
    from .store.sets import complete

    def present(node, key: str) -> str | None:
        """The entry's name, if it is there."""
        name = entry_name(node, key)
        if node.shape.outputs:
            return name if complete(store, name) else None
        try:
            return name if name in listing() else None
        except OSError:
            return None

    return present

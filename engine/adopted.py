"""Adoption: an action whose inputs did not change since the last run is taken at the entry that
run settled for it, without a key encoded or a path made unless asked for (an edit at 10,000
packages adopts 9,999 of them). Which actions a run must decide and which it adopts
(`to_check`), the adoption itself (`adopt`), and the outcome it leaves (`Adopted`).

No Python call per adopted action anywhere on a run's path: the session keeps each settled
action's entry name beside its key (session.settle), so adopting is bulk C work over kept lists
(map/zip/dict merges, a set test against one store listing); and the bookkeeping after the run
(settle, the decisions' rows, the roots' entries) looks only at the actions decided one by one
(`Rebuilder.decided`) — an adopted action is, by definition, as the last run settled it. An
entry gone from the store (a gc) is never trusted: adoption then refuses, and the plan goes
through the scheduler whole."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from itertools import compress, repeat
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

from . import snapshot
from .keys import entry_name
from .resolve import Node
from .store import Store

if TYPE_CHECKING:
    from .build import Plan
    from .cutoff import Held


class Adopted(tuple):
    """The outcome of an action adopted at its settled entry: its path is made only if asked for
    (an edit at 10,000 packages adopts 9,999 of them). A tuple (node, key, store): made without
    a Python call each (`adopted_each`); compared and hashed as an object, not a value."""

    __slots__ = ()
    decision, reason, log, exit_code, duration = "reused", "inputs unchanged", None, 0, 0.0
    node, key, _store = property(itemgetter(0)), property(itemgetter(1)), property(itemgetter(2))

    def __new__(cls, node: Node, key: str, store: Store):
        return tuple.__new__(cls, (node, key, store))

    @property
    def entry(self) -> Path:
        return self._store.path(entry_name(self.node, self.key))

    __eq__, __ne__, __hash__ = object.__eq__, object.__ne__, object.__hash__


def adopted_each(nodes: list[Node], keys: list[str], store: Store) -> Iterator[Adopted]:
    """An `Adopted` of each node at its key, made in C loops (10,000 at an edit)."""
    return map(tuple.__new__, repeat(Adopted), zip(nodes, keys, repeat(store, len(nodes)), strict=True))


class AdoptedAfter(Adopted):
    """Adopted once a dependency was rebuilt and exported what it did before (cutoff.py): the
    reason names it, as a reuse through the scheduler would."""

    __slots__ = ()
    reason = property(itemgetter(3))

    def __new__(cls, node: Node, key: str, store: Store, reason: str):
        return tuple.__new__(cls, (node, key, store, reason))


def to_check(p: Plan, rb, actions: list[Node], waves: bool = False) -> tuple[set[Node], Held]:
    """(the actions the scheduler must decide, the rest: a cutoff.Held). All of them, or
    (incrementally) the affected ones and everything that consumes them — with `waves`, only
    the affected ones and what lies between them, and the consumers are held (cutoff.py); the
    others are adopted at their settled entries — those the scheduled builds read now, the rest
    once the actions have started (their bookkeeping is no business of the first action's
    start: `Held.prepare`). An adopted entry that vanished from the store (a gc) sends the
    whole plan through the scheduler."""
    from .cutoff import Held, split

    graph = p.graph
    if p.affected is None or p.opts.verify_inputs:
        return set(actions), Held.nothing(p, rb)
    start = [n for n in p.affected if n in graph.deps]
    if waves and len(start) == 1:  # nothing lies between two: what it reaches is found while it runs
        todo = set(start)  # (10,000 consumers of a patched libc: found off the critical path; a leaf has none)
        down = None if graph.consumers[start[0]] else todo
    elif waves:
        todo, held = split(graph, p.affected)
        down = todo | held
    else:
        todo = down = graph.reach(p.affected)
    if len(todo) * 20 < len(actions):  # a small edit: what do its builds read? (ancestors of todo: none in down)
        read = dict.fromkeys(d for n in todo for d in rb.walked_deps(n))
        now = [n for n in read if n in graph.deps and n not in todo]
    else:
        down = graph.reach(p.affected) if down is None else down
        now = [n for n in actions if n not in down]
    if not adopt(p, rb, now, before_builds=True):
        return set(actions), Held.nothing(p, rb)
    return todo, Held(p, rb, todo, down, now)


def adopt(p: Plan, rb, nodes: list[Node], before_builds: bool = False) -> bool:
    """Adopt `nodes` at their settled entries; False (nothing adopted) if one is not whole in
    the store. C loops only: each one's entry name is kept with what it was settled at
    (session.settle), presence is one listing of the store and a set test, a split package's
    set is checked output by output (a few)."""
    from .store.sets import complete

    settled = p.settled
    values = list(map(settled.__getitem__, nodes))
    try:
        names = list(map(itemgetter(3), values))  # (the name last: session.settle)
    except IndexError:  # some settled before names were kept: named here, once, and kept from now on
        names = [entry_name(n, v[0]) for n, v in zip(nodes, values, strict=True)]
        values = [(*v[:3], name) for v, name in zip(values, names, strict=True)]
        settled.update(zip(nodes, values, strict=True))
    stat_each = before_builds and len(names) <= STAT_BEFORE_BUILDS  # (the listing: later, while they run)
    if not snapshot.entries_present(str(p.store.root), names, len(names) + 1 if stat_each else snapshot.LISTING_FROM,
                                    listing=rb.store_listing):
        return False
    if not all(map(partial(complete, p.store), compress(names, map(attrgetter("shape.outputs"), nodes)))):
        return False  # a split package's set counts only with all its outputs
    for at in _parts(nodes):
        rb.adopt_many(nodes[at:at + PART], values[at:at + PART], names[at:at + PART])
    return True


# What the first builds read is adopted before they start: up to this many, a stat of each one's
# metadata (~7 ms for 1,000, dentries warm) — the store's listing (~20,000 names at 10,000 packages,
# 20-45 ms) is made later, for the rest, while the builds run (bench, 10k leaf edit: 957 read).
STAT_BEFORE_BUILDS = 2000
PART = 500  # nodes adopted between two pauses (bench, 10k leaf edit at load 5: the schedule ~510 -> ~430 ms)


def _parts(nodes: list[Node]):
    """Where each part of PART nodes starts, with a pause of the GIL between two: a later
    adoption runs while the first build prepares (its ~1,000 dependencies' stats and listings),
    whose thread waits for the GIL after each system call — up to the switch interval (5 ms)
    while this one holds it."""
    for at in range(0, len(nodes), PART):
        if at:
            time.sleep(0.0002)
        yield at

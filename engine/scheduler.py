"""The scheduler: runs opaque action ids in dependency order on N workers.

It knows nothing of keys, stores or sandboxes: `work(id) -> bool` decides and does. Plan state
is plain data: one state per id. Fail-fast by default; keep-going builds what does not depend
on a failure. `cancel()` stops handing out work.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from enum import Enum


class State(Enum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # a dependency failed, or the run stopped


class _Plan:
    """Each id's state and what it still waits on: which ids are ready, and what a result settles."""

    def __init__(self, deps: dict[Hashable, set[Hashable]], keep_going: bool):
        self.keep_going = keep_going
        self.state = {a: State.WAITING for a in deps}
        ids = deps.keys()
        self.waiting_on = {a: {d for d in ds if d in ids} for a, ds in deps.items()}
        self.consumers: dict[Hashable, list] = {a: [] for a in deps}
        for a, ds in self.waiting_on.items():
            for d in ds:
                self.consumers[d].append(a)
        self.ready = deque(a for a, ds in self.waiting_on.items() if not ds)
        self.stop = False  # a failure under fail-fast: hand out nothing more

    def settle(self, a: Hashable, ok: bool | None) -> None:
        state = self.state
        if ok is None:  # queued, then not started: skipped with what waits on it
            state[a] = State.SKIPPED
            return
        state[a] = State.DONE if ok else State.FAILED
        if ok:
            waiting_on = self.waiting_on
            for c in self.consumers[a]:
                waiting_on[c].discard(a)
                if not waiting_on[c] and state[c] is State.WAITING:
                    self.ready.append(c)
            return
        stack = list(self.consumers[a])
        while stack:
            c = stack.pop()
            if state[c] is State.WAITING:
                state[c] = State.SKIPPED
                stack.extend(self.consumers[c])
        self.stop = self.stop or not self.keep_going

    def next_ready(self, inline: Callable[[Hashable], bool | None] | None,
                   cancelled: threading.Event) -> Hashable | None:
        """The next id for a worker, settling on the way those `inline` settles; None if none is
        ready, or if the run stopped."""
        ready, state = self.ready, self.state
        while ready and not self.stop and not cancelled.is_set():
            a = ready.popleft()
            if state[a] is not State.WAITING:
                continue
            settled = inline(a) if inline else None
            if settled is None:
                state[a] = State.RUNNING
                return a
            self.settle(a, settled)
        return None

    def final(self) -> dict[Hashable, State]:
        for a, st in self.state.items():
            if st is State.WAITING:
                self.state[a] = State.SKIPPED
        return self.state


def schedule(deps: dict[Hashable, set[Hashable]], work: Callable[[Hashable], bool], jobs: int,
             keep_going: bool = False, cancelled: threading.Event | None = None,
             on_interrupt: Callable[[], None] | None = None,
             inline: Callable[[Hashable], bool | None] | None = None,
             idle: Callable[[], None] | None = None) -> dict[Hashable, State]:
    """Run `work` for every id after all of its `deps`, on `jobs` workers; return each id's
    final state. `inline(id)`, if given, is tried first on the scheduling thread: True or False
    settles the id at once (a store hit needs no worker), None hands it to `work`. `idle()`, if
    given, runs once on the scheduling thread while the first work runs (bookkeeping no work
    reads: an edit's thousands of adoptions, behind its one build); not at all if no work ran."""
    # Up to `jobs` more ids wait in the pool's queue behind the running ones: a worker that
    # finishes takes the next at once instead of waiting for this thread (which shares the GIL
    # with the workers) to wake, settle and submit. A queued id starts only if nothing failed
    # (fail-fast) and nothing cancelled meanwhile: a worker checks that itself, first thing.
    ahead = max(1, jobs) * 2
    halted = threading.Event()
    cancelled = cancelled or threading.Event()

    def start(a):
        if halted.is_set() or cancelled.is_set():
            return None  # never started
        ok = work(a)
        if not ok and not keep_going:
            halted.set()
        return ok

    plan = _Plan(deps, keep_going)
    running: dict[Future, Hashable] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        try:
            while True:
                while len(running) < ahead and (a := plan.next_ready(inline, cancelled)) is not None:
                    running[pool.submit(start, a)] = a
                if not running:
                    break
                if idle is not None:
                    idle, later = None, idle
                    later()
                finished, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in finished:
                    # `work` reports failure by returning False; an exception is a bug.
                    plan.settle(running.pop(fut), fut.result())
        except BaseException:
            cancelled.set()
            if on_interrupt:
                on_interrupt()
            raise
    return plan.final()

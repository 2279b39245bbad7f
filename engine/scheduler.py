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

    def start(a):
        if halted.is_set() or cancelled.is_set():
            return None  # never started
        ok = work(a)
        if not ok and not keep_going:
            halted.set()
        return ok

    state = {a: State.WAITING for a in deps}
    ids = deps.keys()
    waiting_on = {a: {d for d in ds if d in ids} for a, ds in deps.items()}
    consumers: dict[Hashable, list] = {a: [] for a in deps}
    for a, ds in waiting_on.items():
        for d in ds:
            consumers[d].append(a)
    ready = deque(a for a, ds in waiting_on.items() if not ds)
    cancelled = cancelled or threading.Event()
    stop = False
    running: dict[Future, Hashable] = {}

    def settle(a, ok: bool | None) -> None:
        nonlocal stop
        if ok is None:  # queued, then not started: skipped with what waits on it
            state[a] = State.SKIPPED
            return
        state[a] = State.DONE if ok else State.FAILED
        if ok:
            for c in consumers[a]:
                waiting_on[c].discard(a)
                if not waiting_on[c] and state[c] is State.WAITING:
                    ready.append(c)
            return
        stack = list(consumers[a])
        while stack:
            c = stack.pop()
            if state[c] is State.WAITING:
                state[c] = State.SKIPPED
                stack.extend(consumers[c])
        stop = stop or not keep_going

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        try:
            while True:
                while ready and len(running) < ahead and not stop and not cancelled.is_set():
                    a = ready.popleft()
                    if state[a] is not State.WAITING:
                        continue
                    settled = inline(a) if inline else None
                    if settled is not None:
                        settle(a, settled)
                        continue
                    state[a] = State.RUNNING
                    running[pool.submit(start, a)] = a
                if not running:
                    break
                if idle is not None:
                    idle, later = None, idle
                    later()
                finished, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in finished:
                    # `work` reports failure by returning False; an exception is a bug.
                    settle(running.pop(fut), fut.result())
        except BaseException:
            cancelled.set()
            if on_interrupt:
                on_interrupt()
            raise
    for a, st in state.items():
        if st is State.WAITING:
            state[a] = State.SKIPPED
    return state

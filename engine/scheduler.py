"""The scheduler: runs opaque action ids in dependency order on N workers.

It knows nothing of keys, stores or sandboxes: `work(id) -> bool` decides and does. Plan state
is plain data: one state per id. Fail-fast by default; keep-going builds what does not depend
on a failure. `cancel()` stops handing out work.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Hashable
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


class NoWorker(RuntimeError):
    """Not one worker thread could start (the process limit): build.py says so as a failure."""


class _Workers:
    """Up to `n` threads running `fn(id)` for each submitted id, started as work comes; each
    result comes back on one queue. Plain threads and two C queues: a Future per id and a
    FIRST_COMPLETED wait over the running ones cost this thread and the workers a few hundred
    microseconds of the GIL per action, the workers' own time on 2 cores."""

    _STOP = object()

    def __init__(self, n: int, fn: Callable[[Hashable], bool | None]):
        self.n, self.fn = n, fn
        self.todo: queue.SimpleQueue = queue.SimpleQueue()
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []

    def submit(self, a: Hashable) -> None:
        self.todo.put(a)
        if len(self.threads) < self.n:
            t = threading.Thread(target=self._run, name=f"jbuild-worker-{len(self.threads)}", daemon=True)
            try:
                t.start()
            except RuntimeError:  # "can't start new thread": the per-user process limit (ulimit -u)
                if self.threads:
                    self.n = len(self.threads)  # (the ones running take the work)
                    return
                raise NoWorker("cannot start a worker thread: the per-user process limit is reached "
                               "(ulimit -u); stop some processes or raise it") from None
            self.threads.append(t)

    def _run(self) -> None:
        todo, done, fn = self.todo, self.done, self.fn
        while (a := todo.get()) is not self._STOP:
            try:
                done.put((a, fn(a), None))
            except BaseException as exc:  # a bug in `work`: raised on the scheduling thread
                done.put((a, None, exc))

    def results(self, timeout: float) -> list[tuple]:
        """(id, result, exception) of each finished id: waits up to `timeout` for the first."""
        try:
            out = [self.done.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                out.append(self.done.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        """After what is queued (a worker skips it if the run stopped), end the threads."""
        for _ in self.threads:
            self.todo.put(self._STOP)
        for t in self.threads:
            t.join()


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
    # Up to `jobs` more ids wait in the workers' queue behind the running ones: a worker that
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

    plan, workers, running = _Plan(deps, keep_going), _Workers(max(1, jobs), start), 0
    try:
        while True:
            while running < ahead and (a := plan.next_ready(inline, cancelled)) is not None:
                workers.submit(a)
                running += 1
            if not running:
                break
            if idle is not None:
                idle, later = None, idle
                later()
            for a, ok, exc in workers.results(timeout=0.5):
                running -= 1
                if exc is not None:  # `work` reports failure by returning False; an exception is a bug
                    raise exc
                plan.settle(a, ok)
    except BaseException:
        cancelled.set()
        if on_interrupt:
            on_interrupt()
        raise
    finally:
        workers.close()
    return plan.final()

"""The scheduler alone: opaque ids, no keys, no store, no sandbox."""

import threading
import time

import pytest
from jbuild.engine.scheduler import State, schedule

#   a -> c -> e
#   b -> d
GRAPH = {"a": set(), "b": set(), "c": {"a"}, "d": {"b"}, "e": {"c"}}


def test_dependencies_first_and_at_most_jobs_at_once():
    order, running, peak = [], set(), [0]
    lock = threading.Lock()

    def work(a):
        with lock:
            running.add(a)
            peak[0] = max(peak[0], len(running))
        time.sleep(0.05)
        with lock:
            running.discard(a)
            order.append(a)
        return True

    states = schedule(GRAPH, work, jobs=2)
    assert all(s is State.DONE for s in states.values())
    assert order.index("a") < order.index("c") < order.index("e") and order.index("b") < order.index("d")
    assert peak[0] == 2


def test_fail_fast_stops_handing_out_work():
    ran = []

    def work(a):
        ran.append(a)
        return a != "a"

    states = schedule(GRAPH, work, jobs=1)
    assert states["a"] is State.FAILED and states["c"] is State.SKIPPED and states["e"] is State.SKIPPED
    assert len(ran) < len(GRAPH)


def test_an_id_queued_behind_a_failure_never_starts():
    """Ids wait in the pool's queue ahead of time (a finished worker takes the next at once);
    one queued when a failure happens is skipped, not run."""
    ran = []
    states = schedule(GRAPH, lambda a: ran.append(a) or a != "a", jobs=1)
    assert ran == ["a"]
    assert states == {"a": State.FAILED, "b": State.SKIPPED, "c": State.SKIPPED, "d": State.SKIPPED,
                      "e": State.SKIPPED}


def test_keep_going_runs_what_does_not_depend_on_the_failure():
    states = schedule(GRAPH, lambda a: a != "a", jobs=1, keep_going=True)
    assert states == {"a": State.FAILED, "b": State.DONE, "c": State.SKIPPED, "d": State.DONE,
                      "e": State.SKIPPED}


def test_inline_settles_without_a_worker():
    workers = []
    states = schedule(GRAPH, lambda a: workers.append(a) or True, jobs=2,
                      inline=lambda a: True if a in ("a", "c") else None)
    assert all(s is State.DONE for s in states.values()) and sorted(workers) == ["b", "d", "e"]


def test_cancel_stops_new_work():
    cancelled = threading.Event()
    ran = []

    def work(a):
        ran.append(a)
        cancelled.set()
        return True

    states = schedule(GRAPH, work, jobs=1, cancelled=cancelled)
    assert len(ran) == 1 and sum(s is State.SKIPPED for s in states.values()) == len(GRAPH) - 1


def test_idle_runs_once_on_the_scheduling_thread_while_work_runs():
    """An edit's thousands of adoptions run behind its one build (engine/build.py run)."""
    seen = threading.Event()
    calls = []

    def work(a):
        return seen.wait(10)  # done only once idle ran, meanwhile

    def idle():
        calls.append(threading.current_thread() is threading.main_thread())
        seen.set()

    states = schedule({"a": set(), "b": {"a"}}, work, jobs=1, idle=idle)
    assert states == {"a": State.DONE, "b": State.DONE} and calls == [True]


def test_idle_is_not_called_when_no_work_ran():
    calls = []
    states = schedule({"a": set()}, lambda a: True, jobs=1, inline=lambda a: True, idle=lambda: calls.append(1))
    assert states == {"a": State.DONE} and calls == []


def test_an_exception_in_work_is_raised_here_after_the_interrupt_hook_and_no_worker_is_left():
    interrupted = []

    def work(a):
        if a == "b":
            raise RuntimeError("a bug in work")
        return True

    with pytest.raises(RuntimeError, match="a bug in work"):
        schedule(GRAPH, work, jobs=2, on_interrupt=lambda: interrupted.append(1))
    assert interrupted == [1]
    assert not [t for t in threading.enumerate() if t.name.startswith("jbuild-worker")]


def test_no_more_than_jobs_run_at_once_and_no_more_threads_than_jobs():
    wide = {f"n{i}": set() for i in range(40)}
    lock, now, peak, names = threading.Lock(), [0], [0], set()

    def work(a):
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
            names.add(threading.current_thread().name)
        time.sleep(0.002)
        with lock:
            now[0] -= 1
        return True

    states = schedule(wide, work, jobs=3)
    assert all(s is State.DONE for s in states.values())
    assert peak[0] <= 3 and len(names) <= 3

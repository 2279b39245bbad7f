"""A worker's sandbox stager killed outright (review of the fork server, findings 2 and the
untried case): never an internal error. Killed before an action started, it is replaced and the
action run by the new one, once; killed while its action runs, the C server's child (jbuild's own)
runs on, the Python stager's dies with it and the action fails with a StagerError; a C server
killed between its clone and its answer leaves no child behind (no zombie in a long-lived
build server) and its child runs nothing. Real bubblewrap, real kills (SIGKILL)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from jbuild.engine import sandbox_zygote
from jbuild.engine.sandbox_zygote import StagerError, Zygote
from test_sandbox_staged import executor, job  # noqa: F401 (the fixture)


@pytest.fixture(params=["c", "python"])
def kind(request, monkeypatch):
    if request.param == "python":
        monkeypatch.setattr(sandbox_zygote, "_CHILD", [None])
    return request.param


def _our_children() -> list[tuple[int, str, str]]:
    """(pid, state, name) of this process's children, zombies included."""
    out = []
    for pid in sandbox_zygote._children(os.getpid()):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name, rest = stat.split(" (", 1)[1].rsplit(") ", 1)
        if int(rest.split()[1]) == os.getpid():
            out.append((pid, rest.split()[0], name))
    return out


def _staging_or_dead(before: set[int]) -> list:
    return [c for c in _our_children() if c[0] not in before and (c[1] == "Z" or c[2] == "jbuild-staging")]


def test_a_stager_dead_before_the_request_is_replaced_and_the_action_run_once(tmp_path, executor, kind,  # noqa: F811
                                                                              monkeypatch):
    old = executor._zygote()
    assert old.serves == (kind == "c")
    os.kill(old.proc.pid, signal.SIGKILL)
    time.sleep(0.1)
    monkeypatch.setattr(Zygote, "alive", lambda self: True)  # not seen dead first: the request finds it so
    j = job(tmp_path, "a", 'echo run >> "$OUT/runs"')
    assert executor.run(j) == 0, j.log.read_text()
    assert (j.out / "runs").read_text() == "run\n"
    assert executor.local.zygote is not old and executor.local.zygote.proc.poll() is None


def test_a_stager_killed_while_its_action_runs(tmp_path, executor, kind):  # noqa: F811
    """The C server's child is jbuild's own: it does not need its server once started, and the
    action ends as it would have. The Python stager's child dies with it: the action fails."""
    zygote = executor._zygote()  # this thread's: the one the action runs through
    j = job(tmp_path, "a", 'touch "$OUT/started"; sleep 1; echo done > "$OUT/done"')

    def kill_once_started():
        deadline = time.monotonic() + 10
        while not (j.out / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(zygote.proc.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_once_started)
    killer.start()
    try:
        got = [executor.run(j)]
    except StagerError as exc:
        got = [exc]
    killer.join()
    assert zygote.proc.poll() is not None and executor._zygote() is not zygote  # the next action's is new
    if kind == "c":
        assert got == [0], j.log.read_text()
        assert (j.out / "done").read_text() == "done\n"
    else:
        assert isinstance(got[0], StagerError) and got[0].started, got
        assert not (j.out / "done").exists()


@pytest.mark.parametrize("when", ["clone", "answer"])
def test_a_server_dying_before_its_childs_go_ahead_leaves_nothing_and_runs_nothing(tmp_path, executor,  # noqa: F811
                                                                                    monkeypatch, when):
    """Killed between its clone and its answer (jbuild never learns the child's pid), or between
    its answer and the child's go-ahead: the child runs nothing, is reaped, and the action runs
    once, through a new server."""
    flag = tmp_path / "die-once"
    flag.touch()
    monkeypatch.setenv("JBUILD_TEST_STAGER_DIES", f"{when}:{flag}")
    before = {c[0] for c in _our_children()}
    first = executor._zygote()
    assert first.serves
    j = job(tmp_path, "a", 'echo run >> "$OUT/runs"')
    assert executor.run(j) == 0, j.log.read_text()
    assert not flag.exists() and first.proc.poll() is not None  # it did die, and was replaced
    assert (j.out / "runs").read_text() == "run\n"  # once: the dead server's child ran nothing
    assert _staging_or_dead(before) == []


def test_a_server_killed_again_and_again_fails_the_action_clearly(tmp_path, executor, monkeypatch):  # noqa: F811
    """Retried once only: a second death before the start is the action's failure, a StagerError
    (build_action.py turns it into a failed action naming it)."""
    flags = [tmp_path / "die-1", tmp_path / "die-2"]

    real_init = Zygote.__init__

    def dying(self, started=None):
        real_init(self, started)
        os.kill(self.proc.pid, signal.SIGKILL)  # dead before each request
        self.proc.wait()
        flags.pop().touch()

    monkeypatch.setattr(Zygote, "__init__", dying)
    monkeypatch.setattr(Zygote, "alive", lambda self: True)
    j = job(tmp_path, "a", 'echo run >> "$OUT/runs"')
    with pytest.raises(StagerError) as exc:
        executor.run(j)
    assert not exc.value.started and "died before the action started" in str(exc.value)
    assert flags == []  # two stagers, both dead
    assert not (j.out / "runs").exists()


def test_a_probe_whose_stager_is_killed_answers_no_this_time_only(monkeypatch):
    """The probes (can a child stage a root here? does Landlock confine?) run on a stager too:
    one killed from outside, twice, is no traceback and no "no" kept for the process's life
    (a build server's): bubblewrap binds each part this time, and the next build asks again
    (--sandbox landlock, which needs the answer: the stager's failure, test_sandbox_stager_probe.py)."""
    from jbuild.engine import sandbox, sandbox_probes

    monkeypatch.setattr(sandbox_probes, "known_yes", lambda name, bwrap: False)
    monkeypatch.setattr(sandbox_probes, "remember_yes", lambda name, bwrap: None)
    monkeypatch.setattr(sandbox, "_STAGES_ROOT", None)
    monkeypatch.setattr(sandbox, "_LANDLOCK", None)
    monkeypatch.setattr(sandbox, "_PROBER", None)
    real_init = Zygote.__init__
    killed = []

    def dying(self, started=None):
        real_init(self, started)
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        killed.append(self.proc.pid)

    with monkeypatch.context() as m:
        m.setattr(Zygote, "__init__", dying)
        m.setattr(Zygote, "alive", lambda self: True)
        assert sandbox.BwrapExecutor.stages_root() is False
        with pytest.raises(StagerError):  # asked for by --sandbox landlock: its failure, not "cannot confine here"
            sandbox.BwrapExecutor.landlock_available()
    assert len(killed) >= 2 and sandbox._STAGES_ROOT is None and sandbox._LANDLOCK is None
    monkeypatch.setattr(sandbox, "_PROBER", None)
    assert sandbox.BwrapExecutor.stages_root() is True  # asked again: the stager lives now

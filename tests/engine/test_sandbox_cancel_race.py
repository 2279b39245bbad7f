"""A build cancelled just as an action starts (Ctrl-C, or a failed sibling without --keep-going):
jbuild kills the action the moment it learns its pid (Processes.start_staged). The stager
answers that pid before the child's setsid() makes its process group — the C server right after
its clone —, so a group kill alone can find no group, and the action ran to its end (review of
the fork server, finding 1). Both stagers: the C server and the Python fallback."""

from __future__ import annotations

import time

import pytest
from jbuild.engine.sandbox import BWRAP_ENV
from jbuild.engine.sandbox_processes import Processes
from test_sandbox_staged import executor, job  # noqa: F401 (the fixture)


@pytest.fixture(params=["c", "python"])
def kind(request, monkeypatch):
    from jbuild.engine import sandbox_zygote

    if request.param == "python":
        monkeypatch.setattr(sandbox_zygote, "_CHILD", [None])
    return request.param


def test_an_action_cancelled_as_it_starts_ends_at_once(tmp_path, executor, kind):  # noqa: F811
    zygote = executor._zygote()
    assert zygote.serves == (kind == "c")
    real_run = zygote.run
    for i in range(20):  # the window is microseconds wide: a cancel landing with the pid hits it each time
        procs = Processes()

        def run(state, argv, env, log, started, timeout=None, procs=procs):
            def cancelled_as_it_starts(pid: int) -> None:
                procs.cancelled = True  # as Processes.cancel between the request and the pid's answer
                started(pid)  # start_staged's: kills the action at once

            return real_run(state, argv, env, log, cancelled_as_it_starts, timeout)

        j = job(tmp_path, f"a{i}", "sleep 5")
        argv, root = executor.staged_argv(j, zygote.stage, zygote.shares_network)
        zygote.run = run
        t0 = time.monotonic()
        try:
            code = procs.start_staged(zygote, root, argv, BWRAP_ENV, j.log)
        finally:
            del zygote.run
        assert time.monotonic() - t0 < 4, f"run {i}: the cancelled action ran to its end"
        assert code != 0

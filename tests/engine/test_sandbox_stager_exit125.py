"""An action whose script really exits 125 (the code the C server's child used for "my server died
before my go-ahead"): with its server alive, reported at once as the script's exit; with its server
killed while it ran, still the script's exit, never taken for an unstarted action and run again
(review of the stager's failure modes, item 4 and 2). Real bubblewrap, a real SIGKILL."""

from __future__ import annotations

import os
import signal
import threading
import time

from test_sandbox_staged import executor, job  # noqa: F401 (the fixture)


def test_a_script_exiting_125_with_a_live_server_is_its_exit_at_once(tmp_path, executor):  # noqa: F811
    assert executor._zygote().serves
    j = job(tmp_path, "a", 'echo run >> "$OUT/runs"; exit 125')
    executor.run(job(tmp_path, "warm", "true"))
    began = time.monotonic()
    assert executor.run(j) == 125, j.log.read_text()
    took = time.monotonic() - began
    assert (j.out / "runs").read_text() == "run\n"
    assert took < 0.4, f"the exit came {took:.2f} s late"  # was >= 0.5 s: a wait for the server to die


def test_a_script_exiting_125_after_its_server_was_killed_runs_once(tmp_path, executor):  # noqa: F811
    zygote = executor._zygote()
    assert zygote.serves
    j = job(tmp_path, "a", 'echo run >> "$OUT/runs"; touch "$OUT/started"\n'
                           'while [ ! -e "$OUT/go" ]; do sleep 0.01; done; exit 125')

    def kill_then_let_it_exit():
        deadline = time.monotonic() + 10
        while not (j.out / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(zygote.proc.pid, signal.SIGKILL)
        zygote.proc.wait()
        (j.out / "go").touch()

    killer = threading.Thread(target=kill_then_let_it_exit)
    killer.start()
    try:
        code = executor.run(j)
    finally:
        (j.out / "go").touch()
        killer.join()
    assert (j.out / "runs").read_text() == "run\n"  # not run again by a new server
    assert code == 125

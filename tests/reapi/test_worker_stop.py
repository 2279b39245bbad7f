"""A stopped worker exits at once, even while the server holds its idle long poll (15 s)."""

import signal
import time

from conftest import Workers


def test_sigterm_while_idle_exits_without_waiting_for_the_poll(buildgrid, tmp_path):
    w = Workers(buildgrid.url, tmp_path)
    w.start(1)
    proc, work = w.procs[0]
    log = work.with_suffix(".log")
    w.serving()
    time.sleep(1.0)  # into the idle UpdateBotSession the server holds
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(10)
    finally:
        w.stop()
    took = time.monotonic() - began
    assert code == 0, log.read_text()
    assert "stopped after 0 actions" in log.read_text()
    assert took < 5.0, f"the worker took {took:.1f} s to stop (its poll was not cancelled)"

"""What `jbuild watch run` keeps running between rebuilds: the target's services (through the
service runner, in a thread of their own, stopped by its stop event: SIGTERM, then SIGKILL after
the stop timeout) or its program (a process group of its own, stopped the same way)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading


class Running:
    def __init__(self, rp, out, ready_timeout: float, stop_timeout: float):
        self.rp, self.out, self.stop_timeout = rp, out, stop_timeout
        self.stop_event = threading.Event()
        self.proc: subprocess.Popen | None = None
        if rp.services:
            from .services import run_services

            self.thread = threading.Thread(target=run_services, daemon=True, args=(rp.services, rp.root, out,
                                           self.stop_event), kwargs={"ready_timeout": ready_timeout,
                                                                     "stop_timeout": stop_timeout})
        else:
            self.proc = subprocess.Popen(rp.program, env=rp.env, start_new_session=True)
            self.thread = threading.Thread(target=self.proc.wait, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after the stop timeout; returns once it is gone."""
        self.stop_event.set()
        if self.proc is not None and self.proc.poll() is None:
            _signal(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                _signal(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.thread.join(timeout=self.stop_timeout + 10)


def _signal(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass

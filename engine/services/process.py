"""One started service process: its output pumped line by line to the shared stream (prefixed
with its name) and to its log file, its exit observed without reaping it, and its stop.

Each service runs in its own session (so a terminal's Ctrl-C reaches the runner only, and the
runner stops services in its own order), and its whole process group is killed on stop. The
exit is observed with `waitid(WNOWAIT)`: the leader stays a zombie until its group has been
killed, so the group id cannot be reused by an unrelated process in between.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO


@dataclass
class Output:
    """Where every service's lines go: one stream shared under a lock, so lines never interleave."""

    stream: TextIO
    lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, prefix: str, line: str) -> None:
        with self.lock:
            try:
                self.stream.write(f"{prefix} | {line}\n" if prefix else line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed or broken stream must not stop the pump from draining the pipe


def _death_signal_prefix() -> list[str]:
    """`setpriv --pdeathsig KILL`: the service dies with the runner even if the runner is killed
    with SIGKILL and cannot stop it. Skipped where util-linux's setpriv is missing."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


class Running:
    """A service process that was started; `status()` is None while it runs."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: str, log: Path, out: Output,
                 tail: int = 20):
        self.name, self.out = name, out
        self.lines: deque[str] = deque(maxlen=tail)
        self._status: int | None = None
        self._reaped = False
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "w", encoding="utf-8", errors="replace")  # the last run's lines
        try:
            self.proc = subprocess.Popen(_death_signal_prefix() + argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError:
            self._log.close()
            raise
        self._pump = threading.Thread(target=self._read, name=f"log-{name}", daemon=True)
        self._pump.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            self.lines.append(line)
            self.out.say(self.name, line)
            try:
                self._log.write(line + "\n")
                self._log.flush()
            except (OSError, ValueError):
                pass

    def status(self) -> int | None:
        """The wait status as an exit code (negative: killed by that signal), or None if running."""
        if self._status is None and not self._reaped:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is not None and info.si_pid == self.pid:
                self._status = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        return self._status

    def stop(self, timeout: float, hurry: threading.Event | None = None) -> int:
        """SIGTERM to the group, SIGKILL after `timeout` (or at once when `hurry` is set); then
        whatever is left of the group is killed and the leader reaped. Returns its status."""
        if self.status() is None:
            self._signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.status() is None and time.monotonic() < deadline and not (hurry and hurry.is_set()):
                time.sleep(0.02)
            if self.status() is None:
                self._signal(signal.SIGKILL)
                os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        self.reap()
        return self.status()

    def reap(self) -> None:
        """Kill what the leader left in its group (it is a zombie until now, so the id is still
        ours), reap it, drain its output."""
        if self._reaped:
            return
        self.status()
        self._signal(signal.SIGKILL)
        code = self.proc.wait()
        if self._status is None:  # it was still running: Popen's code has the same convention
            self._status = code
        self._reaped = True
        self._pump.join(timeout=2)
        if not self._pump.is_alive():  # else a process that left the group still holds the pipe
            self.proc.stdout.close()
            self._log.close()

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def describe(status: int) -> str:
    if status >= 0:
        return f"exited with code {status}"
    try:
        return f"was killed by {signal.Signals(-status).name}"
    except ValueError:
        return f"was killed by signal {-status}"

"""Running sandboxes as processes: each job's children, so that an interrupt stops them all,
and what a script left behind in its process group killed before the job returns."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .sandbox_zygote import kill_action

if TYPE_CHECKING:
    from .sandbox_root import StagedRoot
    from .sandbox_zygote import Zygote


class Processes:
    """Running children, so an interrupt can stop them all."""

    def __init__(self):
        self.lock = threading.Lock()
        self.procs: set[subprocess.Popen] = set()
        self.pids: set[int] = set()  # staged sandboxes: the stager's children
        self.cancelled = False

    def start(self, argv, env, log: Path | None, cwd=None, timeout: float | None = None, sweep_group=True) -> int:
        """Run to the end and return the exit code; then kill what it left in its process group
        unless `sweep_group` is False (a sandbox whose pid namespace the kernel empties when its
        first process ends). Past `timeout` seconds, kill the process group and raise
        subprocess.TimeoutExpired."""
        with self.lock:
            if self.cancelled:
                return 130
            out = open(log, "wb") if log else subprocess.DEVNULL
            try:
                proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        cwd=cwd, start_new_session=True)
            finally:
                if log:
                    out.close()
            self.procs.add(proc)
        try:
            return proc.wait(timeout)
        finally:
            if sweep_group or self.cancelled or proc.poll() is None:  # None: past its time limit
                _end_group(proc.pid)
                proc.wait()
            with self.lock:
                self.procs.discard(proc)

    def start_staged(self, zygote: Zygote, root: StagedRoot, argv, env, log: Path | None,
                     timeout: float | None = None) -> int:
        """Run `argv` over a staged root, started by `zygote` (the C server forks it as our own
        child), within `timeout` seconds as `start`."""
        mine: list[int] = []

        def started(pid: int) -> None:
            with self.lock:
                mine.append(pid)
                self.pids.add(pid)
                if self.cancelled:
                    kill_action(pid)

        if self.cancelled:
            return 130
        try:
            return zygote.run(root.state(), argv, env, log, started, timeout)
        finally:
            with self.lock:
                self.pids.difference_update(mine)
            if mine and self.cancelled:
                _end_group(mine[0])

    def cancel(self) -> None:
        with self.lock:
            self.cancelled = True
            for pid in self.pids:
                kill_action(pid)
            for p in self.procs:
                _kill_group(p.pid)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _end_group(pgid: int, timeout: float = 10.0) -> None:
    """Kill what the script left running in its process group (`(sleep 1; echo > $OUT/x) &`)
    and wait until it is gone, so nothing writes into the output after the job returned."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.005)


def _group_alive(pgid: int) -> bool:
    """Is any process of the group still running? (Orphans are reaped by init, not by us, so
    a dead one may linger as a zombie: that one writes nothing.)"""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            return True
    return False

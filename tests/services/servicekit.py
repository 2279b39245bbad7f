"""Shared pieces of the service tests, imported by name (conftest.py holds the fixtures): a
stream that can be waited on, free ports, fake services, the runner in a thread."""

import os
import re
import socket
import sys
import threading
import time
from pathlib import Path

from helpers import free_port  # noqa: F401 (for the service tests)

HERE = Path(__file__).resolve().parent
FAKE = str(HERE / "fake_service.py")


class Lines:
    """A text stream the runner writes to, read by the test as it fills."""

    def __init__(self):
        self.text, self.cond = "", threading.Condition()

    def write(self, s):
        with self.cond:
            self.text += s
            self.cond.notify_all()

    def flush(self):
        pass

    @property
    def lines(self):
        return self.text.splitlines()

    def wait_for(self, pattern, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not (m := re.search(pattern, self.text)):
                left = deadline - time.monotonic()
                assert left > 0, f"no {pattern!r} within {timeout} s in:\n{self.text}"
                self.cond.wait(left)
            return m


def fake(name, *args):
    return [sys.executable, FAKE, name, *map(str, args)]


def base_env():
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def gone(pid: int) -> bool:
    """Not running (a zombie waiting for an uninterested init counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


def talk(port: int, *requests: str) -> list[str]:
    """One connection, one reply line per request line."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        f = s.makefile("rw", newline="\n")
        out = []
        for r in requests:
            f.write(r + "\n")
            f.flush()
            out.append(f.readline().rstrip("\n"))
        return out


class InThread:
    """run_services in a thread, stopped through its stop_event (signals need the main thread)."""

    def __init__(self, specs, root, **kw):
        from jbuild.engine.services import run_services

        self.out, self.stop, self.code = Lines(), threading.Event(), None
        self.thread = threading.Thread(target=self._run, args=(run_services, specs, str(root), kw), daemon=True)
        self.thread.start()

    def _run(self, run_services, specs, root, kw):
        self.code = run_services(specs, root, self.out, self.stop, **kw)

    def finish(self, timeout=15.0):
        self.stop.set()
        return self.wait(timeout)

    def wait(self, timeout=15.0):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the runner did not end:\n{self.out.text}"
        return self.code

"""What a build in the server borrows from its client (server.py): the client's stdin, stdout,
stderr, working directory and environment as the server's own while the build runs
(`Borrowed`), and the cancel that interrupts it as Ctrl-C does in-process (`Canceller`)."""

from __future__ import annotations

import os
import signal
import sys
import threading

from .server_client import receive


class Borrowed:
    """The client's fds 0-2, working directory and environment as this process's own while a
    build runs; ours again afterwards."""

    def __init__(self, request: dict, fds: list[int]):
        self.request, self.fds = request, fds

    def __enter__(self):
        import io

        self.saved_fds = [os.dup(fd) for fd in (0, 1, 2)]
        self.saved = (sys.stdin, sys.stdout, sys.stderr, os.getcwd(), dict(os.environ))
        for theirs, fd in zip(self.fds, (0, 1, 2), strict=True):
            os.dup2(theirs, fd)
        out_enc, err_enc = self.request.get("encoding") or ("utf-8", "utf-8")
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding=out_enc,
                                      line_buffering=os.isatty(1))
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding=err_enc,
                                      errors="backslashreplace", line_buffering=True)
        os.environ.clear()
        os.environ.update(self.request["env"])
        os.chdir(self.request["cwd"])
        return self

    def __exit__(self, *exc) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        sys.stdin, sys.stdout, sys.stderr, cwd, env = self.saved
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        for mine, fd in zip(self.saved_fds, (0, 1, 2), strict=True):
            os.dup2(mine, fd)
            os.close(mine)


def interrupt(signum, frame) -> None:
    """SIGINT: a cancel, as Ctrl-C in-process, while a build runs; after `Canceller.done` a
    signal sent just before it (the build returning as the cancel came) is dropped, so the
    build's answer still reaches the client (not an interrupted reply: exit 37)."""
    if Canceller.armed:
        raise KeyboardInterrupt


class Canceller:
    """Interrupts the build (SIGINT to the main thread: as Ctrl-C in-process, exit 8) when the
    client sends a cancel or goes away (the end of its connection)."""

    armed = False  # a build runs: SIGINT interrupts it (interrupt)

    def __init__(self, conn, log):
        self.log = log
        self.conn, self.lock, self.finished, self.fired = conn, threading.Lock(), False, False
        self.main = threading.main_thread().ident

    def start(self) -> None:
        Canceller.armed = True
        threading.Thread(target=self._watch, name="jbuild-server-cancel", daemon=True).start()

    def _watch(self) -> None:
        try:
            got = receive(self.conn)
        except OSError:
            got = None
        with self.lock:
            if not self.finished:
                self.fired = True
                self.log("cancel" if got == "C" else "the client went away: cancelling")
                signal.pthread_kill(self.main, signal.SIGINT)

    def done(self) -> None:
        with self.lock:
            self.finished = True
            Canceller.armed = False

"""Each worker's sandbox stager: a small process that holds the worker's sandbox namespaces and
starts its sandboxes, so that jbuild never forks itself.

Staging the root (sandbox_root.py) must run between fork and exec, and fork copies the forking
process's page tables: 115 ms for a 200 MB jbuild on a loaded machine. So each worker thread
starts a stager once. It enters a user namespace and a loopback-only network namespace of its
own, which its sandboxes share, one at a time (bubblewrap making and tearing down one per action
costs milliseconds), and makes the empty directory its children stage roots on. Per action jbuild
writes it a request and reads back the child's pid: jbuild holds no lock meanwhile (its GIL is
let go in each read and write).

The stager is the C fork server (stage_exec_serve.c `--serve`, staging in stage_exec.c, compiled on
first use like the Landlock helper): per action it forks (a small process: no exec, no dynamic linking) a child that stages
and execs bubblewrap. The child is jbuild's own (CLONE_PARENT): the worker waits for it, and
kills its process group past its time limit, itself. (Before, jbuild posix_spawned a C child
per action itself: ~0.7 ms an action with the GIL held, a third of a 1,000-package full
build's GIL time, and one exec more.) Without `cc` (or with `JBUILD_STAGE_EXEC=0`, or the cached
program deleted by `jbuild gc`) the stager is sandbox_pystager.py, run as a script (`python -I -S
sandbox_pystager.py`: the standard library and sandbox_root.py, ~10 MB), whose fork stages in
Python; it answers the pid, then the exit code. Either way the child hands its staged mount
namespace back first, let go once the next child has started (the Python stager: once it has
answered), so the kernel's teardown of those mounts is not part of a build's time. The stager
dies with the thread that started it (PR_SET_PDEATHSIG) or when its pipe closes, removing its
stage; a stage left by one killed outright is locked by nobody, and the next jbuild removes it
(`sweep_stages`).

A stager killed outright (or out of processes to fork) raises StagerError. Its child execs only
once the stager has answered its pid (a go-ahead byte after the answer): without an answer the
action certainly did not start, and BwrapExecutor replaces the stager and runs it again, once. A
C server that died between its clone and its answer leaves a child of ours whose pid we never
learnt: `_reap_unanswered` finds it by the server's process group and reaps it. Once its pid is
answered, the C server's child needs it no more (its action runs on); the Python stager's dies
with it (PR_SET_PDEATHSIG), and the action fails naming the stager (build_action.py).

The Python stager's messages are marshal'd values behind a 4-byte length; the C server's are
fixed binary fields (stage_exec_serve.c).
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..base.errors import Failed
from .sandbox_pystager import STAGE_PREFIX, read_exactly, receive, send

# The C server's child's death when its server died before answering its pid (stage_exec.h): it
# ran nothing. A signal, not an exit code: a script may exit 125 (it was NO_GO: such an action was
# reported 0.5 s late, waiting for a live server to die, and run twice when its server had been
# killed meanwhile); bubblewrap reports its child's signal as an exit code, so only a kill from
# outside could end an action so, and the server must be dead too.
NO_GO_SIGNAL = signal.SIGUSR2


class StagerError(OSError, Failed):
    """The stager died (or could not fork) while starting or running an action. `started`: the
    action may have run (its pid had come back, and it was not seen to end unstarted); else it
    certainly did not, and may be run again by a new stager (BwrapExecutor._run_staged). A build's
    action fails naming it (build_action.py); one met elsewhere (a sandbox probe: `--sandbox
    landlock`, `jbuild info`) is a Failed, said as one line, exit 1, not an internal error."""

    def __init__(self, message: str, started: bool):
        super().__init__(message)
        self.started = started


class Zygote:
    """jbuild's end: one per worker thread. `stage` is the empty directory its children stage
    roots on (each in a mount namespace of its own): made by the stager when it starts, removed
    when it ends."""

    def __init__(self, started: subprocess.Popen | None = None):
        """`started`: a stager `start` began earlier (its hello is waited for here)."""
        self.proc = started or start()
        self.serves = self.proc.args[1] == "--serve"  # the C fork server, else the Python stager
        hello = _server_hello(self.proc.stdout.fileno()) if self.serves else receive(self.proc.stdout.fileno())
        if hello is None:
            raise StagerError("the sandbox stager did not start", started=False)
        self.stage = Path(os.fsdecode(hello[0]))
        self.shares_network = hello[1]  # its sandboxes share its network namespace (only loopback)
        self.in_user_ns = hello[2]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, state: tuple, argv: list[str], env: dict[str, str], log: Path | None, started,
            timeout: float | None = None) -> int:
        """Stage (`StagedRoot.state()`) and exec `argv`; `started(pid)` once it runs; its exit code.
        Past `timeout` seconds its process group is killed and subprocess.TimeoutExpired raised."""
        out = self.proc.stdout.fileno()
        if self.serves:
            return self._serve(state, argv, env, log, started, timeout)
        try:
            send(self.proc.stdin.fileno(), (state, argv, env, str(log) if log else None))
        except OSError:  # (EPIPE) it died before this request
            raise StagerError(DIED_BEFORE, started=False) from None
        pid = receive(out)
        if pid is None:  # its child, if any, died with it (PR_SET_PDEATHSIG) before its go-ahead
            raise StagerError(DIED_BEFORE, started=False)
        started(pid)
        if timeout is not None and not _readable(out, timeout):
            kill_action(pid)
            receive(out)
            raise subprocess.TimeoutExpired(argv, timeout)
        code = receive(out)
        if code is None:  # the action, its child, was killed with it (PR_SET_PDEATHSIG)
            raise StagerError(DIED_DURING, started=True)
        return code

    def _serve(self, state, argv, env, log, started, timeout) -> int:
        """Through the C fork server: a request, the child's pid back; the child is ours (the
        server forks it with CLONE_PARENT), waited for here."""
        from .stage_request import encode

        path = os.fsencode(log) if log else b""
        request = encode(state, os.fsencode(self.stage), self.in_user_ns, argv, env)
        try:
            _write_all(self.proc.stdin.fileno(), b"".join((
                struct.pack("<II", 4 + len(path) + len(request), len(path)), path, request)))
        except OSError:  # (EPIPE) it died before this request
            raise StagerError(DIED_BEFORE, started=False) from None
        head = read_exactly(self.proc.stdout.fileno(), 4)
        if head is None:
            self._reap_unanswered()
            raise StagerError(DIED_BEFORE, started=False)
        pid = struct.unpack("<i", head)[0]
        if pid <= 0:
            raise StagerError("the sandbox stager could not fork", started=False)
        started(pid)
        code = _wait(pid, timeout, argv)
        if code == -NO_GO_SIGNAL and self._died(within=5):  # it died between its answer and the go-ahead
            raise StagerError(DIED_BEFORE, started=False)
        return code

    def _reap_unanswered(self) -> None:
        """After the C server died without answering: its child, if its clone had come before
        its death. The child is ours (CLONE_PARENT) and nobody else knows its pid; it runs nothing
        without the server's go-ahead and exits at once, but only we can reap it (a build server
        would keep it as a zombie). Until that go-ahead it is in the server's process group, whose
        id the kernel keeps for it while it lives: it is found by that, killed and reaped."""
        self.proc.kill()
        self.proc.wait()
        me, group = os.getpid(), self.proc.pid
        for pid in _children(me):
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me and int(fields[2]) == group:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass

    def _died(self, within: float) -> bool:
        try:
            self.proc.wait(within)
        except subprocess.TimeoutExpired:
            return False
        return True

    def discard(self) -> None:
        """After a StagerError: end it (if it still lives) and let go of its pipes."""
        self.proc.kill()
        self.proc.wait()
        self.let_go()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()

    def let_go(self) -> None:
        """Done with it, without waiting (a process that builds again — the build server, `jbuild
        watch` — lets go of each build's stagers, or keeps a process and its pipes per worker per
        build): its pipes closed, the stager removes its stage and exits; subprocess reaps it."""
        self.proc.stdin.close()
        self.proc.stdout.close()


DIED_BEFORE = "the sandbox stager died before the action started"
DIED_DURING = "the sandbox stager died while the action ran (the action was killed with it)"


def _children(me: int) -> list[int]:
    """The pids that may be `me`'s children: /proc/<me>/task/*/children where the kernel has it
    (CONFIG_PROC_CHILDREN), else every process."""
    try:
        pids = []
        for task in os.listdir(f"/proc/{me}/task"):
            with open(f"/proc/{me}/task/{task}/children") as f:
                pids += map(int, f.read().split())
        return pids
    except FileNotFoundError:  # (a thread that ended meanwhile, or no such file: every process)
        return [int(pid) for pid in os.listdir("/proc") if pid.isdigit()]


def start() -> subprocess.Popen:
    """A stager's process, started: `Zygote(started)` waits until it is ready. The C fork server
    where the program is built (a few ms to start), else the Python stager (~40 ms: begun early,
    either runs beside the build's planning: sandbox.prestart)."""
    sweep_stages()
    program = child_program()
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.DEVNULL}
    if program:
        try:
            return subprocess.Popen([str(program), "--serve", tempfile.gettempdir()], **pipes)
        except OSError:  # the cached program deleted meanwhile (`jbuild gc`): the Python stager
            pass
    return subprocess.Popen([sys.executable, "-I", "-S", str(Path(__file__).with_name("sandbox_pystager.py")),
                             tempfile.gettempdir()], **pipes)


def sweep_stages(min_age: float = 60.0) -> None:
    """Remove the stages of stagers killed outright (SIGKILL skips their removal): the empty
    directories named STAGE_PREFIX..., ours, that nobody holds locked and that are older than
    `min_age` seconds (a starting stager locks its own just after making it). Once per process."""
    if _SWEPT:
        return
    _SWEPT.append(True)
    base, now, me = tempfile.gettempdir(), time.time(), os.getuid()
    try:
        entries = [e for e in os.scandir(base) if e.name.startswith(STAGE_PREFIX)]
    except OSError:
        return
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != me or now - st.st_ctime < min_age:
                continue
            fd = os.open(entry.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: its stager lives
                os.rmdir(entry.path)
            finally:
                os.close(fd)
        except OSError:
            continue


_SWEPT: list = []


def _server_hello(fd: int) -> tuple[bytes, bool, bool] | None:
    """The C server's first words: its stage, whether its sandboxes share its network namespace,
    whether it is in a user namespace of its own."""
    head = read_exactly(fd, 4)
    body = head and read_exactly(fd, struct.unpack("<I", head)[0] + 2)
    return (body[:-2], bool(body[-2]), bool(body[-1])) if body else None


def _wait(pid: int, timeout: float | None, argv) -> int:
    if timeout is not None:
        fd = os.pidfd_open(pid)
        try:
            ended = _readable(fd, timeout)
        finally:
            os.close(fd)
        if not ended:
            kill_action(pid)
            os.waitpid(pid, 0)
            raise subprocess.TimeoutExpired(argv, timeout)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _readable(fd: int, timeout: float) -> bool:
    """Whether `fd` becomes readable within `timeout` seconds. poll, not select: select cannot
    take a descriptor past 1,023, which a process that made many stores or sessions holds."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(timeout * 1000))


def kill_action(pid: int) -> None:
    """Kill a staged action: its process group, and the process itself. The stager answers the
    pid before the child's setsid() makes that group (the C server right after its clone), so
    a kill landing in between finds no group: the child is then killed alone, which has started
    nothing yet. (The pid is no other process's meanwhile: the C server's child is jbuild's own,
    unreaped until its run ends; the Python stager's is reaped only just before it answers.)"""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def child_program() -> Path | None:
    """The compiled C stager (stage_exec.c), or None: the Python stager then forks itself (once
    per process: cached, `JBUILD_STAGE_EXEC=0` turns it off)."""
    with _CHILD_LOCK:  # worker threads start their stagers at once: one compile
        if not _CHILD:
            from . import sandbox_landlock

            off = os.environ.get("JBUILD_STAGE_EXEC") == "0"
            _CHILD.append(None if off else sandbox_landlock.build_helper(Path(__file__).with_name("stage_exec.c"),
                                                                          "sandbox stager")[0])
    return _CHILD[0]


_CHILD: list = []
_CHILD_LOCK = threading.Lock()

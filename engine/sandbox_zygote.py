"""A small process that holds each worker's sandbox namespaces, so that jbuild never forks itself.

Staging the root (sandbox_root.py) must run between fork and exec, and fork copies the forking
process's page tables: 115 ms for a 200 MB jbuild on a loaded machine, against 1 ms for a
vfork. So each worker thread starts this file once as a script (`python -I -S
sandbox_zygote.py`: the standard library and sandbox_root.py, nothing else, ~10 MB). It enters
a user namespace and a loopback-only network namespace of its own, which its sandboxes share,
one at a time (bubblewrap making and tearing down one per action costs milliseconds).
The child that stages is a small C program (stage_exec.c, compiled on first use like the
Landlock helper). jbuild itself starts it with posix_spawn (a vfork: its size does not matter),
handing it the stager's two namespaces to join (`_Direct`): no request through the stager, no
second Python process woken per action (bench: ~1 ms of CPU an action less). Without `cc`, or
where the stager could not enter a user namespace, jbuild sends the stager a request instead;
it forks, and its child stages in Python (sandbox_root.py) or spawns the C child. Either way the
child hands its staged mount namespace back first, let go only after the build has ended, so
the kernel's teardown of those mounts is not part of the build's time. The stager dies with the
thread that started it (PR_SET_PDEATHSIG) or when its pipe closes, removing its stage; a stage
left by one killed outright is locked by nobody, and the next jbuild removes it (`sweep_stages`).

Messages are marshal'd values behind a 4-byte length.
"""

from __future__ import annotations

import ctypes
import fcntl
import marshal
import os
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1


def _send(fd: int, value) -> None:
    data = marshal.dumps(value)
    os.write(fd, struct.pack("<I", len(data)) + data)


def _receive(fd: int):
    """The next message, or None when the other end closed."""
    head = _read_exactly(fd, 4)
    if head is None:
        return None
    body = _read_exactly(fd, struct.unpack("<I", head)[0])
    return None if body is None else marshal.loads(body)


def _read_exactly(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


class Zygote:
    """jbuild's end: one per worker thread. `stage` is the empty directory its children stage
    roots on (each in a mount namespace of its own): made by the stager when it starts, removed
    when it ends. With the C child and the stager in a user namespace of its own, jbuild starts
    the child itself (`_Direct`): the stager then only holds its namespaces and its stage."""

    def __init__(self, started: subprocess.Popen | None = None):
        """`started`: a stager `start` began earlier (its hello is waited for here)."""
        program = child_program()
        self.proc = started or start()
        hello = _receive(self.proc.stdout.fileno())
        if hello is None:
            raise OSError("the sandbox stager did not start")
        self.stage = Path(os.fsdecode(hello[0]))
        self.shares_network = hello[1]  # its sandboxes share its network namespace (only loopback)
        self.direct = _Direct(self.proc.pid, hello[0], program, hello[1]) if program and hello[2] else None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, state: tuple, argv: list[str], env: dict[str, str], log: Path | None, started,
            timeout: float | None = None) -> int:
        """Stage (`StagedRoot.state()`) and exec `argv`; `started(pid)` once it runs; its exit code.
        Past `timeout` seconds its process group is killed and subprocess.TimeoutExpired raised."""
        if self.direct is not None:
            code = self.direct.run(state, argv, env, log, started, timeout)
            if code is not None:
                return code
            self.direct = None  # the cached program was deleted meanwhile (`jbuild gc`): the stager forks
        _send(self.proc.stdin.fileno(), (state, argv, env, str(log) if log else None))
        reply = _receive(self.proc.stdout.fileno())
        if reply is None:
            raise OSError("the sandbox stager exited")
        started(reply)
        if timeout is not None and not _readable(self.proc.stdout.fileno(), timeout):
            _kill_group(reply)
            _receive(self.proc.stdout.fileno())
            raise subprocess.TimeoutExpired(argv, timeout)
        code = _receive(self.proc.stdout.fileno())
        if code is None:
            raise OSError("the sandbox stager exited")
        return code

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()

    def let_go(self) -> None:
        """Done with it, without waiting (a process that builds again — the build server, `jbuild
        watch` — lets go of each build's stagers, or keeps a process and its pipes per worker per
        build): its pipes closed, the stager removes its stage and exits; subprocess reaps it."""
        if self.direct is not None:
            self.direct.let_go()
        self.proc.stdin.close()
        self.proc.stdout.close()


def start() -> subprocess.Popen:
    """A stager's process, started: `Zygote(started)` waits until it is ready. (Its start is a
    Python's, ~40 ms: begun early, it runs beside the build's planning: sandbox.prestart.)"""
    sweep_stages()
    return subprocess.Popen([sys.executable, "-I", "-S", str(Path(__file__)), str(child_program() or ""),
                             tempfile.gettempdir()],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


STAGE_PREFIX = "jbuild-stage-locked-"  # a stager's stage, in the temporary directory, locked (flock) while it lives


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


class _Direct:
    """The C child started by jbuild itself, joining the stager's user and network namespaces
    (open here once): no request through the stager, no second Python process woken per build.
    posix_spawn is a vfork, so jbuild's size does not matter. Each child's staged mount namespace
    comes back over `ours` and is let go after the next child has started, not in the build's time."""

    def __init__(self, pid: int, stage: bytes, program: Path, network: bool):
        self.stage, self.program = stage, str(program)
        self.namespaces = [os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
                           for ns in (("user", "net") if network else ("user",))]
        self.ours, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.held: list[int] = []

    def run(self, state, argv, env, log, started, timeout) -> int | None:
        """The exit code, or None if the program could not be started."""
        from .stage_request import encode

        try:
            pid = _spawn(self.program, encode(state, self.stage, True, argv, env), self.theirs,
                         str(log) if log else None, self.namespaces)
        except OSError:
            return None
        started(pid)
        for fd in self.held:  # the previous build's staged mounts, torn down while this one runs
            os.close(fd)
        self.held = []
        try:
            return _wait(pid, timeout, argv)
        finally:
            self.held = _namespace_of_child(self.ours, socket.MSG_DONTWAIT)

    def let_go(self) -> None:
        for fd in self.namespaces + self.held:
            os.close(fd)
        self.namespaces, self.held = [], []
        self.ours.close()
        self.theirs.close()

    def __del__(self):
        for fd in self.namespaces + self.held:
            os.close(fd)


def _wait(pid: int, timeout: float | None, argv) -> int:
    if timeout is not None:
        fd = os.pidfd_open(pid)
        try:
            ended = _readable(fd, timeout)
        finally:
            os.close(fd)
        if not ended:
            _kill_group(pid)
            os.waitpid(pid, 0)
            raise subprocess.TimeoutExpired(argv, timeout)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _readable(fd: int, timeout: float) -> bool:
    """Whether `fd` becomes readable within `timeout` seconds. poll, not select: select cannot
    take a descriptor past 1,023, which a process that made many stores or sessions holds."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(timeout * 1000))


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def child_program() -> Path | None:
    """The compiled stager child (stage_exec.c), or None: the stager then forks itself (once per
    process: cached, `JBUILD_STAGE_EXEC=0` turns it off)."""
    with _CHILD_LOCK:  # worker threads start their stagers at once: one compile
        if not _CHILD:
            from . import sandbox_landlock

            off = os.environ.get("JBUILD_STAGE_EXEC") == "0"
            _CHILD.append(None if off else sandbox_landlock.build_helper(Path(__file__).with_name("stage_exec.c"),
                                                                          "sandbox stager")[0])
    return _CHILD[0]


_CHILD: list = []
_CHILD_LOCK = threading.Lock()


# ---------------------------------------------------------------- the stager's end (a script)

def _load_beside(name: str):
    """engine/<name>.py, loaded by its path (as `jbuild_<name>`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"jbuild_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclass-free, but from_state's annotations name its class
    spec.loader.exec_module(module)
    return module


def _main() -> None:
    # Loaded by path: run isolated (-I), the script's directory is not on sys.path, where
    # engine/platform.py and the like would shadow the standard library's modules.
    module, encode = _load_beside("sandbox_root"), _load_beside("stage_request").encode
    StagedRoot = module.StagedRoot  # noqa: N806 - a class

    # The thread that started it ends with each build: SIGTERM, so that it removes its stage.
    signal.signal(signal.SIGTERM, _ended)
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    program = sys.argv[1] if len(sys.argv) > 1 else ""
    in_user_ns, shared_network = module.enter_worker_namespaces()
    stage = os.fsencode(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=sys.argv[2] if len(sys.argv) > 2 else None))
    try:
        lock = os.open(stage, os.O_RDONLY | os.O_DIRECTORY)  # (not inherited: its children exec)
        fcntl.flock(lock, fcntl.LOCK_EX)  # while it lives: sweep_stages leaves it alone
        _send(1, (stage, shared_network, in_user_ns))
        while True:
            request = _receive(0)
            if request is None:
                return
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            pid = 0
            if program:
                try:
                    pid = _spawn(program, encode(request[0], stage, in_user_ns, request[1], request[2]), theirs,
                                 request[3])
                except OSError:  # (a cached program deleted meanwhile): fork from now on
                    program = ""
            if not pid:
                pid = os.fork()
                if pid == 0:
                    ours.close()
                    _child(StagedRoot, stage, in_user_ns, theirs, *request)
            theirs.close()
            _send(1, pid)
            with ours:
                held = _namespace_of_child(ours)
            _, status = os.waitpid(pid, 0)
            _send(1, os.waitstatus_to_exitcode(status))
            for fd in held:  # its staged mounts are torn down now, after the answer
                os.close(fd)
    finally:
        os.rmdir(stage)


def _spawn(program: str, request: bytes, sock, log: str | None, namespaces: list[int] = ()) -> int:
    """Start the C child (stage_exec.c) on `request` with a vfork: no copy of this process (the
    stager's, or jbuild's own with the `namespaces` to join: sandbox_zygote._Direct). (It holds
    the GIL meanwhile, ~0.5 ms: a ctypes call of posix_spawn that lets it go measured no faster
    with two workers, the GIL's hand-back costing as much.)"""
    import fcntl

    memfd = os.memfd_create("jbuild-stage-request")
    try:
        view = memoryview(request)
        while view:
            view = view[os.write(memfd, view):]
        out = os.open(log or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        # Above the descriptors the child's are dup'd to, so that no dup2 overwrites another's source.
        fds = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (out, sock.fileno(), memfd, *namespaces)]
        os.close(out)
        joined = [(os.POSIX_SPAWN_DUP2, fd, 6 + i) for i, fd in enumerate(fds[3:])]
        try:
            return os.posix_spawn(program, [program], {}, setsid=True,
                                  setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM),
                                  file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                                                (os.POSIX_SPAWN_DUP2, fds[0], 1), (os.POSIX_SPAWN_DUP2, fds[0], 2),
                                                (os.POSIX_SPAWN_DUP2, fds[1], 4), (os.POSIX_SPAWN_DUP2, fds[2], 5), *joined])
        finally:
            for fd in fds:
                os.close(fd)
    finally:
        os.close(memfd)


def _namespace_of_child(sock, flags: int = 0) -> list[int]:
    """The staged root's mount namespace, sent by the child before it execs bubblewrap (none if
    it failed first). (Not socket.recv_fds: it ignores `flags` before Python 3.12.)"""
    try:
        _, ancillary, _, _ = sock.recvmsg(1, socket.CMSG_LEN(4), flags)
    except OSError:
        return []
    return [int.from_bytes(data[:4], sys.byteorder) for level, kind, data in ancillary
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS]


def _ended(signum, frame) -> None:
    raise SystemExit(0)


def _child(staged_root, stage: bytes, in_user_ns: bool, sock, state: tuple, argv: list[str], env: dict[str, str],
           log: str | None) -> None:
    try:
        for sig in (signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ):  # as the C child's and subprocess's
            signal.signal(sig, signal.SIG_DFL)
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # bubblewrap's own takes over
        os.setsid()
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if log else os.open(os.devnull, os.O_WRONLY)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        keep = sock.fileno()
        os.closerange(3, keep)
        os.closerange(keep + 1, 65536)
        staged_root.from_state(state, stage, in_user_ns)()
        # The stager holds this namespace until it has answered: tearing down its mounts (an RCU
        # grace period, ~2 ms on a busy machine) then happens after the build, not before its end.
        socket.send_fds(sock, [b"n"], [os.open("/proc/self/ns/mnt", os.O_RDONLY)])
        sock.close()
        os.execve(argv[0], argv, env)
    except BaseException as exc:  # noqa: BLE001 - the child must never return into the loop
        try:
            os.write(2, f"jbuild: cannot start the sandbox: {exc}\n".encode())
        finally:
            os._exit(127)


if __name__ == "__main__":
    _main()

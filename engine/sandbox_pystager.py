"""The Python sandbox stager: the fallback for the C fork server (stage_exec_serve.c) where there is
no `cc`, or with JBUILD_STAGE_EXEC=0 (sandbox_zygote.py says when, and is jbuild's end of both).
Run as a script, `python -I -S sandbox_pystager.py TMPDIR`: the standard library and
sandbox_root.py (loaded by its path), ~10 MB. It enters the worker's namespaces, makes and locks
its stage, then per request forks a child that stages in Python (sandbox_root.StagedRoot) and
execs bubblewrap; it answers the child's pid, then, once it has ended, its exit code. The child
execs only after the pid has been answered (a go-ahead byte): a stager that dies first leaves a
child that runs nothing.

Messages both ways are marshal'd values behind a 4-byte length (`send`, `receive`); jbuild's end
imports them from here.
"""

from __future__ import annotations

import ctypes
import fcntl
import marshal
import os
import signal
import socket
import struct
import sys
import tempfile
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
NO_GO = 125  # the child's exit code when its stager died before answering its pid: it ran nothing (stage_exec.h)
STAGE_PREFIX = "jbuild-stage-locked-"  # a stager's stage, in the temporary directory, locked (flock) while it lives


def send(fd: int, value) -> None:
    data = marshal.dumps(value)
    os.write(fd, struct.pack("<I", len(data)) + data)


def receive(fd: int):
    """The next message, or None when the other end closed."""
    head = read_exactly(fd, 4)
    if head is None:
        return None
    body = read_exactly(fd, struct.unpack("<I", head)[0])
    return None if body is None else marshal.loads(body)


def read_exactly(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


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
    module = _load_beside("sandbox_root")
    StagedRoot = module.StagedRoot  # noqa: N806 - a class

    # The thread that started it ends with each build: SIGTERM, so that it removes its stage.
    signal.signal(signal.SIGTERM, _ended)
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    in_user_ns, shared_network = module.enter_worker_namespaces()
    stage = os.fsencode(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=sys.argv[1] if len(sys.argv) > 1 else None))
    try:
        lock = os.open(stage, os.O_RDONLY | os.O_DIRECTORY)  # (not inherited: its children exec)
        fcntl.flock(lock, fcntl.LOCK_EX)  # while it lives: sweep_stages leaves it alone
        send(1, (stage, shared_network, in_user_ns))
        while True:
            request = receive(0)
            if request is None:
                return
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            pid = os.fork()
            if pid == 0:
                ours.close()
                _child(StagedRoot, stage, in_user_ns, theirs, *request)
            theirs.close()
            send(1, pid)
            try:
                ours.send(b"g")  # its go-ahead: it execs only once its pid has been answered
            except OSError:
                pass
            with ours:
                held = _namespace_of_child(ours)
            _, status = os.waitpid(pid, 0)
            send(1, os.waitstatus_to_exitcode(status))
            for fd in held:  # its staged mounts are torn down now, after the answer
                os.close(fd)
    finally:
        os.rmdir(stage)


def _namespace_of_child(sock) -> list[int]:
    """The staged root's mount namespace, sent by the child before it execs bubblewrap (none if
    it failed first)."""
    try:
        _, ancillary, _, _ = sock.recvmsg(1, socket.CMSG_LEN(4))
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
        libc = ctypes.CDLL(None)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # bubblewrap's own takes over
        libc.prctl(PR_SET_NAME, b"jbuild-staging", 0, 0, 0)  # not taken for its stager in ps
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
        if sock.recv(1) != b"g":  # the stager died before answering our pid: run nothing
            os._exit(NO_GO)
        sock.close()
        os.execve(argv[0], argv, env)
    except BaseException as exc:  # noqa: BLE001 - the child must never return into the loop
        try:
            os.write(2, f"jbuild: cannot start the sandbox: {exc}\n".encode())
        finally:
            os._exit(127)


if __name__ == "__main__":
    _main()

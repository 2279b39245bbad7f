"""A small process that starts staged sandboxes, so that jbuild never forks itself.

Staging the root (sandbox_root.py) must run between fork and exec, and fork copies the forking
process's page tables: 115 ms for a 200 MB jbuild on a loaded machine, against 1 ms for the
vfork that subprocess uses otherwise. So each worker thread starts this file once as a script
(`python -I -S sandbox_zygote.py`: the standard library and sandbox_root.py, nothing else,
~10 MB) and sends it requests over a pipe; it forks itself, the child stages the root and
execs bubblewrap, and it answers with the child's pid, then its exit code; the child hands it
the staged root's mount namespace first, which it lets go only after answering, so the kernel's
teardown of those mounts is not part of the build's time. It dies with the
thread that started it (PR_SET_PDEATHSIG) or when its pipe closes.

Messages are marshal'd values behind a 4-byte length.
"""

from __future__ import annotations

import ctypes
import marshal
import os
import signal
import socket
import struct
import subprocess
import sys
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
    when it ends."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-I", "-S", str(Path(__file__))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        hello = _receive(self.proc.stdout.fileno())
        if hello is None:
            raise OSError("the sandbox stager did not start")
        self.stage = Path(os.fsdecode(hello[0]))
        self.shares_network = hello[1]  # its sandboxes share its network namespace (only loopback)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, state: tuple, argv: list[str], env: dict[str, str], log: Path | None, started) -> int:
        """Stage (`StagedRoot.state()`) and exec `argv`; `started(pid)` once it runs; its exit code."""
        _send(self.proc.stdin.fileno(), (state, argv, env, str(log) if log else None))
        reply = _receive(self.proc.stdout.fileno())
        if reply is None:
            raise OSError("the sandbox stager exited")
        started(reply)
        code = _receive(self.proc.stdout.fileno())
        if code is None:
            raise OSError("the sandbox stager exited")
        return code

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


# ---------------------------------------------------------------- the stager's end (a script)

def _main() -> None:
    import importlib.util

    # Loaded by path: run isolated (-I), the script's directory is not on sys.path, where
    # engine/platform.py and the like would shadow the standard library's modules.
    spec = importlib.util.spec_from_file_location("jbuild_sandbox_root", Path(__file__).with_name("sandbox_root.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclass-free, but from_state's annotations name its class
    spec.loader.exec_module(module)
    StagedRoot = module.StagedRoot  # noqa: N806 - a class

    # The thread that started it ends with each build: SIGTERM, so that it removes its stage.
    signal.signal(signal.SIGTERM, _ended)
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    import tempfile

    in_user_ns, shared_network = module.enter_worker_namespaces()
    stage = os.fsencode(tempfile.mkdtemp(prefix="jbuild-stage-"))
    try:
        _send(1, (stage, shared_network))
        while True:
            request = _receive(0)
            if request is None:
                return
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
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


def _namespace_of_child(sock) -> list[int]:
    """The staged root's mount namespace, sent by the child before it execs bubblewrap (none if
    it failed first)."""
    try:
        _, fds, _, _ = socket.recv_fds(sock, 1, 1)
    except OSError:
        return []
    return fds


def _ended(signum, frame) -> None:
    raise SystemExit(0)


def _child(staged_root, stage: bytes, in_user_ns: bool, sock, state: tuple, argv: list[str], env: dict[str, str],
           log: str | None) -> None:
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
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

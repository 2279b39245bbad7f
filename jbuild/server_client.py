"""The thin client of `jbuild build ...` (unless JBUILD_SERVER=0 or `jbuild --no-server`): hand
the command to the workspace's resident server (jbuild/server.py) and exit with its exit code.

It runs before anything of the engine is imported, so it uses the builtin `_socket` and
`marshal` (the `socket` module's enums alone cost more than the whole client's work). It finds
the workspace as Workspace.find does (a `jbuild.toml` upward from the working directory),
names the socket after what the server's answers depend on (`identity`), connects — or starts
a server detached and waits for it to listen — and sends the command line, the working
directory and the environment, and once the server has taken the request, its own
stdin/stdout/stderr (SCM_RIGHTS): the server runs the build on those, so a terminal, a pipe or
`| head` behave as in-process. Ctrl-C or SIGTERM here sends a cancel (the server interrupts the
build as Ctrl-C does in-process: exit 8).

The wire: a message is a 4-byte length and a marshal'd value. Client -> server: the request,
then (after "S") "F" with the three descriptors, then a cancel ("C") at most. Server -> client:
"S" once the request is taken (a client not answered within `QUEUED_SAY` seconds says it waits
for another build), then the reply {"exit": code}; or, instead of "S", {"retry": why} (the
server's code or identity changed: it has gone; start a new one) or a shutdown's {"exit": 0}.
The descriptors travel only once the build is about to run: a client queued behind another
build and then interrupted or killed leaves nothing of its stdout in the server's queue (a
`| tee` reading it sees its end at once).
"""

from __future__ import annotations

import _socket
import marshal
import os
import sys
import time

from .server_identity import IDLE, identity, idle_seconds, server_dir, server_dirs, socket_path, workspace_root  # noqa: F401

START_TIMEOUT = 20.0  # seconds a new server may take to listen before the client builds itself
LOG_KEPT = 1 << 20  # bytes of a server's log kept when a new server of its identity starts
QUEUED_SAY = 2.0  # seconds before a client waiting behind another build says so
def forward(argv: list[str]) -> int | None:
    """Run `jbuild ARGV` through the server; None where it is not forwarded (not a build the
    fast path takes, not in a workspace) or the server could not be had (said on stderr): the
    caller then runs it in-process."""
    from .fast_build import parse

    if parse(argv) is None:
        return None
    try:
        cwd = os.getcwd()
        for fd in (0, 1, 2):
            os.fstat(fd)  # (a closed stdio, as cron may leave, cannot be passed: in-process)
    except OSError:
        return None
    root = workspace_root(cwd)
    if root is None or not _utf8(root):  # (not UTF-8: refused in-process, Workspace.find; no server for it)
        return None
    try:
        return _through(root, argv, cwd)
    except OSError as exc:  # (a cache directory that cannot be written, another user's, ...)
        _warn(f"cannot use the build server ({exc.strerror or exc}); building in-process")
        return None


def _utf8(text: str) -> bool:
    try:
        return text.isascii() or bool(text.encode())
    except UnicodeEncodeError:
        return False


class NotOurs(OSError):
    """A server directory or a peer that is not this user's own: nothing is sent to it."""


def check_directory(directory: str) -> None:
    """The servers' directory must be this user's and writable by no one else: another user
    who could put a socket there would get this client's terminal and environment."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        return
    import stat

    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise NotOurs(f"{directory} is not a directory of this user's alone")


def check_peer(sock) -> None:
    """The process listening must run as this user (SO_PEERCRED: pid, uid, gid)."""
    cred = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    uid = int.from_bytes(cred[4:8], sys.byteorder, signed=True)
    if uid != os.getuid():
        raise NotOurs(f"the build server's socket is held by uid {uid}, not this user")


def _through(root: str, argv: list[str], cwd: str) -> int | None:
    bad = idle_seconds(os.environ)[1]
    if bad:
        _warn(bad)
    ident = identity(root)
    path = socket_path(root, ident)
    check_directory(os.path.dirname(path))
    request = {"argv": argv, "cwd": cwd, "env": dict(os.environ), "identity": ident,
               "encoding": [getattr(s, "encoding", None) or "utf-8" for s in (sys.stdout, sys.stderr)]}
    import _signal as signal  # (the `signal` module's enums: ~2 ms)

    cancel = _Cancel()
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) != signal.SIG_IGN:  # (ignored, `nohup` or a script's `cmd &`: stays so)
            previous[sig] = signal.signal(sig, cancel)
    try:
        for _ in range(3):
            sock = _connect(path) or _start(path, root)
            if sock is None:
                return None
            reply = _exchange(sock, request, cancel)
            if "retry" not in reply:
                return reply["exit"]
    except KeyboardInterrupt:  # (while starting a server, or queued: nothing of ours ran)
        _warn("interrupted before the build started")
        from .exitcodes import INTERRUPTED

        return INTERRUPTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _warn("the server keeps asking for a retry; building in-process")
    return None


class _Cancel:
    """The handler of SIGINT, SIGTERM and SIGHUP while the client runs: once the server runs
    the build on our stdio, a cancel sent to it (the server interrupts the build: exit 8);
    before (starting a server, queued, taken without our stdio yet), the end of this client."""

    def __init__(self):
        self.sock, self.running, self.cancelled = None, False, False

    def __call__(self, signum, frame):
        if not self.running:
            raise KeyboardInterrupt
        if not self.cancelled:
            self.cancelled = True
            try:
                send(self.sock, "C")
            except OSError:
                pass


def _warn(text: str) -> None:
    sys.stderr.write(f"jbuild: warning: {text}\n")
    sys.stderr.flush()


def connect_to(path: str):
    """A connected socket to the server at `path`, or None. (A path too long for sun_path, 108
    bytes, is reached through its directory's descriptor in /proc/self/fd.)"""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        with short_path(path) as short:
            sock.connect(short)
    except OSError:
        sock.close()
        return None
    try:
        check_peer(sock)
    except OSError:
        sock.close()
        raise
    return sock


class short_path:
    """`path`, or /proc/self/fd/N/NAME while open when `path` does not fit a socket address."""

    def __init__(self, path: str):
        self.path, self.fd = path, None

    def __enter__(self) -> str:
        if len(os.fsencode(self.path)) < 100:
            return self.path
        self.fd = os.open(os.path.dirname(self.path), os.O_RDONLY | os.O_DIRECTORY)
        return f"/proc/self/fd/{self.fd}/{os.path.basename(self.path)}"

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)


_connect = connect_to


def _start(path: str, root: str):
    """Start a server for `path`, detached (a session of its own, stdio to its log), and connect
    once it listens; None (with a warning) if it does not within START_TIMEOUT."""
    import subprocess

    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    check_directory(directory)
    log = path[: -len(".sock")] + ".log"
    try:
        big = os.path.getsize(log) > LOG_KEPT
    except OSError:
        big = False
    with open(log, "wb" if big else "ab") as out:  # (each server appends a line per build)
        proc = subprocess.Popen([sys.executable, "-P", "-c", "from jbuild.server import main; main()", path],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                                cwd=root, close_fds=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        sock = _connect(path)
        if sock is not None:
            return sock
        if proc.poll() not in (None, 0):  # (0: another server took the lock first; it will listen)
            break
        time.sleep(0.01)
    _warn(f"the build server did not start (its log: {log}); building in-process")
    return None


def send(sock, value, fds: tuple[int, ...] = ()) -> None:
    data = marshal.dumps(value)
    data = len(data).to_bytes(4, "little") + data
    if fds:
        rights = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
        sent = sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        data = data[sent:]
    if data:
        sock.sendall(data)


def receive(sock):
    """The next message, or None at the end of the connection."""
    head = _exactly(sock, 4)
    if head is None:
        return None
    body = _exactly(sock, int.from_bytes(head, "little"))
    return None if body is None else marshal.loads(body)


def _exactly(sock, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = sock.recv(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _exchange(sock, request: dict, cancel: _Cancel) -> dict:
    """Send the request, and our stdio once the server takes it; wait for the reply. A signal
    meanwhile cancels the build (the reply then carries its exit code, 8); before our stdio is
    sent, it ends this client at once (KeyboardInterrupt: nothing of ours runs). A server gone
    without a reply is reported."""
    taken = reply = None
    cancel.sock, cancel.running = sock, False
    try:
        send(sock, request)
        sock.settimeout(QUEUED_SAY)
        try:
            taken = receive(sock)
        except TimeoutError:
            _warn("waiting for another build in this workspace to finish (its server runs one at a time)")
            sock.settimeout(None)
            taken = receive(sock)
        sock.settimeout(None)
        if isinstance(taken, dict):  # a retry (the server's code changed: it has gone), a shutdown's answer
            return taken
        if taken != "S":  # the server went (shutdown, idle, a code change) before taking it: ask again
            return {"retry": "the request was not taken"}
        try:
            send(sock, "F", (0, 1, 2))
        except OSError:  # (it dropped the request, not having our stdio: STDIO_WAIT after a Ctrl-Z)
            return {"retry": "the server dropped the request before its build started"}
        cancel.running = True
        reply = receive(sock)
    except OSError:
        if taken is None:  # (a connection reset in the queue: the server went before taking it)
            return {"retry": "the request was not taken"}
        reply = None
    finally:
        cancel.running = False
        sock.close()
    if not isinstance(reply, dict):
        sys.stderr.write("jbuild: error: the build server ended without answering (a crash: its log is beside "
                         "its socket, .jbuild/cache/server-UID/*.log)\n")
        from .exitcodes import INTERNAL_ERROR

        return {"exit": INTERNAL_ERROR}
    return reply


def stop_servers(root: str, timeout: float, keep: str | None = None, spare: int = 0) -> tuple[int, int]:
    """Ask each server of this user in the workspace at `root` (but the one whose socket is
    `keep`, and the `spare` most recently used others: a socket's mtime is its server's last
    request, server.py) to exit, and wait (up to `timeout` seconds each) until it has; remove
    what dead ones left. How many exited, and how many still run a build: the request stays in
    their queue (the server takes it after its build, even once we have stopped waiting), so
    they exit when it ends."""
    paths = []
    for directory in server_dirs(root):
        try:
            names = os.listdir(directory)
        except OSError:  # (none there, or not ours to read)
            continue
        for name in names:
            path = os.path.join(directory, name)
            if not name.endswith(".sock") or path == keep:
                continue
            try:
                paths.append((-os.stat(path).st_mtime_ns, path))
            except OSError:
                continue
    stopped = busy = 0
    for _, path in sorted(paths):  # (the most recently used first)
        if spare > 0 and _running(path):
            spare -= 1
            continue
        done = _stop_one(path, timeout)
        stopped += done is True
        busy += done is False
    return stopped, busy


def _running(path: str) -> bool:
    """Does a server hold the lock of the socket at `path` (it runs, or starts)? Asked of the
    lock, not by connecting: a connection would count as a request and put off its idle exit."""
    import fcntl

    try:
        fd = os.open(path[: -len(".sock")] + ".lock", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _stop_one(path: str, timeout: float) -> bool | None:
    """Ask the server at `path` to exit and wait for it: True once it has, False if it still
    builds after `timeout`, None if there was none (what a dead one left is removed)."""
    import fcntl

    try:
        sock = connect_to(path)
    except OSError:  # (another user's: NotOurs)
        return None
    if sock is None:  # a killed server's socket
        _unlink(path)
        return None
    deadline = time.monotonic() + timeout
    null = os.open(os.devnull, os.O_RDWR)
    try:  # (with three descriptors, which this server drops: a server of jbuild 28f46ec's protocol
        send(sock, {"shutdown": True}, (null, null, null))  # takes no request without them)
        sock.settimeout(timeout)
        while receive(sock) not in (None, {"exit": 0}):
            pass
    except OSError:
        pass
    finally:
        sock.close()
        os.close(null)
    fd = os.open(path[: -len(".sock")] + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:  # (the server holds its lock until it has exited)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.02)
    finally:
        os.close(fd)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

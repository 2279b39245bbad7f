"""The resident build server of a workspace (`jbuild build`'s default; the client: server_client.py).

One process per (workspace, user, interpreter, jbuild, keyed environment): the socket's name; a
workspace keeps its user's two most recently used (`_replace_others`).
It serves one `jbuild build` at a time, as the CLI would run it in-process (cli.run), with the
client's working directory, environment and stdin/stdout/stderr for the duration; what it
keeps between builds is the kept session (session_file.py's memo: a build restores it from
memory, not from the 25 MB of pickles on disk) and the imported modules. What a build writes to
disk is written as in-process, so a server killed at any moment loses nothing.

It exits after `JBUILD_SERVER_IDLE` seconds without a request (default server_identity.IDLE, 15
minutes), on `jbuild shutdown`, when its socket file is removed or replaced, and before serving a
request once a module it runs changed on disk (the client then starts a new server). Its log (stdout and
stderr) is beside the socket: a crash while serving a request is written there, and the client
told so.
"""

from __future__ import annotations

import fcntl
import gc
import marshal
import os
import signal
import socket
import sys
import threading
import time
import traceback

from jbuild.base import after_answer, file_memo

from . import exitcodes
from .server_borrowed import Borrowed, Canceller, interrupt
from .server_client import identity, idle_seconds, receive, send, short_path, workspace_root

STARTED_NS = time.time_ns()  # (before the engine's modules are imported: `_code_changed`)
CHECK_EVERY = 5.0  # seconds between checks that the socket file is still ours, while idle
STDIO_WAIT = 5.0  # seconds a taken client may take to send its stdio (a running one: microseconds)


def main() -> None:
    path = sys.argv[1]
    lock = _lock(path)
    if lock is None:
        return  # another server of this identity runs (or starts): the client connects to it
    global _log_fd
    _log_fd = os.dup(2)
    listener = _listen(path)
    threading.Thread(target=_replace_others, args=(path,), daemon=True, name="jbuild-server-replace").start()
    from jbuild.engine.store import listing

    from .cli import GC_THRESHOLDS

    gc.set_threshold(*GC_THRESHOLDS)
    listing.keep_between_runs()  # (the store's names, kept by inotify: an edit lists no ~30,000 names)
    _log(f"serving {path} (pid {os.getpid()})")
    idle, bad = idle_seconds(os.environ)
    if bad:
        _log(bad)  # (its client said so too)
    Server(path, listener, idle).serve()


_log_fd = None  # the log, apart from fd 2 (a client's stderr while a build runs)


def _log(text: str) -> None:
    text = time.strftime("%H:%M:%S ") + text + "\n"
    try:
        data = text.encode(errors="surrogateescape")  # (a path with a byte that is not UTF-8: as it is)
    except UnicodeEncodeError:
        data = text.encode(errors="backslashreplace")
    os.write(_log_fd if _log_fd is not None else 2, data)


def _lock(path: str):
    """Hold `<socket>.lock` for this process's life: one server per socket, a killed one's
    lock freed by the kernel. None if another holds it and listens. One that holds it without
    listening is starting (it will listen) or exiting (a code change, a shutdown: its client
    started this one, and waits for it): wait for the lock until one listens."""
    from .server_client import START_TIMEOUT, connect_to

    fd = os.open(path[: -len(".sock")] + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            pass
        try:
            listening = connect_to(path)
        except OSError:
            listening = None
        if listening is not None or time.monotonic() > deadline:
            if listening is not None:
                listening.close()
            os.close(fd)
            return None
        time.sleep(0.02)


def _listen(path: str):
    try:
        os.unlink(path)  # a dead server's (we hold the lock)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with short_path(path) as short:
        sock.bind(short)
    sock.listen(16)
    return sock


KEPT = 2  # servers of a workspace and user kept running: this one and the most recently used other


def _replace_others(path: str) -> None:
    """Ask this user's other servers of the workspace (another environment or jbuild) to exit,
    but the most recently used one: two resident servers per workspace and user at most (two
    shells, or an IDE and a terminal, with another PATH each keep theirs warm; a script that
    varies a keyed variable build after build would otherwise leave one server per value)."""
    from .server_client import stop_servers

    try:
        stopped, busy = stop_servers(workspace_root(os.getcwd()), 30.0, keep=path, spare=KEPT - 1)
    except OSError:
        return
    if stopped or busy:
        _log(f"asked {stopped + busy} least recently used server(s) of this workspace to exit"
             + (f" ({busy} once its build ends)" if busy else ""))
    _prune(os.path.dirname(path), keep=os.path.basename(path)[: -len(".sock")])


LOG_KEPT_FOR = 24 * 3600  # seconds a gone server's log (and lock file) stays beside the live one's


def _prune(directory: str, keep: str) -> None:
    """Remove the log and lock files of servers gone for a day (one per identity ever used: a
    script varying SOURCE_DATE_EPOCH build after build would pile them up). A lock that is
    held is a live server's: kept."""
    now = time.time()
    for name in os.listdir(directory):
        digest, dot, kind = name.rpartition(".")
        if kind != "log" or digest == keep or os.path.exists(os.path.join(directory, digest + ".sock")):
            continue
        log, lock = os.path.join(directory, name), os.path.join(directory, digest + ".lock")
        try:
            if now - os.stat(log).st_mtime < LOG_KEPT_FOR:
                continue
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(log)
            os.unlink(lock)
        except OSError:
            pass
        finally:
            os.close(fd)


class Server:
    def __init__(self, path: str, listener, idle: float):
        self.path, self.listener, self.idle = path, listener, idle
        self.inode = os.stat(path).st_ino
        self.root = workspace_root(os.getcwd())
        self.identity = identity(self.root)
        self.served = 0
        self.untidy = 0  # requests since the last `_tidy`
        self.code_files: dict[str, tuple] = {}  # a jbuild module's file -> its stat when first seen
        self.stale = False  # a module's file changed: serve no more
        self.looked_ns = STARTED_NS  # when `_code_changed` last began (the first: before the warm imports)

    def serve(self) -> None:
        signal.signal(signal.SIGINT, interrupt)  # (a cancel interrupts the build as Ctrl-C)
        signal.signal(signal.SIGTERM, lambda *_: self._stop("SIGTERM"))
        file_memo.enable()
        self._warm()
        self.listener.settimeout(min(CHECK_EVERY, max(self.idle, 0.1)))
        last = time.monotonic()
        while True:
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                _reap()
                if self.untidy:
                    self.untidy = 0
                    _tidy()
                if time.monotonic() - last > self.idle:
                    self._stop(f"idle for {self.idle:g} s")
                if not self._socket_is_ours():
                    self._stop("its socket file was removed")
                continue
            try:
                self._one(conn)
            except Exception:  # noqa: BLE001 - logged; the client hears the connection end
                _log("request failed:\n" + traceback.format_exc())
            finally:
                _hang_up(conn)
            last = time.monotonic()
            self.untidy += 1

    def _stop(self, why: str, conn=None, reply=None):
        """Exit: the socket removed first, so that a client told `reply` meanwhile finds no
        server there (and starts one) rather than this one on its way out."""
        _log(f"exiting: {why} (served {self.served} builds)")
        try:
            if self._socket_is_ours():
                os.unlink(self.path)
            self.listener.close()
            if conn is not None:
                send(conn, reply)
        finally:
            _at_exit()
            os._exit(0)  # (at once: a client told to retry starts the next server, which waits for our lock)

    def _socket_is_ours(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def _warm(self) -> None:
        """Import what a build imports before the first request, and note the files of every
        jbuild module loaded (`_code_changed` compares them before each request)."""
        import jbuild.build_run  # noqa: F401
        import jbuild.cli  # noqa: F401
        import jbuild.engine.build  # noqa: F401
        import jbuild.engine.session  # noqa: F401

        self._code_changed()

    def _code_changed(self) -> bool:
        """Did a file of a jbuild module this process loaded change since it was loaded? A server
        never serves with code other than what is on disk. A module is noted the first time it
        is seen (at start, or after the build that imported it): its stat then, against which
        every later look compares; and at that first look, a file written after the previous
        look began (after the module may have been imported) counts as changed too, unless
        its mtime is in the future (an archive's, a skewed clock's: it tells nothing, and would
        otherwise make every server exit before its first build)."""
        since, self.looked_ns = self.looked_ns, time.time_ns()
        changed = []
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None) if name.startswith("jbuild") else None
            if not file:
                continue
            try:
                st = os.stat(file)
                now = (st.st_ino, st.st_size, st.st_mtime_ns)
            except OSError:
                now = None
            seen = self.code_files.setdefault(file, now)
            if seen != now or now is None or (seen is now and since < now[2] <= self.looked_ns):
                changed.append(file)
        if changed:
            _log(f"changed on disk: {', '.join(changed[:3])}{' ...' if len(changed) > 3 else ''}")
            self.stale = True  # (seen after a build: the next request is told to retry)
        return self.stale

    def _one(self, conn) -> None:
        request = receive(conn)  # (descriptors sent with it are dropped by the kernel: none are taken here)
        if not isinstance(request, dict):
            return
        uid = int.from_bytes(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)[4:8], sys.byteorder)
        if uid != os.getuid():
            _log(f"refused a client of uid {uid}")
            return
        if request.get("shutdown"):  # (even from a client that stopped waiting: asked during a long build)
            self._stop("jbuild shutdown", conn, {"exit": 0})
        if _gone(conn):
            _log("a client that went away while queued: not built")
            return
        if self._code_changed() or request.get("identity") != self.identity:
            self._stop("its code changed on disk, or a request of another identity", conn,
                       {"retry": "the server's code or identity changed"})
        try:  # (its mtime: when this server was last used, which of a workspace's servers a new one spares)
            os.utime(self.path)
        except OSError:
            pass
        send(conn, "S")
        conn.settimeout(STDIO_WAIT)
        try:
            fds = _receive_stdio(conn)  # (only now: a client queued, then killed, left none of its pipes here)
        except TimeoutError:  # (a client stopped while queued, Ctrl-Z: it asks again once it runs)
            _log(f"a client that sent no stdio within {STDIO_WAIT:g} s of being taken: told to ask again")
            send(conn, {"retry": "the client was too slow to send its stdio"})
            return
        conn.settimeout(None)
        if fds is None:
            _log("a client that went away before its build started: not built")
            return
        try:
            with after_answer.deferring():  # (the build's saves: once the client has its answer, below)
                code = self._build(conn, request, fds)
        except BaseException:
            after_answer.run_pending(_log)
            raise
        finally:
            for fd in fds:
                os.close(fd)
        self._code_changed()  # (notes the modules this build imported first: a later change is seen)
        self.served += 1
        _log(f"build {self.served}: exit {code}; from memory so far: {file_memo.hits}; {_rss()}")
        try:
            send(conn, {"exit": code})
        except OSError:
            _log("the client went away before its answer")
        if after_answer.pending():
            start = time.monotonic()
            after_answer.run_pending(_log)
            _log(f"saved what the build leaves for the next in {time.monotonic() - start:.2f} s, after its answer")
        threading.Thread(target=_reap, args=(REAP_FOR,), name="jbuild-server-reap", daemon=True).start()
        if self.stale:  # (a module the build imported first changed meanwhile: the next client starts anew)
            self._stop("its code changed on disk")

    def _build(self, conn, request: dict, fds: list[int]) -> int:
        with Borrowed(request, fds):
            cancel = Canceller(conn, _log)
            try:
                try:
                    cancel.start()
                    from jbuild.cli import run

                    code = run(list(request["argv"]))
                finally:
                    cancel.done()
            except KeyboardInterrupt:  # (a cancel landing between run's own handler and `done`)
                cancel.done()
                code = exitcodes.INTERRUPTED
            except OSError as exc:  # (an error not written: the client's stderr full, its reader gone)
                _log(f"the client's stdio failed ({exc.strerror or exc})")
                # (in-process, the OSError ends the process as an uncaught exception: 1; a client
                # that cancelled or went away, its `interrupted` not written, is told 8)
                code = exitcodes.INTERRUPTED if cancel.fired else 1
            signal.signal(signal.SIGTERM, lambda *_: self._stop("SIGTERM"))  # (cli.run set its own)
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    code = code or 120
        return code


def _at_exit() -> None:
    """What base/quick_exit.py does before its `os._exit` for an in-process build: the atexit
    handlers (the store's `.runs` marker removed: left, the next build would take this server
    for a process that died with something in the store, and list and clean the whole store),
    then the log flushed. The kernel frees the lock."""
    import atexit

    try:
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001 - exiting anyway; the handlers print their own errors
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _gone(conn) -> bool:
    """Did the client hang up (or cancel) while its request waited in the queue?"""
    import select

    readable, _, _ = select.select([conn], [], [], 0)
    return bool(readable)  # (its end, or a cancel sent while queued: either way it wants no build)


def _hang_up(conn) -> None:
    """Close a client's connection, waking the request's Canceller from its recv first (a close
    alone would leave it blocked in the kernel)."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()


def _receive_stdio(conn):
    """The client's stdin, stdout and stderr ("F" with three descriptors), or None (its end, a
    cancel, anything else)."""
    msg, ancdata, _, _ = conn.recvmsg(4, socket.CMSG_SPACE(3 * 4))
    fds = []
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += [int.from_bytes(data[i:i + 4], sys.byteorder, signed=True) for i in range(0, len(data) - 3, 4)]
    from .server_client import _exactly

    body = _exactly(conn, int.from_bytes(msg, "little")) if len(msg) == 4 else None
    if len(fds) != 3 or body is None or body != marshal.dumps("F"):
        for fd in fds:
            os.close(fd)
        return None
    return fds


REAP_FOR = 3.0  # seconds after a build its let-go stagers are looked for, 20 times a second


def _reap(within: float = 0.0) -> None:
    """Reap the children a build let go of without a wait (its sandbox stagers, which exit once
    their pipes are closed: sandbox_zygote.Zygote.let_go): subprocess reaps them only when the next
    process is started, so an idle server would keep the last one as a zombie. Looks for `within`
    seconds (a thread after each build; each idle check looks once more)."""
    subprocess = sys.modules.get("subprocess")
    deadline = time.monotonic() + within
    while subprocess is not None and getattr(subprocess, "_active", None):
        subprocess._cleanup()  # (thread-safe: a Popen of the next build may run it too)
        if not subprocess._active or time.monotonic() >= deadline:
            break
        time.sleep(0.05)


def _rss() -> str:
    """This process's resident size now and at most (the log's view of what builds hold)."""
    try:
        with open("/proc/self/status") as f:
            found = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))
    except OSError:
        return "RSS unknown"
    return f"RSS {found.get('VmRSS', '?').strip()} (peak {found.get('VmHWM', '?').strip()})"


def _tidy() -> None:
    """Once idle (CHECK_EVERY seconds without a request): what builds froze out of the cyclic
    collector (cachefile.py, session_file.py, cutoff.py: right for a process that ends after one
    build) is collectable again, and collected: cycles among what they let go are freed, so
    nothing accumulates build after build; what is still held is frozen again. Not between
    two builds in a row: a full collection at 10,000 packages takes ~0.5 s."""
    started = time.perf_counter()
    gc.unfreeze()
    found = gc.collect()
    gc.freeze()
    _log(f"collected {found} objects in {time.perf_counter() - started:.2f} s")

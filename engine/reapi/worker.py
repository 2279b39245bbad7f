"""`jbuild worker`: a Remote Workers API bot. It holds a bot session with the server
(CreateBotSession, then UpdateBotSession as heartbeat and lease exchange), runs each leased
action in jbuild's own bubblewrap sandbox, uploads the outputs and log to the CAS and hands
the ActionResult back in the lease. It never writes the action cache itself: the server
caches a completed lease's result, and only a zero exit code is worth caching (BuildGrid's
`cache-failed-actions: false`; docs/remote.md).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

from ..sandbox import BwrapExecutor, Job
from .cas import Blobs, Cas, RemoteError, digest_of, output_tree
from .channel import check_server, open_channel, platform_properties, redact
from .executor import BIND_LIST, BINDS, DEADLINE_EXCEEDED, OUTPUT, SHELL
from .hostmatch import HostMismatch, matching_root

PENDING, ACTIVE, COMPLETED = 1, 2, 4
OK, FAILED_PRECONDITION = 0, 9  # google.rpc.Code
TRANSIENT = {"DEADLINE_EXCEEDED", "UNAVAILABLE", "RESOURCE_EXHAUSTED"}
POLL_TIMEOUT = 15.0  # seconds an idle UpdateBotSession may wait for work


class Worker:
    def __init__(self, url: str, instance: str = "", bot_id: str | None = None, workdir: Path | None = None,
                 ca_cert: str | None = None):
        from .pb import bots_pb2_grpc

        self.channel = open_channel(url, ca_cert)
        check_server(self.channel, url, instance)
        self.instance = instance
        self.cas = Cas(self.channel, instance)
        self.bots = bots_pb2_grpc.BotsStub(self.channel)
        self.bot_id = bot_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.workdir = Path(workdir or tempfile.gettempdir())
        self.sandbox = BwrapExecutor()
        self.stop = threading.Event()
        self.running: dict[str, threading.Thread] = {}
        self.results: dict[str, tuple] = {}  # lease id -> (google.rpc.Status, ActionResult)
        self.ran = 0

    def serve(self) -> None:
        """Take leases until `self.stop` is set."""
        from .pb import bots_pb2

        session = self._call(self.bots.CreateBotSession, bots_pb2.CreateBotSessionRequest(
            parent=self.instance, bot_session=bots_pb2.BotSession(bot_id=self.bot_id, status=bots_pb2.BotStatus.OK,
                                                                  worker=self._description())), None)
        while session is not None and not self.stop.is_set():
            self._take(session)
            busy = any(lease.state == ACTIVE for lease in session.leases)
            try:
                session = self._call(self.bots.UpdateBotSession, bots_pb2.UpdateBotSessionRequest(
                    name=session.name, bot_session=session), POLL_TIMEOUT)
                if session is None:  # stopped while the server held the poll
                    break
            except Exception as exc:
                code = getattr(exc, "code", lambda: None)()
                if code is None or code.name not in TRANSIENT:
                    raise
                if code.name != "DEADLINE_EXCEEDED":  # a busy or restarting server: ask again soon
                    self.stop.wait(1.0)
            if busy:
                self.stop.wait(0.05)
        self.sandbox.cancel()

    def _call(self, method, request, timeout):
        """A Bots call, cancelled as soon as `stop` is set: BuildGrid holds an idle bot's
        CreateBotSession and UpdateBotSession until work comes or the call times out, and a
        stopping worker should not wait for that. None if cancelled."""
        call = method.future(request, timeout=timeout)
        while not call.done():
            if self.stop.wait(0.05):
                call.cancel()
                return None
        return call.result()

    def _description(self):
        from .pb import worker_pb2

        props = [worker_pb2.Device.Property(key=p.name, value=p.value) for p in platform_properties().properties]
        return worker_pb2.Worker(devices=[worker_pb2.Device(handle=self.bot_id, properties=props)])

    def _take(self, session) -> None:
        """Start what was newly leased (BuildGrid hands leases out already ACTIVE); report what
        finished."""
        for lease in session.leases:
            if lease.state in (PENDING, ACTIVE) and lease.id not in self.running:
                thread = threading.Thread(target=self._run_lease, args=(lease.id, lease.payload), daemon=True)
                self.running[lease.id] = thread
                thread.start()
                lease.state = ACTIVE
            elif lease.state == ACTIVE and lease.id in self.results:
                status, result = self.results.pop(lease.id)
                lease.result.Pack(result)
                lease.status.CopyFrom(status)
                lease.state = COMPLETED
                del self.running[lease.id]

    def _run_lease(self, lease_id: str, payload) -> None:
        from .pb import remote_execution_pb2 as re_pb2
        from .pb import status_pb2

        status = status_pb2.Status(code=OK)
        try:
            action = re_pb2.Action()
            if payload.Is(re_pb2.Action.DESCRIPTOR):
                payload.Unpack(action)
            else:
                digest = re_pb2.Digest()
                payload.Unpack(digest)
                action = self.cas.message(digest, re_pb2.Action)
            rpc_code, result = self.execute(action)
            status = status_pb2.Status(code=rpc_code)
        except HostMismatch as exc:  # refused: the server reports it and caches nothing
            print(f"jbuild worker {self.bot_id}: refused an action: {exc}", file=sys.stderr, flush=True)
            status, result = status_pb2.Status(code=FAILED_PRECONDITION, message=str(exc)), re_pb2.ActionResult()
        except Exception as exc:  # the action could not even be set up: report it as its log
            log = redact(f"jbuild worker {self.bot_id}: {type(exc).__name__}: {exc}\n").encode()  # to the client
            result = re_pb2.ActionResult(exit_code=1, stdout_raw=log)
        self.results[lease_id] = (status, result)

    def execute(self, action):
        """Fetch the inputs, run in bubblewrap, upload outputs and log: (google.rpc.Code, the
        ActionResult); DEADLINE_EXCEEDED when the action was killed at its timeout."""
        from .pb import remote_execution_pb2 as re_pb2

        command = self.cas.message(action.command_digest, re_pb2.Command)
        if list(command.arguments[:2]) != SHELL or len(command.arguments) != 3:
            raise RemoteError(f"not a jbuild action: {list(command.arguments)[:3]}")
        platform = action.platform if action.platform.properties else command.platform
        host = matching_root({p.name: p.value for p in platform.properties}, self.workdir, self.bot_id)
        work = Path(os.path.realpath(tempfile.mkdtemp(prefix="jbuild-worker-", dir=self.workdir)))
        try:
            root, out, tmp, log = work / "root", work / "out", work / "tmp", work / "log"
            self.cas.materialise(action.input_root_digest, root)
            out.mkdir()
            tmp.mkdir()
            deps = {p.name: _own(root, p) for p in sorted(_own(root, root / "deps").iterdir())} \
                if (root / "deps").exists() else {}
            (root / "src").mkdir(exist_ok=True)
            job = Job(script=command.arguments[2], src=_own(root, root / "src"), out=out, tmp=tmp, deps=deps,
                      env_tree=_own(root, root / "env") if os.path.lexists(root / "env") else None, log=log,
                      extra_env={v.name: v.value for v in command.environment_variables},
                      timeout=action.timeout.seconds or None, host=host, binds=_binds(root),
                      workdir=_workdir(command.working_directory))
            status = OK
            try:
                code = self.sandbox.run(job)
            except subprocess.TimeoutExpired as exc:
                with open(log, "a") as f:
                    f.write(f"\njbuild worker: {exc}\n")
                code, status = 124, DEADLINE_EXCEEDED
            self.ran += 1
            blobs = Blobs()
            data = log.read_bytes() if log.exists() else b""
            result = re_pb2.ActionResult(exit_code=code, stdout_digest=digest_of(data))
            blobs.items[(result.stdout_digest.hash, len(data))] = data
            if code == 0:
                result.output_directories.add(path=OUTPUT, tree_digest=output_tree(out, blobs))
            self.cas.upload(blobs)
            return status, result
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _binds(root: Path) -> tuple[tuple[Path, Path], ...]:
    """A test's store paths, each bound at its own path (executor.py): (source, dest) pairs."""
    if not os.path.lexists(root / BIND_LIST):
        return ()
    if os.path.realpath(root / BIND_LIST) != str(root / BIND_LIST):  # a link: a worker file's lines in the error
        raise RemoteError(f"the action's {BIND_LIST} is a link")
    out = []
    for line in (root / BIND_LIST).read_text().split("\n"):
        if not line:
            continue
        dest = Path(line)
        if not dest.is_absolute() or ".." in dest.parts or os.path.normpath(line) != line:
            raise RemoteError(f"not a store path to bind: {line!r}")
        out.append((_own(root, root / BINDS / line.lstrip("/")), dest))
    return tuple(out)


def _own(root: Path, path: Path) -> Path:
    """`path`, a directory of the materialised input root that is no link (nor under one):
    bubblewrap follows a bind's source, so `deps/x -> /` would show the worker's own files."""
    if os.path.realpath(path) != str(path) or not path.is_dir():
        raise RemoteError(f"the action's input {path.relative_to(root)} is not a directory of its input root")
    return path


def _workdir(name: str) -> str:
    """The Command's working directory `env` is /env in the sandbox; none is /tmp."""
    if not name:
        return "/tmp"
    if "/" in name or name in (".", ".."):
        raise RemoteError(f"not a sandbox directory: {name!r}")
    return f"/{name}"

"""RemoteExecutor: the Executor seam (engine/sandbox.py) over the Remote Execution API.

An action crosses the wire as: the input root {src/, deps/<name>/, env/} (the staged sources,
each build dependency's store entry, the /env symlink tree), the Command (`/bin/sh -euxc
SCRIPT`, the sandbox environment, output path `out`) and the platform properties (OS, ISA,
sandbox kind, the declared host's /usr). The action cache is asked first; else the action is
executed and waited on. An answer whose blobs the CAS has lost since is a miss: the action is
executed past the cache. The output tree is downloaded into `job.out` — a store temporary — so
the rebuilder's normal checks and atomic publish apply to it exactly as to a local build.

A test's job (engine/testing/runner.py) also binds store paths at their own paths (its
environment's launchers name them): they travel as `binds/<absolute path>/` with the list in
`binds.list`, it starts in /env (the Command's working directory `env`), and it always runs:
jbuild's own test cache decides whether a test runs, so the action is `do_not_cache` and the
action cache is not asked. A test killed at its time limit comes back as DEADLINE_EXCEEDED.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from platform import machine

from ..sandbox import Job
from ..sandbox_env import variables
from ..store.entry import META
from .cas import Blobs, Cas, MissingBlob, RemoteError, digest_of, directory_tree, join_tree, key
from .channel import check_server, open_channel, platform_properties, redact

SHELL = ["/bin/sh", "-euxc"]
OUTPUT = "out"
BINDS, BIND_LIST = "binds", "binds.list"  # a test's store paths in the input root
DEADLINE_EXCEEDED = 4  # google.rpc.Code: the worker killed the action at its timeout
EXECUTING = 3  # ExecutionStage.Value: a worker has the action
LOST = "(run again: the remote action cache's answer named blobs its CAS no longer has)\n"
QUEUE_WARNING = 60.0  # seconds an action may wait for a worker before jbuild says none is taking it


class RemoteExecutor:
    """Runs jobs on a REAPI server; `kind` is the sandbox the workers use (bubblewrap), so an
    entry built remotely has the key a local sandboxed build would have."""

    kind = "bwrap"

    def __init__(self, url: str, instance: str = "", ca_cert: str | None = None):
        from .pb import remote_execution_pb2_grpc as re_grpc

        self.url, self.instance = url, instance
        self.channel = open_channel(url, ca_cert)
        check_server(self.channel, url, instance)
        self.cas = Cas(self.channel, instance)
        self.ac = re_grpc.ActionCacheStub(self.channel)
        self.execution = re_grpc.ExecutionStub(self.channel)
        self.lock = threading.Lock()
        self.calls: set = set()
        self._cancelled = False
        self.entry_trees: dict[Path, tuple] = {}  # store entries are immutable: digest each once
        self.cached = self.executed = 0
        self.queue_warning, self._said_queued = QUEUE_WARNING, False

    # ------------------------------------------------------------------ the seam

    def run(self, job: Job) -> int:
        if self._cancelled:
            return 130
        try:
            return self._retrying(job)
        except subprocess.TimeoutExpired:  # as the local executor says it (the test runner's TIMEOUT)
            raise
        except RemoteError as exc:
            return self._fail(job, str(exc))
        except Exception as exc:  # grpc.RpcError: the server or the network failed
            if self._cancelled:
                return 130
            return self._fail(job, f"remote executor {self.url}: {_describe(exc)}")

    def cancel(self) -> None:
        with self.lock:
            self._cancelled = True
            for call in self.calls:
                call.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def summary(self) -> str:
        from . import summary

        return summary(self.url, self.executed, self.cached)

    # ------------------------------------------------------------------ one action

    def _retrying(self, job: Job) -> int:
        """A busy or restarting server (UNAVAILABLE, RESOURCE_EXHAUSTED) is asked again, with
        back-off; the action is idempotent, and the action cache answers a finished one."""
        for attempt in range(6):
            try:
                return self._run(job)
            except Exception as exc:
                code = getattr(exc, "code", lambda: None)()
                if self._cancelled or code is None or code.name not in ("UNAVAILABLE", "RESOURCE_EXHAUSTED") \
                        or attempt == 5:
                    raise
                time.sleep(0.5 * 2 ** attempt)
                _empty(job.out)  # a download cut short
        raise AssertionError("unreachable")

    def _run(self, job: Job) -> int:
        from .pb import remote_execution_pb2 as re_pb2

        blobs = Blobs()
        action = self._action(job, blobs)
        action_digest = blobs.add_message(action)
        result = None if action.do_not_cache else self._cached(action_digest)
        if result is not None and result.exit_code == 0:
            code = self._from_cache(job, result, "(from the remote action cache)\n")
            if code is not None:
                return code
        self.cas.upload(blobs)
        lost = result is not None and result.exit_code == 0  # a hit whose blobs are gone: past the cache
        response = self._execute(re_pb2.ExecuteRequest(instance_name=self.instance, action_digest=action_digest,
                                                       skip_cache_lookup=action.do_not_cache or lost))
        if response.cached_result and response.status.code == 0:  # the server's own lookup hit
            code = self._from_cache(job, response.result, "")
            if code is not None:
                return code
            lost = True
            response = self._execute(re_pb2.ExecuteRequest(instance_name=self.instance, action_digest=action_digest,
                                                           skip_cache_lookup=True))
        if response.status.code == DEADLINE_EXCEEDED and job.timeout:
            self._finish(job, response.result, "")
            raise subprocess.TimeoutExpired(SHELL, job.timeout)
        if response.status.code != 0:
            raise RemoteError(f"remote execution failed: {_code_name(response.status.code)}: "
                              f"{response.status.message or '(no message)'}")
        with self.lock:
            self.cached += response.cached_result
            self.executed += not response.cached_result
        return self._finish(job, response.result, LOST if lost else "")

    def _from_cache(self, job: Job, result, note: str) -> int | None:
        """An action-cache answer, downloaded; None when the CAS no longer has a blob it names
        (evicted since it was cached, or between the lookup and now): a miss, not a failure."""
        try:
            code = self._finish(job, result, note)
        except MissingBlob:
            _empty(job.out)
            return None
        with self.lock:
            self.cached += 1
        return code

    def _cached(self, action_digest):
        from .pb import remote_execution_pb2 as re_pb2

        try:
            return self.ac.GetActionResult(re_pb2.GetActionResultRequest(
                instance_name=self.instance, action_digest=action_digest, inline_stdout=True))
        except Exception as exc:
            if getattr(exc, "code", lambda: None)() is None or exc.code().name != "NOT_FOUND":
                raise
            return None

    def _action(self, job: Job, blobs: Blobs):
        from .pb import remote_execution_pb2 as re_pb2

        platform = platform_properties(job.host)  # in the Action: its digest names the host's /usr
        env = variables(job)
        command = re_pb2.Command(arguments=[*SHELL, job.script], output_paths=[OUTPUT], output_directories=[OUTPUT],
                                 platform=platform, working_directory=job.workdir.strip("/") if job.workdir != "/tmp" else "",
                                 environment_variables=[re_pb2.Command.EnvironmentVariable(name=k, value=env[k])
                                                        for k in sorted(env)])
        root = {"src": directory_tree(job.src, blobs), "deps": join_tree(
            {name: self._entry_tree(path, blobs) for name, path in job.deps.items()}, blobs)}
        if job.env_tree:
            root["env"] = directory_tree(job.env_tree, blobs)
        files = {}
        if job.binds:
            root[BINDS] = self._binds_tree(job.binds, blobs)
            files[BIND_LIST] = "".join(f"{p}\n" for p in job.binds).encode()
        action = re_pb2.Action(command_digest=blobs.add_message(command), platform=platform,
                               input_root_digest=join_tree(root, blobs, files), do_not_cache=bool(job.binds))
        if job.timeout:
            action.timeout.FromSeconds(int(job.timeout) + 1)
        return action

    def _binds_tree(self, binds, blobs: Blobs):
        """Store paths, nested by their absolute paths: /a/store/x -> a/store/x/."""
        tree: dict = {}
        for path in binds:
            *parents, leaf = Path(path).parts[1:]
            node = tree
            for part in parents:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise RemoteError(f"a bound path lies inside another: {path}")
            node[leaf] = self._entry_tree(Path(path), blobs)

        def join(node: dict):
            return join_tree({k: join(v) if isinstance(v, dict) else v for k, v in node.items()}, blobs)

        return join(tree)

    def _entry_tree(self, entry: Path, blobs: Blobs):
        if entry not in self.entry_trees:
            own = Blobs()
            # Without the entry's metadata: when and how long it took to build is no input, and
            # would make every consumer's action miss the action cache on another machine.
            self.entry_trees[entry] = (directory_tree(entry, own, skip=META), own.items)
        digest, items = self.entry_trees[entry]
        blobs.items.update(items)
        return digest

    def _execute(self, request):
        """Execute and follow the operation to its end (WaitExecution if the stream breaks)."""
        call, name = self.execution.Execute(request), None
        waiting = threading.Timer(self.queue_warning, self._say_queued)  # cancelled once a worker has it
        waiting.daemon = True
        waiting.start()
        try:
            return self._follow(call, name, waiting)
        finally:
            waiting.cancel()

    def _say_queued(self) -> None:
        """An action the server has queued for long: no worker (of this platform) is serving it,
        which would otherwise look like a build "running" forever. Said once per run."""
        with self.lock:
            if self._said_queued or self._cancelled:
                return
            self._said_queued = True
        print(f"jbuild: an action has waited {self.queue_warning:g} s in the queue of {self.url} and no worker "
              f"has taken it: is a `jbuild worker --server {self.url}` running, on this machine type "
              f"({machine()})? (waiting on; Ctrl-C stops)", file=sys.stderr, flush=True)

    def _follow(self, call, name, waiting):
        from .pb import remote_execution_pb2 as re_pb2

        for _attempt in range(5):
            with self.lock:
                if self._cancelled:
                    call.cancel()
                self.calls.add(call)
            try:
                for op in call:
                    name = op.name
                    meta = re_pb2.ExecuteOperationMetadata()
                    if op.done or (op.metadata.Unpack(meta) and meta.stage >= EXECUTING):
                        waiting.cancel()
                    if op.done:
                        if op.HasField("error"):
                            raise RemoteError(f"remote execution failed: {op.error.message}")
                        response = re_pb2.ExecuteResponse()
                        op.response.Unpack(response)
                        return response
            except Exception as exc:
                if self._cancelled or name is None or getattr(exc, "code", lambda: None)() is None \
                        or exc.code().name != "UNAVAILABLE":
                    raise
            finally:
                with self.lock:
                    self.calls.discard(call)
            call = self.execution.WaitExecution(re_pb2.WaitExecutionRequest(name=name))
        raise RemoteError("the remote execution stream ended without a result")

    def _finish(self, job: Job, result, note: str) -> int:
        """The log into job.log, the output tree into job.out; the action's exit code."""
        from .pb import remote_execution_pb2 as re_pb2

        log = result.stdout_raw
        if not log and result.HasField("stdout_digest") and result.stdout_digest.size_bytes:
            log = self.cas.fetch([result.stdout_digest])[key(result.stdout_digest)]
        if job.log:
            job.log.write_bytes(log + (b"\njbuild: " + note.encode() if note else b""))
        for d in result.output_directories:
            if d.path == OUTPUT:
                tree = self.cas.message(d.tree_digest, re_pb2.Tree)
                known = {key(digest_of(c.SerializeToString(deterministic=True))): c for c in tree.children}
                root = blobs_root(tree)
                known[key(root)] = tree.root
                self.cas.materialise(root, job.out, known)
        return result.exit_code

    def _fail(self, job: Job, message: str) -> int:
        message = redact(message)
        if job.log:
            with open(job.log, "a") as f:
                f.write(f"\njbuild: {message}\n")
        return 1


def _empty(out: Path) -> None:
    for leftover in out.iterdir():
        shutil.rmtree(leftover) if leftover.is_dir() and not leftover.is_symlink() else leftover.unlink()


def _describe(exc: Exception) -> str:
    code = getattr(exc, "code", None)
    if callable(code):
        return f"{code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


def _code_name(code: int) -> str:
    import grpc

    return next((c.name for c in grpc.StatusCode if c.value[0] == code), str(code))


def blobs_root(tree):
    return digest_of(tree.root.SerializeToString(deterministic=True))

"""A real BuildGrid (its own process and virtualenv) on a real PostgreSQL, and real `jbuild
worker` bots, for the remote-execution tests. dev/setup.sh installs both."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import REPO

sys.path.insert(0, str(REPO / "dev"))
import bgd_server  # noqa: E402


@pytest.fixture(scope="session")
def buildgrid():
    why = bgd_server.missing()
    if why:
        pytest.skip(f"cannot start BuildGrid: {why}")
    server = bgd_server.Server(Path(tempfile.mkdtemp(prefix="jbuild-bgd-")))
    try:
        server.start(timeout=180)
    except Exception:
        server.stop()
        raise
    yield server
    server.stop()


class Workers:
    """`jbuild worker` processes, each with its own work directory."""

    def __init__(self, url: str, root: Path, env: dict | None = None):
        self.url, self.root, self.env = url, root, env  # env: added to this process's, for the workers
        self.procs: list[tuple[subprocess.Popen, Path]] = []

    def start(self, n: int = 1, *extra: str) -> None:
        """`extra`: more `jbuild worker` options for these workers."""
        for _ in range(n):
            work = self.root / f"w{len(self.procs)}"
            work.mkdir(parents=True)
            log = open(work.with_suffix(".log"), "wb")
            proc = subprocess.Popen([sys.executable, "-m", "jbuild", "worker", "--server", self.url, "--workdir",
                                     str(work), "--bot-id", f"test-{os.getpid()}-{len(self.procs)}", *extra],
                                    stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(self.env or {})})
            self.procs.append((proc, work))

    def serving(self, timeout: float = 60) -> None:
        """Wait until every worker has said it serves (its bot session is being opened): an
        action sent before would wait in the queue for a worker still importing jbuild."""
        deadline = time.monotonic() + timeout
        for proc, work in self.procs:
            log = work.with_suffix(".log")
            while b"serving" not in log.read_bytes():
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"worker {work.name} never started serving"
                time.sleep(0.1)

    def busy(self, timeout: float) -> tuple[subprocess.Popen, Path]:
        """The first live worker seen staging an action."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc, work in self.procs:
                if proc.poll() is None and any(work.iterdir()):
                    return proc, work
            time.sleep(0.1)
        raise AssertionError("no worker took the action")

    def stop(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def workers(buildgrid, tmp_path_factory):
    w = Workers(buildgrid.url, tmp_path_factory.mktemp("workers"))
    w.start(2)
    w.serving()
    yield w
    w.stop()


def raw_action(client, properties: dict[str, str], script: str):
    """Upload an uncached action that runs `script` (made unique) on a platform of exactly these
    properties, with an empty input root; its digest. For what jbuild's client never sends."""
    import uuid

    from jbuild.engine.reapi.cas import Blobs
    from jbuild.engine.reapi.executor import OUTPUT, SHELL
    from jbuild.engine.reapi.pb import remote_execution_pb2 as re_pb2

    blobs = Blobs()
    platform = re_pb2.Platform(properties=[re_pb2.Platform.Property(name=k, value=v)
                                           for k, v in sorted(properties.items())])
    command = re_pb2.Command(arguments=[*SHELL, f"{script} # {uuid.uuid4().hex}"], output_paths=[OUTPUT],
                             output_directories=[OUTPUT], platform=platform)
    action = re_pb2.Action(command_digest=blobs.add_message(command), platform=platform, do_not_cache=True,
                           input_root_digest=blobs.add_message(re_pb2.Directory()))
    digest = blobs.add_message(action)
    client.cas.upload(blobs)
    return digest

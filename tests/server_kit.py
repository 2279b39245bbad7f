"""Shared by the server review tests: a private example workspace, the real console script
with JBUILD_SERVER=1 (or 0: in-process), and no server left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import pristine_example, processes_holding

JBUILD = str(Path(sys.executable).parent / "jbuild")


class Ws:
    def __init__(self, root: Path, store: Path):
        self.root, self.store = root, store

    def env(self, server=True, **extra) -> dict:
        env = dict(os.environ, JBUILD_STORE=str(self.store), **extra)
        env["JBUILD_SERVER"] = "1" if server else "0"  # (the server is jbuild's default)
        return env

    def run(self, *args, server=True, cwd=None, timeout=120, env=None, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([JBUILD, *args], cwd=cwd or self.root, env=env or self.env(server),
                              capture_output=True, text=True, timeout=timeout, **kw)

    def start(self, *args, server=True, env=None, **kw) -> subprocess.Popen:
        return subprocess.Popen([JBUILD, *args], cwd=self.root, env=env or self.env(server),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)

    def logs(self) -> str:
        return "".join(p.read_text() for p in sorted(self.root.glob(".jbuild/cache/server-*/*.log")))

    def servers(self) -> list[int]:
        return processes_holding(str(self.root / ".jbuild"))

    def cleanup(self) -> None:
        subprocess.run([JBUILD, "shutdown", "--timeout", "5"], cwd=self.root, env=self.env(False),
                       capture_output=True, timeout=60)
        for pid in self.servers():  # started by this test (their command line names its workspace)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def make_ws(tmp_path: Path) -> Ws:
    return Ws(pristine_example(tmp_path / "geotags"), tmp_path / "store")

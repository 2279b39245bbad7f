"""Executors without namespaces: the weaker fallback where bubblewrap cannot run, and dry-run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .sandbox_env import variables
from .sandbox_processes import Processes

if TYPE_CHECKING:
    from .sandbox import Job


class FallbackExecutor:
    """No namespaces: a clean environment and a private directory, nothing more. Entries built
    this way carry the sandbox kind in their key and never satisfy a sandboxed build."""

    kind = "fallback"

    def __init__(self):
        self.procs = Processes()

    def run(self, job: Job) -> int:
        env = variables(job)
        env.update(SRC=str(job.src), OUT=str(job.out), TMPDIR=str(job.tmp), HOME=str(job.tmp), PREFIX=str(job.out))
        if job.env_tree:
            env["PKG_CONFIG_PATH"] = f"{job.env_tree}/lib/pkgconfig:{job.env_tree}/share/pkgconfig"
        script = job.script.replace("/env/", f"{job.env_tree}/") if job.env_tree else job.script
        cwd = job.env_tree if job.workdir == "/env" and job.env_tree else job.tmp
        return self.procs.start(["/bin/sh", "-euxc", script], env, job.log, cwd=cwd, timeout=job.timeout)

    def cancel(self) -> None:
        self.procs.cancel()

    @property
    def cancelled(self) -> bool:
        return self.procs.cancelled


class DryRunExecutor:
    kind = "dry-run"

    def __init__(self):
        self.ran: list[str] = []

    def run(self, job: Job) -> int:
        self.ran.append(job.script)
        return 0

    def cancel(self) -> None:
        pass

    cancelled = False

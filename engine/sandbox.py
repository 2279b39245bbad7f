"""Executors: run one build script hermetically. bubblewrap, a weaker fallback, and dry-run.

Inside the sandbox, fixed paths (so outputs never depend on where the host keeps things):
  /src          the declared sources, read-only
  /env          the build dependencies merged (a staged tree of symlinks into /deps)
  /deps/<name>  each build dependency's store entry, read-only
  /out          the output, writable
  /tmp          scratch ($TMPDIR), writable
  /usr, /etc/alternatives   the host toolchain, read-only: only the declared host tools'
                Debian packages and their closure when the job carries a HostRoot (hostroot.py)
Nothing else: no home, no workspace, no store, no network, a clean environment (bubblewrap
itself starts with a minimal one: its own process is pid 1 inside, and /proc/1/environ would
show the build every variable jbuild was started with).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .hostroot import HostRoot

SANDBOX_UID = 1000
ENV_DIRS = ("bin", "lib", "include", "share", "etc", "libexec")


@dataclass
class Job:
    """One build to run: a script, its staged inputs, where its output goes."""

    script: str
    src: Path  # staged sources
    out: Path  # empty, writable
    tmp: Path  # empty, writable
    deps: dict[str, Path] = field(default_factory=dict)  # name -> store entry
    env_tree: Path | None = None
    log: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    host: HostRoot | None = None  # None: the host's whole /usr (the first version's boundary)
    tools: frozenset[str] = frozenset()  # deps that are build-only tools: only their bin/ is on PATH


class Executor(Protocol):
    kind: str

    def run(self, job: Job) -> int: ...

    def cancel(self) -> None:
        """Stop every running job (an interrupt); later `run`s return at once."""
        ...

    @property
    def cancelled(self) -> bool: ...


class _Processes:
    """Running children, so an interrupt can stop them all."""

    def __init__(self):
        self.lock = threading.Lock()
        self.procs: set[subprocess.Popen] = set()
        self.cancelled = False

    def start(self, argv, env, log: Path | None, cwd=None) -> int:
        with self.lock:
            if self.cancelled:
                return 130
            out = open(log, "wb") if log else subprocess.DEVNULL
            try:
                proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        cwd=cwd, start_new_session=True)
            finally:
                if log:
                    out.close()
            self.procs.add(proc)
        try:
            return proc.wait()
        finally:
            _end_group(proc.pid)
            with self.lock:
                self.procs.discard(proc)

    def cancel(self) -> None:
        with self.lock:
            self.cancelled = True
            for p in self.procs:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def _end_group(pgid: int, timeout: float = 10.0) -> None:
    """Kill what the script left running in its process group (`(sleep 1; echo > $OUT/x) &`)
    and wait until it is gone, so nothing writes into the output after the job returned."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.005)


def _group_alive(pgid: int) -> bool:
    """Is any process of the group still running? (Orphans are reaped by init, not by us, so
    a dead one may linger as a zombie: that one writes nothing.)"""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            return True
    return False


def stage_env(job: Job, root: Path) -> Path:
    """/env: for each dependency's bin/lib/include/..., symlinks to /deps/<name>/... (first wins).

    Only build-only tools bring `bin/` and `libexec/`: a library's programs are implementation,
    outside its consumers' keys, so running one must not be the silent default (declare it in
    build_requires, where its whole build key enters)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, entry in sorted(job.deps.items()):
        for sub in ENV_DIRS if name in job.tools else [d for d in ENV_DIRS if d not in ("bin", "libexec")]:
            top = entry / sub
            if not top.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(top):
                rel = os.path.relpath(dirpath, entry)
                (root / rel).mkdir(parents=True, exist_ok=True)
                for f in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                    link = root / rel / f
                    if not os.path.lexists(link):
                        os.symlink(f"/deps/{name}/{rel}/{f}", link)
    return root


class BwrapExecutor:
    kind = "bwrap"

    def __init__(self):
        self.bwrap = bwrap_path()
        self.procs = _Processes()

    @staticmethod
    def available() -> bool:
        """Can bubblewrap create its namespaces here? (Tried once per process.)"""
        global _AVAILABLE
        if _AVAILABLE is None:
            bwrap = bwrap_path()
            _AVAILABLE = False
            if bwrap:
                argv = [bwrap, "--unshare-all", "--unshare-user", "--ro-bind", "/usr", "/usr", *_host_links(),
                        "/bin/true"]
                _AVAILABLE = subprocess.run(argv, capture_output=True, env=BWRAP_ENV).returncode == 0
        return _AVAILABLE

    def argv(self, job: Job) -> list[str]:
        a = [self.bwrap, "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
             "--cap-drop", "ALL", "--die-with-parent", "--new-session", *_usr_binds(job.host), *_host_links()]
        a += ["--proc", "/proc", "--dev", "/dev", "--bind", str(job.tmp), "/tmp",
              "--ro-bind", str(job.src), "/src", "--bind", str(job.out), "/out"]
        for name, entry in sorted(job.deps.items()):
            a += ["--ro-bind", str(entry), f"/deps/{name}"]
        if job.env_tree:
            a += ["--ro-bind", str(job.env_tree), "/env"]
        a += ["--chdir", "/tmp", "--clearenv"]
        for k, v in _sandbox_env(job).items():
            a += ["--setenv", k, v]
        return a + ["/bin/sh", "-euxc", job.script]

    def run(self, job: Job) -> int:
        return self.procs.start(self.argv(job), BWRAP_ENV, job.log)

    def cancel(self) -> None:
        self.procs.cancel()

    @property
    def cancelled(self) -> bool:
        return self.procs.cancelled


class FallbackExecutor:
    """No namespaces: a clean environment and a private directory, nothing more. Entries built
    this way carry the sandbox kind in their key and never satisfy a sandboxed build."""

    kind = "fallback"

    def __init__(self):
        self.procs = _Processes()

    def run(self, job: Job) -> int:
        env = _sandbox_env(job)
        env.update(SRC=str(job.src), OUT=str(job.out), TMPDIR=str(job.tmp), HOME=str(job.tmp), PREFIX=str(job.out))
        if job.env_tree:
            env["PKG_CONFIG_PATH"] = f"{job.env_tree}/lib/pkgconfig:{job.env_tree}/share/pkgconfig"
        script = job.script.replace("/env/", f"{job.env_tree}/") if job.env_tree else job.script
        return self.procs.start(["/bin/sh", "-euxc", script], env, job.log, cwd=job.tmp)

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


_AVAILABLE: bool | None = None
BWRAP_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}


def _usr_binds(host: HostRoot | None) -> list[str]:
    """/usr and /etc/alternatives: the assembled tree when given, else the host's own (with the
    loader's cache, which the assembled tree does without: ld.so searches its default paths)."""
    if host is not None:
        a = ["--ro-bind", str(host.usr), "/usr"]
        if host.etc_alternatives is not None:
            a += ["--ro-bind", str(host.etc_alternatives), "/etc/alternatives"]
        return a
    a = ["--ro-bind", "/usr", "/usr"]
    for ro in ("/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d"):
        if os.path.exists(ro):
            a += ["--ro-bind", ro, ro]
    return a


def bwrap_path() -> str | None:
    """bubblewrap on PATH, or `JBUILD_BWRAP` (a path; a missing one means "not installed")."""
    forced = os.environ.get("JBUILD_BWRAP")
    if forced is not None:
        return forced if os.access(forced, os.X_OK) else None
    return shutil.which("bwrap")


def _host_links() -> list[str]:
    """Debian's merged /usr: /bin, /lib, /lib64 are symlinks into /usr."""
    out = []
    for link in ("bin", "lib", "lib64", "sbin", "lib32"):
        if os.path.islink(f"/{link}"):
            out += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
    return out


def _sandbox_env(job: Job) -> dict[str, str]:
    env = {"PATH": "/env/bin:/usr/bin:/bin", "SRC": "/src", "OUT": "/out", "TMPDIR": "/tmp", "HOME": "/tmp",
           "LANG": "C", "LC_ALL": "C", "SOURCE_DATE_EPOCH": "0", "LIBRARY_PATH": "/env/lib",
           "LD_LIBRARY_PATH": "/env/lib", "C_INCLUDE_PATH": "/env/include",
           # Install prefix (docs/language.md): the output, whose pkg-config files are made
           # relocatable at publish (engine/outputs.py); the dependencies' .pc files under /env.
           "PREFIX": "/out", "PKG_CONFIG_PATH": "/env/lib/pkgconfig:/env/share/pkgconfig"}
    env.update(job.extra_env)
    return env


def make_executor(kind: str):
    if kind == "bwrap":
        return BwrapExecutor()
    if kind == "fallback":
        return FallbackExecutor()
    if kind == "dry-run":
        return DryRunExecutor()
    raise ValueError(kind)

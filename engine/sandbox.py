"""Executors: run one build script hermetically. bubblewrap (with one mount per dependency, or,
as `--sandbox landlock`, one bind of the store and a Landlock ruleset), a weaker fallback, dry-run.

Inside the sandbox, fixed paths (so outputs never depend on where the host keeps things):
  /src          the declared sources, read-only
  /env          the build dependencies merged (a staged tree of symlinks into /deps)
  /deps/<name>  each build dependency's store entry, read-only; a dependency that declares
                outputs is mounted per output it shows the build, /deps/<name>.<output> (split.py);
                under `landlock` a symlink to /.store/<entry> (sandbox_landlock.py)
  /out          the output, writable
  /tmp          scratch ($TMPDIR), writable
  /usr, /etc/alternatives   the host toolchain, read-only: only the declared host tools'
                Debian packages and their closure when the job carries a HostRoot (hostroot.py)
Nothing else: no home, no workspace, no other store entry (only the declared ones are mounted,
each at /deps/<name>, or, under `landlock`, the only ones its ruleset lets the build open,
list or run), no network, a clean environment
(bubblewrap itself starts with a minimal one, and /proc/1/environ would show the build every
variable jbuild was started with).

Mounts cost: bubblewrap re-reads the mount table per bind, so a job with many dependencies has
its root staged by the child before bubblewrap starts (sandbox_root.py), O(K) instead of O(K²),
the entries themselves mounted by the C child once bubblewrap is done (so it never parses them),
and with one mount for all its dependencies under `landlock` (sandbox_landlock.py). A build can
tell a link from a mount, so the two are kinds of their own in every key (LandlockExecutor).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from . import sandbox_landlock
from .hostroot import HostRoot
from .sandbox_env import ENV_DIRS, env_plan, stage_env, variables, write_env  # noqa: F401 - part of this module's interface
from .sandbox_host import host_links, usr_binds, usr_mounts
from .sandbox_plain import DryRunExecutor, FallbackExecutor
from .sandbox_processes import Processes
from .sandbox_root import WAIT_PROGRAM_FD, StagedRoot, add_dev, wait_argv
from .sandbox_zygote import StagerError, Zygote, child_program
from .sandbox_zygote import start as start_stager

SANDBOX_UID = 1000


@dataclass
class Job:
    """One build to run: a script, its staged inputs, where its output goes."""

    script: str
    src: Path  # staged sources
    out: Path  # empty, writable
    tmp: Path  # empty, writable
    deps: dict[str, str | Path] = field(default_factory=dict)  # name -> store entry (a build's: str)
    env_tree: Path | None = None
    # /env not yet made (sandbox_env.env_plan): a staged root makes its links in its tmpfs;
    # otherwise `run` writes them beside the scratch directory first.
    env_links: list | None = None
    # /src as (relative path, the declared file) bound one by one in a staged root, `src` left
    # empty; `run` copies them into `src` first when the root is not staged.
    src_files: list | None = None
    log: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    host: HostRoot | None = None  # None: the host's whole /usr (the first version's boundary)
    tools: frozenset[str] = frozenset()  # deps that are build-only tools: only their bin/ is on PATH
    # For tests (engine/testing/): store paths bound read-only at their own paths (an environment's
    # launchers name them), the directory the script starts in, and a time limit in seconds.
    binds: tuple = ()  # Paths bound at their own paths, or (source, dest) pairs (engine/reapi/worker.py)
    workdir: str = "/tmp"
    timeout: float | None = None


class Executor(Protocol):
    kind: str

    def run(self, job: Job) -> int: ...

    def cancel(self) -> None:
        """Stop every running job (an interrupt); later `run`s return at once."""
        ...

    @property
    def cancelled(self) -> bool: ...


class BwrapExecutor:
    """bubblewrap, with the sandbox's shell as pid 1 (`--as-pid-1`): no init of bubblewrap's
    inside that outlives it and is left, a zombie, to whoever reaps orphans (jbuild itself
    when it runs as a container's pid 1). When the script exits, the kernel kills what it left
    in the sandbox."""

    kind = "bwrap"
    # From this many dependencies on, the root is staged (sandbox_root.py): from none, since the
    # C stager (sandbox_zygote.py) stages cheaper than bubblewrap's own binds even without a
    # dependency (~11 against ~13 ms of CPU; bench/sandbox_bench.py).
    stage_from = 0
    landlock = False  # one mount per dependency; LandlockExecutor: one bind of the store, a ruleset
    # From this many dependencies on, the C child mounts them once bubblewrap has made the sandbox
    # (sandbox_root.read_only_tree's `later`): a fork, the waiting program's exec and two wake-ups
    # more, against ~20 µs of bubblewrap's work per dependency saved (bench/sandbox_bench.py).
    defer_from = 32

    def __init__(self):
        self.bwrap = bwrap_path()
        self.procs = Processes()
        self.local = threading.local()  # each worker thread's stager (sandbox_zygote.py)
        self.spare: list = []  # a stager started ahead (`prestart`), for the first worker to take
        self.made: list[Zygote] = []  # every worker's stager: let go of by `drop_spare`

    @staticmethod
    def available() -> bool:
        """Can bubblewrap create its namespaces here? (Tried once per process; why not:
        `why_unavailable`.)"""
        global _AVAILABLE
        if _AVAILABLE is None:
            bwrap = bwrap_path()
            _AVAILABLE = bool(bwrap) and _kept("available", bwrap, lambda: _probe_bwrap(bwrap))
        return _AVAILABLE

    @staticmethod
    def why_unavailable() -> str:
        """Why `available` said no, as a clause (bubblewrap's own words, when it said any)."""
        if bwrap_path() is None:
            forced = os.environ.get("JBUILD_BWRAP")
            return f"JBUILD_BWRAP={forced} is not an executable" if forced is not None else \
                "bubblewrap is not installed (no bwrap on PATH; Debian: apt-get install bubblewrap)"
        return f"bubblewrap cannot create its namespaces here: {_WHY_NOT or 'its test run failed'}"

    @staticmethod
    def stages_root(strict: bool = False) -> bool:
        """Can the child stage the root in namespaces of its own (sandbox_root.py)? Else
        bubblewrap binds each part, and each dependency, itself. (Tried once per process; a
        probe whose stager was killed from outside or could not fork answers no, this time only
        — or, `strict`, raises its StagerError: a Failed, one line.)"""
        global _STAGES_ROOT
        if _STAGES_ROOT is None:
            _STAGES_ROOT = False
            if BwrapExecutor.available():
                try:
                    _STAGES_ROOT = _kept("stages_root", bwrap_path(), _probe_staging)
                except StagerError:
                    _STAGES_ROOT = None
                    if strict:
                        raise
                    return False
        return _STAGES_ROOT

    @classmethod
    def dependency_mode(cls) -> str:
        """How declared entries reach a staged root: "landlock" (one bind of the whole store, a
        Landlock ruleset naming the entries: sandbox_landlock.py), "mounts" (one mount per
        entry: sandbox_root.py), or "binds" (no staged root here: bubblewrap binds each)."""
        if not cls.stages_root():
            return "binds"
        return "landlock" if cls.landlock and cls.landlock_available() else "mounts"

    @staticmethod
    def landlock_available() -> bool:
        """Does the Landlock helper run and keep an undeclared sibling of a declared entry
        unreadable here? (Tried once per process; a probe's stager that died or could not fork
        raises its StagerError, a Failed: asked for by `--sandbox landlock`, whose answer "cannot
        confine here" would be wrong, and asked again next time.)"""
        global _LANDLOCK
        with _PROBING:  # worker threads ask at once: one compile, one probe
            if _LANDLOCK is None:
                _LANDLOCK = BwrapExecutor.stages_root(strict=True) and sandbox_landlock.helper() is not None and \
                    _kept("landlock", bwrap_path(), _probe_landlock)
        return _LANDLOCK

    @staticmethod
    def stager() -> str:
        """Which child stages the roots here (`jbuild info sandbox`)."""
        if not BwrapExecutor.stages_root():
            return "none (bubblewrap binds each part)"
        zygote = _prober()._zygote()
        if zygote.serves:
            return "the C fork server (stage_exec.c)"
        return "the Python fallback (no cc to build stage_exec.c): the stager forks" if child_program() is None else \
            "the Python fallback (stage_exec.c did not start): the stager forks"

    def argv(self, job: Job) -> list[str]:
        """bubblewrap's command line, binding each part itself (without a staged root)."""
        a = [self.bwrap, *_BASE, *_SANDBOX_USER, *usr_binds(job.host), *host_links()]
        a += ["--proc", "/proc", "--dev", "/dev", "--bind", str(job.tmp), "/tmp",
              "--ro-bind", str(job.src), "/src", "--bind", str(job.out), "/out"]
        for name, entry in sorted(job.deps.items()):
            a += ["--ro-bind", str(entry), f"/deps/{name}"]
        a += ["--ro-bind", str(job.env_tree), "/env"] if job.env_tree else ["--dir", "/env"]
        for bind in job.binds:  # a test's environment names its store paths
            source, dest = bind if isinstance(bind, tuple) else (bind, bind)  # (source, dest): on a worker
            a += ["--ro-bind", str(source), str(dest)]
        return a + _command(job)

    def staged_argv(self, job: Job, stage: Path, shared_network: bool = False,
                    landlock: bool | None = None) -> tuple[list[str], StagedRoot]:
        """bubblewrap's command line over a root staged at `stage`, and the stager to run first.
        `shared_network`: the stager's own network namespace (only loopback) is the sandbox's.
        `landlock`: confine the dependencies with Landlock (None: as the executor's kind does)."""
        root = StagedRoot()
        for source, dest in usr_mounts(job.host):
            root.bind(source, dest)
        for link in ("bin", "lib", "lib64", "sbin", "lib32"):
            if os.path.islink(f"/{link}"):
                root.link(os.readlink(f"/{link}"), f"/{link}")
        add_dev(root)
        root.dir("/proc")
        root.bind(job.tmp, "/tmp", writable=True)
        if job.src_files is None:
            root.bind(job.src, "/src")
        else:
            root.read_only_dir("/src")
            for rel, source in job.src_files:
                root.bind(source, f"/src/{rel}")
            root.seal("/src")
        root.bind(job.out, "/out", writable=True)
        confined = self._confined(job, landlock)
        wrapper = sandbox_landlock.argv(confined[1].values()) if confined else []
        if confined:
            store, names = confined
            root.bind(store, sandbox_landlock.STORE_POINT)
            root.read_only_dir("/deps")
            root.links("/deps", sandbox_landlock.STORE_POINT + "/", names)
            root.seal("/deps")
            root.keep_open(sandbox_landlock.helper(), sandbox_landlock.HELPER_FD)
        elif job.deps:
            # The C child mounts them once bubblewrap is done (not if `jbuild gc` just deleted the
            # cached program, which the sandbox runs first to wait: they are then mounted before).
            program = child_program() if len(job.deps) >= self.defer_from else None
            if root.read_only_tree("/deps", job.deps, later=program is not None and program.exists()):
                root.keep_open(program, WAIT_PROGRAM_FD)
                wrapper = wait_argv()
        _stage_env(root, job)
        for bind in job.binds:  # a test's environment names its store paths (after /tmp: under it, on its disk)
            source, dest = bind if isinstance(bind, tuple) else (bind, bind)
            root.bind(source, str(dest))
        base = _BASE_SHARED_NETWORK if shared_network else _BASE
        a = [self.bwrap, *base, *_SANDBOX_USER, "--dev-bind", str(stage), "/", "--proc", "/proc"]
        return a + _command(job, wrapper), root

    def _confined(self, job: Job, landlock: bool | None) -> tuple[str, dict[str, str]] | None:
        """(the store to bind whole, {name at /deps: entry in it}) when Landlock confines `job`'s
        dependencies (`landlock`, or None: as the executor's kind does), else None."""
        if not job.deps or not (self.landlock if landlock is None else landlock):
            return None
        return sandbox_landlock.entry_names(job.deps)

    def stages(self, job: Job) -> bool:
        """Will `job`'s root be staged (sandbox_root.py)? Else bubblewrap binds each part itself."""
        return len(job.deps) >= self.stage_from and self.stages_root()

    def run(self, job: Job) -> int:
        if self.stages(job):
            return self._run_staged(job)
        if job.env_links is not None and job.env_tree is None:
            job.env_tree = write_env(job.env_links, job.tmp.parent / "env")
        if job.src_files is not None:
            _copy_sources(job.src_files, job.src)
        return self.procs.start(self.argv(job), BWRAP_ENV, job.log, timeout=job.timeout, sweep_group=False)

    def _run_staged(self, job: Job, landlock: bool | None = None) -> int:
        """Through this worker's stager. One that dies (killed, or out of processes to fork)
        before the action started is replaced and the action run again by the new one, once;
        else the StagerError reaches the action's build (build_action.py), which fails it."""
        retried = False
        while True:
            zygote = self._zygote()
            argv, root = self.staged_argv(job, zygote.stage, zygote.shares_network, landlock)
            try:
                return self.procs.start_staged(zygote, root, argv, BWRAP_ENV, job.log, job.timeout)
            except StagerError as exc:
                self.local.zygote = None
                zygote.discard()
                if exc.started or retried or self.cancelled:
                    raise
                retried = True

    def _zygote(self) -> Zygote:
        zygote = getattr(self.local, "zygote", None)
        if zygote is None or not zygote.alive():
            try:
                spare = self.spare.pop()  # (atomic: of two workers at once, one gets it)
            except IndexError:
                spare = None
            zygote = self.local.zygote = Zygote(spare)
            self.made.append(zygote)
        return zygote

    def prestart(self) -> None:
        """Start a stager now (build.run, when an action is likely to run): its start overlaps the
        planning, not the first action's (~40 ms at a leaf edit). `drop_spare` ends it if unused."""
        if not self.spare and self.stages_root():
            self.spare.append(start_stager())

    def drop_spare(self) -> None:
        """Once the build's actions are done: end the spare stager (its pipe closed, it removes its
        stage and exits), and let go of the workers' (in a process that builds again, each build
        would otherwise leave one per worker, with its pipes)."""
        while self.spare:
            self.spare.pop().stdin.close()
        while self.made:
            self.made.pop().let_go()

    def cancel(self) -> None:
        self.procs.cancel()

    @property
    def cancelled(self) -> bool:
        return self.procs.cancelled


class LandlockExecutor(BwrapExecutor):
    """`--sandbox landlock`: bubblewrap, every action with dependencies staged over one read-only
    bind of the whole store, confined to its declared entries by Landlock (sandbox_landlock.py):
    the cost of a dependency falls from two mounts to a link and a rule. What a build sees
    differs from `bwrap` (/deps/<name> is a link, `realpath` names /.store/<entry>, / can be
    neither listed nor written), so the kind enters every key: the two never share an entry."""

    kind = "landlock"
    landlock = True


_AVAILABLE: bool | None = None
_WHY_NOT: str | None = None  # what bubblewrap's probe said when it failed (`BwrapExecutor.why_unavailable`)
_STAGES_ROOT: bool | None = None
_LANDLOCK: bool | None = None
_PROBING = threading.Lock()
_PROBER: BwrapExecutor | None = None
_BASE = ("--unshare-all", "--unshare-user", "--as-pid-1")
# --unshare-all but the network: the stager's network namespace, made once (sandbox_root.py)
_BASE_SHARED_NETWORK = ("--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try",
                        "--as-pid-1")
_SANDBOX_USER = ("--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL", "--die-with-parent",
                 "--new-session")
BWRAP_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}


def _copy_sources(files: list, dest: Path) -> None:
    dest.mkdir(exist_ok=True)
    for rel, source in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / rel)


def _stage_env(root: StagedRoot, job: Job) -> None:
    """/env: the job's environment tree bound whole, or its links (env_plan) in a sealed dir."""
    if job.env_tree:
        root.bind(job.env_tree, "/env")
        return
    root.read_only_dir("/env")
    for rel, links in job.env_links or ():
        root.dir(f"/env/{rel}")
        for name, target in links:
            root.link(target, f"/env/{rel}/{name}")
    root.seal("/env")



def _command(job: Job, wrapper: list[str] = ()) -> list[str]:
    """The end of bubblewrap's command line: where, with what environment, which script (run
    through `wrapper`, the Landlock helper's command, when given)."""
    a = ["--chdir", job.workdir, "--clearenv"]
    for k, v in variables(job).items():
        a += ["--setenv", k, v]
    return a + [*wrapper, "/bin/sh", "-euxc", job.script]


def _probe_bwrap(bwrap: str) -> bool:
    """Does bubblewrap run `true` in the namespaces a sandbox has? Else `_WHY_NOT` says why:
    bubblewrap's first line (a kernel that forbids unprivileged user namespaces, a process
    limit reached), or the fork's error."""
    global _WHY_NOT
    try:
        r = subprocess.run([bwrap, *_BASE, "--ro-bind", "/usr", "/usr", *host_links(), "/bin/true"],
                           capture_output=True, env=BWRAP_ENV, text=True, errors="replace")
    except OSError as exc:
        _WHY_NOT = _with_limit(f"it could not be started: {exc.strerror or exc}")
        return False
    said = next((line.strip() for line in r.stderr.splitlines() if line.strip()), "")
    _WHY_NOT = None if r.returncode == 0 else _with_limit(said or f"its test run exited {r.returncode}")
    return r.returncode == 0


def _with_limit(why: str) -> str:
    """`why`, naming the likely cause where a fork or clone said EAGAIN."""
    return why + " (the per-user process limit, ulimit -u, is reached?)" if os.strerror(errno.EAGAIN) in why else why


def _kept(name: str, bwrap: str, probe) -> bool:
    """A probe's answer, from the yes kept for this boot (sandbox_probes.py) or by asking."""
    from . import sandbox_probes

    if sandbox_probes.known_yes(name, bwrap):
        return True
    answer = probe()
    if answer:
        sandbox_probes.remember_yes(name, bwrap)
    return answer


def _probe_staging() -> bool:
    """A staged run that sees its dependency: the child can stage a root here."""
    with tempfile.TemporaryDirectory(prefix="jbuild-probe-") as d:
        dirs = [Path(d, n) for n in ("src", "out", "tmp", "dep")]
        for x in dirs:
            x.mkdir()
        probe = Job(script="test -d /deps/d", src=dirs[0], out=dirs[1], tmp=dirs[2], deps={"d": dirs[3]})
        return _prober()._run_staged(probe, landlock=False) == 0


def _probe_landlock() -> bool:
    """A staged, Landlock-confined run: the declared entry readable, its undeclared sibling not."""
    with tempfile.TemporaryDirectory(prefix="jbuild-probe-") as d:
        dirs = [Path(d, n) for n in ("src", "out", "tmp", "store/declared", "store/undeclared")]
        for x in dirs:
            x.mkdir(parents=True)
        Path(d, "store/undeclared/f").write_text("")
        script = f"test -d /deps/d && ! cat {sandbox_landlock.STORE_POINT}/undeclared/f 2>/dev/null"
        probe = Job(script=script, src=dirs[0], out=dirs[1], tmp=dirs[2], deps={"d": dirs[3]})
        return _prober()._run_staged(probe, landlock=True) == 0


def _prober() -> BwrapExecutor:
    """The one executor the probes run on (its stager started once, not per probe)."""
    global _PROBER
    if _PROBER is None:
        _PROBER = BwrapExecutor()
    return _PROBER


def bwrap_path() -> str | None:
    """bubblewrap on PATH, or `JBUILD_BWRAP` (a path; a missing one means "not installed")."""
    forced = os.environ.get("JBUILD_BWRAP")
    if forced is not None:
        return forced if os.access(forced, os.X_OK) else None
    return shutil.which("bwrap")




def make_executor(kind: str):
    if kind == "bwrap":
        return BwrapExecutor()
    if kind == "landlock":
        return LandlockExecutor()
    if kind == "fallback":
        return FallbackExecutor()
    if kind == "dry-run":
        return DryRunExecutor()
    raise ValueError(kind)

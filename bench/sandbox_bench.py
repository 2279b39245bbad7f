"""What a sandbox costs: jbuild's executor against a bare `bwrap ... true`, by dependency count.

Each scenario runs `--runs` times, the scenarios interleaved (one run of each, then again), so
load from other processes falls on all of them alike; prints median and best in ms and the
ratio of medians to the bare bubblewrap, and the mean CPU time a run costs (this process, its
children, and the worker's stager with its children): on a shared, loaded machine the wall
time mostly measures the wait for a core, the CPU time what the sandbox itself costs.
`direct binds` is the old way (one bubblewrap bind per dependency), for comparison; `landlock`
is `--sandbox landlock` (one bind of the store, a Landlock ruleset: sandbox_landlock.py), where
the host can.

    .venv/bin/python bench/sandbox_bench.py [--deps 0,300,1000] [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from jbuild.engine import sandbox
from jbuild.engine.sandbox import BWRAP_ENV, BwrapExecutor, Job, LandlockExecutor, bwrap_path


def bare_argv() -> list[str]:
    """The least bubblewrap that runs a program: its namespaces, /usr, the /bin links."""
    links = []
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            links += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
    return [bwrap_path(), "--unshare-all", "--ro-bind", "/usr", "/usr", *links, "/bin/true"]


def fake_entries(root: Path, k: int) -> dict[str, Path]:
    """K store-entry-like directories, one small file each."""
    deps = {}
    for i in range(k):
        entry = root / f"{i:032x}-d{i}-1.0"
        entry.mkdir(parents=True)
        (entry / "f").write_text(f"{i}\n")
        deps[f"d{i}"] = entry
    return deps


def job_for(root: Path, deps: dict[str, Path], name: str) -> Job:
    dirs = [root / name / d for d in ("src", "out", "tmp")]
    for d in dirs:
        d.mkdir(parents=True)
    script = f"test -r /deps/d0/f && test -r /deps/d{len(deps) - 1}/f" if deps else "true"
    return Job(script=script, src=dirs[0], out=dirs[1], tmp=dirs[2], deps=deps)


class DirectBinds(BwrapExecutor):
    """The executor as it was: each dependency one bubblewrap bind."""

    def run(self, job: Job) -> int:
        return self.procs.start(self.argv(job), BWRAP_ENV, job.log)


def cpu_seconds(executors) -> float:
    """CPU time so far of this process, its reaped children, and each executor's stager (this
    thread's) with its own reaped children."""
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    for ex in executors:
        zygote = getattr(ex.local, "zygote", None)
        if zygote is not None and zygote.alive():
            fields = Path(f"/proc/{zygote.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def scenarios(root: Path, counts: list[int], direct_up_to: int) -> dict[str, callable]:
    out = {"bare bwrap true": lambda: subprocess.run(bare_argv(), env=BWRAP_ENV).returncode}
    store = root / "store"
    for k in counts:
        job = job_for(root, fake_entries(store / str(k), k), f"job{k}")
        out[f"executor, {k} deps"] = lambda job=job, ex=BwrapExecutor(): ex.run(job)  # one executor, as a build has
        if BwrapExecutor.landlock_available():  # --sandbox landlock
            out[f"landlock, {k} deps"] = lambda job=job, ex=LandlockExecutor(): ex.run(job)
        if k <= direct_up_to:
            out[f"direct binds, {k} deps"] = lambda job=job, ex=DirectBinds(): ex.run(job)
    return out


def measure(cases: dict[str, callable], runs: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    """(wall seconds of each run, by scenario; mean CPU seconds of a run, by scenario)."""
    times = {name: [] for name in cases}
    cpu = dict.fromkeys(cases, 0.0)
    for fn in cases.values():
        fn()  # warm up: the executor's stager starts once per worker thread
    executors = [fn.__defaults__[1] for fn in cases.values() if fn.__defaults__]
    for _ in range(runs):
        for name, fn in cases.items():
            before = cpu_seconds(executors)
            start = time.perf_counter()
            code = fn()
            times[name].append(time.perf_counter() - start)
            cpu[name] += (cpu_seconds(executors) - before) / runs
            if code != 0:
                raise SystemExit(f"{name}: exit code {code}")
    return times, cpu


def table(times: dict[str, list[float]], cpu: dict[str, float]) -> str:
    bare = statistics.median(times["bare bwrap true"])
    lines = [f"{'scenario':28} {'median ms':>10} {'best ms':>8} {'/ bare':>7} {'CPU ms':>7} {'/ bare':>7}"]
    for name, ts in times.items():
        med = statistics.median(ts)
        lines.append(f"{name:28} {med * 1000:10.1f} {min(ts) * 1000:8.1f} {med / bare:7.2f} {cpu[name] * 1000:7.1f} "
                     f"{cpu[name] / cpu['bare bwrap true']:7.2f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deps", default="0,300,1000", help="dependency counts, comma-separated")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--direct-up-to", type=int, default=300, help="also time direct binds up to this count")
    args = ap.parse_args()
    if not BwrapExecutor.available():
        raise SystemExit("bubblewrap cannot run here")
    root = Path(tempfile.mkdtemp(prefix="jbuild-sandbox-bench-"))
    try:
        cases = scenarios(root, [int(k) for k in args.deps.split(",")], args.direct_up_to)
        times, cpu = measure(cases, args.runs)
        print(f"load: {os.getloadavg()[0]:.2f} (1 min); executor rows: --sandbox bwrap, dependencies: "
              f"{sandbox.BwrapExecutor.dependency_mode()} from {sandbox.BwrapExecutor.stage_from} on; landlock rows: "
              f"--sandbox landlock")
        print(table(times, cpu))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

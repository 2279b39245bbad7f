"""What a sandbox costs: jbuild's executor against a bare `bwrap ... true`, by dependency count.

Each scenario runs `--runs` times, the scenarios interleaved (one run of each, then again), so
load from other processes falls on all of them alike; prints median and best in ms and the
ratio of medians to the bare bubblewrap. `direct binds` is the old way (one bubblewrap bind
per dependency), for comparison; `landlock` is `--sandbox landlock` (one bind of the store, a
Landlock ruleset: sandbox_landlock.py), where the host can.

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


def measure(cases: dict[str, callable], runs: int) -> dict[str, list[float]]:
    times = {name: [] for name in cases}
    for fn in cases.values():
        fn()  # warm up: the executor's stager starts once per worker thread
    for _ in range(runs):
        for name, fn in cases.items():
            start = time.perf_counter()
            code = fn()
            times[name].append(time.perf_counter() - start)
            if code != 0:
                raise SystemExit(f"{name}: exit code {code}")
    return times


def table(times: dict[str, list[float]]) -> str:
    bare = statistics.median(times["bare bwrap true"])
    lines = [f"{'scenario':28} {'median ms':>10} {'best ms':>8} {'/ bare':>7}"]
    for name, ts in times.items():
        med = statistics.median(ts)
        lines.append(f"{name:28} {med * 1000:10.1f} {min(ts) * 1000:8.1f} {med / bare:7.2f}")
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
        times = measure(cases, args.runs)
        print(f"load: {os.getloadavg()[0]:.2f} (1 min); executor rows: --sandbox bwrap, dependencies: "
              f"{sandbox.BwrapExecutor.dependency_mode()} from {sandbox.BwrapExecutor.stage_from} on; landlock rows: "
              f"--sandbox landlock")
        print(table(times))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

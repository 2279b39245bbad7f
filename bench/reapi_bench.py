"""Remote execution through BuildGrid: round trip per trivial action, throughput by worker count.

Starts BuildGrid + PostgreSQL (dev/bgd_server.py) and `jbuild worker`s, then builds N
independent trivial actions (`mkdir -p $OUT; echo i > $OUT/x`, salted so the action cache
never answers) with --remote-executor:
  round trip: one worker, -j 1, so actions go one at a time: wall time / N;
  throughput: 1, 2, 4 workers, -j 16: actions per second.

    .venv/bin/python bench/reapi_bench.py --actions 24
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "dev"))
import bgd_server  # noqa: E402


def workspace(root: Path, n: int) -> Path:
    salt = uuid.uuid4().hex
    root.mkdir(parents=True)
    (root / "jbuild.toml").write_text("")
    (root / "BUILD").write_text("".join(
        f'package a{i} {{ version = "1" build = "mkdir -p $OUT; echo {salt}-{i} > $OUT/x" }}\n' for i in range(n)))
    return root


def build(ws: Path, store: Path, url: str, jobs: int, n: int) -> float:
    targets = [f"//:a{i}" for i in range(n)]
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "jbuild", "build", *targets, "--store", str(store), "--no-link",
                        "-j", str(jobs), "--remote-executor", url], cwd=ws, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if r.returncode != 0 or f"remote: {n} executed" not in r.stderr:
        sys.exit(f"build failed:\n{r.stderr[-3000:]}")
    return elapsed


def with_workers(url: str, root: Path, k: int, fn):
    procs = [subprocess.Popen([sys.executable, "-m", "jbuild", "worker", "--server", url, "--bot-id", f"bench-{k}-{i}"],
                              stderr=subprocess.DEVNULL) for i in range(k)]
    try:
        time.sleep(2)  # let them open their bot sessions
        return fn()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--actions", type=int, default=24)
    args = ap.parse_args()
    n = args.actions
    why = bgd_server.missing()
    if why:
        sys.exit(f"cannot start BuildGrid: {why}")
    tmp = Path(tempfile.mkdtemp(prefix="reapi-bench-"))
    tmp.chmod(0o755)  # PostgreSQL runs as another user below it
    server = bgd_server.Server(tmp / "server").start(timeout=180)
    try:
        runs = iter(range(100))

        def run(jobs, count):
            i = next(runs)
            return build(workspace(tmp / f"ws{i}", count), tmp / f"store{i}", server.url, jobs, count)

        with_workers(server.url, tmp, 1, lambda: run(1, 2))  # warm-up: connections, first-use costs
        one = with_workers(server.url, tmp, 1, lambda: run(1, n))
        print(f"round trip per trivial action (1 worker, -j 1, {n} actions): {one / n * 1000:.0f} ms")
        for k in (1, 2, 4):
            t = with_workers(server.url, tmp, k, lambda: run(16, n))
            print(f"{k} worker(s), -j 16, {n} actions: {t:.1f} s, {n / t:.1f} actions/s")
    finally:
        server.stop()


if __name__ == "__main__":
    main()

"""What a one-file edit costs: the CLI's incremental build and watch mode's re-plan, in a
generated workspace (engine_bench.generate: libc plus N packages in layers).

    .venv/bin/python bench/watch_bench.py --packages 10000
    .venv/bin/python bench/watch_bench.py --workspace DIR --store DIR   # an already built one

Measures leaf edits (the last package's source; libc's output holds its implementation, so a
libc patch here rebuilds everything — not a watch-mode figure):
- CLI: wall time of `jbuild build //...` (a process; it restores the saved session);
- watch: in one process, as `jbuild watch` holds it: `Session.update([path])` (the re-plan),
  the time from the edit's update until the executor starts the action ("jbuild's own time
  before the action starts"), and the whole run. `--compare PYTHON` also times the CLI of
  another checkout's interpreter (e.g. /work/main/.venv/bin/python: the code before).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def cli_build(python: str, root: Path, store: Path, sandbox: str) -> float:
    start = time.perf_counter()
    r = subprocess.run([python, "-m", "jbuild", "build", "//...", "-j", "2", "--sandbox", sandbox, "--no-link"],
                       cwd=root, env={**os.environ, "JBUILD_STORE": str(store)}, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"build failed:\n{r.stderr[-3000:]}")
    return time.perf_counter() - start


class _Timed:
    """The executor, noting when the first action starts."""

    def __init__(self, inner):
        self.inner, self.first = inner, None

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def run(self, job):
        self.first = self.first or time.perf_counter()
        return self.inner.run(job)


def watch_mode(root: Path, store: Path, sandbox: str, edits: list[Path], rounds: int) -> list[tuple]:
    """(file, update ms, until the action starts ms, whole run ms, re-keyed nodes) per edit."""
    from jbuild.engine import sandbox as sandboxes
    from jbuild.engine.build import run
    from jbuild.engine.session import Session
    from jbuild.engine.settings import Options

    made = []
    real = sandboxes.make_executor
    sandboxes.make_executor = lambda kind: made.append(_Timed(real(kind))) or made[-1]
    session = Session(["//..."], Options(sandbox=sandbox, store=str(store), jobs=2, out_link=None), str(root))
    session.settle(run(session.plan())[1])
    rows = []
    for i in range(rounds):
        for path in edits:
            path.write_text(f"edit {i} {time.time_ns()}\n")
            start = time.perf_counter()
            plan = session.update([str(path)])
            planned = time.perf_counter()
            code, rb = run(plan)
            done = time.perf_counter()
            session.settle(rb)
            first = made[-1].first or done
            rows.append((path.name, (planned - start) * 1000, (first - start) * 1000, (done - start) * 1000,
                         plan.rekeyed, code))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packages", type=int, default=1000)
    ap.add_argument("--workspace", type=Path, help="an already generated (and built) workspace")
    ap.add_argument("--store", type=Path)
    ap.add_argument("--sandbox", default="bwrap", choices=["bwrap", "fallback"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--compare", help="another checkout's python, timed on the same CLI edits")
    ap.add_argument("--cli-rounds", type=int, default=None, help="CLI edits (default: --rounds; 0 skips the CLI)")
    args = ap.parse_args()
    if args.workspace:
        root, store = args.workspace, args.store
    else:
        from engine_bench import generate

        base = Path(tempfile.mkdtemp(prefix="jbuild-watch-bench-"))
        root, store = base / "ws", base / "store"
        root.mkdir()
        generate(root, args.packages)
        print(f"full build: {cli_build(sys.executable, root, store, args.sandbox):.1f} s")
    n = sum(1 for _ in (root / "src").iterdir())
    leaf = root / "src" / f"p{n - 1}.txt"
    print(f"{n} packages, load {os.getloadavg()[0]:.1f}")
    for name, python in [("this", sys.executable), *([("compare", args.compare)] if args.compare else [])]:
        times = []
        rounds = args.rounds if args.cli_rounds is None else args.cli_rounds
        if not rounds:
            break
        for i in range(rounds):
            leaf.write_text(f"cli {name} {i}\n")
            times.append(cli_build(python, root, store, args.sandbox))
        print(f"CLI leaf edit ({name}: {python}): median {statistics.median(times):.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in times)})")
    rows = watch_mode(root, store, args.sandbox, [leaf], args.rounds)
    print(f"{'watch: edit':16} {'re-plan ms':>10} {'to action ms':>13} {'run ms':>8} {'re-keyed':>9}")
    for name, plan_ms, first_ms, run_ms, rekeyed, code in rows:
        print(f"{name:16} {plan_ms:10.1f} {first_ms:13.1f} {run_ms:8.1f} {rekeyed:9d}" + ("" if code == 0 else " FAILED"))


if __name__ == "__main__":
    main()

"""A repeated step of `jbuild build //...` (no-op, leaf edit, libc patch) on one kept bench
workspace, run by several checkouts in turn: the fixed cost of a run, side by side.

On this shared 2-core machine wall times follow everyone's load; so each run also reports its
CPU time (the process and the children it waited for), and `--instructions` counts the jbuild
process's instructions under valgrind's callgrind, which no load changes (about 40x slower).
Checkouts with the same session and snapshot formats may share the workspace (the step is redone
before each run). Each checkout is named by its Python: NAME=PYTHON (a venv with jbuild installed).

    .venv/bin/python bench/startup_bench.py --reuse /tmp/jbuild-engine-bench-x --step noop \\
        base=/tmp/main/.venv/bin/python mine=.venv/bin/python [--rounds 9] [--instructions]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

STEPS = {"noop": "0 built", "edit": "1 built", "patch": "1 built"}


def change(ws: Path, step: str, tag: int) -> None:
    """Redo the step's edit (as bench/engine_bench.py makes it), different each time."""
    if step == "edit":
        n = len(os.listdir(ws / "src"))
        (ws / "src" / f"p{n - 1}.txt").write_text(f"edit {tag}\n")
    elif step == "patch":
        # (a value never used before: the store keeps every earlier patch's libc, which would be reused)
        (ws / "libc" / "impl.c").write_text("int libc_answer(void) { return %d; }\n" % (tag % 2_000_000_000))


def run(python: str, ws: Path, step: str, instructions: bool = False, check: bool = True) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one build, or (instructions, 0) under callgrind."""
    env = {**os.environ, "JBUILD_STORE": f"{ws}-store"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: start-up reads bytecode
    cmd = [python, "-m", "jbuild", "build", "//...", "-j", "2", "--sandbox", "bwrap", "--no-link",
           "--build-events", f"{ws}-events.json"]
    if instructions:
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ws, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0 or (check and STEPS[step] not in err):
        raise SystemExit(f"{cmd} ({step}):\n{err[-2000:]}")
    if instructions:
        return float(re.search(r"Collected : (\d+)", err)[1]), 0.0
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pythons", nargs="+", metavar="NAME=PYTHON")
    ap.add_argument("--reuse", type=Path, required=True, metavar="DIR", help="a workspace kept by engine_bench.py --keep")
    ap.add_argument("--step", choices=sorted(STEPS), default="noop")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--instructions", action="store_true", help="count instructions under callgrind instead")
    args = ap.parse_args()
    ws, tag = args.reuse.resolve(), time.time_ns()
    named = [p.split("=", 1) for p in args.pythons]
    for _, python in named:  # each settles first: bytecode written, what the last run left caught up
        for _ in range(2):
            change(ws, args.step, tag := tag + 1)
            run(python, ws, args.step, check=False)
    results: dict[str, list] = {name: [] for name, _ in named}
    loads = []
    for r in range(args.rounds):
        for name, python in named if r % 2 == 0 else named[::-1]:  # alternating who goes first
            change(ws, args.step, tag := tag + 1)
            results[name].append(run(python, ws, args.step, args.instructions))
        loads.append(os.getloadavg()[0])
    print(f"{args.step} at {ws} ({len(os.listdir(ws / 'src'))} packages), {args.rounds} rounds alternating; "
          f"1-min load {min(loads):.2f}-{max(loads):.2f}")
    for name, rs in results.items():
        if args.instructions:
            print(f"  {name:8} instructions median {statistics.median(r[0] for r in rs) / 1e6:9.1f} M")
        else:
            print(f"  {name:8} wall median {statistics.median(r[0] for r in rs):.3f} s   "
                  f"CPU median {statistics.median(r[1] for r in rs):.3f} s (min {min(r[1] for r in rs):.3f})")


if __name__ == "__main__":
    main()

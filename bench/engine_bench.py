"""Engine benchmark against ninja on the same synthetic distribution (whole-process timings).

libc at the bottom with a declared interface, N packages in layers, each requiring libc and a
few earlier packages; trivial shell actions. Measures, for jbuild (bubblewrap) and ninja in the
same run: full build, no-op, one leaf edit, a libc implementation patch (with action counts);
then the same full build in jbuild's fallback sandbox, whose difference per action is the
cost of bubblewrap.

    .venv/bin/python bench/engine_bench.py --packages 1000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate(root: Path, n: int) -> None:
    rng = random.Random(1)
    (root / "jbuild.toml").write_text("")
    (root / "libc").mkdir()
    (root / "libc" / "impl.c").write_text("impl 1\n")
    (root / "libc" / "api.h").write_text("api 1\n")
    blocks = ["""package libc {
    version = "2.24"
    sources = ["libc/impl.c", "libc/api.h"]
    interface = ["libc/api.h"]
    build = "mkdir -p $OUT && cat $SRC/libc/impl.c $SRC/libc/api.h > $OUT/libc"
}"""]
    # ninja builds in a directory of its own (its outputs must not land in jbuild's workspace)
    ninja = [f"ws = {root}\nrule cp\n  command = cat $in > $out\n", "build out/libc: cp $ws/libc/impl.c $ws/libc/api.h\n"]
    (root / "src").mkdir()
    for i in range(n):
        deps = sorted({rng.randrange(i) for _ in range(3)}) if i else []
        (root / "src" / f"p{i}.txt").write_text(f"{i}\n")
        reqs = ", ".join([":libc"] + [f":p{d}" for d in deps])
        blocks.append(f"""package p{i} {{
    version = "1.0"
    sources = ["src/p{i}.txt"]
    interface = ["src/p{i}.txt"]
    requires = [{reqs}]
    build = "mkdir -p $OUT && cat $SRC/src/p{i}.txt > $OUT/p{i}"
}}""")
        # The same work as jbuild's action: copy its own source; dependencies order it only.
        implicit = " ".join(["out/libc"] + [f"out/p{d}" for d in deps])
        ninja.append(f"build out/p{i}: cp $ws/src/p{i}.txt | {implicit}\n")
    (root / "BUILD").write_text("\n".join(blocks))
    ninja_dir = root.parent / (root.name + "-ninja")
    ninja_dir.mkdir()
    (ninja_dir / "build.ninja").write_text("".join(ninja))


def timed(cmd, cwd, env=None) -> tuple[float, str]:
    start = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{cmd} failed:\n{r.stderr[-3000:]}")
    return time.perf_counter() - start, r.stdout + r.stderr


def jbuild_actions(events: Path) -> int:
    return sum(1 for x in events.read_text().splitlines()
               if json.loads(x)["event"] == "action_executed")


def sandbox_cost(root: Path, runs: int = 50) -> tuple[float, float]:
    """Best-of-`runs` milliseconds for one `true` job in each executor, same process, same job."""
    from jbuild.engine.sandbox import BwrapExecutor, FallbackExecutor, Job

    dirs = {d: root / "sandbox-cost" / d for d in ("src", "out", "tmp", "env")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    job = Job(script="true", src=dirs["src"], out=dirs["out"], tmp=dirs["tmp"], env_tree=dirs["env"])
    out = []
    for executor in (BwrapExecutor(), FallbackExecutor()):
        best = float("inf")
        for _ in range(runs):
            start = time.perf_counter()
            executor.run(job)
            best = min(best, time.perf_counter() - start)
        out.append(best * 1000)
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packages", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="jbuild-engine-bench-"))
    env = {"JBUILD_STORE": str(root.parent / (root.name + "-store"))}  # a store outside the workspace
    ev = root / "events.json"
    jb = [sys.executable, "-m", "jbuild", "build", "//...", "-j", str(args.jobs), "--sandbox", "bwrap",
          "--build-events", str(ev)]
    nj = ["ninja", "-j", str(args.jobs)]
    try:
        generate(root, args.packages)
        rows = []

        def step(name, edit=None):
            if edit:
                edit()
            tj, _ = timed(jb, root, env)
            aj = jbuild_actions(ev)
            tn, out = timed(nj, root.parent / (root.name + "-ninja"))
            an = 0 if "no work to do" in out else int(out.strip().splitlines()[-1].split("/")[1].split("]")[0])
            rows.append((name, tj, aj, tn, an))

        step("full build")
        step("no-op")
        step("leaf edit", lambda: (root / "src" / f"p{args.packages - 1}.txt").write_text("edited\n"))
        step("libc impl patch", lambda: (root / "libc" / "impl.c").write_text("impl 2\n"))
        print(f"{args.packages} packages, -j {args.jobs}")
        print(f"{'step':18} {'jbuild s':>9} {'actions':>8} {'ninja s':>8} {'actions':>8} {'ratio':>7}")
        for name, tj, aj, tn, an in rows:
            print(f"{name:18} {tj:9.2f} {aj:8d} {tn:8.2f} {an:8d} {tj / max(tn, 1e-3):7.1f}")
        full = rows[0]
        print(f"per-action wall time (jbuild full build / actions): {full[1] / max(full[2], 1) * 1000:.1f} ms")
        bwrap, fallback = sandbox_cost(root)
        print(f"one trivial action in the executor: bubblewrap {bwrap:.1f} ms, fallback {fallback:.1f} ms "
              f"-> sandbox overhead {bwrap - fallback:.1f} ms")
        print(f"peak RSS of a jbuild process: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024} MiB")
    finally:
        store = Path(env["JBUILD_STORE"])
        subprocess.run(["chmod", "-R", "u+w", str(root), str(store)], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(root.parent / (root.name + "-ninja"), ignore_errors=True)


if __name__ == "__main__":
    main()

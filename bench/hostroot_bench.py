"""Host root benchmark: what assembling the sandbox's /usr costs, once and per action.

For the @std tools sh and cc (and their union, what the example's actions get): the closure's
size (packages, files, MB), the cold assembly time with hard links (store on the same
filesystem as /usr) and with copies (store on /dev/shm, another filesystem), and the
warm lookup. Then per action: a `true` job in bubblewrap with the assembled /usr against the
host's whole /usr, `--runs` times each (median and mean).

    .venv/bin/python bench/hostroot_bench.py --runs 50
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from jbuild.dsl.lowering import lower_file
from jbuild.dsl.parser import parse
from jbuild.dsl.workspace import stdlib_dir
from jbuild.engine import dpkg, hostroot
from jbuild.engine.sandbox import BwrapExecutor, Job


def std_packages() -> dict[str, tuple[str, ...]]:
    targets = lower_file(parse((stdlib_dir() / "host" / "BUILD").read_text(), "BUILD"), "host", "std")
    return {t.label.name: t.host_tool.debian_packages for t in targets}


def closure_size(packages) -> tuple[int, int, float]:
    closure = dpkg.package_closure(set(packages) | set(hostroot.SANDBOX_PACKAGES))
    files = size = 0
    for path in hostroot.host_files([n for n, _ in closure]):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if not os.path.isdir(path) or os.path.islink(path):
            files += 1
            size += st.st_size if os.path.isfile(path) and not os.path.islink(path) else 0
    return len(closure), files, size / 1e6


def assemble(store: Path, packages) -> float:
    hostroot._MEMO.clear()
    start = time.perf_counter()
    hostroot.host_root(store, packages)
    return time.perf_counter() - start


def per_action(host, runs: int, work: Path) -> list[float]:
    ex, times = BwrapExecutor(), []
    for i in range(runs):
        d = work / f"job{i}"
        for sub in ("src", "out", "tmp"):
            (d / sub).mkdir(parents=True)
        job = Job(script="true", src=d / "src", out=d / "out", tmp=d / "tmp", host=host)
        start = time.perf_counter()
        assert ex.run(job) == 0
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    std = std_packages()
    sets = {"sh": std["sh"], "cc": std["cc"], "cc+sh": std["cc"] + std["sh"]}
    work = Path(tempfile.mkdtemp(prefix="jbuild-hostroot-bench-", dir="/var/tmp"))
    shm = Path(tempfile.mkdtemp(prefix="jbuild-hostroot-bench-", dir="/dev/shm"))
    try:
        print(f"{'set':6} {'pkgs':>5} {'files':>6} {'MB':>7} {'link s':>7} {'copy s':>7} {'warm ms':>8}")
        roots = {}
        for name, pkgs in sets.items():
            n, files, mb = closure_size(pkgs)
            linked = assemble(work / "store", pkgs)
            copied = assemble(shm / "store", pkgs)
            warm = assemble(work / "store", pkgs) * 1000
            hostroot._MEMO.clear()
            roots[name] = hostroot.host_root(work / "store", pkgs)
            print(f"{name:6} {n:5} {files:6} {mb:7.1f} {linked:7.2f} {copied:7.2f} {warm:8.1f}")
        for label, host in (("host /usr", None), ("cc+sh tree", roots["cc+sh"])):
            t = per_action(host, args.runs, work / label.replace(" ", "_").replace("/", ""))
            print(f"bwrap `true`, {label:10}: median {statistics.median(t) * 1000:.1f} ms, "
                  f"mean {statistics.mean(t) * 1000:.1f} ms ({args.runs} runs)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)


if __name__ == "__main__":
    main()

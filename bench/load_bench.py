"""Load benchmark: a generated workspace of 1,000 BUILD files / 10,000 packages.

Reports cold (no cache: lark parses every file) and warm (cached: stats only) load time of
`jbuild query //...` as whole processes, and peak memory (max RSS). Not a test.

    .venv/bin/python bench/load_bench.py [--dirs 1000] [--per-dir 10]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate(root: Path, dirs: int, per_dir: int) -> None:
    (root / "jbuild.toml").write_text("")
    for d in range(dirs):
        pkg = root / f"d{d // 100}" / f"p{d}"
        (pkg / "src").mkdir(parents=True)
        blocks = []
        for i in range(per_dir):
            (pkg / "src" / f"t{i}.c").write_text(f"int f{i}(void) {{ return {i}; }}\n")
            dep = f"//d{(d - 1) // 100}/p{d - 1}:t{i}" if d else "@std//host:sh"
            blocks.append(f"""
package t{i} {{
    version = "1.{i}"
    sources = glob(["src/t{i}.c"])
    requires = [:t{(i + 1) % per_dir} >= 1.0, {dep}]
    build = "mkdir -p $OUT && cp $SRC/src/t{i}.c $OUT/"
    config {{ port: int = {8000 + i} }}
}}""")
        (pkg / "BUILD").write_text("\n".join(blocks))


def timed(cmd: list[str], cwd: Path) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"failed: {proc.stderr[-2000:]}")
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dirs", type=int, default=1000)
    ap.add_argument("--per-dir", type=int, default=10)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="jbuild-bench-"))
    try:
        generate(root, args.dirs, args.per_dir)
        past = time.time() - 10  # out of the racy-clean window, as an edited-long-ago tree is
        for dirpath, _, files in os.walk(root):
            for name in [*files, "."]:
                os.utime(os.path.join(dirpath, name), (past, past))
        jb = [sys.executable, "-m", "jbuild", "query", "//..."]
        n = args.dirs * args.per_dir
        cold, _rss_cold = timed(jb, root)
        warm = min(timed(jb, root)[0] for _ in range(3))
        _, rss = timed(jb, root)
        startup = min(timed([sys.executable, "-m", "jbuild", "--version"], root)[0] for _ in range(3))
        print(f"packages: {n} in {args.dirs} BUILD files")
        print(f"cold load (parse all): {cold:.2f} s")
        print(f"warm load (cached):    {warm:.2f} s")
        print(f"process start-up:      {startup:.2f} s (jbuild --version)")
        print(f"peak RSS (max over runs): {rss} MiB")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()

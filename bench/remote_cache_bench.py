"""Shared-cache benchmark: a cold machine (empty store) with a warm cache, against a local
build from nothing, on the example (real cc builds) and on a synthetic distribution of N
packages (bench/engine_bench.py's generator), or on the example distribution (examples/distro:
six Debian source packages and their consumers, sources from its mirror/, which
dev/fetch-mirror.sh fills). The cache is a real nginx on 127.0.0.1.

    .venv/bin/python bench/remote_cache_bench.py [--packages 200]
    .venv/bin/python bench/remote_cache_bench.py --distro
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests" / "remote")]

from engine_bench import generate  # noqa: E402
from nginx_server import Nginx  # noqa: E402


def build(ws: Path, store: Path, target: str, *extra: str) -> tuple[float, str]:
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "jbuild", "build", target, "--no-link", *extra], cwd=ws,
                       env={"JBUILD_STORE": str(store), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"build failed:\n{r.stderr[-3000:]}")
    return time.perf_counter() - start, next(x for x in r.stderr.splitlines() if " built, " in x)


def measure(name: str, make_ws, target: str, tmp: Path, server: Nginx, *flags: str) -> None:
    runs = {}
    for what, extra in (("local build, empty store, no cache", ("--remote-cache", "")),
                        ("local build, empty store, uploading", ("--remote-cache", server.url)),
                        ("cold store, warm cache", ("--remote-cache", server.url))):
        ws = make_ws(tmp / f"{name}-{len(runs)}")
        runs[what] = build(ws, tmp / f"store-{name}-{len(runs)}", target, *flags, *extra)
        print(f"{name}: {what}: {runs[what][0]:.2f}s", file=sys.stderr, flush=True)
    for what, (secs, summary) in runs.items():
        print(f"{name}: {what}: {secs:.2f}s  ({summary})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packages", type=int, default=200)
    ap.add_argument("--distro", action="store_true", help="measure examples/distro only (--offline, from mirror/)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        server = Nginx(tmp / "nginx").start()
        try:
            if args.distro:
                distro = HERE.parent / "examples" / "distro"
                if not any((distro / "mirror").glob("*.orig.tar.*")):
                    sys.exit("examples/distro/mirror/ is empty: run dev/fetch-mirror.sh")
                measure("distro", lambda p: Path(shutil.copytree(distro, p, ignore=shutil.ignore_patterns(
                    ".jbuild", "result*"))), "//...", tmp, server, "--offline")
                return
            example = HERE.parent / "examples" / "geotags"
            measure("example", lambda p: Path(shutil.copytree(example, p, ignore=shutil.ignore_patterns(
                ".jbuild", "result*"))), "//services:geotags", tmp, server)

            def synthetic(p: Path) -> Path:
                p.mkdir()
                generate(p, args.packages)
                return p

            measure(f"synthetic-{args.packages}", synthetic, "//...", tmp, server)
        finally:
            server.stop()


if __name__ == "__main__":
    main()

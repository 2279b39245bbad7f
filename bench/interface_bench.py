"""How long measuring an entry's exported interface takes (engine/exported.py).

Entries of various sizes, built or copied into a temporary directory: a small cc-built library,
the host's libc.so.6, libstdc++ if present, a 5 MB static archive, and all of them together.
Reports the best and median wall time of measure() per entry over --repeat runs, plus a check
of the output (engine/outputs.py) for comparison.

    .venv/bin/python bench/interface_bench.py --repeat 20
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

from jbuild.engine.exported import measure
from jbuild.engine.outputs import check_output

HOST_LIBS = Path("/usr/lib/x86_64-linux-gnu")


def small_lib(entry: Path, work: Path) -> None:
    (entry / "include").mkdir(parents=True)
    (entry / "include" / "z.h").write_text("int z(int);\n")
    (entry / "lib").mkdir()
    src = work / "z.c"
    src.write_text("int z_tab[4];\nint z(int x) { return x + z_tab[x & 3]; }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-Wl,-soname,libz.so.1", str(src), "-o", str(entry / "lib" / "libz.so.1")],
                   check=True)
    os.symlink("libz.so.1", entry / "lib" / "libz.so")


def host_copy(entry: Path, name: str) -> bool:
    path = HOST_LIBS / name
    if not path.exists():
        return False
    (entry / "lib").mkdir(parents=True)
    shutil.copy(path.resolve(), entry / "lib" / path.resolve().name)
    return True


def big_archive(entry: Path, work: Path, megabytes: int = 5) -> None:
    """A real ar archive of cc-built objects, padded to size with a large data object."""
    (entry / "lib").mkdir(parents=True)
    objs = []
    for i in range(20):
        src = work / f"a{i}.c"
        src.write_text(f"char blob{i}[{megabytes * 52_000}] = {{1}};\nint f{i}(int x) {{ return x * {i}; }}\n")
        obj = work / f"a{i}.o"
        subprocess.run(["cc", "-c", str(src), "-o", str(obj)], check=True)
        objs.append(str(obj))
    subprocess.run(["ar", "rcs", str(entry / "lib" / "libbig.a"), *objs], check=True)


def timed(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        entries: dict[str, Path] = {}
        small_lib(root / "small", root)
        entries["small cc-built lib"] = root / "small"
        for name in ("libc.so.6", "libstdc++.so.6"):
            if host_copy(root / name, name):
                entries[f"host {name}"] = root / name
        big_archive(root / "archive", root)
        entries["5 MB static archive"] = root / "archive"
        shutil.copytree(root, root / "all", symlinks=True, ignore=shutil.ignore_patterns("*.c", "*.o"))
        entries["all of the above"] = root / "all"
        measure(entries["small cc-built lib"])  # imports and first-call costs out of the figures
        print(f"{'entry':24} {'size':>9} {'symbols':>8} {'measure best/median ms':>24} {'check_output ms':>16}")
        for label, entry in entries.items():
            size = sum(p.stat().st_size for p in entry.rglob("*") if p.is_file() and not p.is_symlink())
            detail = measure(entry).detail
            symbols = sum(len(item.get("symbols", ())) for item in detail.values())
            best, median = timed(lambda e=entry: measure(e), args.repeat)
            check, _ = timed(lambda e=entry: check_output(e, [tmp, "/work/ws", "/tmp/jbuild-x"]), args.repeat)
            print(f"{label:24} {size / 1e6:7.1f}MB {symbols:8d} {best:11.1f} / {median:8.1f} {check:16.1f}")


if __name__ == "__main__":
    main()

"""Environment benchmark: assembling the environment of a closure already built.

A generated closure of N packages (default 500) is published into a fresh store through the
store API, each entry with a shared library and its .so link in lib/, a header in include/,
a real dynamically linked program in bin/ (so every one gets a launcher) and a doc in share/.
Measured: the cold assembly (nothing in the store yet), the unchanged assembly (found in the
store), and a cold assembly after one member changed (a patched library). Then the cost of the
launcher per exec: the program through its launcher against the bare store binary.

    .venv/bin/python bench/env_bench.py [--packages 500] [--runs 200] [--store-dir /tmp]
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

from jbuild.engine.runtime.environment import Member, assemble
from jbuild.engine.store import EntryMeta, Store


def compile_program(work: Path) -> Path:
    (work / "p.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["cc", "-O2", "-o", str(work / "p"), str(work / "p.c")], check=True)
    return work / "p"


def publish(store: Store, i: int, program: Path, flavour: str = "") -> Member:
    with store.temporary() as tmp:
        out = tmp.out
        for d in ("lib", "include", "bin", "share/doc"):
            (out / d).mkdir(parents=True)
        (out / f"lib/libpkg{i}.so.1").write_text(f"library {i}{flavour}\n")
        os.symlink(f"libpkg{i}.so.1", out / f"lib/libpkg{i}.so")
        (out / f"include/pkg{i}.h").write_text(f"int pkg{i}(void);\n")
        shutil.copy(program, out / f"bin/tool{i}")
        (out / f"share/doc/pkg{i}").write_text("doc\n")
        name = f"{i:032x}{flavour}-pkg{i}-1"
        store.publish(out, EntryMeta(key=name.split("-")[0], name=name, label=f"//gen:pkg{i}"))
    return Member(f"//gen:pkg{i}", name, ("lib", "include", "bin", "share"))


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def exec_cost(argv: list[str], runs: int, env: dict) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, env=env, check=True)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packages", type=int, default=500)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--store-dir", default=None, help="where to make the scratch store (default: the temp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.store_dir) as scratch:
        work = Path(scratch)
        program = compile_program(work)
        store = Store(work / "store")
        t, members = timed(lambda: [publish(store, i, program) for i in range(args.packages)])
        print(f"setup: {args.packages} entries published in {t:.2f}s")
        with store.shared():
            cold, env = timed(lambda: assemble(store, members, {"app.conf": "port = 7\n"}, title="bench"))
            warm, again = timed(lambda: assemble(store, members, {"app.conf": "port = 7\n"}, title="bench"))
            assert again == env
            patched = [*members[:-1], publish(store, args.packages - 1, program, "b")]
            one, _ = timed(lambda: assemble(store, patched, {"app.conf": "port = 7\n"}, title="bench"))
        files = sum(len(f) for _, _, f in os.walk(env))
        print(f"environment of {args.packages} packages ({files} files): cold {cold * 1000:.0f} ms, "
              f"unchanged {warm * 1e6:.0f} us, one member changed {one * 1000:.0f} ms")
        env_plain = {"PATH": "/usr/bin:/bin"}
        launched = exec_cost([str(env / "bin/tool0")], args.runs, env_plain)
        bare = exec_cost([str(store.path(members[0].entry) / "bin/tool0")], args.runs, env_plain)
        print(f"exec, median of {args.runs}: through the launcher {launched * 1000:.2f} ms, "
              f"bare binary {bare * 1000:.2f} ms (launcher +{(launched - bare) * 1000:.2f} ms)")


if __name__ == "__main__":
    main()

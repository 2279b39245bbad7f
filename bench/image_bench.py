"""Image benchmark: a closure of N built packages (default 500) exported as an OCI image.

The entries are published into a fresh store through the store API (as bench/env_bench.py
does): each holds a shared library and its .so link, a header, a real dynamically linked
program (so the host C library layer is needed) and a doc. Measured, in-process and as whole
processes (`python bench/image_bench.py --export ...`, imports included):
  cold         every layer new (the first image holding these entries)
  warm         the same closure again (every layer cached)
  one changed  one entry replaced by a patched one (one new layer)
and, for comparison, the same closure laid out as one directory and exported by umoci
(`umoci init/new/insert`, one layer; and one `umoci insert` per entry, one layer each), then
`skopeo copy oci:... oci-archive:...`, all timed as whole processes.

    .venv/bin/python bench/image_bench.py [--packages 500] [--store-dir /tmp] [--no-per-entry-umoci]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jbuild.engine.image.compose import Runtime, compose
from jbuild.engine.image.oci import write_archive
from jbuild.engine.runtime.environment import Member, member_files
from jbuild.engine.store import EntryMeta, Store

HOST = ["libc6"]


def compile_program(work: Path) -> Path:
    (work / "p.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["cc", "-O2", "-o", str(work / "p"), str(work / "p.c")], check=True)
    return work / "p"


def publish(store: Store, i: int, program: Path, flavour: str = "") -> Member:
    with store.temporary() as tmp:
        out = tmp.out
        for d in ("lib", "include", "bin", "share/doc"):
            (out / d).mkdir(parents=True)
        (out / f"lib/libpkg{i}.so.1").write_text(f"library {i}{flavour}\n" * 200)
        os.symlink(f"libpkg{i}.so.1", out / f"lib/libpkg{i}.so")
        (out / f"include/pkg{i}.h").write_text(f"int pkg{i}(void);\n")
        shutil.copy(program, out / f"bin/tool{i}")
        (out / f"share/doc/pkg{i}").write_text("doc\n")
        name = f"{i:032x}{flavour}-pkg{i}-1"
        store.publish(out, EntryMeta(key=name.split("-")[0], name=name, label=f"//gen:pkg{i}"))
    return Member(f"//gen:pkg{i}", name, ("lib", "include", "bin", "share"))


def export(store: Store, members: list[Member], out: Path):
    with store.shared():
        composed = compose(store, members, {"app.conf": "port = 7\n"}, Runtime(entrypoint=("/bin/tool0",)), HOST,
                           "bench:1")
        write_archive(composed.image, out)
    return composed


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


CPU = {"used": 0.0}  # CPU seconds (user + system) of the child processes run so far


def run(argv: list[str]) -> float:
    """Wall seconds of a whole process; its CPU seconds are added to CPU (on a loaded machine
    the wall time measures the neighbours too)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["used"] += after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall


def cpu_of(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of fn(), whose processes are measured by `run`."""
    CPU["used"] = 0.0
    wall = fn()
    return wall, CPU["used"]


def our_process(store: Path, members: list[Member], out: Path, work: Path) -> float:
    listing = work / "members.json"
    listing.write_text(json.dumps([m.to_json() for m in members]))
    return run([sys.executable, __file__, "--export", str(store), str(listing), str(out)])


def rootfs_of(store: Store, members: list[Member], dest: Path) -> list[Path]:
    """The closure laid out as directories: one per entry (for per-entry umoci) and one whole."""
    per_entry = []
    for m in members:
        d = dest / "entries" / m.entry
        for rel, src in sorted(member_files(store, m).items()):
            target = d / rel
            if not src:
                target.mkdir(parents=True, exist_ok=True)
            elif os.path.islink(src):
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(os.readlink(src), target)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)
        per_entry.append(d)
    (dest / "whole").mkdir()
    subprocess.run(["cp", "-a", *[str(p) + "/." for p in per_entry], str(dest / "whole")], check=True)
    return per_entry


def umoci_figures(work: Path, per_entry: list[Path], whole: Path, each: bool) -> dict[str, tuple[float, float]]:
    out = {}
    layout = work / "umoci"
    out["umoci init+new+insert (one layer)"] = cpu_of(lambda: sum(run(argv) for argv in (
        ["umoci", "init", "--layout", str(layout)], ["umoci", "new", "--image", f"{layout}:t"],
        ["umoci", "insert", "--image", f"{layout}:t", str(whole), "/"])))
    out["skopeo copy oci -> oci-archive"] = cpu_of(
        lambda: run(["skopeo", "copy", f"oci:{layout}:t", f"oci-archive:{work / 'u.tar'}"]))
    if each:
        layout2 = work / "umoci-each"
        out[f"umoci insert per entry ({len(per_entry)} layers)"] = cpu_of(lambda: sum(run(argv) for argv in (
            ["umoci", "init", "--layout", str(layout2)], ["umoci", "new", "--image", f"{layout2}:t"],
            *(["umoci", "insert", "--image", f"{layout2}:t", str(d), "/"] for d in per_entry))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packages", type=int, default=500)
    ap.add_argument("--store-dir", default=None, help="where to make the scratch stores (default: the temp dir)")
    ap.add_argument("--no-per-entry-umoci", action="store_true", help="skip the slow one-insert-per-entry run")
    ap.add_argument("--export", nargs=3, metavar=("STORE", "MEMBERS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.export:
        store, listing, out = args.export
        export(Store(Path(store)), [Member.from_json(m) for m in json.loads(Path(listing).read_text())], Path(out))
        return
    n = args.packages
    with tempfile.TemporaryDirectory(dir=args.store_dir) as scratch:
        work = Path(scratch)
        program = compile_program(work)
        a, b = Store(work / "a"), Store(work / "b")
        t, members = timed(lambda: [publish(a, i, program) for i in range(n)])
        members_b = [publish(b, i, program) for i in range(n)]
        print(f"setup: {n} entries published in {t:.2f}s (twice: an in-process store and a process store)")
        cold, composed = timed(lambda: export(a, members, work / "a.tar"))
        warm, again = timed(lambda: export(a, members, work / "a2.tar"))
        assert again.image.digest == composed.image.digest
        patched = [*members[:-1], publish(a, n - 1, program, "b")]
        one, changed = timed(lambda: export(a, patched, work / "a3.tar"))
        assert changed.new_layers == 1
        img = composed.image
        print(f"image: {len(img.all_layers)} layers, {img.size():,} bytes compressed "
              f"(archive {os.path.getsize(work / 'a.tar'):,}); host C library layer {img.layers[0].size:,} bytes")
        print(f"in-process: cold {cold:.3f}s ({cold / n * 1000:.2f} ms per layer), warm {warm:.3f}s, "
              f"one entry changed {one:.3f}s")
        p_cold = cpu_of(lambda: our_process(b.root, members_b, work / "b.tar", work))
        p_warm = cpu_of(lambda: our_process(b.root, members_b, work / "b2.tar", work))
        patched_b = [*members_b[:-1], publish(b, n - 1, program, "b")]
        p_one = cpu_of(lambda: our_process(b.root, patched_b, work / "b3.tar", work))
        print("jbuild export, whole process (wall / CPU): " + ", ".join(
            f"{what} {w:.3f}s / {c:.3f}s" for what, (w, c) in
            (("cold", p_cold), ("warm", p_warm), ("one entry changed", p_one))))
        print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        per_entry = rootfs_of(a, members, work / "rootfs")
        for what, (secs, cpu) in umoci_figures(work, per_entry, work / "rootfs" / "whole",
                                               not args.no_per_entry_umoci).items():
            print(f"{what}: {secs:.3f}s wall / {cpu:.3f}s CPU (whole processes)")


if __name__ == "__main__":
    main()

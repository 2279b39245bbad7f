"""Parse benchmark: BUILD files with 10 MB strings, which must cost time linear in their size
(a quadratic scan or a second parse of the whole file would take many times as long); and the
loader's share of an edit of one 10,000-package BUILD file (`--packages`): a cold load, then a
loader that kept the last load's entry (as a kept session's does) after one build script
changed, and after lines were added at the top (every piece moved: read back, none parsed).

Reports the median CPU seconds (process time, so a loaded machine skews it less) of loading
one package from a file with a 10 MB string and a 5 MB long string, and of failing on a 10 MB
unterminated string (parsed once: tests/dsl/test_load_errors.py). Not a test.

    .venv/bin/python bench/parse_bench.py [--rounds 5] [--packages 10000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from jbuild.dsl.errors import RecipeError
from jbuild.dsl.labels import parse_label
from jbuild.dsl.loader import Loader
from jbuild.dsl.workspace import Workspace

BODY = "a" * 10_000_000
CASES = {
    "10 MB string": f'package p {{ version = "1" summary = "{BODY}" build = """\n{BODY[:5_000_000]}\n""" }}',
    "10 MB unterminated string": 'package p { version = "1" summary = "' + BODY + " }",
}


def cpu_seconds(text: str) -> float:
    with tempfile.TemporaryDirectory(prefix="jbuild-parse-bench-") as tmp:
        root = Path(tmp)
        (root / "jbuild.toml").write_text("")
        (root / "p").mkdir()
        (root / "p" / "BUILD").write_text(text)
        start = time.process_time()
        try:
            Loader(Workspace(root)).lookup(parse_label("//p:p"))
        except RecipeError:
            pass
        return time.process_time() - start


def big_file(n: int, mark: str = "") -> str:
    return "".join(f'package p{i} {{\n    version = "1.0"\n    sources = ["src/p{i}.txt"]\n'
                   f'    requires = [{", ".join(f":p{j}" for j in range(max(0, i - 2), i))}]\n'
                   f'    build = "cat $SRC/src/p{i}.txt > $OUT/p{i}{mark if i == n // 2 else ""}"\n}}\n'
                   for i in range(n))


def build_file_edits(n: int) -> dict[str, float]:
    """CPU seconds of the loader's part of each: a cold load, a one-script edit, lines on top."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="jbuild-parse-bench-") as tmp:
        root = Path(tmp)
        (root / "jbuild.toml").write_text("")
        (root / "src").mkdir()
        for i in range(n):
            (root / "src" / f"p{i}.txt").write_text(f"{i}\n")
        (root / "BUILD").write_text(big_file(n))
        loader = Loader(Workspace(root))
        for name, text in [("cold load", None), ("one build script edited", big_file(n, " # edited")),
                           ("3 lines added at the top", "# a\n# b\n# c\n" + big_file(n, " # edited"))]:
            if text is not None:
                (root / "BUILD").write_text(text)
                loader.packages.clear()
                loader._index.clear()
            start = time.process_time()
            assert len(loader.package("", "")) == n
            out[name] = time.process_time() - start
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--packages", type=int, default=10_000, help="packages of the one large BUILD file (0: skip)")
    args = ap.parse_args()
    for name, text in CASES.items():
        times = [cpu_seconds(text) for _ in range(args.rounds)]
        print(f"{name}: median {statistics.median(times):.2f} CPU s over {args.rounds} rounds "
              f"(min {min(times):.2f}, max {max(times):.2f})")
    if args.packages:
        runs = [build_file_edits(args.packages) for _ in range(args.rounds)]
        for name in runs[0]:
            times = [r[name] for r in runs]
            print(f"{args.packages} packages in one BUILD file, {name}: median {statistics.median(times):.2f} CPU s")


if __name__ == "__main__":
    main()

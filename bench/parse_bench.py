"""Parse benchmark: BUILD files with 10 MB strings, which must cost time linear in their size
(a quadratic scan or a second parse of the whole file would take many times as long).

Reports the median CPU seconds (process time, so a loaded machine skews it less) of loading
one package from a file with a 10 MB string and a 5 MB long string, and of failing on a 10 MB
unterminated string (parsed once: tests/dsl/test_load_errors.py). Not a test.

    .venv/bin/python bench/parse_bench.py [--rounds 5]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    for name, text in CASES.items():
        times = [cpu_seconds(text) for _ in range(args.rounds)]
        print(f"{name}: median {statistics.median(times):.2f} CPU s over {args.rounds} rounds "
              f"(min {min(times):.2f}, max {max(times):.2f})")


if __name__ == "__main__":
    main()

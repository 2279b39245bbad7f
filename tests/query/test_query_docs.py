"""Every ```console example of docs/query.md runs, in order, in one copy of the example
workspace, and prints what the page says (`<key>` is any key, `<store>` the store's path)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from helpers import REPO, pristine_example

DOC = REPO / "docs" / "query.md"


def examples():
    """[(command, [expected stdout lines] or None when the page shows none)], in page order."""
    out = []
    for block in re.findall(r"```console\n(.*?)```", DOC.read_text(), re.DOTALL):
        for chunk in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, *lines = chunk.rstrip("\n").split("\n")
            out.append((command, lines or None))
    return out


def pattern(line: str, store: Path) -> str:
    parts = re.split(r"(<key>|<store>)", line)
    return "".join({"<key>": "[0-9a-f]{32}", "<store>": re.escape(str(store))}.get(p, re.escape(p)) for p in parts)


def test_docs_query_examples_run(tmp_path):
    ws = pristine_example(tmp_path / "geotags")
    store = tmp_path / "store"
    env = {**os.environ, "JBUILD_STORE": str(store), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    ran = examples()
    assert len(ran) >= 12 and any(c.startswith("jbuild plan") for c, _ in ran)
    for command, expected in ran:
        r = subprocess.run(["bash", "-c", command], cwd=ws, env=env, capture_output=True, text=True, timeout=300,
                           check=False)
        assert r.returncode == 0, (command, r.stderr)
        if expected is None:
            continue
        got = r.stdout.splitlines()
        assert len(got) == len(expected), (command, got)
        for line, want in zip(got, expected, strict=True):
            assert re.fullmatch(pattern(want, store), line), (command, line, want)

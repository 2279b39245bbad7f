"""Review of h-edit (5c047b1: the hot file keeps only this analysis's stat entries; node ids kept):
a workspace copied with its .jbuild cache (`cp -a`: mtimes kept, new inodes), then edited in the
copy, the original, and the copy again. Each build must give what its own files say, and the
original must not be rebuilt by what happened in the copy."""

import json
import subprocess
from pathlib import Path

from helpers import run_jbuild

BUILD = """\
package a {
    version = "1"
    sources = ["a.txt"]
    build = "mkdir -p $OUT && cat $SRC/a.txt > $OUT/a"
}
package b {
    version = "1"
    requires = [:a]
    sources = ["b.txt"]
    build = "mkdir -p $OUT && cat /deps/a/a $SRC/b.txt > $OUT/b"
}
"""


def _b(root, store, events) -> tuple[str, set]:
    r = run_jbuild("build", "//:b", "--no-link", "--print-out-paths", "--sandbox", "bwrap", "--build-events",
                   str(events), cwd=root, env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    built = {json.loads(x)["target"].split("@")[0] for x in events.read_text().splitlines()
             if json.loads(x)["event"] == "action_executed"}
    return (Path(r.stdout.split()[-1]) / "b").read_text(), built


def test_a_copied_workspace_and_its_original_each_build_their_own_files(make_workspace, tmp_path):
    a = make_workspace({"BUILD": BUILD, "a.txt": "A0\n", "b.txt": "B0\n"})
    store, ev = tmp_path / "store", tmp_path / "events.json"
    assert _b(a, store, ev)[0] == "A0\nB0\n"
    (a / "a.txt").write_text("A1\n")
    assert _b(a, store, ev) == ("A1\nB0\n", {"//:a", "//:b"})  # the kept session exists now
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(a), str(copy)], check=True)
    assert _b(copy, store, ev) == ("A1\nB0\n", set())
    (copy / "a.txt").write_text("A2\n")
    assert _b(copy, store, ev) == ("A2\nB0\n", {"//:a", "//:b"})
    assert _b(a, store, ev) == ("A1\nB0\n", set())
    (a / "b.txt").write_text("B1\n")
    assert _b(a, store, ev) == ("A1\nB1\n", {"//:b"})
    (copy / "BUILD").write_text(BUILD.replace("> $OUT/b", "> $OUT/b && true"))
    assert _b(copy, store, ev) == ("A2\nB0\n", {"//:b"})
    (copy / "a.txt").write_text("A1\n")  # undone to the original's content: the original's entries
    assert _b(copy, store, ev)[0] == "A1\nB0\n"
    assert _b(a, store, ev) == ("A1\nB1\n", set())

"""Edit sequences on the example workspace that the incremental path (kept analysis read back in
parts, cut-off by changed values, the no-op's stamps) must get right, each ending in a
comparison with a clean build of the same files: a libc implementation patch then an interface
change; a same-size edit with its mtime put back; BUILD edits that change what a node is (its
declared interface, a new requirement) after a restore that read no target back."""

import json
import os
import shutil
import subprocess
import time

from jbuild.base.freshness import RACY_MARGIN_NS

ALL = {"//libs:libc", "//libs:geohash", "//db:tinydb", "//services:geotags"}
MINI_C = "libs/libc/src/mini.c"
MINI_H = "libs/libc/include/mini.h"


def _ok(r):
    assert r.returncode == 0, r.stderr
    return r


def _entries(store):
    return {p.name: json.loads((p / ".jbuild-entry.json").read_text())["output_hash"]
            for p in store.iterdir() if (p / ".jbuild-entry.json").exists()}


def _equals_clean(example, tmp_path):
    """The store holds every entry a clean build of the same files makes, with the same contents,
    and the result link names the clean build's geotags."""
    clean = tmp_path / "clean"
    shutil.copytree(example.root, clean, ignore=shutil.ignore_patterns(".jbuild", "result", "result-*", "events-*"))
    store = tmp_path / "clean-store"
    r = subprocess.run(["python", "-m", "jbuild", "build", "//services:geotags", "--sandbox", "bwrap"], cwd=clean,
                       env={**os.environ, "JBUILD_STORE": str(store)}, capture_output=True, text=True)
    if r.returncode != 0:  # (the venv's python, whatever PATH says)
        import sys

        r = subprocess.run([sys.executable, "-m", "jbuild", "build", "//services:geotags", "--sandbox", "bwrap"],
                           cwd=clean, env={**os.environ, "JBUILD_STORE": str(store)}, capture_output=True, text=True)
    _ok(r)
    got, want = _entries(example.store), _entries(store)
    assert set(want) <= set(got)  # (an environment's links name its own store: compared by name)
    assert {name: got[name] for name in want if "-env-" not in name} == {
        name: h for name, h in want.items() if "-env-" not in name}
    assert os.path.realpath(example.root / "result").rsplit("/", 1)[1] == \
        os.path.realpath(clean / "result").rsplit("/", 1)[1]
    subprocess.run(["chmod", "-R", "u+w", str(tmp_path)], check=False)


def test_a_libc_interface_change_after_an_implementation_patch_rebuilds_its_consumers(example, tmp_path):
    _ok(example.build()[0])
    example.edit(MINI_C, "#include", "/* patched */\n#include")
    r, ran = example.build()
    _ok(r)
    assert ran["//libs:libc"] == "built"
    assert all(ran[t] == "reused" for t in ALL - {"//libs:libc"}), ran
    example.edit(MINI_H, "#", "/* interface change */\n#")
    r, ran = example.build()
    _ok(r)
    assert ran == dict.fromkeys(ALL, "built"), ran
    r, ran = example.build()
    assert set(ran.values()) == {"reused"}
    _equals_clean(example, tmp_path)


def test_a_same_size_edit_with_its_mtime_put_back_is_rebuilt(example, tmp_path):
    _ok(example.build()[0])
    time.sleep(2 * RACY_MARGIN_NS / 1e9)
    r, ran = example.build()  # a no-op: records the stats
    assert set(ran.values()) == {"reused"}
    path = example.root / MINI_C
    st = os.stat(path)
    text = path.read_text()
    assert "int " in text
    path.write_text(text.replace("int ", "int\t", 1))  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size and os.stat(path).st_mtime_ns == st.st_mtime_ns
    r, ran = example.build()
    _ok(r)
    assert ran["//libs:libc"] == "built", ran
    _equals_clean(example, tmp_path)


def test_build_edits_that_change_what_a_node_is_after_a_restore(example, tmp_path):
    """Each build is a new process restoring the kept analysis; the BUILD edits drop libc's
    declared interface, then add it back; then an interface change reaches every consumer."""
    _ok(example.build()[0])
    _ok(example.build()[0])
    example.edit("libs/BUILD", '    interface = ["libc/include/mini.h"]\n', "")
    r, ran = example.build()
    _ok(r)
    example.edit(MINI_C, "#include", "/* patched once */\n#include")
    r, ran = example.build()
    _ok(r)
    assert ran["//libs:libc"] == "built"
    example.edit("libs/BUILD", '    sources = glob(["libc/**"])\n',
                 '    sources = glob(["libc/**"])\n    interface = ["libc/include/mini.h"]\n')
    _ok(example.build()[0])
    example.edit(MINI_H, "#", "/* interface change */\n#")
    r, ran = example.build()
    _ok(r)
    assert ran == dict.fromkeys(ALL, "built"), ran
    _equals_clean(example, tmp_path)

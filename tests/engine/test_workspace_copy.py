"""A workspace copied (or moved) with its .jbuild cache: the cache's files name the old place's
paths, so the copy must not read them as its own (engine/snapshot.py path_for). Before, an edit
in the copy went unseen (no-op, the old result) while the original stood unchanged."""

import shutil

from helpers import run_jbuild

BUILD = """
package lib { version = "1" sources = ["lib.txt"] interface = ["lib.txt"] build = "mkdir -p $OUT && cp $SRC/lib.txt $OUT/lib" }
package app { version = "1" sources = ["app.txt"] requires = [:lib] build = "mkdir -p $OUT && cat $SRC/app.txt > $OUT/app" }
"""


def _build(root, store):
    r = run_jbuild("build", "//...", "--sandbox", "bwrap", "--no-link", "--show-result", "5",
                   cwd=root, env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stderr.splitlines() if x.startswith("//:app@1 up to date"))
    return (line.split(": ", 1)[1].strip() + "/app"), r.stderr


def test_an_edit_in_a_copied_workspace_is_built(make_workspace, tmp_path):
    root = make_workspace({"BUILD": BUILD, "lib.txt": "lib\n", "app.txt": "app 1\n"})
    store = tmp_path / "store"
    _build(root, store)
    (root / "app.txt").write_text("app 2\n")
    _build(root, store)  # a session and a no-op snapshot kept in root/.jbuild
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True)
    (copy / "app.txt").write_text("app 3\n")
    out, err = _build(copy, store)
    assert open(out).read() == "app 3\n", err
    (copy / "app.txt").write_text("app 4\n")  # and the next edit, from the copy's own session
    out, err = _build(copy, store)
    assert open(out).read() == "app 4\n" and "1 built" in err, err
    out, _ = _build(root, store)  # the original is as it was
    assert open(out).read() == "app 2\n"


def test_a_copy_keeps_no_parse_cache_entry_of_its_original(make_workspace, tmp_path):
    """The parse cache is keyed by absolute path: the original's entries, carried by the copy,
    were never read there but written again after every edit (two 6 MB entries at 10,000
    packages, one per copy the bench workspace had come through)."""
    from jbuild.base import cachefile
    from jbuild.dsl.loader import CACHE_FORMAT

    root = make_workspace({"BUILD": BUILD, "lib.txt": "lib\n", "app.txt": "app 1\n"})
    store = tmp_path / "store"
    _build(root, store)
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True)
    (copy / "BUILD").write_text(BUILD.replace("app 1", "app one") + "\n# edited\n")
    _build(copy, store)
    kept = cachefile.read(copy / ".jbuild/cache/parse.pickle", CACHE_FORMAT, None)
    assert kept and str(copy / "BUILD") in kept
    assert not [p for p in kept if p.startswith(str(root) + "/")], sorted(kept)

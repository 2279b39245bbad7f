"""A failed build leaves the session able to take the next patch as any patch (session.settle,
`session_settle._still_settled`): what a failure skipped keeps its settled entry, so the build that mends the
failure runs only what changed and adopts the rest in bulk (cutoff.py) — at 10,000 packages a
libc patch after a failed one took 6-80 s, each consumer looked up one by one. What that must not
cost: a skipped consumer whose other dependency changed meanwhile is built again; an action that
failed at the key it was settled at is decided again, not adopted; the store equals a clean
build's. Through `build`, as the CLI calls it (the session and the no-op snapshot kept on disk)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

from jbuild.base.freshness import RACY_MARGIN_NS
from jbuild.engine import build as build_mod
from jbuild.engine.settings import Options

N = 6  # p0 .. p5, a chain over libc; p3 also requires `other`

BUILD = """
package libc {
    version = "2.24"
    sources = ["libc/impl.c", "libc/api.h"]
    interface = ["libc/api.h"]
    build = \"\"\"
        grep -q broken $SRC/libc/impl.c && exit 3
        mkdir -p $OUT/include $OUT/share
        cp $SRC/libc/api.h $OUT/include/
        cat $SRC/libc/impl.c > $TMPDIR/impl
    \"\"\"
}
package other {
    version = "1"
    sources = ["other/api.h", "other/impl.c"]
    interface = ["other/api.h"]
    build = "mkdir -p $OUT/include && cat $SRC/other/api.h $SRC/other/impl.c > $OUT/include/other.h"
}
"""


def _package(i: int) -> str:
    reqs = [":libc"] + ([f":p{i - 1}"] if i else []) + ([":other"] if i == 3 else [])
    return (f'package p{i} {{ version = "1" sources = ["p{i}.c"] requires = [{", ".join(reqs)}]\n'
            f'    build = "mkdir -p $OUT/include && cat $SRC/p{i}.c /env/include/*.h > $OUT/include/p{i}.h" }}\n')


def _workspace(make_workspace, libc_build: str | None = None):
    build = BUILD if libc_build is None else BUILD.replace(BUILD[BUILD.index('    build = """'):BUILD.index("}\n")],
                                                           libc_build)
    files = {"BUILD": build + "".join(_package(i) for i in range(N)), "libc/impl.c": "impl 1\n",
             "libc/api.h": "int answer(void);\n", "other/api.h": "int other(void);\n",
             "other/impl.c": "other 1\n",
             **{f"p{i}.c": f"p{i}\n" for i in range(N)}}
    root = make_workspace(files)
    time.sleep(2 * RACY_MARGIN_NS / 1e9)  # (a stat taken at once proves nothing: each build would analyse anew)
    return root


def _build(root, store, keep_going: bool = False):
    """(exit code, {label: outcome}, the labels it built, the labels it decided one by one):
    `build` as the CLI calls it, its session and no-op snapshot kept on disk between builds."""
    seen = []
    real_run = build_mod.run

    def run(p, extra=None):
        code, rb = real_run(p, extra)
        seen.append(rb)
        return code, rb

    build_mod.run = run
    try:
        result = build_mod.build(["//..."], Options(sandbox="bwrap", store=str(store), out_link=None, jobs=2,
                                                    keep_going=keep_going), str(root), members=False)
    finally:
        build_mod.run = real_run
    if not seen:  # the no-op path
        return result.code, None, set(), set(), result
    rb = seen[0]
    return (result.code, {str(n.label): o.decision for n, o in rb.outcomes.items()},
            {str(n.label) for n, o in rb.decided.items() if o.decision == "built"}, {str(n.label) for n in rb.decided},
            result)


def _edit(path, text: str) -> None:
    """Written a moment before the build, as a hand would: the no-op right after it may then trust
    its stat (the racy-clean rule distrusts one changed within RACY_MARGIN_NS of a build's start)."""
    path.write_text(text)
    time.sleep(2 * RACY_MARGIN_NS / 1e9)


def _contents(store):
    return {p.name: json.loads((p / ".jbuild-entry.json").read_text())["output_hash"]
            for p in store.iterdir() if (p / ".jbuild-entry.json").exists()}


def _equals_clean(root, store, tmp_path):
    """Every entry a clean build of the workspace makes (in a second store) is in `store`, the same."""
    clean_root, clean_store = tmp_path / "clean", tmp_path / "clean-store"
    shutil.copytree(root, clean_root, ignore=shutil.ignore_patterns(".jbuild"))
    assert _build(clean_root, clean_store)[0] == 0
    incremental, clean = _contents(store), _contents(clean_store)
    assert set(clean) <= set(incremental)
    assert {name: incremental[name] for name in clean} == clean
    subprocess.run(["chmod", "-R", "u+w", str(tmp_path)], check=False)


PS = {f"//:p{i}" for i in range(N)}


def test_the_patch_that_mends_a_failed_one_runs_only_libc(make_workspace, tmp_path):
    root, store = _workspace(make_workspace), tmp_path / "store"
    assert _build(root, store)[2] == PS | {"//:libc", "//:other"}
    _edit(root / "libc/impl.c", "broken\n")
    code, out, ran, _, _ = _build(root, store)
    assert code == 1 and ran == set()
    assert out["//:libc"] == "failed" and {out[p] for p in PS} == {"skipped"}  # never reported reused
    code, out, ran, _, _ = _build(root, store)  # nothing changed: it fails again (no "up to date")
    assert code == 1 and out["//:libc"] == "failed" and {out[p] for p in PS} == {"skipped"}
    _edit(root / "libc/impl.c", "impl 3\n")
    code, out, ran, decided, result = _build(root, store)
    assert code == 0 and ran == {"//:libc"}
    assert out["//:libc"] == "built" and {out[p] for p in PS} == {"reused"}
    assert decided == {"//:libc"}  # the consumers adopted in bulk: not one of them keyed or looked up again
    code, out, _, _, again = _build(root, store)
    assert code == 0 and out is None  # the no-op path answers the next build, with the same entries
    assert sorted(again.roots) == sorted(result.roots)
    _equals_clean(root, store, tmp_path)


def test_a_skipped_consumer_whose_other_dependency_changed_is_built_again(make_workspace, tmp_path):
    """p3 is skipped (libc failed) while `other`, which it also reads, is rebuilt and exports
    something new (its implementation shows in its header; its interface key, and so p3's
    prediction, stays): mending libc must rebuild p3 and what reads it, not adopt p3 at the
    entry it was settled at."""
    root, store = _workspace(make_workspace), tmp_path / "store"
    _build(root, store)
    _edit(root / "libc/impl.c", "broken\n")
    _edit(root / "other/impl.c", "other 2\n")
    code, out, ran, _, _ = _build(root, store, keep_going=True)
    assert code == 1 and ran == {"//:other"} and out["//:libc"] == "failed" and out["//:p3"] == "skipped"
    _edit(root / "libc/impl.c", "impl 3\n")
    code, out, ran, _, _ = _build(root, store)
    assert code == 0 and ran == {"//:libc", "//:p3", "//:p4", "//:p5"}
    _equals_clean(root, store, tmp_path)


def test_an_action_that_failed_at_its_settled_key_is_decided_again(make_workspace, tmp_path):
    """libc's implementation shows in its export (a file it installs), so its consumers' keys
    are predicted unchanged and p0 runs only once libc's export is measured — and fails on what
    it reads. The next build, with nothing changed, must run p0 again (and fail), not adopt
    it at the entry it was settled at before."""
    libc_build = ('    build = "mkdir -p $OUT/include && cp $SRC/libc/api.h $OUT/include/ && '
                  'cp $SRC/libc/impl.c $OUT/include/impl.h"\n')
    root, store = _workspace(make_workspace, libc_build), tmp_path / "store"
    p0 = 'package p0 { version = "1" sources = ["p0.c"] requires = [:libc]\n    build = "'
    build = (root / "BUILD").read_text()
    assert p0 in build
    _edit(root / "BUILD", build.replace(p0, p0 + "grep -q bad /deps/libc/include/impl.h && exit 3; "))
    _build(root, store)
    _edit(root / "libc/impl.c", "bad\n")
    code, out, ran, _, _ = _build(root, store)
    assert code == 1 and ran == {"//:libc"} and out["//:p0"] == "failed"
    code, out, ran, decided, _ = _build(root, store)
    assert code == 1 and "//:p0" in decided and out["//:p0"] == "failed" and out["//:p1"] == "skipped"
    _edit(root / "libc/impl.c", "good 2\n")
    code, out, ran, _, _ = _build(root, store)
    assert code == 0 and ran == {"//:libc"} | PS
    _equals_clean(root, store, tmp_path)

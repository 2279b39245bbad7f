"""The kept analysis (engine/session.py): an update re-keys what a change reaches and no more,
and the CLI takes that path without the parser, the resolver or networkx for a source edit.
(Whether the result is right is test_property_many.py's business: incremental == clean.)"""

import os
import subprocess
import sys

from jbuild.engine.build import run
from jbuild.engine.session import Session
from jbuild.engine.settings import Options

BUILD = """
package libc {
    version = "2.24"
    sources = ["libc/impl.c", "libc/api.h"]
    interface = ["libc/api.h"]
    build = "mkdir -p $OUT/include && cp $SRC/libc/api.h $OUT/include/ && cat $SRC/libc/impl.c > $TMPDIR/x"
}
package mid { version = "1" sources = ["mid.c"] requires = [:libc] build = "mkdir -p $OUT && cp $SRC/mid.c $OUT/" }
package top { version = "1" sources = ["top.c"] requires = [:mid, :libc] build = "mkdir -p $OUT && cp $SRC/top.c $OUT/" }
"""
FILES = {"BUILD": BUILD, "libc/impl.c": "impl 1\n", "libc/api.h": "api 1\n", "mid.c": "mid\n", "top.c": "top\n"}


def _session(root, tmp_path):
    s = Session(["//:top"], Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None), str(root))
    code, rb = run(s.plan())
    assert code == 0
    s.settle(rb)
    return s


def _names(nodes):
    return {n.label.name for n in nodes}


def test_a_leaf_edit_rekeys_one_node_and_schedules_one_action(make_workspace, tmp_path):
    root = make_workspace(FILES)
    s = _session(root, tmp_path)
    (root / "top.c").write_text("top 2\n")
    p = s.update([str(root / "top.c")])
    assert p.rekeyed == 1 and _names(p.affected) == {"top"}
    code, rb = run(p)
    assert code == 0 and {n.label.name: o.decision for n, o in rb.outcomes.items()} == {
        "libc": "reused", "mid": "reused", "top": "built"}
    s.settle(rb)
    assert s.update([str(root / "top.c")]).affected == set()  # settled: nothing left to do


def test_an_implementation_edit_stops_at_the_unchanged_interface(make_workspace, tmp_path):
    root = make_workspace(FILES)
    s = _session(root, tmp_path)
    (root / "libc/impl.c").write_text("impl 2\n")
    p = s.update([str(root / "libc/impl.c")])
    assert _names(p.affected) == {"libc"}  # consumers read libc's exported digest: predicted unchanged
    code, rb = run(p)
    assert code == 0 and [n.label.name for n, o in rb.outcomes.items() if o.decision == "built"] == ["libc"]
    (root / "libc/api.h").write_text("api 2\n")
    s.settle(rb)
    assert _names(s.update([str(root / "libc/api.h")]).affected) == {"libc", "mid", "top"}


def test_a_comment_in_a_build_file_changes_no_key(make_workspace, tmp_path):
    root = make_workspace(FILES)
    s = _session(root, tmp_path)
    nodes_before = set(s.node_closure)
    (root / "BUILD").write_text("# a comment\n" + BUILD.replace("\n", "\n\n"))
    p = s.update([str(root / "BUILD")])
    assert p.affected == set() and p.rekeyed == 0
    assert set(s.node_closure) == nodes_before  # the same actions; their targets are the moved ones, so
    mid = next(n for n in s.node_closure if n.label.name == "mid")  # a message names where they are now
    assert mid.target.span.line == 1 + 2 * next(i for i, x in enumerate(BUILD.splitlines()) if "package mid" in x) + 1


def test_a_recipe_edit_rekeys_its_package_and_what_its_declared_interface_does_not_cover(make_workspace, tmp_path):
    root = make_workspace(FILES)
    s = _session(root, tmp_path)
    (root / "BUILD").write_text(BUILD.replace("> $TMPDIR/x", "> $TMPDIR/y"))
    assert _names(s.update([str(root / "BUILD")]).affected) == {"libc"}  # its interface predicts its export
    (root / "BUILD").write_text(BUILD.replace("cp $SRC/mid.c $OUT/", "cp $SRC/mid.c $OUT/ && true"))
    # libc is back as it was; mid declares no interface: its consumers are predicted to rebuild (safe by default)
    assert _names(s.update([str(root / "BUILD")]).affected) == {"mid", "top"}


def test_the_cli_takes_the_incremental_path_without_parser_resolver_or_networkx(make_workspace, tmp_path):
    root = make_workspace(FILES)
    env = {**os.environ, "JBUILD_STORE": str(tmp_path / "store")}
    cmd = [sys.executable, "-X", "importtime", "-m", "jbuild", "build", "//:top", "--sandbox", "bwrap"]
    assert subprocess.run(cmd, cwd=root, env=env, capture_output=True).returncode == 0
    (root / "top.c").write_text("top 2\n")
    r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "1 built, 2 reused" in r.stderr, r.stderr
    imported = {line.split("|")[-1].strip().split(".")[0] for line in r.stderr.splitlines()
                if line.startswith("import time:")}
    assert imported & {"lark", "networkx", "resolvelib"} == set()
    assert any(p.name.startswith("session-") for p in (root / ".jbuild/cache").iterdir())


def test_an_adopted_entry_that_vanished_is_rebuilt(make_workspace, tmp_path):
    """A gc between two builds: the settled entry is gone, so the whole plan is decided again."""
    import shutil

    files = {**FILES, "BUILD": BUILD + 'package other { version = "1" build = "mkdir -p $OUT && echo o > $OUT/o" }\n'}
    root = make_workspace(files)
    store = tmp_path / "store"
    s = Session(["//..."], Options(sandbox="bwrap", store=str(store), out_link=None), str(root))
    code, rb = run(s.plan())
    s.settle(rb)
    (entry,) = [p for p in store.iterdir() if p.name.endswith("-other-1")]
    subprocess.run(["chmod", "-R", "u+w", str(entry)], check=True)
    shutil.rmtree(entry)
    (root / "top.c").write_text("top 3\n")
    code, rb = run(s.update([str(root / "top.c")]))
    assert code == 0 and {n.label.name for n, o in rb.outcomes.items() if o.decision == "built"} == {"top", "other"}
    assert entry.exists()


def test_a_tests_own_source_or_recipe_edit_rekeys_no_build(make_workspace, tmp_path):
    """A test's sources and recipe key no build (`jbuild test` hashes them): editing them must
    neither crash the update nor rebuild what the test requires."""
    root = make_workspace({**FILES, "BUILD": BUILD + 'test t { sources = ["t.sh"] requires = [:top] command = "sh $SRC/t.sh" }\n',
                           "t.sh": "true\n"})
    s = Session(["//..."], Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None), str(root))
    code, rb = run(s.plan())
    assert code == 0
    s.settle(rb)
    (root / "t.sh").write_text("exit 0\n")
    p = s.update([str(root / "t.sh")])
    assert not p.affected
    (root / "BUILD").write_text((root / "BUILD").read_text().replace('command = "sh $SRC/t.sh"', 'command = "true"'))
    p = s.update([str(root / "BUILD")])
    assert not p.affected
    code, rb = run(p)
    assert code == 0 and all(o.decision == "reused" for o in rb.outcomes.values())


def test_adopted_actions_are_recorded_as_reused_without_rewriting_unchanged_rows(make_workspace, tmp_path):
    from jbuild.engine.rebuilder import Adopted

    root = make_workspace(FILES)
    s = _session(root, tmp_path)
    (root / "libc/impl.c").write_text("impl 2\n")
    code, rb = run(s.update([str(root / "libc/impl.c")]))  # libc built: its decision says so
    s.settle(rb)
    decisions = s.store.index.decisions(str(root))
    assert {lb: d.decision for lb, d in ((k.split("@")[0], v) for k, v in decisions.items())}["//:libc"] == "built"
    (root / "top.c").write_text("top 2\n")
    code, rb = run(s.update([str(root / "top.c")]))
    assert code == 0
    adopted = {n.label.name: o for n, o in rb.outcomes.items() if type(o) is Adopted}
    assert set(adopted) == {"libc", "mid"}  # the fast path: no key, no path, no event each
    assert adopted["libc"].entry == s.store.path(rb.entry_of(next(n for n in rb.outcomes if n.label.name == "libc")))
    assert adopted["libc"].entry.is_dir()
    after = {k.split("@")[0]: v for k, v in s.store.index.decisions(str(root)).items()}
    assert (after["//:libc"].decision, after["//:libc"].reason) == ("reused", "inputs unchanged")  # it was "built"
    assert after["//:libc"].key == rb.actual[next(n for n in rb.outcomes if n.label.name == "libc")]
    assert after["//:top"].decision == "built"
    at = {k: v for k, v in s.store.index._run(lambda db: db.execute(
        "SELECT node, at FROM decisions WHERE workspace=?", (str(root),)).fetchall())}
    code, rb = run(s.update([str(root / "top.c")]))  # nothing affected: every row already says so
    assert code == 0
    again = dict(s.store.index._run(lambda db: db.execute(
        "SELECT node, at FROM decisions WHERE workspace=?", (str(root),)).fetchall()))
    assert {k for k in at if at[k] != again[k]} <= {k for k in at if k.startswith("//:top")}


def test_a_consumer_of_an_unchanged_export_keeps_its_settled_key_without_rekeying(make_workspace, tmp_path):
    root = make_workspace(FILES)
    s = _session(root, tmp_path)
    (root / "libc/impl.c").write_text("impl 3\n")
    code, rb = run(s.update([str(root / "libc/impl.c")]))
    assert code == 0
    by_name = {n.label.name: n for n in rb.outcomes}
    assert rb.outcomes[by_name["libc"]].decision == "built"
    for name in ("mid", "top"):  # scheduled (they read libc) but not keyed again: the settled inputs hold
        n = by_name[name]
        assert rb.outcomes[n].decision == "reused" and rb.inputs[n] is s.settled[n][2]
        assert rb.actual[n] == s.settled[n][0]


def test_an_export_that_changed_against_its_prediction_rekeys_and_rebuilds_the_consumers(make_workspace, tmp_path):
    """libc's declared interface is api.h, but it exports impl.h too: an impl.h edit is predicted
    to change nothing downstream, and the measured export says otherwise."""
    build = BUILD.replace('"libc/impl.c"', '"libc/impl.h"').replace(
        "cp $SRC/libc/api.h $OUT/include/ && cat $SRC/libc/impl.c > $TMPDIR/x",
        "cp $SRC/libc/api.h $SRC/libc/impl.h $OUT/include/")
    files = {**{k: v for k, v in FILES.items() if k != "libc/impl.c"}, "BUILD": build, "libc/impl.h": "int a;\n"}
    root = make_workspace(files)
    s = _session(root, tmp_path)
    (root / "libc/impl.h").write_text("int a; int b;\n")
    p = s.update([str(root / "libc/impl.h")])
    assert _names(p.affected) == {"libc"}  # the prediction: consumers unchanged
    code, rb = run(p)
    assert code == 0
    assert {n.label.name for n, o in rb.outcomes.items() if o.decision == "built"} == {"libc", "mid", "top"}
    mid = next(n for n in rb.outcomes if n.label.name == "mid")
    assert rb.inputs[mid] is not s.settled[mid][2] and rb.actual[mid] != s.settled[mid][0]

"""The kept analysis is read back in parts (engine/analysis_file.py): a source edit reads the
target it builds and nothing of the loader; a BUILD file edit reads the rest back and comes out
as a clean build would; a torn file restores nothing, and a damaged part an edit reads back is
said and the same run analyses again; a file another run replaced meanwhile changes nothing a
restored session reads. Each CLI case runs the real CLI in a subprocess and reports what it read back."""

import json
import os
import shutil
import subprocess
import sys

from helpers import outcomes

BUILD = """
package libc {
    version = "2.24"
    sources = ["libc/impl.c", "libc/api.h"]
    interface = ["libc/api.h"]
    build = "mkdir -p $OUT/include && cp $SRC/libc/api.h $OUT/include/ && cat $SRC/libc/impl.c > $TMPDIR/x"
}
package mid { version = "1" sources = ["mid.c"] requires = [:libc] build = "mkdir -p $OUT && cp $SRC/mid.c $OUT/" }
package top { version = "1" sources = ["top.c"] requires = [:mid, :libc] build = "mkdir -p $OUT && cp $SRC/top.c $OUT/" }
package side { version = "1" sources = ["side.c"] requires = [:libc] build = "mkdir -p $OUT && cp $SRC/side.c $OUT/" }
"""
FILES = {"BUILD": BUILD, "libc/impl.c": "impl 1\n", "libc/api.h": "api 1\n", "mid.c": "mid\n", "top.c": "top\n",
         "side.c": "side\n"}
# The CLI as `python -m jbuild` runs it; at exit, what it read back of the kept analysis, how many
# nodes its update re-keyed, and whether it parsed a BUILD file.
PROBE = """
import atexit, json, sys, runpy
from jbuild.engine import session
seen = {}
update = session.Session.update
def counted(self, changed):
    plan = update(self, changed)
    seen["rekeyed"] = self.rekeyed
    return plan
session.Session.update = counted
def report():
    from jbuild.engine.analysis_file import READ_BACK
    print("PROBE " + json.dumps({**READ_BACK, **seen, "parsed": "jbuild.dsl.syntax" in sys.modules}))
atexit.register(report)
sys.argv = ["jbuild", *sys.argv[1:]]
runpy.run_module("jbuild", run_name="__main__")
"""


def _build(root, tmp_path, expect_code=0):
    """(outcomes, probe, entries by label) of `jbuild build //...`."""
    events = tmp_path / "events.json"
    events.unlink(missing_ok=True)
    env = {**os.environ, "JBUILD_STORE": str(tmp_path / "store")}
    r = subprocess.run([sys.executable, "-c", PROBE, "build", "//...", "--sandbox", "bwrap", "--no-link",
                        "--show-result", "10", "--build-events", str(events)],
                       cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == expect_code, r.stderr
    probe = json.loads(next(line for line in r.stdout.splitlines() if line.startswith("PROBE "))[6:])
    entries = {line.split("@")[0]: line.split(": ", 1)[1] for line in r.stderr.splitlines() if " up to date: " in line}
    return outcomes(events), probe, entries, r.stderr


def _analysis(root):
    (cold,) = [p for p in (root / ".jbuild" / "cache").iterdir()
               if p.name.startswith("session-") and p.name.count(".") == 1]
    return cold


def test_a_source_edit_reads_back_one_target_and_no_loader(make_workspace, tmp_path):
    root = make_workspace(FILES)
    first, probe, _, _ = _build(root, tmp_path)
    assert set(first.values()) == {"built"} and probe["parsed"]
    (root / "top.c").write_text("top 2\n")
    done, probe, entries, _ = _build(root, tmp_path)
    assert done == {"//:libc": "reused", "//:mid": "reused", "//:top": "built", "//:side": "reused"}
    assert probe["targets"] == 1 and probe["heavy"] == 0 and not probe["parsed"], probe
    with open(os.path.join(entries["//:top"], "top.c")) as f:
        assert f.read() == "top 2\n"
    (root / "libc" / "impl.c").write_text("impl 2\n")  # an implementation patch: its interface is unchanged
    done, probe, _, _ = _build(root, tmp_path)
    assert done == {"//:libc": "built", "//:mid": "reused", "//:top": "reused", "//:side": "reused"}
    assert probe["targets"] == 1 and probe["heavy"] == 0 and not probe["parsed"], probe


def test_a_build_file_edit_after_a_partial_restore_builds_as_a_clean_build_would(make_workspace, tmp_path):
    root = make_workspace(FILES)
    _build(root, tmp_path)
    (root / "top.c").write_text("top 2\n")
    _build(root, tmp_path)  # restored in part
    (root / "BUILD").write_text(BUILD.replace("cp $SRC/mid.c $OUT/", "cp $SRC/mid.c $OUT/ && echo 2 > $OUT/v")
                                + 'package extra { version = "1" requires = [:side] build = "mkdir -p $OUT" }\n')
    done, probe, incremental, _ = _build(root, tmp_path)
    assert probe["heavy"] == 1 and probe["rekeyed"] == 2, probe  # mid and extra (restored nodes hash as new ones)
    assert done["//:mid"] == done["//:extra"] == "built" and done["//:libc"] == done["//:side"] == "reused"
    (root / "side.c").write_text("side 2\n")  # then a source edit, from the analysis that run wrote
    done, probe, incremental, _ = _build(root, tmp_path)
    assert done["//:side"] == "built" and done["//:mid"] == "reused" and probe["heavy"] == 0
    shutil.rmtree(root / ".jbuild")
    clean, probe, entries, _ = _build(root, tmp_path)
    assert probe["parsed"] and set(clean.values()) == {"reused"}  # what the incremental runs built is all there
    assert entries == incremental


def test_an_analysis_that_does_not_go_with_its_hot_file_or_is_torn_restores_nothing(make_workspace, tmp_path):
    root = make_workspace(FILES)
    _build(root, tmp_path)
    (root / "top.c").write_text("top 2\n")
    _build(root, tmp_path)
    old = tmp_path / "old-analysis"
    shutil.copy(_analysis(root), old)
    (root / "BUILD").write_text(BUILD.replace("cp $SRC/side.c $OUT/", "cp $SRC/side.c $OUT/s"))
    assert _build(root, tmp_path)[0]["//:side"] == "built"
    shutil.copy(old, _analysis(root))  # as if killed between writing the analysis and its hot file
    (root / "mid.c").write_text("mid 2\n")
    done, probe, entries, _ = _build(root, tmp_path)
    assert probe["parsed"] and done["//:mid"] == "built" and done["//:side"] == "reused"
    assert "s" in os.listdir(entries["//:side"])  # the BUILD file as it is, not as the old analysis had it
    cold = _analysis(root)
    with open(cold, "r+b") as f:  # torn: cut in the middle
        f.truncate(cold.stat().st_size // 2)
    (root / "mid.c").write_text("mid 3\n")
    done, probe, _, _ = _build(root, tmp_path)
    assert probe["parsed"] and done["//:mid"] == "built" and done["//:top"] == "built"


def test_a_damaged_target_record_is_said_and_the_run_analyses_again(make_workspace, tmp_path):
    from jbuild.engine import analysis_file, session_file

    root = make_workspace(FILES)
    _build(root, tmp_path)
    cold = _analysis(root)
    kept, nodes, _ = analysis_file.read(cold, session_file.FORMAT)
    (top,) = [n for n in nodes if n.label.name == "top"]
    record = top.__dict__["_kept"][1]
    kept.file.close()
    with open(cold, "r+b") as f:
        f.seek(kept.offsets[record] + 5)
        byte = f.read(1)
        f.seek(kept.offsets[record] + 5)
        f.write(bytes([byte[0] ^ 0xFF]))
    (root / "top.c").write_text("top 2\n")  # the edit reads top's target back: its record is damaged
    done, probe, entries, stderr = _build(root, tmp_path)
    assert f"warning: the kept analysis {cold} is damaged; it was removed: analysing again" in stderr
    assert probe["parsed"] and done == {"//:libc": "reused", "//:mid": "reused", "//:top": "built", "//:side": "reused"}
    with open(os.path.join(entries["//:top"], "top.c")) as f:
        assert f.read() == "top 2\n"
    assert analysis_file.read(cold, session_file.FORMAT) is not None  # written anew, whole
    (root / "side.c").write_text("side 2\n")  # and restored from by the next edit
    done, probe, _, _ = _build(root, tmp_path)
    assert not probe["parsed"] and done["//:side"] == "built" and done["//:top"] == "reused"


def test_a_restored_session_reads_its_own_file_when_another_run_replaced_it(make_workspace, tmp_path):
    """Targets and the loader come from the file as it was when the session was restored: the
    descriptor kept open still reads it after another run renamed a new analysis over it."""
    from jbuild.engine import session_file
    from jbuild.engine.settings import Options

    root = make_workspace(FILES)
    _build(root, tmp_path)
    (root / "top.c").write_text("top 2\n")
    _build(root, tmp_path)
    cold = _analysis(root)
    analysis = cold.with_name(cold.name.replace("session-", "analysis-", 1))
    s = session_file.restore(analysis, Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None))
    assert s is not None and "loader" not in s.__dict__
    (root / "BUILD").write_text(BUILD.replace("cp $SRC/top.c $OUT/", "cp $SRC/top.c $OUT/t"))
    _build(root, tmp_path)  # another run writes a new analysis over it
    assert _analysis(root).stat().st_ino != os.fstat(s.analysis.file.fileno()).st_ino
    (top,) = [n for n in s.node_list if n.label.name == "top"]
    assert "$OUT/t" not in top.target.build  # read back from the file it was restored from
    assert s.loader.packages[("", "")] is not None  # and so is the loader
    assert any(t is top.target for t in s.families[top.label])  # the same objects: nothing looks changed


def test_restored_edges_answer_as_their_requirements(make_workspace, tmp_path):
    from jbuild.engine import session_file
    from jbuild.engine.resolve import RequirementRef
    from jbuild.engine.settings import Options

    root = make_workspace(FILES)
    _build(root, tmp_path)
    analysis = next((root / ".jbuild" / "cache").glob("analysis-*.pickle"))
    s = session_file.restore(analysis, Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None))
    (top,) = [n for n in s.node_list if n.label.name == "top"]
    edges = s.node_closure[top].deps[top]
    assert all(type(r) is RequirementRef for r, _ in edges) and "target" not in top.__dict__
    assert [r.kind.value for r, _ in edges] == ["requires", "requires"]
    assert "target" not in top.__dict__  # a kind asks nothing of the target
    real = top.target.requires
    assert [(r.label, r.constraint, r.span) for r, _ in edges] == [(q.label, q.constraint, q.span) for q in real]
    assert [str(r) for r, _ in edges] == [str(q) for q in real] == ["//:mid", "//:libc"]

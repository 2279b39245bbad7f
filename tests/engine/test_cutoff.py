"""Early cutoff in bulk (engine/cutoff.py): after an implementation patch, the consumers whose
settled keys still hold are adopted in one pass, with the reason a scheduled reuse gives; a
consumer whose inputs did change, or that sits behind a failure, is not."""

import shutil
import subprocess
import threading

from jbuild.engine.build import run
from jbuild.engine.cutoff import split
from jbuild.engine.rebuilder import AdoptedAfter
from jbuild.engine.session import Session
from jbuild.engine.settings import Options

BUILD = """
package libc {
    version = "2.24"
    sources = ["libc/impl.c", "libc/api.h"]
    interface = ["libc/api.h"]
    build = "grep -q broken $SRC/libc/impl.c && exit 3; mkdir -p $OUT/include && cp $SRC/libc/api.h $OUT/include/"
}
package mid { version = "1" sources = ["mid.c"] requires = [:libc] build = "mkdir -p $OUT && cp $SRC/mid.c $OUT/" }
package top { version = "1" sources = ["top.c"] requires = [:mid, :libc] build = "mkdir -p $OUT && cp $SRC/top.c $OUT/" }
"""
FILES = {"BUILD": BUILD, "libc/impl.c": "impl 1\n", "libc/api.h": "api 1\n", "mid.c": "mid\n", "top.c": "top\n"}


def _session(root, tmp_path, keep_going=False):
    s = Session(["//:top"], Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None,
                                    keep_going=keep_going), str(root))
    code, rb = run(s.plan())
    assert code == 0
    s.settle(rb)
    return s


def _by_name(rb):
    return {n.label.name: o for n, o in rb.outcomes.items()}


def test_consumers_of_an_unchanged_export_are_adopted_with_the_reason(make_workspace, tmp_path):
    root = make_workspace(FILES)
    s = _session(root, tmp_path)
    (root / "libc/impl.c").write_text("impl 2\n")
    p = s.update([str(root / "libc/impl.c")])
    first, held = split(p.graph, p.affected)
    assert {n.label.name for n in first} == {"libc"} and {n.label.name for n in held} == {"mid", "top"}
    code, rb = run(p)
    assert code == 0
    out = _by_name(rb)
    assert out["libc"].decision == "built"
    assert type(out["mid"]) is AdoptedAfter and type(out["top"]) is AdoptedAfter  # never scheduled
    assert out["mid"].reason == "inputs unchanged (//:libc rebuilt; exported interface unchanged)"
    assert out["top"].entry.is_dir()
    s.settle(rb)
    decisions = {k.split("@")[0]: v for k, v in s.store.index.decisions(str(root)).items()}
    assert decisions["//:top"].reason == "inputs unchanged (//:libc rebuilt; exported interface unchanged)"
    assert s.update([str(root / "libc/impl.c")]).affected == set()


def test_what_lies_between_two_affected_actions_runs_first(make_workspace, tmp_path):
    root = make_workspace(FILES)
    s = _session(root, tmp_path)
    (root / "libc/impl.c").write_text("impl 2\n")
    (root / "top.c").write_text("top 2\n")
    p = s.update([str(root / "libc/impl.c"), str(root / "top.c")])
    first, held = split(p.graph, p.affected)
    assert {n.label.name for n in first} == {"libc", "mid", "top"} and held == set()
    code, rb = run(p)
    assert code == 0
    assert {k: o.decision for k, o in _by_name(rb).items()} == {"libc": "built", "mid": "reused", "top": "built"}


def test_a_failed_patch_skips_its_held_consumers(make_workspace, tmp_path):
    root = make_workspace(FILES)
    for keep_going in (False, True):
        s = _session(root, tmp_path, keep_going)
        (root / "libc/impl.c").write_text("broken\n")
        code, rb = run(s.update([str(root / "libc/impl.c")]))
        assert code == 1
        out = _by_name(rb)
        assert out["libc"].decision == "failed"
        assert out["mid"].decision == "skipped" and out["mid"].reason == "not built: //:libc failed"
        assert out["top"].decision == "skipped"
        (root / "libc/impl.c").write_text("impl 1\n")


def test_consumers_of_a_changed_interface_are_rebuilt(make_workspace, tmp_path):
    """libc's header changes: its export changes, and every consumer is built again, in the
    second wave, saying why."""
    root = make_workspace(FILES)
    s = _session(root, tmp_path)
    (root / "libc/api.h").write_text("api 2\n")
    code, rb = run(s.update([str(root / "libc/api.h")]))
    assert code == 0
    out = _by_name(rb)
    assert {k: o.decision for k, o in out.items()} == {"libc": "built", "mid": "built", "top": "built"}
    assert "//:libc" in out["mid"].reason and "//:libc" in out["top"].reason
    assert (out["top"].entry / "top.c").read_text() == "top\n"


def _entry_dir(rb, name):
    return next(o.entry for n, o in rb.outcomes.items() if n.label.name == name)


def _remove(entry):
    subprocess.run(["chmod", "-R", "u+w", str(entry)], check=True)
    shutil.rmtree(entry)


def test_a_held_consumer_whose_entry_vanished_is_built_and_the_rest_adopted(make_workspace, tmp_path):
    root = make_workspace(FILES)
    s = _session(root, tmp_path)
    code, rb = run(s.update([]))
    _remove(_entry_dir(rb, "mid"))  # (a gc, or a hand): not whole in the store
    (root / "libc/impl.c").write_text("impl 2\n")
    code, rb = run(s.update([str(root / "libc/impl.c")]))
    assert code == 0
    out = _by_name(rb)
    assert out["libc"].decision == "built" and out["mid"].decision == "built"
    assert out["mid"].entry.is_dir() and (out["mid"].entry / "mid.c").read_text() == "mid\n"
    assert out["top"].decision == "reused"  # mid came out as it was settled: top's key holds


def test_an_entry_to_adopt_beside_the_patch_that_vanished_sends_the_plan_through_the_scheduler(
        make_workspace, tmp_path):
    """`other` neither reads libc nor is read by it: adopted while libc builds (Held.prepare;
    twenty more actions make the patch a small edit, whose unread rest is adopted then). Its
    entry gone, the whole plan is decided again, and it is built."""
    more = "".join(f'package f{i} {{ version = "1" build = "mkdir -p $OUT" }}\n' for i in range(20))
    files = {**FILES, "BUILD": BUILD + more + 'package other { version = "1" sources = ["other.c"] '
                                             'build = "mkdir -p $OUT && cp $SRC/other.c $OUT/" }\n', "other.c": "other\n"}
    root = make_workspace(files)
    s = Session(["//..."], Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None), str(root))
    code, rb = run(s.plan())
    assert code == 0
    s.settle(rb)
    _remove(_entry_dir(rb, "other"))
    (root / "libc/impl.c").write_text("impl 2\n")
    code, rb = run(s.update([str(root / "libc/impl.c")]))
    assert code == 0
    out = _by_name(rb)
    assert out["other"].decision == "built" and (out["other"].entry / "other.c").read_text() == "other\n"
    assert out["libc"].decision in ("built", "reused")  # (built by the first attempt: found in the store)
    assert {out["mid"].decision, out["top"].decision} == {"reused"}
    for ticker in [t for t in threading.enumerate() if t.name == "jbuild-progress"]:
        ticker.join(timeout=5)  # (the first attempt's status line ended with it: Reporter.stop)
        assert not ticker.is_alive()


def test_a_tool_rebuilt_with_an_unchanged_export_rebuilds_what_runs_it(make_workspace, tmp_path):
    """A program's body is no export (exported.py), but a build that runs it reads its build
    key: the consumer that runs the patched tool is built again; the one that requires it as a
    library (`lib`: it reads the tool's export, which did not change) is reused."""
    build = """
package tool {
    version = "1"
    sources = ["tool.c"]
    build_requires = [@std//host:cc]
    build = "mkdir -p $OUT/bin && cc -o $OUT/bin/tool $SRC/tool.c"
}
package lib { version = "1" requires = [:tool] build = "mkdir -p $OUT && echo lib > $OUT/lib" }
package user { version = "1" build_requires = [:tool] build = "mkdir -p $OUT && /deps/tool/bin/tool > $OUT/said" }
"""
    tool = '#include <stdio.h>\nint main(void) { puts("%s"); return 0; }\n'
    root = make_workspace({"BUILD": build, "tool.c": tool % "one"})
    s = Session(["//..."], Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None), str(root))
    code, rb = run(s.plan())
    assert code == 0
    s.settle(rb)
    (root / "tool.c").write_text(tool % "two")
    code, rb = run(s.update([str(root / "tool.c")]))
    assert code == 0
    out = _by_name(rb)
    assert out["tool"].decision == "built" and out["user"].decision == "built"
    assert (out["user"].entry / "said").read_text() == "two\n"
    assert out["lib"].decision == "reused"
    assert out["lib"].reason == "inputs unchanged (//:tool rebuilt; exported interface unchanged)"


def test_an_implementation_patch_that_changes_the_export_rebuilds_the_held_consumers(make_workspace, tmp_path):
    """The declared interface (api.h) is unchanged, so nothing was re-keyed before the run; but
    the patch adds to what libc exports (a header it installs): its consumers are checked one by
    one against the measured export, and built again."""
    build = BUILD.replace('build = "grep -q broken', 'build = "grep -q EXPORT $SRC/libc/impl.c && '
                          'mkdir -p $OUT/include && echo extra > $OUT/include/extra.h; grep -q broken')
    root = make_workspace({**FILES, "BUILD": build})
    s = _session(root, tmp_path)
    (root / "libc/impl.c").write_text("impl 2 EXPORT\n")
    p = s.update([str(root / "libc/impl.c")])
    first, held = split(p.graph, p.affected)
    assert {n.label.name for n in held} == {"mid", "top"}
    code, rb = run(p)
    assert code == 0
    out = _by_name(rb)
    assert {k: o.decision for k, o in out.items()} == {"libc": "built", "mid": "built", "top": "built"}
    s.settle(rb)
    (root / "libc/impl.c").write_text("impl 3 EXPORT\n")  # the same export again: adopted
    code, rb = run(s.update([str(root / "libc/impl.c")]))
    assert code == 0 and type(_by_name(rb)["top"]) is AdoptedAfter

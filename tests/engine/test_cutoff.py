"""Early cutoff in bulk (engine/cutoff.py): after an implementation patch, the consumers whose
settled keys still hold are adopted in one pass, with the reason a scheduled reuse gives; a
consumer whose inputs did change, or that sits behind a failure, is not."""

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

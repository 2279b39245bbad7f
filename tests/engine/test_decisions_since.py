"""Decisions an edit records (store/index.py `record_decisions` with `since`): when no one
recorded anything since a session's last run, only the rows that say something other than an
unchanged reuse are looked at — an edit at 10,000 packages writes what it touched, not 10,000
rows — and `jbuild explain` still reads what this run decided."""

from jbuild.engine.build import run
from jbuild.engine.session import Session
from jbuild.engine.settings import Options
from jbuild.engine.store import Store

BUILD = """
package libc {
    version = "2.24"
    sources = ["libc/impl.c", "libc/api.h"]
    interface = ["libc/api.h"]
    build = "mkdir -p $OUT/include && cp $SRC/libc/api.h $OUT/include/"
}
package mid { version = "1" sources = ["mid.c"] requires = [:libc] build = "mkdir -p $OUT && cp $SRC/mid.c $OUT/" }
package top { version = "1" sources = ["top.c"] requires = [:mid, :libc] build = "mkdir -p $OUT && cp $SRC/top.c $OUT/" }
"""
FILES = {"BUILD": BUILD, "libc/impl.c": "impl 1\n", "libc/api.h": "api 1\n", "mid.c": "mid\n", "top.c": "top\n"}


def _asked(log: list, adopted=("//:a", "//:b", "//:c")):
    def reused(other):
        log.append(None if other is None else dict(other))
        return [(n, n, "k1", "inputs unchanged") for n in adopted
                if other is None or other.get(n, ("reused", "inputs unchanged")) != ("reused", "inputs unchanged")]
    return reused


def test_only_rows_that_say_otherwise_are_written_when_no_one_recorded_since(tmp_path):
    index = Store(tmp_path / "s").index
    log: list = []
    first = index.record_decisions("/ws", [(n, n, "k1", "built", "never built before") for n in ("//:a", "//:b", "//:c")])
    second = index.record_decisions("/ws", [], _asked(log), since=first)  # all three adopted
    assert set(log[0]) == {"//:a", "//:b", "//:c"}  # each row said `built`
    third = index.record_decisions("/ws", [("//:a", "//:a", "k2", "built", "sources changed")],
                                   _asked(log, ("//:b", "//:c")), since=second)
    assert log[-1] == {}  # b and c say `reused, inputs unchanged` at k1 already: not even listed
    rows = index.decisions("/ws")
    assert rows["//:a"].decision == "built" and rows["//:b"][1:] == ("k1", "reused", "inputs unchanged")
    index.record_decisions("/ws", [("//:b", "//:b", "k9", "built", "another command line")])  # someone else
    index.record_decisions("/ws", [], _asked(log, ("//:b", "//:c")), since=third)
    assert log[-1] is None  # the stamp moved: every adopted row may differ, and is written where it does
    assert index.decisions("/ws")["//:b"][1:] == ("k1", "reused", "inputs unchanged")


def test_an_edit_after_a_cutoff_rewrites_the_reasons_it_changes(make_workspace, tmp_path):
    root = make_workspace(FILES)
    s = Session(["//:top"], Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None), str(root))
    code, rb = run(s.plan())
    s.settle(rb)
    (root / "libc/impl.c").write_text("impl 2\n")  # libc rebuilt, its export unchanged: mid and top adopted after it
    code, rb = run(s.update([str(root / "libc/impl.c")]))
    assert code == 0
    s.settle(rb)
    decisions = {k.split("@")[0]: v for k, v in s.store.index.decisions(str(root)).items()}
    assert decisions["//:mid"].reason.startswith("inputs unchanged (//:libc rebuilt")
    (root / "top.c").write_text("top 2\n")
    code, rb = run(s.update([str(root / "top.c")]))
    assert code == 0 and rb.decisions_since is not None
    s.settle(rb)
    decisions = {k.split("@")[0]: v for k, v in s.store.index.decisions(str(root)).items()}
    assert decisions["//:top"].decision == "built"
    assert decisions["//:mid"][2:] == ("reused", "inputs unchanged")  # adopted, and says so again
    assert decisions["//:libc"][2:] == ("reused", "inputs unchanged")


def _rows(s, root) -> dict:
    """node -> (reason, at) as stored in the decisions table itself."""
    import sqlite3

    db = sqlite3.connect(s.store.index.path)
    try:
        return {n.split("@")[0]: (r, at) for n, r, at in db.execute(
            "SELECT node, reason, at FROM decisions WHERE workspace=?", (str(root),))}
    finally:
        db.close()


def test_a_cutoff_and_an_edit_in_turn_rewrite_no_adopted_row(make_workspace, tmp_path):
    """The cause of a cutoff adoption is one row for all (store/decision_causes.py): a libc patch
    then a leaf edit then a patch leave the consumers' rows as they were, and the reasons read
    back are what each run decided."""
    root = make_workspace(FILES)
    s = Session(["//:top"], Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None), str(root))
    code, rb = run(s.plan())
    s.settle(rb)

    def step(path, text):
        (root / path).write_text(text)
        code, rb = run(s.update([str(root / path)]))
        assert code == 0
        s.settle(rb)
        return {k.split("@")[0]: v.reason for k, v in s.store.index.decisions(str(root)).items()}

    after = "inputs unchanged (//:libc rebuilt; exported interface unchanged)"
    assert step("libc/impl.c", "impl 2\n")["//:top"] == after
    mid_row = _rows(s, root)["//:mid"]
    assert mid_row[0] == "inputs unchanged"  # the cause is not in the row
    reasons = step("top.c", "top 2\n")
    assert reasons["//:mid"] == "inputs unchanged" and reasons["//:top"].startswith("sources changed")
    assert reasons["//:libc"] == "inputs unchanged"
    assert step("libc/impl.c", "impl 3\n")["//:mid"] == after
    assert _rows(s, root)["//:mid"] == mid_row  # three runs, one row: written by none of them
    assert _rows(s, root)["//:top"][0] == "inputs unchanged"
    reasons = step("mid.c", "mid 2\n")  # mid and top built: top's cause goes
    assert reasons["//:top"].startswith("exported interface changed") and reasons["//:libc"] == "inputs unchanged"

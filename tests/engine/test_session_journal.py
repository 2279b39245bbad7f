"""The session's journal (engine/session_journal.py): a run appends what it changed; a record
torn by a kill, or appended from a state another run had already moved on from, is ignored —
the session read back is always one some run saved whole, and what it builds is right."""

import os
import shutil

from helpers import outcomes, run_jbuild
from jbuild.engine import session_file, session_journal
from jbuild.engine.build import run
from jbuild.engine.session import Session
from jbuild.engine.settings import Options

BUILD = """
package lib { version = "1" sources = ["lib.c"] interface = ["lib.c"] build = "mkdir -p $OUT && cp $SRC/lib.c $OUT/lib" }
package app { version = "1" sources = ["app.c"] requires = [:lib] build = "mkdir -p $OUT && cat $SRC/app.c > $OUT/app" }
"""
FILES = {"BUILD": BUILD, "lib.c": "lib 1\n", "app.c": "app 1\n"}


def _opts(tmp_path):
    return Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None)


def _edit_and_save(s, root, text, analysis):
    (root / "app.c").write_text(text)
    code, rb = run(s.update([str(root / "app.c")]))
    assert code == 0
    s.settle(rb)
    session_file.save(s, analysis)


def _app(s):
    return next(v for n, v in s.settled.items() if n.label.name == "app")


def _journal(analysis):
    return session_file.paths(analysis)[1].with_suffix(".journal")


def test_a_torn_record_restores_the_state_before_it(make_workspace, tmp_path):
    root = make_workspace(FILES)
    analysis = root / ".jbuild" / "cache" / "analysis-test.pickle"
    s = Session(["//..."], _opts(tmp_path), str(root))
    _edit_and_save(s, root, "app 2\n", analysis)  # a new analysis: the hot file whole
    assert not _journal(analysis).exists()
    s = session_file.restore(analysis, _opts(tmp_path))
    _edit_and_save(s, root, "app 3\n", analysis)
    at_3 = _app(s)
    whole = _journal(analysis).stat().st_size
    _edit_and_save(s, root, "app 4\n", analysis)
    data = _journal(analysis).read_bytes()
    assert len(data) > whole and session_file.paths(analysis)[1].stat().st_mtime_ns < os.stat(_journal(analysis)).st_mtime_ns
    assert _app(session_file.restore(analysis, _opts(tmp_path)))[0] == _app(s)[0]
    for cut in (whole + 1, whole + session_journal.HEADER.size, (whole + len(data)) // 2, len(data) - 1):
        _journal(analysis).write_bytes(data[:cut])  # a kill during the append
        back = session_file.restore(analysis, _opts(tmp_path))
        assert back is not None and back.journal.seq == 1 and back.journal.end == whole
        assert _app(back)[0] == at_3[0]  # the state app 3 left, whole
    data = bytearray(data)
    data[-3] ^= 0xFF  # a bit flipped in the last record
    _journal(analysis).write_bytes(bytes(data))
    back = session_file.restore(analysis, _opts(tmp_path))
    assert _app(back)[0] == at_3[0]
    _edit_and_save(back, root, "app 5\n", analysis)  # appended where the whole records end
    again = session_file.restore(analysis, _opts(tmp_path))
    assert again.journal.seq == 2 and _app(again)[0] == _app(back)[0] != at_3[0]


def test_two_runs_from_one_state_the_later_replaces_the_earlier(make_workspace, tmp_path):
    root = make_workspace(FILES)
    analysis = root / ".jbuild" / "cache" / "analysis-test.pickle"
    s = Session(["//..."], _opts(tmp_path), str(root))
    _edit_and_save(s, root, "app 2\n", analysis)
    a = session_file.restore(analysis, _opts(tmp_path))
    b = session_file.restore(analysis, _opts(tmp_path))
    _edit_and_save(a, root, "app 3\n", analysis)
    _edit_and_save(b, root, "app 4\n", analysis)  # from the same state as a's: a's record goes
    back = session_file.restore(analysis, _opts(tmp_path))
    assert back.journal.seq == 1 and _app(back)[0] == _app(b)[0] != _app(a)[0]
    code, rb = run(back.update([]))
    assert code == 0 and {n.label.name: o.decision for n, o in rb.outcomes.items()}["app"] == "reused"


def test_a_journal_of_an_older_hot_file_is_ignored(make_workspace, tmp_path):
    """A kill between writing the hot file whole and removing the journal leaves the journal
    of the hot file before: its records name that one, and are not applied."""
    root = make_workspace(FILES)
    analysis = root / ".jbuild" / "cache" / "analysis-test.pickle"
    s = Session(["//..."], _opts(tmp_path), str(root))
    _edit_and_save(s, root, "app 2\n", analysis)
    s = session_file.restore(analysis, _opts(tmp_path))
    _edit_and_save(s, root, "app 3\n", analysis)
    old = _journal(analysis).read_bytes()
    s.journal = None  # the next save writes the hot file whole
    _edit_and_save(s, root, "app 4\n", analysis)
    assert not _journal(analysis).exists()
    _journal(analysis).write_bytes(old)
    back = session_file.restore(analysis, _opts(tmp_path))
    assert back.journal.seq == 0 and back.journal.end == 0 and _app(back)[0] == _app(s)[0]
    _edit_and_save(back, root, "app 5\n", analysis)  # truncates the stale records first
    assert session_file.restore(analysis, _opts(tmp_path)).journal.seq == 1


def test_after_a_torn_journal_the_cli_builds_what_changed(make_workspace, tmp_path):
    root = make_workspace(FILES)
    events = tmp_path / "events.json"

    def build():
        r = run_jbuild("build", "//...", "--sandbox", "bwrap", "--no-link", "--build-events", str(events),
                       cwd=root, env={"JBUILD_STORE": str(tmp_path / "store")})
        assert r.returncode == 0, r.stderr
        entry = [x.split(": ", 1)[1] for x in r.stderr.splitlines() if x.startswith("//:app@1 up to date")][0]
        with open(os.path.join(entry, "app")) as f:
            assert f.read() == (root / "app.c").read_text()
        return outcomes(events)

    build()
    for i in range(2, 5):
        (root / "app.c").write_text(f"app {i}\n")
        assert build() == {"//:lib": "reused", "//:app": "built"}
    (journal,) = (root / ".jbuild" / "cache").glob("*.journal")
    kept = tmp_path / "kept.journal"
    shutil.copy(journal, kept)
    (root / "app.c").write_text("app 5\n")
    assert build()["//:app"] == "built"
    data = journal.read_bytes()
    journal.write_bytes(data[:len(kept.read_bytes()) + 5])  # app 5's record, torn
    (root / "app.c").write_text("app 4\n")  # back to what the whole state built last
    assert build() == {"//:lib": "reused", "//:app": "reused"}
    (root / "app.c").write_text("app 5\n")
    assert build() == {"//:lib": "reused", "//:app": "reused"}  # in the store since app 5's run


def test_a_build_killed_at_any_moment_leaves_a_session_that_builds_right(make_workspace, tmp_path):
    """SIGKILL at moments spread over an edit's run (the journal append is at its end): the
    next build exits 0 with the sources' own result, and the one after is a no-op."""
    import signal
    import subprocess
    import sys
    import time

    root = make_workspace(FILES)
    env = {**os.environ, "JBUILD_STORE": str(tmp_path / "store")}
    argv = [sys.executable, "-m", "jbuild", "build", "//...", "--sandbox", "bwrap", "--no-link"]

    def build():
        r = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        entry = [x.split(": ", 1)[1] for x in r.stderr.splitlines() if x.startswith("//:app@1 up to date")][0]
        with open(os.path.join(entry, "app")) as f:
            assert f.read() == (root / "app.c").read_text()
        return r.stderr

    build()
    (root / "app.c").write_text("app timed\n")
    start = time.monotonic()
    build()
    took = time.monotonic() - start
    for i in range(12):
        (root / "app.c").write_text(f"app {i}\n")
        proc = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(took * (0.4 + 0.6 * i / 11))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        build()
        assert "0 built" in build()


def test_a_record_past_the_journals_limit_writes_the_hot_file_whole(make_workspace, tmp_path):
    """Every run replays the journal: a record that would take it past its limit (the first run
    after a new analysis settles every action) rewrites the hot file instead, once."""
    root = make_workspace(FILES)
    analysis = root / ".jbuild" / "cache" / "analysis-test.pickle"
    s = Session(["//..."], _opts(tmp_path), str(root))
    session_file.save(s, analysis)  # as `jbuild build` does a new analysis: before its run, nothing settled
    code, rb = run(s.plan())
    assert code == 0
    s.settle(rb)
    s.journal.limit = s.journal.end + 10  # too small for what the run settled
    hot = session_file.paths(analysis)[1]
    before = hot.stat().st_mtime_ns
    session_file.save(s, analysis)
    assert not _journal(analysis).exists() and hot.stat().st_mtime_ns > before
    back = session_file.restore(analysis, _opts(tmp_path))
    assert back.journal.end == 0 and {n.label.name for n in back.settled} == {"lib", "app"}
    assert back.journal.limit >= session_file.JOURNAL_AT_LEAST
    _edit_and_save(back, root, "app 2\n", analysis)  # a small record is appended
    assert _journal(analysis).exists() and session_file.restore(analysis, _opts(tmp_path)).journal.seq == 1

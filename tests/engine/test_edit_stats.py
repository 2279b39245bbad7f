"""An edit's run stats each source once: the no-op check's stats (snapshot.is_fresh) are the
ones the session's check reads (Session.changed_files), not taken again — and an edit is still
seen, whichever check sees it."""

import os
import time

from jbuild.engine import build as build_mod
from jbuild.engine.settings import Options

BUILD = """
package a { version = "1" sources = ["a.txt"] build = "mkdir -p $OUT && cp $SRC/a.txt $OUT/" }
package b { version = "1" sources = ["b.txt"] requires = [:a] build = "mkdir -p $OUT && cp $SRC/b.txt $OUT/" }
"""


def test_an_edit_stats_each_unchanged_source_once(make_workspace, tmp_path, monkeypatch):
    root = make_workspace({"BUILD": BUILD, "a.txt": "a\n", "b.txt": "b 1\n"})
    time.sleep(0.1)  # past the racy-clean margin (a file read just after its change is hashed again: a stat more)
    opts = Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None)
    first = build_mod.build(["//..."], opts, str(root), members=False)
    assert first.code == 0
    (root / "b.txt").write_text("b 2\n")
    os.utime(root / "b.txt", ns=(1, 1))  # (an old mtime; its ctime is now: b.txt is hashed again)
    counted, real = [], os.stat

    def stat(path, *args, **kwargs):
        counted.append(os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    result = build_mod.build(["//..."], opts, str(root), members=False)
    monkeypatch.setattr(os, "stat", real)
    assert result.code == 0
    assert counted.count(str(root / "a.txt")) == 1
    entry = dict(result.roots)
    b = next(v for k, v in entry.items() if k.startswith("//:b"))
    assert (b / "b.txt").read_text() == "b 2\n"


def test_a_glob_directory_relisted_unchanged_is_proved_by_a_stat_next_time(make_workspace, tmp_path, monkeypatch):
    """A workspace root whose stat changed but whose listing did not (its `result` links made
    again, a file made and removed) is listed by the kept session's edit check once, not on
    every edit after (at 10,000 packages: 10,000 links resolved per edit in the build server)."""
    from jbuild.base import file_memo
    from jbuild.base.freshness import RACY_MARGIN_NS
    from jbuild.dsl import globs

    monkeypatch.setattr(file_memo, "_on", True)  # as the build server: its session kept in memory between builds
    monkeypatch.setattr(file_memo, "_kept", {})
    root = make_workspace({"BUILD": 'package a { version = "1" sources = glob(["*.txt"]) '
                                    'build = "mkdir -p $OUT && cat $SRC/*.txt > $OUT/a" }\n',
                           "a.txt": "a 1\n"})
    opts = Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None)
    assert build_mod.build(["//..."], opts, str(root), members=False).code == 0
    (root / "stray").write_text("")
    (root / "stray").unlink()  # the root's stat changed, its listing did not
    time.sleep(2 * RACY_MARGIN_NS / 1e9)
    listed, restamped = [], []
    real_relevant, real_unchanged = globs._relevant, globs.dir_unchanged

    def relevant(entries, ws_root):
        listed.append(entries)
        return real_relevant(entries, ws_root)

    def dir_unchanged(path, recorded, ws_root, since_ns, relisted=None):
        def told(state, taken_at):
            restamped.append(path)
            relisted(state, taken_at)
        return real_unchanged(path, recorded, ws_root, since_ns, told if relisted else None)

    monkeypatch.setattr(globs, "_relevant", relevant)
    monkeypatch.setattr(globs, "dir_unchanged", dir_unchanged)
    for i in range(2, 7):
        (root / "a.txt").write_text(f"a {i}\n")
        os.utime(root / "a.txt", ns=(1, 1))
        before, was_restamped = len(listed), str(root) in restamped
        result = build_mod.build(["//..."], opts, str(root), members=False)
        assert result.code == 0
        assert next(iter(dict(result.roots).values())).joinpath("a").read_text() == f"a {i}\n"
        if was_restamped:
            assert len(listed) == before, f"edit {i}: the root was listed again"
    assert str(root) in restamped  # (the edit check did list it, and kept what it saw)


def test_a_session_saved_before_walked_states_had_their_time_is_still_read(make_workspace, tmp_path):
    """Sessions kept by the previous jbuild hold (state, root) per walked directory, with no time
    of their own: the edit check reads them (it crashed on one after an update: internal error)."""
    from jbuild.dsl.workspace import Workspace
    from jbuild.engine import session_file, snapshot
    from jbuild.engine.build import resolve

    root = make_workspace({"BUILD": 'package a { version = "1" sources = ["a.txt"] build = "mkdir -p $OUT" }\n',
                           "a.txt": "a\n"})
    time.sleep(0.1)  # past the racy-clean margin: the check proves by stats, and answers
    opts = Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None)
    assert build_mod.build(["//..."], opts, str(root), members=False).code == 0
    ws = Workspace.find(str(root))
    opts = resolve(ws, opts)
    command = (("//...",), ws.package_of(str(root)), opts.strict, opts.sandbox, opts.store)
    session = session_file.restore(snapshot.path_for(ws.cache_dir, command), opts)
    assert session is not None and session.walked_states
    session.walked_states = {d: w[:2] for d, w in session.walked_states.items()}
    assert session.changed_files() == []

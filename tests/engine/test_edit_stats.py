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

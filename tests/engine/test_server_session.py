"""The session a build server keeps between builds stays lean: a snapshot recorded whole (a build
with links) reads no loader back, and a session that holds its loader (a whole analysis, a BUILD
edit re-lowered the loader's way) is not kept in memory but restored from its files — so that a
later BUILD edit in place is taken in by relower.py, not by re-lowering through the loader
(before: 1.3 s and 272 MB at 10,000 packages, against 0.5 s and 131 MB)."""

from __future__ import annotations

import os
import time

from jbuild.base import file_memo
from jbuild.engine import analysis_file, session_file, snapshot
from jbuild.engine.build import build
from jbuild.engine.settings import Options
from test_noop_since import _build
from test_relower import COUNT, _extra, _text


def _opts(tmp_path, link=None) -> Options:
    return Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=link)


def _cache(root):
    (path,) = (root / ".jbuild" / "cache").glob("analysis-*.pickle")
    return path


def test_a_snapshot_recorded_whole_reads_no_loader_back_and_says_what_the_loader_does(make_workspace, tmp_path):
    root = make_workspace({f"src/p{i}.txt": f"{i}\n" for i in range(COUNT)} | {"BUILD": _text({})})
    _build(root, tmp_path)
    (root / "BUILD").write_text(_text({7: "edited"}))  # taken in place: the loader's inputs kept to match
    _build(root, tmp_path)
    (root / "src" / "p3.txt").write_text("3 again\n")
    before = dict(analysis_file.READ_BACK)
    result = build(["//..."], _opts(tmp_path, str(root / "result")), str(root), members=False)  # with links:
    assert result.code == 0 and result.envs  # its snapshot recorded whole (noop.record)
    assert analysis_file.READ_BACK["heavy"] == before["heavy"]  # without the loader
    snap = snapshot.load(_cache(root))
    assert snap is not None and snap.envs
    files, dirs = session_file.restore(_cache(root), _opts(tmp_path)).loader.inputs()  # (read back, patched)
    assert files and all(snap.files[p] == stat for p, stat in files.items())
    assert files[str(root / "BUILD")] == snapshot.stat_of(root / "BUILD")  # the edited file's new stat
    assert set(dirs) <= set(snap.dirs)
    ran, err = _build(root, tmp_path)  # and it answers the next build
    assert set(ran.values()) <= {"reused"}, err


def test_a_server_keeps_no_session_holding_its_loader_and_takes_buildfile_edits_in_place(make_workspace, tmp_path):
    root = make_workspace({f"src/p{i}.txt": f"{i}\n" for i in range(COUNT)} | {"BUILD": _text({})})
    opts = _opts(tmp_path)
    time.sleep(0.05)  # (jbuild.toml written beyond the racy margin before the analysis: proved unchanged after)
    file_memo.enable()
    try:
        assert build(["//..."], opts, str(root), members=False).code == 0  # a whole analysis: not kept
        assert file_memo.recall("session", str(_cache(root)), session_file._files(_cache(root))) is None
        for i, mark in enumerate(("one", "two", "three")):
            (root / "BUILD").write_text(_text({7: mark}))
            os.utime(root / "BUILD", ns=(1, 10**18 + i))  # (a stat unlike the last, whatever the clock)
            hits, before = file_memo.hits.get("session", 0), dict(analysis_file.READ_BACK)
            result = build(["//..."], opts, str(root), members=False)
            assert result.code == 0
            assert analysis_file.READ_BACK["heavy"] == before["heavy"]  # in place (relower.py): no loader
            assert file_memo.hits.get("session", 0) == hits + (i > 0)  # the first restored from its files
        (root / "BUILD").write_text(_text({7: "three"}) + _extra())  # a package added: the loader's way,
        assert build(["//..."], opts, str(root), members=False).code == 0  # then not kept
        hits = file_memo.hits.get("session", 0)
        (root / "BUILD").write_text(_text({7: "four"}) + _extra())
        before = dict(analysis_file.READ_BACK)
        assert build(["//..."], opts, str(root), members=False).code == 0
        assert file_memo.hits.get("session", 0) == hits and analysis_file.READ_BACK["heavy"] == before["heavy"]
    finally:
        file_memo.enable(False)
    ran, err = _build(root, tmp_path)  # what the kept files say is a clean build's: a no-op
    assert set(ran.values()) == {"reused"} and f"0 built, {COUNT + 1} reused" in err

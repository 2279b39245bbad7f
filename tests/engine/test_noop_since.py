"""The no-op snapshot updated from the last one (noop.record_since): after an edit, what it
records is what a whole recording would, and the no-op it answers is right; a snapshot from
another session state is recorded whole."""

import dataclasses
import shutil

from helpers import outcomes, run_jbuild
from jbuild.base.cachefile import read
from jbuild.engine import noop, snapshot
from jbuild.engine.build import build
from jbuild.engine.settings import Options

BUILD = """
package lib {
    version = "1" sources = ["lib.c", "lib.h"] interface = ["lib.h"]
    build = "mkdir -p $OUT && cp $SRC/lib.h $OUT/ && cat $SRC/lib.c > $TMPDIR/x"
}
package use { version = "1" sources = ["use.c"] requires = [:lib] build = "mkdir -p $OUT && cat $SRC/use.c > $OUT/use" }
package app { version = "1" sources = ["app.c"] requires = [:lib] build = "mkdir -p $OUT && cat $SRC/app.c > $OUT/app" }
package other { version = "1" sources = ["other.c"] build = "mkdir -p $OUT && cat $SRC/other.c > $OUT/other" }
"""
FILES = {"BUILD": BUILD, "lib.c": "lib 1\n", "lib.h": "", "app.c": "app 1\n", "other.c": "other\n", "use.c": "use\n"}


def _build(root, tmp_path):
    events = tmp_path / "events.json"
    r = run_jbuild("build", "//...", "--sandbox", "bwrap", "--no-link", "--build-events", str(events), cwd=root,
                   env={"JBUILD_STORE": str(tmp_path / "store")})
    assert r.returncode == 0, r.stderr
    return outcomes(events), r.stderr


def _snapshot(root):
    (path,) = (root / ".jbuild" / "cache").glob("analysis-*.pickle")
    return read(path, snapshot.FORMAT, None)


def _content(snap):
    """All but when it was recorded and the session state it names; a walked directory by its
    listing (removing .jbuild changed the workspace root's mtime)."""
    out = {k: v for k, v in dataclasses.asdict(snap).items() if k not in ("recorded_at", "session")}
    out["dirs"] = {path: state[1:] for path, state in out["dirs"].items()}
    return out


def test_an_updated_snapshot_is_the_whole_one(make_workspace, tmp_path, monkeypatch):
    root = make_workspace(FILES)
    _build(root, tmp_path)
    (root / "app.c").write_text("app 2\n")
    _build(root, tmp_path)  # the first run from a kept session: its snapshot is recorded whole
    (root / "app.c").write_text("app 3\n")
    (root / "lib.c").write_text("lib 3\n")  # libc rebuilt, its consumers adopted (cutoff.py)
    ran, _ = _build(root, tmp_path)
    assert ran == {"//:lib": "built", "//:app": "built", "//:other": "reused", "//:use": "reused"}
    (root / "app.c").write_text("app 4\n")
    (root / "lib.c").write_text("lib 4\n")

    def whole(*args):
        raise AssertionError("recorded whole")

    monkeypatch.setattr(noop, "record", whole)  # in this process, only an update will do
    result = build(["//..."], Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None), str(root),
                   members=False)
    assert result.code == 0
    monkeypatch.undo()
    updated = _snapshot(root)
    ran, err = _build(root, tmp_path)
    assert set(ran.values()) == {"reused"} and "0 built, 4 reused" in err
    shutil.rmtree(root / ".jbuild")  # no session, no snapshot: analysed and recorded whole
    assert set(_build(root, tmp_path)[0].values()) == {"reused"}
    whole = _snapshot(root)
    assert _content(updated) == _content(whole)
    assert updated.session and updated.session != whole.session


def test_a_snapshot_of_another_session_state_is_recorded_whole(make_workspace, tmp_path):
    root = make_workspace(FILES)
    _build(root, tmp_path)
    (root / "app.c").write_text("app 2\n")
    _build(root, tmp_path)
    (path,) = (root / ".jbuild" / "cache").glob("analysis-*.pickle")
    stale = tmp_path / "stale.pickle"
    shutil.copy(path, stale)
    (root / "other.c").write_text("other 2\n")
    _build(root, tmp_path)
    shutil.copy(stale, path)  # names the state before the last run: not this session's
    (root / "app.c").write_text("app 3\n")
    assert _build(root, tmp_path)[0]["//:app"] == "built"
    kept = _content(_snapshot(root))
    shutil.rmtree(root / ".jbuild")
    _build(root, tmp_path)
    assert kept == _content(_snapshot(root))

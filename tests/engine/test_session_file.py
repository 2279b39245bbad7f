"""The session kept between CLI runs (engine/session_file.py): a source edit rewrites only the
hot file; a BUILD edit rewrites the analysis; files that do not go together restore nothing.
Each case checks what was built, so a fast path that missed a change would fail here."""

import os
import shutil

from helpers import outcomes, run_jbuild

BUILD = """
package lib { version = "1" sources = ["lib.c", "lib.h"] interface = ["lib.c"] build = "mkdir -p $OUT && cp $SRC/lib.c $OUT/lib" }
package app { version = "1" sources = ["app.c"] requires = [:lib] build = "mkdir -p $OUT && cat $SRC/app.c > $OUT/app" }
"""
FILES = {"BUILD": BUILD, "lib.c": "lib 1\n", "lib.h": "", "app.c": "app 1\n"}


def _build(root, tmp_path, pattern="//..."):
    events = tmp_path / "events.json"
    r = run_jbuild("build", pattern, "--sandbox", "bwrap", "--no-link", "--build-events", str(events), cwd=root,
                   env={"JBUILD_STORE": str(tmp_path / "store")})
    assert r.returncode == 0, r.stderr
    out = {line.split("@")[0]: line.split(": ", 1)[1] for line in r.stderr.splitlines() if " up to date: " in line}
    with open(os.path.join(out["//:app"], "app")) as f:
        assert f.read() == (root / "app.c").read_text()  # whichever path it took, the result is the sources' own
    return outcomes(events)


def _files(root):
    cache = root / ".jbuild" / "cache"
    (cold,) = [p for p in cache.iterdir() if p.name.startswith("session-") and p.name.count(".") == 1]
    return cold, cold.with_name(cold.stem + ".hot.pickle")


def _stamp(path):
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns


def test_a_source_edit_appends_to_the_journal_only(make_workspace, tmp_path):
    root = make_workspace(FILES)
    assert _build(root, tmp_path) == {"//:lib": "built", "//:app": "built"}
    (root / "app.c").write_text("app 2\n")
    assert _build(root, tmp_path) == {"//:lib": "reused", "//:app": "built"}
    cold, hot = _files(root)
    journal = hot.with_suffix(".journal")
    before = _stamp(cold), _stamp(hot), journal.stat().st_size
    (root / "app.c").write_text("app 3\n")
    assert _build(root, tmp_path) == {"//:lib": "reused", "//:app": "built"}
    assert _stamp(cold) == before[0] and _stamp(hot) == before[1] and journal.stat().st_size > before[2]
    (root / "lib.c").write_text("lib 2\n")
    assert _build(root, tmp_path) == {"//:lib": "built", "//:app": "built"}  # its interface covers lib.c
    assert _stamp(cold) == before[0]


def test_a_build_file_edit_rewrites_the_analysis(make_workspace, tmp_path):
    root = make_workspace(FILES)
    _build(root, tmp_path)
    (root / "app.c").write_text("app 2\n")
    _build(root, tmp_path)
    cold, _ = _files(root)
    before = _stamp(cold)
    (root / "BUILD").write_text(BUILD.replace("$OUT/app\"", "$OUT/app && true\""))
    assert _build(root, tmp_path) == {"//:lib": "reused", "//:app": "built"}
    assert _stamp(cold) != before
    (root / "app.c").write_text("app 3\n")  # and the new analysis is the one kept
    assert _build(root, tmp_path) == {"//:lib": "reused", "//:app": "built"}


def test_a_same_size_edit_with_its_mtime_put_back_is_noticed(make_workspace, tmp_path):
    """Size and mtime as recorded, content not: the inode change time still tells."""
    root = make_workspace(FILES)
    _build(root, tmp_path)
    (root / "app.c").write_text("app 2\n")
    assert _build(root, tmp_path)["//:app"] == "built"
    st = os.stat(root / "app.c")
    (root / "app.c").write_text("app 3\n")
    os.utime(root / "app.c", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _build(root, tmp_path)["//:app"] == "built"


def test_files_that_do_not_go_together_restore_nothing(make_workspace, tmp_path):
    """A hot file from another analysis (as after a run killed between the two writes): the
    next run analyses again, and builds what the edit needs."""
    root = make_workspace(FILES)
    _build(root, tmp_path)
    (root / "app.c").write_text("app 2\n")
    _build(root, tmp_path)
    _, hot = _files(root)
    stale = tmp_path / "stale.hot.pickle"
    shutil.copy(hot, stale)
    (root / "BUILD").write_text(BUILD.replace("$OUT/lib\"", "$OUT/lib && true\""))
    assert _build(root, tmp_path) == {"//:lib": "built", "//:app": "reused"}  # its interface is unchanged
    shutil.copy(stale, hot)
    cold, _ = _files(root)
    before = _stamp(cold)
    (root / "app.c").write_text("app 3\n")
    assert _build(root, tmp_path) == {"//:lib": "reused", "//:app": "built"}
    assert _stamp(cold) != before  # analysed again, not restored
    (root / "BUILD").write_text(BUILD)  # back as the first analysis had it
    assert _build(root, tmp_path)["//:lib"] == "reused"


def test_a_new_file_a_glob_matches_is_expanded_from_a_kept_analysis(make_workspace, tmp_path):
    """The kept loader has no parse of the BUILD file (Loader.__getstate__): re-expanding a
    glob parses it again, and the new file is a source. (Under `//...` a directory change is
    structural: one target, so that only the glob sees it.)"""
    build = BUILD.replace('sources = ["app.c"]', 'sources = glob(["app*"])').replace(
        "cat $SRC/app.c > $OUT/app", "cat $SRC/app* > $OUT/app")
    root = make_workspace({**FILES, "BUILD": build})
    _build(root, tmp_path, "//:app")
    (root / "app.c").write_text("app 2\n")
    assert _build(root, tmp_path, "//:app")["//:app"] == "built"  # now from the kept session
    (root / "app2.c").write_text("more\n")
    r = run_jbuild("build", "//:app", "--sandbox", "bwrap", "--no-link", cwd=root,
                   env={"JBUILD_STORE": str(tmp_path / "store")})
    assert r.returncode == 0 and "1 built" in r.stderr, r.stderr
    entry = [line.split(": ", 1)[1] for line in r.stderr.splitlines() if "//:app@1 up to date" in line][0]
    with open(os.path.join(entry, "app")) as f:
        assert f.read() == "app 2\nmore\n"


def built_saved_restored(make_workspace, tmp_path):
    """(a session of FILES built and settled, the same restored from its saved files)."""
    from jbuild.engine import session_file
    from jbuild.engine.build import run
    from jbuild.engine.session import Session
    from jbuild.engine.settings import Options

    root = make_workspace(FILES)
    opts = Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None)
    s = Session(["//..."], opts, str(root))
    code, rb = run(s.plan())
    s.settle(rb)
    analysis = root / ".jbuild" / "cache" / "analysis-test.pickle"
    session_file.save(s, analysis)
    return s, session_file.restore(analysis, opts)


def test_the_hot_part_refers_to_the_analysis_own_nodes(make_workspace, tmp_path):
    """Nodes in the hot file are numbers into the analysis: restored, they are the very
    objects of the restored graph (a copy would key a second, silently stale dict entry)."""
    s, back = built_saved_restored(make_workspace, tmp_path)
    graph = {id(n) for n in back.node_closure}
    assert {n.label.name for n in back.settled} == {"lib", "app"}
    assert {id(n) for n in back.settled} <= graph and {id(n) for n in back.computer.keys.build} <= graph
    assert all(id(d) in graph for ds in back.computer._tools.values() for d in ds)
    assert back.update([]).affected == set()


def test_a_restored_session_keeps_its_stats_in_its_journal_and_another_command_line_rehashes(
        make_workspace, tmp_path):
    """The shared stat cache is left as it was by a kept session's run (the journal has the
    hashes); another command line's analysis re-hashes what changed since, and builds right."""
    root = make_workspace(FILES)
    _build(root, tmp_path)
    (root / "app.c").write_text("app 2\n")
    _build(root, tmp_path)
    stats = root / ".jbuild" / "cache" / "stat-v1.pickle"
    before = _stamp(stats)
    (root / "app.c").write_text("app 3\n")
    assert _build(root, tmp_path)["//:app"] == "built"
    assert _stamp(stats) == before
    assert _build(root, tmp_path, "//:app")["//:app"] == "reused"  # app 3, hashed again: in the store
    assert _stamp(stats) != before  # a whole analysis writes it


def test_temporaries_of_killed_writers_go_and_a_live_writers_stay(make_workspace, tmp_path):
    """A run killed between writing `<name>.tmp<pid>` and renaming it leaves the temporary (24 MB
    of analysis at 10,000 packages): the next save removes it once its writer is dead, never one
    a living process may still rename, nor a file of another name."""
    import subprocess
    import sys
    import time

    from jbuild.engine.session_file import clean_temporaries

    root = make_workspace(FILES)
    _build(root, tmp_path)
    cache = root / ".jbuild" / "cache"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        old = time.time() - 120
        for name, pid in (("session-x.tmp", dead.pid), ("session-x.hot.tmp", live.pid), ("stat-v1.tmp", dead.pid)):
            (cache / f"{name}{pid}").write_bytes(b"partial")
            os.utime(cache / f"{name}{pid}", (old, old))
        (cache / f"session-y.tmp{dead.pid}").write_bytes(b"just written")  # a minute's grace: mtime now
        (cache / "notes.tmpfile").write_text("not a temporary")
        ancient = cache / f"analysis-z.tmp{live.pid + 1}"
        ancient.write_bytes(b"a day old")
        os.utime(ancient, (old - 24 * 3600, old - 24 * 3600))
        (root / "app.c").write_text("app 2\n")
        assert _build(root, tmp_path) == {"//:lib": "reused", "//:app": "built"}  # a save cleans
        left = sorted(p.name for p in cache.iterdir() if ".tmp" in p.name)
        assert left == sorted([f"session-x.hot.tmp{live.pid}", f"session-y.tmp{dead.pid}", "notes.tmpfile"])
        clean_temporaries(cache, now=time.time() + 61)
        assert sorted(p.name for p in cache.iterdir() if ".tmp" in p.name) == \
            sorted([f"session-x.hot.tmp{live.pid}", "notes.tmpfile"])
    finally:
        live.kill()
        live.wait()

"""What a build leaves for the next (the kept session, the no-op snapshot) is saved by the build
server once its client has its answer (base/after_answer.py), and an updated session's small
plan (a BUILD edit) writes its analysis after the run, not before it (engine/build.py
`_saved_first`). Real server, real builds in bubblewrap: nothing deferred is lost, a kill in
between costs nothing but time, and the saves run before the next request and before shutdown."""

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import gone_within
from jbuild.base import after_answer
from test_server import Workspace, stop_servers

BUILD = """
package lib { version = "1" sources = ["lib.txt"] interface = ["lib.txt"] build = "mkdir -p $OUT && cp $SRC/lib.txt $OUT/lib" }
package app {
    version = "1"
    sources = ["app.txt", "delay"]
    requires = [:lib]
    build = "sleep $(cat $SRC/delay) && mkdir -p $OUT && cat $SRC/app.txt > $OUT/app"
}
"""
EDITED = BUILD.replace("> $OUT/app", "> $OUT/app && echo edited >> $OUT/app")


@pytest.fixture
def ws(make_workspace, tmp_path):
    w = Workspace(make_workspace({"BUILD": BUILD, "lib.txt": "lib\n", "app.txt": "app\n", "delay": "0\n"}),
                  tmp_path / "store")
    yield w
    stop_servers(w)
    assert gone_within(str(w.server_dir()), 10)


def _counts(r) -> tuple[int, int]:
    found = re.search(r"(\d+) built, (\d+) reused", r.stderr)
    assert r.returncode == 0 and found, r.stderr
    return int(found[1]), int(found[2])


def _noop_without_parser(ws) -> bool:
    """Is an in-process build now the no-op (no parser imported), which only a saved snapshot
    whose session the last build left allows?"""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "jbuild", "build", "//...", "--no-link"],
                       cwd=ws.root, env={**ws.env, "JBUILD_SERVER": "0"}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return "| lark" not in r.stderr and "0 built, 2 reused" in r.stderr


def test_the_server_saves_after_its_answer_before_its_next_request_and_its_shutdown(ws):
    assert _counts(ws.jbuild("build", "//...", "--no-link")) == (2, 0)
    (ws.root / "BUILD").write_text(EDITED)
    assert _counts(ws.jbuild("build", "//...", "--no-link")) == (1, 1)
    assert _counts(ws.jbuild("build", "//...", "--no-link")) == (0, 2)  # (the next request: after the save)
    ws.jbuild("shutdown", server=False, timeout=60)
    log = ws.logs()
    answered = [m.start() for m in re.finditer(r"build \d+: exit 0", log)]
    saved = [m.start() for m in re.finditer(r"saved what the build leaves for the next in [\d.]+ s, after its answer",
                                            log)]
    # each build's saves come after its answer and before the next build (the third, a no-op, saves nothing)
    assert len(answered) == 3 and len(saved) == 2, log
    assert answered[0] < saved[0] < answered[1] < saved[1] < answered[2], log
    assert _noop_without_parser(ws)  # the saves made before the server left


def test_a_server_killed_after_its_answer_loses_no_result(ws):
    """Killed right after answering, perhaps before its saves: the next build finds the files of
    the build before and takes the edit in again; it builds nothing more and nothing wrong."""
    assert _counts(ws.jbuild("build", "//...", "--no-link")) == (2, 0)
    (ws.root / "BUILD").write_text(EDITED)
    assert _counts(ws.jbuild("build", "//...", "--no-link")) == (1, 1)
    for pid in ws.pids():
        os.kill(pid, signal.SIGKILL)
    assert _counts(ws.jbuild("build", "//...", "--no-link")) == (0, 2)
    assert _app(ws) == "app\nedited\n"


def test_a_build_edit_killed_mid_run_leaves_the_session_it_was_updated_from(ws):
    """A BUILD edit's small plan writes its analysis only after the run: killed during it, the
    session on disk is the one the edit was taken into, whole, and the next build takes the edit
    in again from it."""
    assert _counts(ws.jbuild("build", "//...", "--no-link", server=False)) == (2, 0)
    cache = ws.root / ".jbuild" / "cache"
    before = {p.name: p.stat().st_mtime_ns for p in cache.glob("session-*")}
    assert before
    (ws.root / "BUILD").write_text(EDITED)
    (ws.root / "delay").write_text("60\n")
    proc = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//...", "--no-link"], cwd=ws.root,
                            env={**ws.env, "JBUILD_SERVER": "0"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while not _running(ws, "sleep") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _running(ws, "sleep"), "the edited app's action should be running"
        assert {p.name: p.stat().st_mtime_ns for p in cache.glob("session-*")} == before, \
            "the analysis is not written before a small plan's run"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (ws.root / "delay").write_text("0\n")
    assert _counts(ws.jbuild("build", "//...", "--no-link", server=False)) == (1, 1)
    assert _app(ws) == "app\nedited\n"
    assert _noop_without_parser(ws)


def test_random_edits_builds_and_server_kills_always_build_what_the_files_say(ws):
    """A seeded walk of BUILD-file edits, source edits, builds through the server and in-process,
    and kills of the server right after an answer (perhaps before its saves): after every build,
    the app's entry holds what the files say now."""
    def recipe(version: int) -> str:
        return BUILD.replace("> $OUT/app", f"> $OUT/app && echo v{version} >> $OUT/app")

    rng = random.Random(12)
    script, text = 0, "app\n"
    (ws.root / "BUILD").write_text(recipe(script))
    for step in range(14):
        action = rng.choice(["script", "source", "both"])
        if action in ("script", "both"):
            script = rng.randrange(3)
            (ws.root / "BUILD").write_text(recipe(script))
        if action in ("source", "both"):
            text = f"app {rng.randrange(3)}\n"
            (ws.root / "app.txt").write_text(text)
        server = rng.random() < 0.7
        r = ws.jbuild("build", "//...", "--no-link", server=server)
        assert r.returncode == 0, (step, r.stderr)
        if server and rng.random() < 0.4:
            for pid in ws.pids():
                os.kill(pid, signal.SIGKILL)
        assert _app(ws) == f"{text}v{script}\n", (step, action, server)


def _app(ws) -> str:
    """What the app's entry as built for the workspace now holds."""
    r = ws.jbuild("build", "//:app", "--no-link", "--print-out-paths", server=False)
    assert r.returncode == 0, r.stderr
    (path,) = r.stdout.split()
    return (Path(path) / "app").read_text()


def _running(ws, program: str) -> bool:
    """Is `program` running in one of this test's sandboxes (its command line names the delay)?"""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == program.encode() and argv[1:2] == [b"60"]:
            return True
    return False


def test_later_runs_at_once_outside_the_server_and_queues_inside(capsys):
    done = []
    after_answer.later(lambda: done.append("now"))
    assert done == ["now"]
    with after_answer.deferring():
        after_answer.later(lambda: done.append("first"))
        after_answer.later(lambda: 1 / 0)
        after_answer.later(lambda: done.append("second"))
        assert done == ["now"] and after_answer.pending() == 3
    logged = []
    after_answer.run_pending(logged.append)
    assert done == ["now", "first", "second"] and after_answer.pending() == 0
    assert len(logged) == 1 and "ZeroDivisionError" in logged[0]
    after_answer.later(lambda: done.append("after"))  # (outside again: at once)
    assert done[-1] == "after"

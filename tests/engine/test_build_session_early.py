"""A new analysis is written before the run (engine/build.py): pickling it at 10,000 packages
costs tens of MB, which no longer stack on the run's own. A build killed during its run then
leaves that analysis with the plan-time state, and the next build resumes from it correctly."""

import os
import signal
import subprocess
import sys
import time

from helpers import outcomes, run_jbuild

BUILD = """
package lib { version = "1" sources = ["lib.c"] interface = ["lib.c"] build = "mkdir -p $OUT && cp $SRC/lib.c $OUT/lib" }
package app {
    version = "1"
    sources = ["app.c", "delay"]
    requires = [:lib]
    build = "sleep $(cat $SRC/delay) && mkdir -p $OUT && cat $SRC/app.c > $OUT/app"
}
"""


def test_a_build_killed_mid_run_leaves_its_analysis_and_the_next_resumes_from_it(make_workspace, tmp_path):
    root = make_workspace({"BUILD": BUILD, "lib.c": "lib 1\n", "app.c": "app 1\n", "delay": "60\n"})
    store = tmp_path / "store"
    env = {**os.environ, "JBUILD_STORE": str(store)}
    proc = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//...", "--sandbox", "bwrap", "--no-link"],
                            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not list(store.glob("*-lib-1/.jbuild-entry.json")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, "the build should still be running app's sleep"
        cache = root / ".jbuild" / "cache"
        assert [p for p in cache.iterdir() if p.name.startswith("session-")], "the analysis is on disk mid-run"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (root / "delay").write_text("0\n")
    events = tmp_path / "events.json"
    r = run_jbuild("build", "//...", "--sandbox", "bwrap", "--no-link", "--build-events", str(events), cwd=root,
                   env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    assert outcomes(events) == {"//:lib": "reused", "//:app": "built"}
    (app,) = store.glob("*-app-1")
    assert (app / "app").read_text() == "app 1\n"
    r = run_jbuild("build", "//...", "--sandbox", "bwrap", "--no-link", "--build-events", str(events), cwd=root,
                   env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0 and outcomes(events) == {"//:lib": "reused", "//:app": "reused"}

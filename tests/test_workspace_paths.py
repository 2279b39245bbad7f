"""Where jbuild is run from. A workspace whose path is not UTF-8 (`mkdir $'/tmp/ws-\\xff'`):
jbuild keeps paths as UTF-8 text (the store's index, GC roots, build events), so every command
refuses it with a clear message, exit 2 (as Bazel refuses some paths) — in-process, and without
starting a build server. A current directory removed after the shell entered it: a clear
message, exit 2. A full disk under a file it writes: a clear message, exit 1."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import pristine_example, run_jbuild


@pytest.fixture
def latin1_workspace(tmp_path):
    ws = Path(os.fsdecode(os.fsencode(tmp_path) + b"/ws-\xff"))
    pristine_example(ws)
    return ws


@pytest.mark.parametrize("server", ["0", "1"])
@pytest.mark.parametrize("args", [("build", "//services:geotags"), ("query", "//..."), ("run", "//services:geotags")])
def test_a_workspace_path_that_is_not_utf8_is_refused_clearly(latin1_workspace, tmp_path, server, args):
    r = run_jbuild(*args, cwd=latin1_workspace, env={"JBUILD_SERVER": server, "JBUILD_STORE": str(tmp_path / "store")})
    assert r.returncode == 2, r.stderr
    assert r.stderr == (f"error: the workspace's path is not UTF-8: {tmp_path}/ws-\\xff (jbuild keeps paths as UTF-8 "
                        "text in its store's index and build records; rename the directory)\n")
    assert not (latin1_workspace / ".jbuild").exists()  # (no cache written, no server started)


@pytest.mark.parametrize("server", ["0", "1"])
@pytest.mark.parametrize("args", [("build", "//services:geotags"), ("query", "//..."), ("run", "//services:geotags"),
                                  ("info",)])
def test_a_current_directory_removed_meanwhile_is_said_clearly(tmp_path, server, args):
    ws = pristine_example(tmp_path / "geotags")
    gone = ws / "services" / "gone"
    gone.mkdir()
    r = subprocess.run(["sh", "-c", 'cd "$1" && rmdir "$1" && shift && exec "$@"', "sh", str(gone), sys.executable,
                        "-m", "jbuild", *args], env={**os.environ, "JBUILD_SERVER": server}, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr == ("error: the current directory no longer exists (it was removed after the shell entered it): "
                        "cd to one that does\n")


@pytest.mark.parametrize("server", ["0", "1"])
def test_a_full_disk_under_a_file_jbuild_writes_is_said_clearly(tmp_path, server):
    """(The store says its own: engine/store/fsops.py.) /dev/full as the build events file."""
    ws = pristine_example(tmp_path / "geotags")
    try:
        r = run_jbuild("build", "//libs:libc", "--build-events", "/dev/full", cwd=ws,
                       env={"JBUILD_SERVER": server, "JBUILD_STORE": str(tmp_path / "store")})
        assert r.returncode == 1, r.stderr
        assert r.stderr == "error: No space left on device: free some space (or raise the quota) and run again\n"
    finally:
        assert run_jbuild("shutdown", cwd=ws).returncode == 0

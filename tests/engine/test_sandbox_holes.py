"""Two ways a build used to see or touch what it should not: jbuild's own environment through
bubblewrap's process (/proc/1/environ), and a background process writing into $OUT after the
script returned. Real bubblewrap, real processes."""

import time
from pathlib import Path

import pytest
from helpers import run_jbuild
from jbuild.engine.sandbox import BwrapExecutor, FallbackExecutor, Job

SECRET = "s3cr3t-token-of-the-ci-job"

BUILD = """
package probe {
    version = "1"
    build_requires = [@std//host:sh]
    build = \"\"\"
        mkdir -p "$OUT"
        tr '\\\\0' '\\\\n' < /proc/1/environ | grep -q '^PATH=' || exit 20   # readable: not vacuous
        for f in /proc/[0-9]*/environ; do tr '\\\\0' '\\\\n' < "$f"; done > /tmp/all 2>/dev/null || true
        grep -q JBUILD_PROBE_SECRET /tmp/all && exit 21
        echo ok > "$OUT/ok"
    \"\"\"
}
"""


def test_no_process_in_the_sandbox_shows_jbuilds_environment(make_workspace, tmp_path):
    """(The fallback has no pid namespace: it can read jbuild's /proc/<pid>/environ; that is
    part of why it is the weaker sandbox.)"""
    root = make_workspace({"BUILD": BUILD})
    env = {"JBUILD_STORE": str(tmp_path / "store"), "JBUILD_PROBE_SECRET": SECRET}
    r = run_jbuild("build", "//:probe", "--sandbox", "bwrap", cwd=root, env=env)
    assert r.returncode == 0, r.stderr
    assert list((tmp_path / "store").glob("*-probe-*/ok"))


def job(tmp_path: Path, script: str) -> Job:
    for d in ("src", "out", "tmp"):
        (tmp_path / d).mkdir()
    return Job(script=script, src=tmp_path / "src", out=tmp_path / "out", tmp=tmp_path / "tmp",
               log=tmp_path / "log")


@pytest.mark.parametrize("executor", [FallbackExecutor, BwrapExecutor])
def test_a_background_process_cannot_write_after_the_script_returned(tmp_path, executor):
    j = job(tmp_path, '(sleep 1; echo late > "$OUT/x") & (trap "" TERM HUP; sleep 1; echo late > "$OUT/z") &\n'
                      'echo early > "$OUT/y"')
    started = time.monotonic()
    assert executor().run(j) == 0, j.log.read_text()
    assert time.monotonic() - started < 1.0  # it did not wait for the background job either
    time.sleep(1.5)
    assert (j.out / "y").read_text() == "early\n"
    assert not (j.out / "x").exists() and not (j.out / "z").exists()

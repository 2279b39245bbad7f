"""Review of h-sandbox: a test's sandbox (binds of its run closure's store paths, a time limit)
is now staged like every action. An undeclared store entry must stay unreadable from a test,
a declared one readable; past --test-timeout nothing the test started may stay running."""

import os
import time
from pathlib import Path

import pytest
from helpers import run_jbuild

PKGS = """\
package hello {
    version = "1"
    build = "mkdir -p $OUT/bin && printf '#!/bin/sh\\\\necho hello\\\\n' > $OUT/bin/hello && chmod +x $OUT/bin/hello"
}
package secret {
    version = "1"
    build = "mkdir -p $OUT && echo topsecret > $OUT/s"
}
"""


def _path(root, store, label) -> Path:
    r = run_jbuild("build", label, "--no-link", "--print-out-paths", "--sandbox", "bwrap", cwd=root,
                   env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    return Path(r.stdout.split()[-1])


def test_a_test_reads_its_closure_but_not_an_undeclared_entry(make_workspace, tmp_path):
    root = make_workspace({"BUILD": PKGS})
    store = tmp_path / "store"
    hello, secret = _path(root, store, "//:hello"), _path(root, store, "//:secret")
    assert (secret / "s").read_text() == "topsecret\n"
    (root / "BUILD").write_text(PKGS + f"""
test reads_own {{
    requires = [:hello]
    command = "test -x {hello}/bin/hello && {hello}/bin/hello | grep -q hello"
}}
test reads_secret {{
    requires = [:hello]
    command = "! cat {secret}/s && ! ls {store} | grep -q -- -secret-1"
}}
""")
    env = {"JBUILD_STORE": str(store)}
    r = run_jbuild("test", "//:reads_own", "//:reads_secret", "--sandbox", "bwrap", cwd=root, env=env)
    assert r.returncode == 0, r.stdout + r.stderr


def _alive(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.mark.parametrize("stage_exec", ["1", "0"])  # the C fork server; the Python stager's fork
def test_a_timed_out_test_leaves_nothing_running(make_workspace, tmp_path, stage_exec):
    marker = f"95{os.getpid()}{stage_exec}1"
    root = make_workspace({"BUILD": PKGS + f"""
test slow {{
    requires = [:hello]
    command = "sleep {marker} & sleep {marker}1"
}}
"""})
    r = run_jbuild("test", "//:slow", "--sandbox", "bwrap", "--test-timeout", "2", cwd=root,
                   env={"JBUILD_STORE": str(tmp_path / "store"), "JBUILD_STAGE_EXEC": stage_exec})
    assert r.returncode == 3, r.stdout + r.stderr
    assert "killed after 2s" in r.stdout + r.stderr
    end = time.monotonic() + 10
    while _alive(marker) and time.monotonic() < end:
        time.sleep(0.2)
    assert not _alive(marker)

"""Ctrl-C and SIGTERM stop a build: children are killed, the exit code is 8, the store stays
consistent, and the next build completes. Also: the terminal status line and the CI heartbeat."""

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest
from helpers import run_jbuild

# Whose sleeps these are, for pgrep: another test (or suite) on this machine may sleep 30 too.
MARK = f"interrupt-test-{os.getpid()}"
SLOW = """
package slow1 { version = "1" build = "sleep 30; mkdir -p $OUT; : MARK" }
package slow2 { version = "1" build = "sleep 30; mkdir -p $OUT; : MARK" }
package quick { version = "1" build = "mkdir -p $OUT && echo ok > $OUT/ok" }
package top { version = "1" requires = [:slow1, :slow2, :quick] build = "mkdir -p $OUT" }
""".replace("MARK", MARK)


def sandboxed_sleeps() -> int:
    r = subprocess.run(["pgrep", "-f", f"mkdir -p .OUT; : {MARK}"], capture_output=True, text=True)
    return len(r.stdout.split())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_children_and_exits_8(make_workspace, tmp_path, sig):
    root = make_workspace({"BUILD": SLOW})
    env = {**os.environ, "JBUILD_STORE": str(tmp_path / "store")}
    proc = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//:top", "-j", "2", "--sandbox", "bwrap"],
                            cwd=root, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while sandboxed_sleeps() < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandboxed_sleeps() >= 2
    started = time.monotonic()
    proc.send_signal(sig)
    assert proc.wait(timeout=15) == 8
    assert time.monotonic() - started < 10
    err = proc.stderr.read()
    assert "interrupted" in err and "ERROR" not in err and "Traceback" not in err
    time.sleep(0.2)
    assert sandboxed_sleeps() == 0
    assert run_jbuild("store", "verify", cwd=root, env={"JBUILD_STORE": str(tmp_path / "store")}).returncode == 0
    assert not [p for p in (tmp_path / "store").iterdir() if "-slow" in p.name]


def test_heartbeat_in_ci(make_workspace, tmp_path):
    root = make_workspace({"BUILD": 'package nap { version = "1" build = "sleep 1.5; mkdir -p $OUT" }'})
    r = run_jbuild("build", "//:nap", "--sandbox", "bwrap", cwd=root,
                   env={"JBUILD_STORE": str(tmp_path / "store"), "JBUILD_HEARTBEAT": "0.4"})
    assert r.returncode == 0
    beats = [line for line in r.stderr.splitlines() if "still building //:nap@1" in line]
    assert len(beats) >= 2 and "(1 running)" in beats[0]
    assert "\033" not in r.stderr and "\r" not in r.stderr


def test_status_line_on_a_terminal(make_workspace, tmp_path):
    root = make_workspace({"BUILD": 'package nap { version = "1" build = "sleep 1.5; mkdir -p $OUT" }'})
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(root)
        os.environ["JBUILD_STORE"] = str(tmp_path / "store")
        for ci in ("CI", "GITHUB_ACTIONS"):  # a CI run's own variables ask for plain lines
            os.environ.pop(ci, None)
        os.execv(sys.executable, [sys.executable, "-m", "jbuild", "build", "//:nap", "--sandbox", "bwrap"])
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode()
    assert os.waitstatus_to_exitcode(status) == 0
    assert "\r\033[K[1 / 1] building //:nap@1; 1s (1 running)" in text  # started count: never goes back
    assert "1 built, 0 reused" in text

"""A cancel racing the end of a build in the server (jbuild/server.py, S7 of the review): the
client must get the build's answer, never a connection closed without one (exit 37)."""

import os
import subprocess
import sys

import pytest

RACE = r"""
import os, signal, socket, sys, time
from jbuild import server, server_client
import jbuild.cli

client, conn = socket.socketpair()
signal.signal(signal.SIGINT, server.interrupt)

def run(argv):  # the build returns as the client's cancel comes: its SIGINT still pending
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    server_client.send(client, "C")
    deadline = time.monotonic() + 20
    while signal.SIGINT not in signal.sigpending() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert signal.SIGINT in signal.sigpending(), "the canceller sent no signal"
    return 0

jbuild.cli.run = run
done = server.Canceller.done

def late_done(self):  # the pending signal lands just before (or just after) the build is marked done
    if sys.argv[1] == "before":
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    done(self)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

server.Canceller.done = late_done
srv = server.Server.__new__(server.Server)
code = srv._build(conn, {"argv": [], "cwd": os.getcwd(), "env": dict(os.environ)}, [os.dup(0), os.dup(1), os.dup(2)])
print("code", code, flush=True)
"""


@pytest.mark.parametrize("lands, code", [("before", 8), ("after", 0)])
def test_a_cancel_landing_as_the_build_returns_still_gets_an_answer(lands, code):
    """Before `done`: the build counts as interrupted (8); after: the build's own code. Either
    way `_build` returns a code (the server answers it), instead of a KeyboardInterrupt that
    left the client without a reply (exit 37)."""
    r = subprocess.run([sys.executable, "-c", RACE, lands], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL, env={**os.environ, "JBUILD_SERVER": "0"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == f"code {code}", r.stdout + r.stderr


CODE = r"""
import os, sys, time, types
from jbuild import server

def server_now():
    srv = server.Server.__new__(server.Server)
    srv.code_files, srv.stale, srv.looked_ns = {}, False, time.time_ns()
    return srv

def module(name, path):
    sys.modules[name] = types.ModuleType(name)
    sys.modules[name].__file__ = path

future, old, later = sys.argv[1:]
srv = server_now()
module("jbuild_t_future", future)  # (installed from an archive dated an hour ahead)
module("jbuild_t_old", old)
print(srv._code_changed(), srv._code_changed())
time.sleep(0.05)
with open(later, "w") as f:  # a module imported during a build, its file rewritten before the build ends
    f.write("x = 2\n")
module("jbuild_t_later", later)
print(srv._code_changed())
srv = server_now()
module("jbuild_t_later", old)
print(srv._code_changed())
with open(future, "w") as f:  # an edit of the future-dated file: seen
    f.write("x = 3\n")
print(srv._code_changed(), srv._code_changed())
"""


def test_a_module_file_dated_in_the_future_does_not_restart_every_server(tmp_path):
    """A jbuild file with an mtime ahead of the clock was counted as written after the server
    started, at every look: each server exited before its first build, and every client
    retried three times, then built in-process. Now such a file counts as changed only when
    its stat changes; a file written after the previous look (a module imported during a
    build, changed before it ended) still counts."""
    future, old, later = tmp_path / "future.py", tmp_path / "old.py", tmp_path / "later.py"
    for p in (future, old, later):
        p.write_text("x = 1\n")
    hour = 3600 * 10**9
    os.utime(future, ns=(future.stat().st_atime_ns, future.stat().st_mtime_ns + hour))
    os.utime(old, ns=(old.stat().st_atime_ns, old.stat().st_mtime_ns - hour))
    r = subprocess.run([sys.executable, "-c", CODE, str(future), str(old), str(later)], capture_output=True,
                       text=True, timeout=60, env={**os.environ, "JBUILD_SERVER": "0"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["False False", "True", "False", "True True"], r.stdout + r.stderr
    assert "changed on disk: " + str(later) in r.stderr and "changed on disk: " + str(future) in r.stderr

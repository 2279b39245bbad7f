"""Review of the build server (JBUILD_SERVER=1, h-server): what a server does must be what the
in-process CLI does, and a server must never run code or talk to a process it should not."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from server_kit import make_ws


@pytest.fixture
def ws(tmp_path):
    w = make_ws(tmp_path)
    yield w
    w.cleanup()


def test_a_python_file_at_the_workspace_root_is_not_imported_by_the_server(ws, tmp_path):
    """The server is `python -c ...` started in the workspace root: '' heads its sys.path, so a
    `traceback.py` (or socket.py, threading.py...) of the checkout ran unsandboxed as the user.
    In-process jbuild never imports the workspace's files."""
    marker = tmp_path / "ran"
    (ws.root / "traceback.py").write_text(
        f"open({str(marker)!r}, 'w').write('workspace code ran in the server')\n"
        "import sys; del sys.modules['traceback']; sys.path[:] = [p for p in sys.path if p not in ('', '.')]\n"
        "import traceback as _t; sys.modules['traceback'] = _t; globals().update(_t.__dict__)\n")
    r = ws.run("build", "//services:geotags")
    assert r.returncode == 0, r.stderr
    assert not marker.exists(), marker.read_text()


def _slow(ws, seconds=4):
    p = ws.root / "services" / "BUILD"
    p.write_text(p.read_text().replace('mkdir -p "$OUT/bin"', f'sleep {seconds}; mkdir -p "$OUT/bin"', 1))


def test_a_client_queued_behind_a_shutdown_is_served_not_told_of_a_crash(ws):
    """A build, then `jbuild shutdown`, then another build queued behind them: the server exits
    after the shutdown with the third still in its listen queue; that client was told "the
    build server ended without answering (a crash)" and exit 37, though its request was never
    taken (no "S"). It must start a new server (or build in-process) and succeed."""
    assert ws.run("build", "//libs/...").returncode == 0
    _slow(ws)
    a = ws.start("build", "//services:geotags")
    time.sleep(1.5)
    s = ws.start("shutdown")
    time.sleep(0.7)
    b = ws.start("build", "//services:geotags")
    out_b = b.communicate(timeout=120)
    a.communicate(timeout=120)
    s.communicate(timeout=120)
    assert a.returncode == 0
    assert b.returncode == 0, out_b[1]
    assert "ended without answering" not in out_b[1]


def test_a_module_imported_during_a_build_then_changed_restarts_the_server(ws):
    """The server notes a jbuild module's file the first time it looks, before the next
    request: one imported lazily during build 1 (not by `_warm`) and changed before build 2 is
    noted as it is after the change, and the server serves build 2 (and on) with the old code."""
    assert ws.run("build", "//libs/...").returncode == 0
    target = Path(_lazily_imported(ws))
    st = target.stat()
    try:
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # (as an upgrade does)
        assert ws.run("build", "//services:geotags").returncode == 0
    finally:
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert ws.logs().count("serving ") >= 2, f"{target} changed; the server kept serving:\n{ws.logs()}"


LAZY = r"""
import sys
import jbuild.build_run, jbuild.cli, jbuild.engine.build, jbuild.engine.session
warm = set(sys.modules)
from jbuild.cli import run
run(["build", "//libs/..."])
lazy = {n: m.__file__ for n, m in sys.modules.items() if n.startswith("jbuild") and n not in warm}
print(lazy.get("jbuild.engine.progress") or lazy["jbuild.fast_build"])  # (what every build reports with)
"""


def _lazily_imported(ws) -> str:
    """A jbuild module a server's build imports that its `_warm` did not."""
    r = subprocess.run([sys.executable, "-c", LAZY], cwd=ws.root, env=ws.env(server=False), capture_output=True,
                       text=True, check=True)
    return r.stdout.strip().splitlines()[-1]


def _socket_path(ws) -> str:
    code = ("import os; from jbuild.server_client import identity, socket_path, workspace_root;"
            "r = workspace_root(os.getcwd()); print(socket_path(r, identity(r)))")
    from server_kit import JBUILD

    python = Path(JBUILD).read_text().splitlines()[0][2:].strip()  # (the client's sys.executable: its identity)
    return subprocess.run([python, "-c", code], cwd=ws.root, env=ws.env(), capture_output=True, text=True,
                          check=True).stdout.strip()


FAKE_SERVER = r"""
import marshal, os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path); os.chmod(path, 0o777); s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
msg, anc, _, _ = c.recvmsg(4, socket.CMSG_SPACE(12))
fds = []
for level, kind, data in anc:
    fds += [int.from_bytes(data[i:i + 4], sys.byteorder) for i in range(0, len(data) - 3, 4)]
if len(fds) == 3:
    os.write(fds[1], b"INJECTED BY ANOTHER USER\n")
body = marshal.dumps("S"); c.sendall(len(body).to_bytes(4, "little") + body)
body = marshal.dumps({"exit": 0}); c.sendall(len(body).to_bytes(4, "little") + body)
"""


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as two users")
def test_the_client_hands_its_descriptors_only_to_its_own_users_server():
    """root builds in a workspace another user owns (sudo): that user owns .jbuild/cache and
    can make `server-0` there and listen on the socket name root's client will use. The client
    connected and sent its stdin/stdout/stderr (a terminal: TIOCSTI) and whole environment to
    the other user's process, and took its word for the build's exit code. It must check the
    peer (SO_PEERCRED uid) and the directory's owner/mode first."""
    import shutil
    import tempfile


    nobody = 65534
    top = Path(tempfile.mkdtemp(prefix="jbuild-peer-", dir="/tmp"))
    os.chmod(top, 0o755)
    ws = make_ws(top)
    try:
        _other_users_server(ws, nobody)
    finally:
        ws.cleanup()
        shutil.rmtree(top, ignore_errors=True)


def _other_users_server(ws, nobody):
    assert ws.run("build", "//libs/...", server=False).returncode == 0
    sock = _socket_path(ws)
    d = Path(sock).parent
    cache = d.parent
    subprocess.run(["chown", "-R", f"{nobody}:{nobody}", str(ws.root)], check=True)
    fake = subprocess.Popen(["/usr/bin/python3", "-c", FAKE_SERVER, sock], user=nobody, group=nobody,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.makedirs(d, mode=0o777, exist_ok=True))
    try:
        assert fake.stdout.readline().strip() == "listening", fake.stderr.read()
        assert os.stat(cache).st_uid == nobody and os.stat(d).st_uid == nobody
        r = ws.run("build", "//services:geotags")
    finally:
        fake.kill()
        fake.wait()
    assert "INJECTED" not in r.stdout + r.stderr, "the client handed its stdout to another user's process"


def test_servers_of_one_workspace_do_not_pile_up_one_per_environment_value(ws):
    """Every value of a keyed variable names another server, and each lives 3 hours
    (JBUILD_SERVER_IDLE): a script exporting SOURCE_DATE_EPOCH=$(date +%s) per build, or
    JBUILD_JOBS varied by hand, leaves one resident server (~130 MB at 10,000 packages, with
    its session) per build. A workspace's older server should give way to the new one."""
    for epoch in ("1700000001", "1700000002", "1700000003", "1700000004"):
        r = ws.run("build", "//services:geotags", env=ws.env(SOURCE_DATE_EPOCH=epoch))
        assert r.returncode == 0, r.stderr
    time.sleep(1)
    alive = ws.servers()
    assert len(alive) <= 2, f"{len(alive)} servers of one workspace and user still running: {alive}"


@pytest.mark.skipif(os.getuid() != 0, reason="needs root for unshare --mount")
def test_a_client_in_another_mount_namespace_is_not_served_by_a_server_of_this_one(ws):
    """A server started from a container or `unshare --mount` (devcontainer, the suite's own
    ordinary-user harness) sees other files than a client on the host, though the workspace
    (and so the socket) is shared: same uid, interpreter path and environment, same socket
    name. The host client was told "up to date" with a store path that does not exist in its
    namespace, and its `result` link dangles. The identity (or a check of the peer's
    /proc/PID/ns/mnt and groups) must tell them apart."""
    ws.store.mkdir()
    inner = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                            f"mount -t tmpfs tmpfs {ws.store} && exec \"$@\"", "sh", _jbuild_path(),
                            "build", "//services:geotags"], cwd=ws.root, env=ws.env(), capture_output=True, text=True,
                           timeout=300)
    assert inner.returncode == 0, inner.stderr
    r = ws.run("build", "//services:geotags")
    assert r.returncode == 0, r.stderr
    assert (ws.root / "result").resolve().exists(), f"result dangles: {os.readlink(ws.root / 'result')}"
    assert any(ws.store.iterdir()), "the host's store got nothing: the build ran in the other namespace"


def _jbuild_path() -> str:
    from server_kit import JBUILD

    return JBUILD


def test_the_server_s_log_lines_stay_in_its_log_during_a_build(ws):
    """`_log` prints to sys.__stderr__, i.e. fd 2, which during a build is the client's stderr
    (dup2): "HH:MM:SS cancel" lands on the user's terminal and is missing from the log."""
    import re
    import signal

    assert ws.run("build", "//libs/...").returncode == 0
    _slow(ws, 10)
    a = ws.start("build", "//services:geotags")
    time.sleep(4)
    a.send_signal(signal.SIGINT)
    _, err = a.communicate(timeout=60)
    assert a.returncode == 8
    assert not re.search(r"^\d\d:\d\d:\d\d ", err, re.M), f"the server's log went to the client: {err}"
    assert "cancel" in ws.logs(), ws.logs()

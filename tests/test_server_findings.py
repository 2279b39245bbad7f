"""The second review of the server by default (/tmp/review-serve, F1-F11): what a build
through the server meets must be what it meets in-process — the client's signals, limits,
niceness, network, proxy, exit codes — and a server's life must leave nothing behind (a
zombie, a store marker, a second server)."""

from __future__ import annotations

import fcntl
import marshal
import os
import re
import resource
import shutil
import signal
import subprocess
import time

import pytest
from fetchkit import make_tar, serving, sha256
from server_kit import JBUILD, make_ws

SLOW = '''
package slow {
    version = "1"
    summary = "sleeps, then writes a file"
    build_requires = [@std//host:sh]
    build = """
        sleep SECONDS
        mkdir -p "$OUT/share"
        echo NONCE > "$OUT/share/x"
    """
    exports = ["share"]
}
package lim {
    version = "1"
    summary = "prints the limits its action runs with, then fails (a failure is never kept)"
    build_requires = [@std//host:sh]
    build = """
        echo "nofile=$(ulimit -n) nice=$(cut -d' ' -f19 /proc/self/stat)"
        exit 1
    """
}
'''

NET = '''
package net {
    version = "1"
    summary = "a fetched archive"
    sources = archive(url = "URL", sha256 = "SHA", strip = 1)
    build_requires = [@std//host:sh]
    build = """
        mkdir -p "$OUT/share"
        cp "$SRC/f.txt" "$OUT/share/"
    """
    exports = ["share"]
}
'''


@pytest.fixture
def ws(tmp_path):
    w = make_ws(tmp_path)
    yield w
    w.cleanup()


def _slow(ws, seconds: float, nonce: str) -> None:
    (ws.root / "slow").mkdir(exist_ok=True)
    (ws.root / "slow" / "BUILD").write_text(SLOW.replace("SECONDS", str(seconds)).replace("NONCE", nonce))


def _net(ws, www, url: str) -> None:
    make_tar(www / "a.tar.gz", {"f.txt": "hello\n"})
    (ws.root / "net").mkdir()
    (ws.root / "net" / "BUILD").write_text(NET.replace("URL", f"{url}/a.tar.gz").replace("SHA", sha256(www / "a.tar.gz")))


def test_f10_a_github_jobs_steps_share_one_server(ws):
    """GitHub sets per-step GITHUB_* values (GITHUB_ACTION, GITHUB_OUTPUT, ...): keying them gave
    each step of a job a new server. jbuild reads GITHUB_ACTIONS and GITHUB_WORKSPACE only."""
    def step(n):
        tmp = "/home/runner/work/_temp/_runner_file_commands"
        return ws.env(CI="true", GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(ws.root), GITHUB_RUN_ID="123",
                      GITHUB_ACTION="__run" if n == 1 else f"__run_{n}", GITHUB_OUTPUT=f"{tmp}/set_output_{n}",
                      GITHUB_STEP_SUMMARY=f"{tmp}/step_summary_{n}", GITHUB_ENV=f"{tmp}/set_env_{n}")
    assert ws.run("build", "//services:geotags", env=step(1)).returncode == 0
    before = ws.servers()
    r = ws.run("build", "//services:geotags", env=step(2))
    assert r.returncode == 0, r.stderr
    assert ws.servers() == before and len(before) == 1
    r = ws.run("build", "//services:geotags", env=dict(step(3), GITHUB_WORKSPACE="/elsewhere"))
    assert ws.servers() != before  # (what jbuild reads is keyed)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="unshare --net needs root")
def test_f4_a_build_fetches_with_its_own_network_namespace(ws, tmp_path):
    """A server first started in `unshare --net` must not serve a build of the host's network."""
    www = tmp_path / "www"
    www.mkdir()
    with serving(www) as server:
        _net(ws, www, server.url)
        offline = subprocess.run(["unshare", "--net", JBUILD, "build", "//services:geotags"], cwd=ws.root,
                                 env=ws.env(), capture_output=True, text=True, timeout=120)
        assert offline.returncode == 0, offline.stderr
        online = ws.run("build", "//net:net")
        assert online.returncode == 0, online.stderr


def test_f8_a_fetch_uses_this_builds_proxy_setting(ws, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    with serving(www) as server:
        _net(ws, www, server.url)
        env = {k: v for k, v in ws.env().items() if "proxy" not in k.lower()}
        wrong = ws.run("build", "//net:net", env=dict(env, http_proxy="http://127.0.0.1:9"))
        assert wrong.returncode == 1, wrong.stderr  # a proxy that refuses: the fetch fails
        right = ws.run("build", "//net:net", env=env)
        assert right.returncode == 0, right.stderr


def test_f3_an_action_runs_with_the_clients_limits_and_niceness(ws):
    def limited(nofile, nice):
        def pre():
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            os.nice(nice)
        return pre

    def seen(err):
        m = re.search(r"nofile=(\d+) nice=(\d+)", err)
        assert m, err
        return int(m.group(1)), int(m.group(2))

    _slow(ws, 0, "f3")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    assert seen(ws.run("build", "//slow:lim", preexec_fn=limited(512, 0)).stderr) == (512, nice)
    assert seen(ws.run("build", "//slow:lim", preexec_fn=limited(min(1024, hard), 5)).stderr) == (min(1024, hard), nice + 5)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT], ids=["SIGHUP", "SIGINT"])
def test_f1_an_ignored_signal_does_not_cancel_the_build(ws, sig):
    """`nohup jbuild build &`, a script's `cmd &`: the signal is ignored, the build goes on."""
    _slow(ws, 4, f"f1-{int(sig)}")
    proc = ws.start("build", "//slow:slow", preexec_fn=lambda: signal.signal(sig, signal.SIG_IGN))
    time.sleep(2.0)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "1 built" in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_f2_a_signal_while_the_server_starts_exits_8_without_a_traceback(ws, sig):
    """The window made deterministic: the new server's lock held (as an exiting server holds it)."""
    from jbuild import server_client

    root = server_client.workspace_root(str(ws.root))
    path = server_client.socket_path(root, server_client.identity(root, ws.env()))
    os.makedirs(os.path.dirname(path), mode=0o700)
    lock = os.open(path[: -len(".sock")] + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        _slow(ws, 1, "f2")
        proc = ws.start("build", "//slow:slow")
        time.sleep(1.5)
        assert proc.poll() is None
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(lock)
    assert "Traceback" not in err, err
    assert proc.returncode == 8, err


def test_f11_a_server_exit_leaves_no_run_marker_in_the_store(ws):
    """A marker left reads as a process that died with something in the store: the next build
    lists the whole store and cleans."""
    _slow(ws, 0, "f11")
    r = ws.run("build", "//slow:slow", "//services:geotags")
    assert r.returncode == 0, r.stderr
    ws.run("shutdown")
    runs = ws.store / ".runs"
    assert (os.listdir(runs) if runs.is_dir() else []) == []


def test_f7_a_malformed_idle_value_is_named_once(ws):
    r = ws.run("build", "//services:geotags", env=ws.env(JBUILD_SERVER_IDLE="15m"))
    assert r.returncode == 0, r.stderr
    assert "keeps asking for a retry" not in r.stderr and "did not start" not in r.stderr
    assert r.stderr.count("JBUILD_SERVER_IDLE") == 1, r.stderr
    assert len(ws.servers()) == 1 and ws.logs().count("serving ") == 1, ws.logs()


def test_f5_an_idle_server_leaves_no_zombie(ws):
    _slow(ws, 0, "f5")
    r = ws.run("build", "//slow:slow", "//services:geotags")
    assert r.returncode == 0, r.stderr
    (pid,) = ws.servers()
    deadline = time.monotonic() + 1.5  # (looked for 3 s after a build; then at each idle check, 5 s)
    while True:
        out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid=,stat=,cmd="], capture_output=True,
                             text=True).stdout
        if not out.strip() or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert out.strip() == "", out


def test_f6_a_full_or_gone_stderr_exits_as_in_process(ws):
    def code(server, stderr):
        return subprocess.run([JBUILD, "build", "//services:geotag"], cwd=ws.root, env=ws.env(server),
                              stdout=subprocess.DEVNULL, stderr=stderr, timeout=120).returncode

    with open("/dev/full", "w") as full:
        assert code(True, full) == code(False, full)
    codes = []
    for server in (True, False):
        r, w = os.pipe()
        os.close(r)  # the reader has gone (grep -q matched, head exited)
        try:
            codes.append(code(server, w))
        finally:
            os.close(w)
    assert codes[0] == codes[1]


def test_f9_shutdown_during_a_long_build_stops_the_server_or_says_not(ws):
    _slow(ws, 6, "f9")
    build = ws.start("build", "//slow:slow")
    time.sleep(2.0)
    assert len(ws.servers()) == 1
    down = ws.run("shutdown", "--timeout", "1", env=ws.env(False))
    assert build.wait(timeout=60) == 0
    deadline = time.monotonic() + 10
    while ws.servers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "stopped 0 build servers; 1 still building after 1 s" in down.stderr, down.stderr
    assert ws.servers() == [], "the shutdown asked during the build was dropped"


def test_extra_no_server_after_the_command_gets_a_hint(ws):
    r = ws.run("build", "--no-server", "//services:geotags")
    assert r.returncode == 2
    assert "Hint: --no-server goes before the command: jbuild --no-server build //services:geotags" in r.stderr, r.stderr


def test_extra_the_servers_log_takes_a_non_utf8_path(monkeypatch):
    """A workspace path with a byte that is not UTF-8 (os.fsdecode's surrogate) crashed `_log`
    after the server listened: three spawns, then in-process."""
    from jbuild import server

    r, w = os.pipe()
    monkeypatch.setattr(server, "_log_fd", w)
    try:
        server._log("serving " + os.fsdecode(b"/tmp/caf\xe9/x.sock"))
        assert os.read(r, 1000).endswith(b"serving /tmp/caf\xe9/x.sock\n")
    finally:
        os.close(r)
        os.close(w)


def test_f9_shutdown_stops_a_server_of_the_older_protocol(ws):
    """A server of jbuild 28f46ec (JBUILD_SERVER=1 then), still running after an upgrade, takes
    no request without three descriptors in its first message: it ignored the shutdown and was
    counted stopped. Played here by a thread with that server's receiving end."""
    import socket
    import threading

    from jbuild import server_client

    directory = server_client.server_dir(str(ws.root.resolve()))
    os.makedirs(directory, mode=0o700)
    path = os.path.join(directory, "0" * 20 + ".sock")
    lock = os.open(path[: -len(".sock")] + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with server_client.short_path(path) as short:
        listener.bind(short)
    listener.listen(4)
    got = []

    def old_server():
        while True:
            conn, _ = listener.accept()
            msg, ancdata, _, _ = conn.recvmsg(4, socket.CMSG_SPACE(3 * 4))
            fds = [int.from_bytes(d[i:i + 4], "little") for _, _, d in ancdata for i in range(0, len(d) - 3, 4)]
            for fd in fds:
                os.close(fd)
            if len(fds) == 3:
                request = marshal.loads(server_client._exactly(conn, int.from_bytes(msg, "little")))
                got.append(request)
                if request.get("shutdown"):
                    server_client.send(conn, "S")
                    os.unlink(path)
                    os.close(lock)  # (exits)
                    server_client.send(conn, {"exit": 0})
                    conn.close()
                    return
            conn.close()

    threading.Thread(target=old_server, daemon=True).start()
    r = ws.run("shutdown", "--timeout", "3", env=ws.env(False))
    assert got == [{"shutdown": True}]
    assert "stopped 1 build server" in r.stderr, r.stderr
    listener.close()

"""The build server (JBUILD_SERVER=1: jbuild/server.py, server_client.py), with real processes:
the client, a detached server, real builds in bubblewrap, signals, a kill -9, an ordinary user.

Each test's servers are stopped by the fixture (`jbuild shutdown`, then a kill of any process
still serving the workspace), so the suite leaves none behind.
"""

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import gone_within, processes_holding, write_tree

BUILD = """\
package a { version = "1" sources = ["a.txt"] build = "mkdir -p $OUT && cat $SRC/a.txt > $OUT/a" }
package b { version = "1" build = "mkdir -p $OUT && echo b > $OUT/b" }
"""


class Workspace:
    def __init__(self, root: Path, store: Path, **env):
        self.root, self.store = root, store
        self.env = {**os.environ, "JBUILD_STORE": str(store), "JBUILD_SERVER": "1", **env}
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)

    def jbuild(self, *args, server=True, timeout=120, **kw) -> subprocess.CompletedProcess:
        env = self.env if server else {**self.env, "JBUILD_SERVER": "0"}
        return subprocess.run([sys.executable, "-m", "jbuild", *args], cwd=self.root, env=env, capture_output=True,
                              text=True, timeout=timeout, **kw)

    def logs(self) -> str:
        return "".join(p.read_text() for p in sorted(self.server_dir().glob("*.log")))

    def server_dir(self) -> Path:
        return self.root / ".jbuild" / "cache" / f"server-{os.getuid()}"

    def pids(self) -> list[int]:
        """The servers this workspace's logs name that are alive."""
        return [int(p) for p in re.findall(r"\(pid (\d+)\)", self.logs()) if _alive(int(p))]

    def memo_hits(self, kind: str = "session") -> int:
        found = re.findall(rf"'{kind}': (\d+)", self.logs())
        return int(found[-1]) if found else 0


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_servers(ws: Workspace) -> None:
    ws.jbuild("shutdown", server=False, timeout=60)
    for pid in processes_holding(str(ws.server_dir())):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def ws(make_workspace, tmp_path):
    w = Workspace(make_workspace({"BUILD": BUILD, "a.txt": "one\n"}), tmp_path / "store")
    yield w
    stop_servers(w)
    assert gone_within(str(w.server_dir()), 10)


def test_builds_edits_and_errors_through_the_server_as_in_process(ws):
    r = ws.jbuild("build", "//:a")
    assert r.returncode == 0, r.stderr
    assert (ws.root / "result" / "a").read_text() == "one\n"
    [pid] = ws.pids()
    (ws.root / "a.txt").write_text("two\n")
    r = ws.jbuild("build", "//:a")
    assert r.returncode == 0 and "sources changed: a.txt" in r.stderr, r.stderr
    assert (ws.root / "result" / "a").read_text() == "two\n"
    assert ws.pids() == [pid] and ws.memo_hits() == 0  # a whole analysis's session (it holds the loader):
    (ws.root / "a.txt").write_text("two more\n")  # not kept in memory, restored from its files (session_file)
    r = ws.jbuild("build", "//:a")
    assert r.returncode == 0 and (ws.root / "result" / "a").read_text() == "two more\n", r.stderr
    assert ws.pids() == [pid] and ws.memo_hits() == 1  # the same server, the session from memory
    # another jbuild, not the server's, builds meanwhile: the server's memory is stale, not used
    (ws.root / "a.txt").write_text("three\n")
    assert ws.jbuild("build", "//:a", server=False).returncode == 0
    (ws.root / "a.txt").write_text("four\n")
    r = ws.jbuild("build", "//:a")
    assert r.returncode == 0, r.stderr
    assert (ws.root / "result" / "a").read_text() == "four\n"
    assert ws.memo_hits() == 1 and ws.pids() == [pid]
    r = ws.jbuild("build", "//:a")  # a no-op: the snapshot from memory
    assert r.returncode == 0 and "0 built" in r.stderr and ws.memo_hits("snapshot") >= 1
    # a recipe error: the same message, caret and exit code as in-process
    (ws.root / "BUILD").write_text(BUILD.replace('version = "1" sources', 'version = "1" sourcez'))
    served, local = ws.jbuild("build", "//:a"), ws.jbuild("build", "//:a", server=False)
    assert served.returncode == local.returncode == 2
    assert served.stderr == local.stderr and "^" in served.stderr and "BUILD:1:" in served.stderr
    # a failing action: exit 1 both ways
    (ws.root / "BUILD").write_text(BUILD.replace("echo b > $OUT/b", "exit 3"))
    served, local = ws.jbuild("build", "//:b"), ws.jbuild("build", "//:b", server=False)
    assert served.returncode == local.returncode == 1, served.stderr
    assert ws.pids() == [pid]


def test_ctrl_c_in_the_client_interrupts_the_build_in_the_server(ws):
    write_tree(ws.root, {"BUILD": 'package s { version = "1" build = "sleep 73.25; mkdir -p $OUT" }\n'})
    client = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//:s"], cwd=ws.root, env=ws.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not processes_holding("sleep 73.25") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_holding("sleep 73.25"), "the action never started"
    [pid] = ws.pids()
    client.send_signal(signal.SIGINT)
    _, err = client.communicate(timeout=30)
    assert client.returncode == 8, err
    assert gone_within("sleep 73.25", 10)
    assert ws.pids() == [pid]  # the server goes on, and serves again
    write_tree(ws.root, {"BUILD": BUILD})
    assert ws.jbuild("build", "//:b").returncode == 0 and ws.pids() == [pid]


def test_shutdown_a_killed_server_and_idle_exit(ws):
    assert ws.jbuild("build", "//:a").returncode == 0
    [first] = ws.pids()
    r = ws.jbuild("shutdown", server=False)
    assert r.returncode == 0 and "stopped 1 build server" in r.stderr
    assert not _alive(first) and not list(ws.server_dir().glob("*.sock"))
    assert ws.jbuild("build", "//:a").returncode == 0
    [second] = ws.pids()
    os.kill(second, signal.SIGKILL)
    assert gone_within(f"{ws.server_dir()}", 10)
    (ws.root / "a.txt").write_text("after a kill\n")
    r = ws.jbuild("build", "//:a")
    assert r.returncode == 0, r.stderr
    assert (ws.root / "result" / "a").read_text() == "after a kill\n"
    [third] = ws.pids()
    assert third not in (first, second)
    stop_servers(ws)
    ws.env["JBUILD_SERVER_IDLE"] = "1"
    assert ws.jbuild("build", "//:a").returncode == 0
    [idle] = ws.pids()
    deadline = time.monotonic() + 20
    while _alive(idle) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(idle) and "exiting: idle" in ws.logs()


def test_output_through_head_does_not_hang(ws):
    assert ws.jbuild("build", "//:a", "//:b").returncode == 0
    r = subprocess.run(f"{sys.executable} -m jbuild build --print-out-paths //:a //:b | head -1", shell=True,
                       cwd=ws.root, env=ws.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 1 and "/store/" in r.stdout, r.stderr


def test_a_request_that_crashes_the_server_is_logged_and_the_server_goes_on(ws):
    from jbuild import server_client

    assert ws.jbuild("build", "//:a").returncode == 0
    [pid] = ws.pids()
    [path] = ws.server_dir().glob("*.sock")
    sock = server_client.connect_to(str(path))
    ident = server_client.identity(str(ws.root.resolve()), ws.env)
    server_client.send(sock, {"argv": 5, "cwd": str(ws.root), "env": ws.env, "identity": ident})
    assert server_client.receive(sock) == "S"
    server_client.send(sock, "F", (0, 1, 2))
    assert server_client.receive(sock) is None  # no reply: the client says so (server_client._exchange)
    sock.close()
    assert "request failed:" in ws.logs() and "TypeError" in ws.logs()
    assert ws.jbuild("build", "//:b").returncode == 0 and ws.pids() == [pid]


def test_a_workspace_whose_socket_path_is_longer_than_a_socket_address(make_workspace, tmp_path):
    deep = make_workspace({"BUILD": BUILD, "a.txt": "deep\n"})
    root = deep / ("d" * 60) / ("e" * 60)
    root.mkdir(parents=True)
    for name in ("jbuild.toml", "BUILD", "a.txt"):
        (deep / name).rename(root / name)
    w = Workspace(root, tmp_path / "store")
    try:
        assert len(str(w.server_dir())) > 108
        r = w.jbuild("build", "//:a")
        assert r.returncode == 0 and (root / "result" / "a").read_text() == "deep\n", r.stderr
        assert len(w.pids()) == 1 and list(w.server_dir().glob("*.sock"))
    finally:
        stop_servers(w)


def _wait_dead(pid: int, within: float = 20) -> bool:
    deadline = time.monotonic() + within
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(pid)


def test_two_identities_keep_their_servers_and_a_third_evicts_the_least_recently_used(ws):
    """Another JBUILD_* environment is another server; a workspace keeps two (two shells, or an
    IDE and a terminal, with another PATH each): alternating between them starts no other. A
    third identity's server asks the least recently used one to exit; `jbuild shutdown` stops
    them all; a removed socket file stops its server."""
    one, two = ws, Workspace(ws.root, ws.store, JBUILD_JOBS="1")
    three = Workspace(ws.root, ws.store, JBUILD_JOBS="2")
    assert one.jbuild("build", "//:a").returncode == 0
    [first] = ws.pids()
    assert two.jbuild("build", "//:b").returncode == 0
    [second] = set(ws.pids()) - {first}
    for w in (one, two, one, two, one):  # (`one` used last)
        r = w.jbuild("build", "//:a")
        assert r.returncode == 0, r.stderr
    assert sorted(ws.pids()) == sorted([first, second]) and ws.logs().count("serving ") == 2, ws.logs()
    assert ws.logs().count(": exit 0") == 7
    assert three.jbuild("build", "//:a").returncode == 0
    assert _wait_dead(second), "the least recently used server still runs"
    assert _alive(first) and len(ws.pids()) == 2, ws.logs()
    assert "asked 1 least recently used server(s) of this workspace to exit" in ws.logs()
    r = ws.jbuild("shutdown", server=False)
    assert r.returncode == 0 and "stopped 2 build servers" in r.stderr, r.stderr
    assert not ws.pids() and not list(ws.server_dir().glob("*.sock"))
    assert ws.jbuild("build", "//:a").returncode == 0
    [fourth] = ws.pids()
    for sock in ws.server_dir().glob("*.sock"):
        sock.unlink()
    assert _wait_dead(fourth) and not ws.pids()


def _nonroot():
    spec = importlib.util.spec_from_file_location("store_nonroot", Path(__file__).parent / "engine"
                                                  / "test_store_nonroot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_ordinary_user_builds_through_a_server(tmp_path):
    nonroot = _nonroot()
    home = Path(nonroot.tempfile.mkdtemp(prefix="jbuild-user-")) if nonroot.IS_ROOT else tmp_path / "home"
    home.mkdir(exist_ok=True)
    home.chmod(0o755)
    user = nonroot.User(home)
    root = write_tree(home / "ws", {"jbuild.toml": "", "BUILD": BUILD, "a.txt": "one\n"})
    if nonroot.IS_ROOT:
        subprocess.run(["chown", "-R", f"{nonroot.USER}:", str(home)], check=True)
    jb = f"env JBUILD_SERVER=1 {sys.executable} -m jbuild"
    # (one shell: the harness gives each command a mount namespace of its own, and a server serves
    # only clients of its own, server_client.identity)
    script = (f"{jb} build //:a && echo two > a.txt && {jb} build //:a && echo three > a.txt && {jb} build //:a && "
              f"ls -ld .jbuild/cache/server-* && {jb} shutdown")
    try:
        r = user.run("sh", "-c", script, cwd=root)
        assert r.returncode == 0, r.stderr
        assert (root / "result" / "a").read_text() == "three\n"
        [directory] = (root / ".jbuild" / "cache").glob("server-*")
        st = os.stat(directory)
        assert st.st_uid != 0 and st.st_mode & 0o777 == 0o700
        log = "".join(p.read_text() for p in directory.glob("*.log"))
        assert log.count("serving ") == 1 and "'session': 1" in log, log
        assert "stopped 1 build server" in r.stderr, r.stderr
    finally:
        for pid in processes_holding(str(root / ".jbuild" / "cache")):
            os.kill(pid, signal.SIGKILL)
        if nonroot.IS_ROOT:
            nonroot.force_remove(home)


def test_a_queued_client_interrupted_or_killed_lets_its_pipe_reader_see_the_end_at_once(ws):
    """Clients queued behind a long build are Ctrl-C'd and kill -9'd: a reader of their
    stdout/stderr (`jbuild build ... | tee`) sees EOF at once, not when the server gets to the
    request (their descriptors are sent only once the server takes it); nothing of theirs is built."""
    write_tree(ws.root, {"BUILD": BUILD + 'package s { version = "1" build = "sleep 61.75; mkdir -p $OUT" }\n'})
    long = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//:s"], cwd=ws.root, env=ws.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not processes_holding("sleep 61.75") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_holding("sleep 61.75"), "the long build never started"
    queued = {sig: subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//:b"], cwd=ws.root, env=ws.env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for sig in (signal.SIGINT, signal.SIGKILL)}
    for sig, client in queued.items():
        _wait_queued(client)
        client.send_signal(sig)
        started = time.monotonic()
        _, err = client.communicate(timeout=10)  # (blocked until the pipes' end: every writer closed)
        assert time.monotonic() - started < 5, f"{sig!r}: the pipes stayed open {time.monotonic() - started:.1f} s"
        assert client.returncode == (8 if sig == signal.SIGINT else -9), err
        if sig == signal.SIGINT:
            assert "interrupted before the build started" in err, err
    assert long.poll() is None, "the long build ended: the test measured nothing"
    long.send_signal(signal.SIGINT)
    assert long.wait(timeout=30) == 8
    assert ws.jbuild("build", "//:a").returncode == 0  # (served after the dropped requests)
    assert ws.logs().count("went away while queued: not built") == 2, ws.logs()
    assert not (ws.root / "result-2").exists() and "//:b" not in ws.logs()
    assert len(ws.pids()) == 1


def _wait_queued(client, within: float = 60) -> None:
    """Until `client` says it waits for another build (after QUEUED_SAY seconds in the queue)."""
    import select

    assert select.select([client.stderr], [], [], within)[0], "the client never said it waits"
    line = client.stderr.readline()
    assert "waiting for another build" in line, line


def test_a_piped_build_that_starts_the_server_returns_at_once(ws):
    """`jbuild build ... | cat` (a CI step's shape: its stdout and stderr are pipes the runner
    reads to their end) returns as soon as the client exits, though the server it started goes
    on: the server holds none of the client's descriptors between builds."""
    assert not ws.pids()
    started = time.monotonic()
    r = subprocess.run(f"{sys.executable} -m jbuild build //:a 2>&1 | cat", shell=True, cwd=ws.root, env=ws.env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "1 built" in r.stdout, r.stdout + r.stderr
    assert time.monotonic() - started < 30
    [pid] = ws.pids()  # (it served the build, and runs on)
    for _ in range(3):  # a no-op, then edits, through that server: the same (the last's session from memory)
        started = time.monotonic()
        p = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//:a"], cwd=ws.root, env=ws.env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0 and time.monotonic() - started < 15, err
        (ws.root / "a.txt").write_text("edited\n")
    assert ws.pids() == [pid] and ws.memo_hits() >= 1


def test_python_and_python3_of_one_environment_are_one_server(ws):
    """`.venv/bin/python` and `.venv/bin/python3` are one interpreter in one environment: one
    server (the identity holds the resolved interpreter and sys.prefix, not the name as given)."""
    python3 = Path(sys.executable).with_name("python3")
    assert python3.exists() and python3.resolve() == Path(sys.executable).resolve()
    for python in (sys.executable, str(python3)):
        r = subprocess.run([python, "-m", "jbuild", "build", "//:a"], cwd=ws.root, env=ws.env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    assert ws.logs().count("serving ") == 1 and len(ws.pids()) == 1, ws.logs()


def test_the_server_is_the_default_and_no_server_or_0_builds_in_process(ws):
    """Without JBUILD_SERVER, `jbuild build` goes through the server (as Bazel's); `jbuild
    --no-server build` (as `bazel --batch`) and JBUILD_SERVER=0 build in-process; other commands
    run in-process, and `--help` says so."""
    default = {k: v for k, v in ws.env.items() if k != "JBUILD_SERVER"}

    def jbuild(*args, env=default):
        return subprocess.run([sys.executable, "-m", "jbuild", *args], cwd=ws.root, env=env, capture_output=True,
                              text=True, timeout=120)

    assert jbuild("build", "//:a").returncode == 0
    [pid] = ws.pids()
    served = ws.logs().count(": exit ")
    assert served == 1
    (ws.root / "a.txt").write_text("in-process\n")
    for r in (jbuild("--no-server", "build", "//:a"), jbuild("build", "//:a", env={**default, "JBUILD_SERVER": "0"}),
              jbuild("--no-server", "//:b", "--no-link"), jbuild("test", "//..."), jbuild("query", "//...")):
        assert r.returncode in (0, 4), r.stderr  # (test: no test targets here, exit 4)
    assert (ws.root / "result" / "a").read_text() == "in-process\n"
    assert ws.logs().count(": exit ") == served and ws.pids() == [pid]
    assert jbuild("build", "//:a").returncode == 0 and ws.logs().count(": exit ") == served + 1
    r = jbuild("--no-server", "--help")
    assert r.returncode == 0 and "--no-server" in r.stdout and "build server" in r.stdout, r.stdout


def test_a_queued_client_stopped_with_ctrl_z_holds_no_build_back(ws):
    """A client stopped (Ctrl-Z) while queued is taken once the build before it ends: it cannot
    send its stdio, and the server does not wait for it (STDIO_WAIT) but serves the next
    client; resumed, the stopped client asks again and builds."""
    write_tree(ws.root, {"BUILD": BUILD + 'package s { version = "1" build = "sleep 6.125; mkdir -p $OUT" }\n'})
    assert ws.jbuild("build", "//:a").returncode == 0  # (the server started: the next three queue at once)
    long = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//:s"], cwd=ws.root, env=ws.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not processes_holding("sleep 6.125") and time.monotonic() < deadline:
        time.sleep(0.05)
    stopped = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//:b", "--out-link", "b"], cwd=ws.root,
                               env=ws.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_queued(stopped)
    stopped.send_signal(signal.SIGSTOP)
    try:
        assert long.wait(timeout=60) == 0
        started = time.monotonic()
        r = ws.jbuild("build", "//:a", timeout=60)
        assert r.returncode == 0 and time.monotonic() - started < 15, r.stderr
    finally:
        stopped.send_signal(signal.SIGCONT)
    _, err = stopped.communicate(timeout=60)
    assert stopped.returncode == 0, err
    assert (ws.root / "b" / "b").read_text() == "b\n"
    assert "told to ask again" in ws.logs(), ws.logs()


def test_a_server_started_while_an_exiting_one_holds_the_lock_waits_for_it(ws):
    """A server exiting (a code change, a shutdown) holds its lock until its process is gone,
    while the client it told to retry has started the next: that one gave up at once (another
    held the lock), and the client waited 20 s for a server that never came, then built
    in-process. The next server now waits for the lock while no one listens."""
    import fcntl

    code = ("import os; from jbuild.server_client import identity, socket_path, workspace_root;"
            "r = workspace_root(os.getcwd()); print(socket_path(r, identity(r)))")
    path = subprocess.run([sys.executable, "-c", code], cwd=ws.root, env=ws.env, capture_output=True, text=True,
                          check=True).stdout.strip()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path[: -len(".sock")] + ".lock", os.O_RDWR | os.O_CREAT, 0o600)  # (the exiting server's)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        client = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//:a"], cwd=ws.root, env=ws.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert client.poll() is None
    finally:
        os.close(fd)  # (it has exited)
    started = time.monotonic()
    _, err = client.communicate(timeout=60)
    assert client.returncode == 0 and "did not start" not in err, err
    assert time.monotonic() - started < 10 and len(ws.pids()) == 1 and "serving " in ws.logs()


def test_a_new_server_prunes_the_logs_of_servers_gone_for_a_day(ws):
    """Each identity ever served leaves DIGEST.log and .lock: a new server removes those of a
    day ago whose lock no one holds, and keeps a live server's and recent ones."""
    import fcntl

    d = ws.server_dir()
    d.mkdir(parents=True, mode=0o700)
    for name in ("old", "held", "recent"):
        (d / f"{name}.log").write_text("12:00:00 serving ...\n")
        (d / f"{name}.lock").write_text("")
    day_ago = time.time() - 2 * 24 * 3600
    for name in ("old", "held"):
        os.utime(d / f"{name}.log", (day_ago, day_ago))
    fd = os.open(d / "held.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # (a server of that identity runs)
    try:
        assert ws.jbuild("build", "//:a").returncode == 0
        deadline = time.monotonic() + 20
        while (d / "old.log").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not (d / "old.log").exists() and not (d / "old.lock").exists()
        assert all((d / f"{n}.{k}").exists() for n in ("held", "recent") for k in ("log", "lock"))
    finally:
        os.close(fd)

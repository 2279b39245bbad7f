"""The staged sandbox (sandbox_root.py, sandbox_zygote.py) as each worker's stager runs it: one
stage directory that stays empty on the host, and one network namespace of the stager's (only
loopback, up) that its sandboxes share one after another instead of making one each — and
nothing a sandbox leaves there reaches the next. Real bubblewrap, real sockets."""

import os
import shutil
import time
from pathlib import Path

import pytest
from jbuild.engine.sandbox import BwrapExecutor, Job

PY = shutil.which("python3", path="/usr/bin")


@pytest.fixture
def executor(monkeypatch):
    assert BwrapExecutor.stages_root()  # where it cannot, the test must fail, not pass vacuously
    monkeypatch.setattr(BwrapExecutor, "stage_from", 0)
    return BwrapExecutor()


def job(tmp_path: Path, name: str, script: str) -> Job:
    dirs = [tmp_path / name / d for d in ("src", "out", "tmp")]
    for d in dirs:
        d.mkdir(parents=True)
    return Job(script=script, src=dirs[0], out=dirs[1], tmp=dirs[2], log=tmp_path / f"{name}.log")


def test_only_loopback_and_it_works(tmp_path, executor):
    assert PY, "python3 is in /usr/bin on the machines the tests run on"
    j = job(tmp_path, "a", f"""
        test "$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ')" = lo || exit 20
        {PY} -c "
import socket
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()
socket.create_connection(s.getsockname()).close()
try:
    socket.create_connection(('192.0.2.1', 80), timeout=2)
except OSError:
    pass
else:
    raise SystemExit(21)
" || exit $?
        echo ok > "$OUT/ok"
    """)
    assert executor.run(j) == 0, j.log.read_text()
    assert (j.out / "ok").exists()
    assert executor.local.zygote.shares_network  # the path under test, not a fallback


def test_a_listener_left_by_one_sandbox_is_gone_for_the_next(tmp_path, executor):
    port_file = tmp_path / "port"
    first = job(tmp_path, "first", f"""
        {PY} -c "
import os, socket
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()
open('/out/port', 'w').write(str(s.getsockname()[1]))
if os.fork() == 0:
    os.setsid(); os.close(1); os.close(2)
    while True: s.accept()
"
        test -s /out/port
    """)
    assert executor.run(first) == 0, first.log.read_text()
    port_file.write_text((first.out / "port").read_text())
    second = job(tmp_path, "second", f"""
        {PY} -c "
import socket
try:
    socket.create_connection(('127.0.0.1', {int(port_file.read_text())}), timeout=2)
except ConnectionRefusedError:
    raise SystemExit(0)
raise SystemExit(22)
"
    """)
    assert executor.run(second) == 0, second.log.read_text()


def test_the_stage_directory_stays_empty_and_goes_with_the_stager(tmp_path, executor):
    j = job(tmp_path, "a", "test -d /deps && test -d /proc/self && echo ok > $OUT/ok")
    j.deps = {"x": tmp_path / "a" / "src"}
    assert executor.run(j) == 0, j.log.read_text()
    zygote = executor.local.zygote
    stage = zygote.stage
    assert stage.is_dir() and os.listdir(stage) == []  # the mounts were the child's alone
    zygote.close()
    assert not stage.exists()


def test_env_links_made_in_the_staged_root_match_those_made_on_disk(tmp_path, monkeypatch):
    from jbuild.engine.sandbox import env_plan

    deps = {}
    for i in range(10):
        entry = tmp_path / "store" / f"{i:032x}-d{i}-1"
        for rel in (f"include/d{i}.h", "include/common.h", f"lib/pkgconfig/d{i}.pc", f"bin/tool{i}"):
            (entry / rel).parent.mkdir(parents=True, exist_ok=True)
            (entry / rel).write_text(f"{i} {rel}\n")
        deps[f"d{i}"] = entry
    script = ("cd /env && find . | sort | while read p; do echo \"$p $(readlink $p)\"; done > $OUT/tree; "
              "cat include/common.h >> $OUT/tree; touch /env/new /env/include/new 2>/dev/null && exit 20; true")
    trees = {}
    for mode, stage_from in (("staged", 0), ("on disk", 10 ** 9)):
        monkeypatch.setattr(BwrapExecutor, "stage_from", stage_from)
        j = job(tmp_path, mode.replace(" ", "-"), script)
        j.deps, j.tools = deps, frozenset({"d3"})
        j.env_links = env_plan(j)
        ex = BwrapExecutor()
        assert ex.stages(j) == (mode == "staged")
        assert ex.run(j) == 0, j.log.read_text()
        trees[mode] = (j.out / "tree").read_text()
        assert (j.env_tree is None) == (mode == "staged")  # staged: nothing on disk
    assert trees["staged"] == trees["on disk"]
    lines = trees["staged"].splitlines()
    assert "./include/common.h /deps/d0/include/common.h" in lines  # the first dependency wins
    assert "./bin/tool3 /deps/d3/bin/tool3" in lines and not any("tool4" in x for x in lines)  # tools only
    assert lines[-1] == "0 include/common.h"


def many_requirements(make_workspace, build: str, files: dict):
    """A workspace whose //:top has enough requirements for a staged root (stage_from)."""
    n = BwrapExecutor.stage_from + 2
    blocks = [f'package d{i} {{ version = "1" build = "mkdir -p $OUT/include && echo {i} > $OUT/include/d{i}.h" }}'
              for i in range(n)]
    reqs = ", ".join(f":d{i}" for i in range(n))
    sources = ", ".join(f'"{f}"' for f in files)
    blocks.append(f'package top {{ version = "1" sources = [{sources}] requires = [{reqs}] build = """{build}""" }}')
    return make_workspace({"BUILD": "\n".join(blocks), **files, "undeclared.txt": "not a source\n"})


def test_declared_sources_are_bound_read_only_and_alone(make_workspace, tmp_path):
    from helpers import run_jbuild

    root = many_requirements(make_workspace, """
        test "$(cat $SRC/a.txt)" = a && test "$(cat $SRC/sub/b.sh)" = b && test -x $SRC/sub/b.sh || exit 20
        test ! -e $SRC/undeclared.txt || exit 21
        (echo x > $SRC/a.txt) 2>/dev/null && exit 22
        touch $SRC/new 2>/dev/null && exit 23
        mkdir -p $OUT && ls -AR $SRC > $OUT/src
    """, {"a.txt": "a\n", "sub/b.sh": "b\n"})
    os.chmod(root / "sub" / "b.sh", 0o755)
    store = tmp_path / "store"
    r = run_jbuild("build", "//:top", "--sandbox", "bwrap", cwd=root, env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    (entry,) = store.glob("*-top-1")
    assert (entry / "src").read_text().split() == ["/src:", "a.txt", "sub", "/src/sub:", "b.sh"]
    assert (root / "a.txt").read_text() == "a\n"


def test_a_source_edited_during_a_staged_build_fails_it(make_workspace, tmp_path):
    import subprocess
    import sys
    import time

    root = many_requirements(make_workspace, """
        touch /tmp/started; i=0
        while [ "$(cat $SRC/a.txt)" = a ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
        mkdir -p $OUT && cat $SRC/a.txt > $OUT/a
    """, {"a.txt": "a\n"})
    store = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//:top", "--sandbox", "bwrap"], cwd=root,
                            env={**os.environ, "JBUILD_STORE": str(store)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not list(store.glob(".tmp-*/started")) and time.monotonic() < deadline:  # a staged root's /tmp
        time.sleep(0.05)
    (root / "a.txt").write_text("edited\n")
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 1 and "inputs changed during the build: a.txt" in out, out
    assert not list(store.glob("*-top-1"))


def test_the_stage_directory_goes_when_the_worker_thread_ends(tmp_path, executor):
    import threading
    import time

    seen = {}

    def worker():
        j = job(tmp_path, "w", "true")
        j.deps = {"x": tmp_path / "w" / "src"}
        seen["code"] = executor.run(j)
        seen["stage"] = executor.local.zygote.stage
        seen["there"] = seen["stage"].is_dir()  # (it may go as soon as this thread ends)
        seen["proc"] = executor.local.zygote.proc

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen["code"] == 0 and seen["there"]
    seen["proc"].wait(timeout=10)  # the stager ends with the thread that started it
    deadline = time.monotonic() + 10
    while seen["stage"].exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not seen["stage"].exists()


def test_each_staged_namespace_is_let_go_once_the_next_build_has_started(tmp_path, executor):
    """The C child hands the fork server its mount namespace: the kernel tears those mounts down
    (an RCU grace period) when the last reference goes, which is then while the next build runs,
    not at the end of the build's own time."""
    def mount_namespaces(pid: int) -> dict[str, str]:
        out = {}
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                out[os.readlink(f"/proc/{pid}/fd/{fd}")] = f"/proc/{pid}/fd/{fd}"
            except FileNotFoundError:
                pass
        return {x: path for x, path in out.items() if x.startswith("mnt:")}

    a, b = job(tmp_path, "a", "true"), job(tmp_path, "b", "true")
    assert executor.run(a) == 0, a.log.read_text()
    zygote = executor.local.zygote
    assert zygote.serves  # the path under test: cc is installed where the tests run
    pid = zygote.proc.pid
    own = os.readlink(f"/proc/{pid}/ns/mnt")

    def held() -> dict[str, str]:
        """(after the server has caught up: it takes each namespace as its child execs bubblewrap)"""
        deadline = time.monotonic() + 10
        while True:
            found = {x: p for x, p in mount_namespaces(pid).items() if x != own}
            if len(found) == 1 and found.keys() != seen or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    seen: set = set()
    first = held()
    assert len(first) == 1
    keep = os.open(next(iter(first.values())), os.O_RDONLY)  # alive through this: its number is not given again
    try:
        seen = first.keys()
        assert executor.run(b) == 0, b.log.read_text()
        second = held()
        assert len(second) == 1 and second.keys() != first.keys()  # the first let go, the second held
    finally:
        os.close(keep)


def test_a_stager_started_ahead_is_the_first_builds_and_one_not_taken_ends(tmp_path, executor):
    """`prestart` (build.run, when an action is likely to run) starts a stager before any worker
    asks: the first build takes that one; one never taken ends at `drop_spare` (build.run, after
    the schedule), its stage directory removed."""
    executor.prestart()
    started = executor.spare[0]
    j = job(tmp_path, "a", 'echo ok > "$OUT/ok"')
    assert executor.run(j) == 0, j.log.read_text()
    assert executor.local.zygote.proc is started and executor.spare == []
    other = BwrapExecutor()
    other.prestart()
    from jbuild.engine.sandbox_zygote import _server_hello

    stage = Path(os.fsdecode(_server_hello(other.spare[0].stdout.fileno())[0]))
    assert stage.is_dir()
    other.drop_spare()
    assert other.spare == []
    for _ in range(200):
        if not stage.exists():
            break
        time.sleep(0.05)
    assert not stage.exists()


def test_the_fork_servers_child_is_jbuilds_own_and_waited_for_by_it(tmp_path, executor):
    """The C server forks each sandbox with CLONE_PARENT: jbuild's worker waits for it (woken
    once, when it ends) and kills its group itself; the server only starts it."""
    from jbuild.engine.sandbox import BWRAP_ENV

    zygote = executor._zygote()
    assert zygote.serves
    parents = []

    def started(pid: int) -> None:
        parents.append(int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]))

    j = job(tmp_path, "a", "exit 7")
    argv, root = executor.staged_argv(j, zygote.stage, zygote.shares_network)
    assert zygote.run(root.state(), argv, BWRAP_ENV, j.log, started) == 7, j.log.read_text()
    assert parents == [os.getpid()]

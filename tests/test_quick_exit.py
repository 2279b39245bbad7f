"""The real CLI ends its process without the interpreter's shutdown (base/quick_exit.py), yet
does what that shutdown would have done that matters: atexit handlers, flushed output, the exit
code; a live non-daemon thread sends it to the normal exit; an in-process caller gets SystemExit."""

import subprocess
import sys

import pytest
from helpers import run_jbuild

# A real `jbuild` process with one atexit handler and one unflushed write of our own.
PROBE = """
import atexit, sys, threading, time
mark = sys.argv[1]
atexit.register(lambda: open(mark, "w").write("atexit ran"))
sys.stdout.write("unflushed before main")
class Freed:  # freed by the interpreter's shutdown, not by os._exit
    def __del__(self, _open=open, _path=mark + ".freed"):
        _open(_path, "w").write("freed")
kept = Freed()
if sys.argv[2] == "thread":
    threading.Thread(target=lambda: (time.sleep(0.3), open(mark + ".thread", "w").write("joined"))).start()
from jbuild.cli import main
sys.argv = ["jbuild", *sys.argv[3:]]
main()
"""


def _probe(tmp_path, thread: str, *args):
    mark = tmp_path / "mark"
    r = subprocess.run([sys.executable, "-c", PROBE, str(mark), thread, *args], capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    return r, mark


@pytest.mark.parametrize("args, code", [(["--version"], 0), (["no-such-command"], 2)])
def test_the_cli_runs_atexit_and_flushes_before_it_leaves(tmp_path, args, code):
    r, mark = _probe(tmp_path, "none", *args)
    assert r.returncode == code, r.stderr
    assert mark.read_text() == "atexit ran"
    assert r.stdout.startswith("unflushed before main")
    assert not (tmp_path / "mark.freed").exists()  # (left without the interpreter's shutdown)


def test_a_live_non_daemon_thread_is_waited_for(tmp_path):
    r, mark = _probe(tmp_path, "thread", "--version")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "mark.thread").read_text() == "joined"
    assert mark.read_text() == "atexit ran"
    assert (tmp_path / "mark.freed").exists()  # (the normal shutdown)


def test_an_in_process_caller_gets_system_exit_and_keeps_nothing(tmp_path, monkeypatch):
    from jbuild.base import quick_exit

    from jbuild.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    quick_exit.keep(object())
    assert quick_exit._kept == ()  # (not armed: nothing held)


def test_a_build_left_quickly_is_read_back_whole(make_workspace, tmp_path):
    """The index's last commits stay in its WAL, the kept session as renamed: the next runs see
    them (a no-op reuses all, `explain` reads the decisions)."""
    ws = make_workspace({"BUILD": 'package a { version = "1" sources = ["a.txt"] '
                                  'build = "mkdir -p $OUT && cp $SRC/a.txt $OUT/a" }\n', "a.txt": "1\n"})
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    assert run_jbuild("build", "//:a", "--sandbox", "bwrap", cwd=ws, env=env).returncode == 0
    assert (tmp_path / "store" / "index.sqlite-wal").exists()  # (left, as a kill would leave it)
    (ws / "a.txt").write_text("2\n")
    r = run_jbuild("build", "//:a", "--sandbox", "bwrap", cwd=ws, env=env)
    assert r.returncode == 0 and "1 built" in r.stderr, r.stderr
    r = run_jbuild("explain", "//:a", "--sandbox", "bwrap", cwd=ws, env=env)
    assert r.returncode == 0 and "built" in r.stdout and "a.txt" in r.stdout, r.stdout + r.stderr
    r = run_jbuild("build", "//:a", "--sandbox", "bwrap", cwd=ws, env=env)
    assert r.returncode == 0 and "0 built, 1 reused" in r.stderr, r.stderr

"""`jbuild watch` driven for real: the CLI in a subprocess with inotify (watchdog), files edited
the ways editors edit them, the output read as it comes. The oracle is what the watcher prints
("Changed: … — rebuilding", the build summary) and the processes `watch run` starts."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

SOURCE = {
    "jbuild.toml": "",
    "BUILD": """
package a {
    version = "1"
    sources = ["src/a.c"]
    build = "mkdir -p $OUT && cat $SRC/src/a.c > $OUT/a"
}
""",
    "src/a.c": "a 0\n",
    "src/notes.txt": "nobody declares me\n",
}


class Watching:
    """A running `jbuild watch` and its output so far."""

    def __init__(self, root, store, *args):
        env = {**os.environ, "JBUILD_STORE": str(store), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "jbuild", "watch", *args], cwd=root, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.text, self.cond = "", threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            with self.cond:
                self.text += line
                self.cond.notify_all()

    def count(self, pattern) -> int:
        return len(re.findall(pattern, self.text))

    def wait_for(self, pattern, n=1, timeout=60.0):
        """Until `pattern` has been printed `n` times in all."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.count(pattern) < n:
                left = deadline - time.monotonic()
                assert left > 0, f"not {n} × {pattern!r} within {timeout} s in:\n{self.text}"
                self.cond.wait(left)

    def settle(self, seconds=1.5) -> str:
        """Let the watcher react (debounce + rebuild) and return all output."""
        time.sleep(seconds)
        return self.text

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.text


@pytest.fixture
def watching(make_workspace, tmp_path):
    started = []

    def start(files=SOURCE, *args):
        root = make_workspace({k: v for k, v in files.items() if k != "jbuild.toml"})
        w = Watching(root, tmp_path / "store", *args, "--sandbox", "bwrap")
        started.append(w)
        w.wait_for("Watching for changes")
        return root, w

    yield start
    for w in started:
        w.stop()


REBUILD = "— rebuilding"


def test_declared_edit_rebuilds_once_and_an_undeclared_edit_never(watching):
    root, w = watching(SOURCE, "//:a")
    assert "1 built, 0 reused" in w.text
    (root / "src/a.c").write_text("a 1\n")
    w.wait_for("Changed: src/a.c — rebuilding")
    w.wait_for("1 built, 0 reused", 2)
    (root / "src/notes.txt").write_text("still nobody's\n")
    (root / "elsewhere.txt").write_text("new, and nobody's\n")
    out = w.settle()
    assert w.count(REBUILD) == 1, out
    assert "notes.txt" not in out and "elsewhere" not in out


def test_save_through_a_temporary_and_rename_is_one_rebuild(watching):
    root, w = watching(SOURCE, "//:a")
    tmp = root / "src" / "a.c.tmp-save"  # as editors do: write beside, then rename over
    tmp.write_text("a 2\n")
    os.replace(tmp, root / "src/a.c")
    w.wait_for("up to date", 2)
    out = w.settle()
    assert w.count(REBUILD) == 1, out
    assert "Changed: src/a.c — rebuilding" in out
    assert (root / "result/a").read_text() == "a 2\n"


def test_broken_build_file_is_reported_then_the_fix_builds(watching):
    root, w = watching(SOURCE, "//:a")
    good = (root / "BUILD").read_text()
    (root / "BUILD").write_text(good.replace('version = "1"', 'version = "1"\n    build_requires = [:b'))
    w.wait_for(r"BUILD:\d+:\d+: error:")
    w.wait_for("Waiting for a fix")
    assert "Traceback" not in w.text
    (root / "BUILD").write_text(good.replace("cat $SRC/src/a.c", "cat $SRC/src/a.c $SRC/src/a.c"))
    w.wait_for("up to date", 2)
    assert (root / "result/a").read_text() == "a 0\na 0\n", w.text


def test_a_cycle_mid_edit_is_reported_and_watching_goes_on(watching):
    files = {**SOURCE, "BUILD": SOURCE["BUILD"] + 'package b { version = "1" build = "mkdir -p $OUT" }\n'}
    root, w = watching(files, "//:a")
    text = (root / "BUILD").read_text()
    cyclic = text.replace('version = "1"\n    sources', 'version = "1"\n    requires = [:b]\n    sources', 1)
    cyclic = cyclic.replace('package b { version = "1"', 'package b { version = "1" requires = [:a]')
    (root / "BUILD").write_text(cyclic)
    w.wait_for("dependency cycle")
    (root / "BUILD").write_text(cyclic.replace(" requires = [:a]", ""))
    w.wait_for(r"1 built, 0 reused|2 built", 2)  # a now requires b: b builds, a rebuilds
    assert w.proc.poll() is None


def test_a_burst_of_50_edits_is_one_or_two_rebuilds(watching):
    root, w = watching(SOURCE, "//:a")
    for i in range(50):
        (root / "src/a.c").write_text(f"a burst {i}\n")
        time.sleep(0.005)
    w.wait_for("up to date", 2)
    out = w.settle(2.0)
    assert 1 <= w.count(REBUILD) <= 2, out
    assert (root / "result/a").read_text() == "a burst 49\n"


SERVICE = {
    "jbuild.toml": "",
    "BUILD": """
package svc {
    version = "1"
    sources = ["svc.sh"]
    build = "mkdir -p $OUT/bin && cp $SRC/svc.sh $OUT/bin/svc && chmod +x $OUT/bin/svc"
    exports = ["bin"]
    service { command = "bin/svc" }
}
""",
    "svc.sh": "#!/bin/sh\necho \"svc v1 pid $$\"\nexec sleep 600\n",
}


def _pids(text):
    return re.findall(r"svc v\d pid (\d+)", text)


def test_watch_run_restarts_the_service_only_when_its_closure_changed(watching):
    root, w = watching(SERVICE, "run", "//:svc", "--stop-timeout", "2")
    w.wait_for("svc v1 pid")
    (first,) = _pids(w.text)
    (root / "BUILD").write_text((root / "BUILD").read_text() + "# a comment changes nothing\n")
    (root / "notes.txt").write_text("undeclared\n")
    out = w.settle(2.0)
    assert w.count(REBUILD) == 0 and _pids(out) == [first], out
    assert os.path.exists(f"/proc/{first}")
    (root / "svc.sh").write_text("#!/bin/sh\necho \"svc v2 pid $$\"\nexec sleep 600\n")
    w.wait_for("svc v2 pid")
    assert "its closure changed; restarting" in w.text
    second = _pids(w.text)[-1]
    assert second != first and not _alive(first)
    (root / "BUILD").write_text((root / "BUILD").read_text().replace("chmod +x", "false && chmod +x"))
    w.wait_for("did not build")  # a failed rebuild leaves the running service alone
    assert _alive(second)
    w.stop()
    assert not _alive(second)


def _alive(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_watch_test_reruns_the_test_when_its_source_changes(watching):
    """`watch test` runs the tests after each build; a test's own source is watched too, and a
    failing test keeps the watcher watching."""
    files = {**SOURCE, "BUILD": SOURCE["BUILD"] + 'test t { sources = ["t.sh"] requires = [:a] command = "sh $SRC/t.sh" }\n',
             "t.sh": "exit 0\n"}
    root, w = watching(files, "test", "//:t")
    w.wait_for("PASSED")
    (root / "t.sh").write_text("echo broken; exit 1\n")
    w.wait_for("Changed: t.sh — rebuilding")
    w.wait_for("FAILED")
    w.wait_for("Tests failed")
    (root / "t.sh").write_text("exit 0\n")
    w.wait_for("PASSED", 2)
    assert w.proc.poll() is None


def test_polling_sees_a_declared_edit_and_ignores_an_undeclared_one(watching):
    root, w = watching(SOURCE, "//:a", "--poll")
    (root / "src/notes.txt").write_text("nobody's, polled\n")
    (root / "src/a.c").write_text("a polled\n")
    w.wait_for("up to date", 2)
    out = w.settle()
    assert w.count(REBUILD) == 1 and "notes.txt" not in out, out
    assert (root / "result/a").read_text() == "a polled\n"


def test_the_inotify_limit_is_a_sentence_with_the_sysctl():
    """Raising ENOSPC for real would lower a machine-wide limit under other users; the message
    is built from the errno watchdog passes on."""
    import errno

    from jbuild.engine.watcher import WatchLimit, _limit_error

    err = _limit_error(OSError(errno.ENOSPC, "inotify watch limit reached"), 8192)
    assert isinstance(err, WatchLimit)
    assert "sysctl fs.inotify.max_user_watches=" in str(err) and "--poll" in str(err)
    assert "8192 watched" in str(err)


def test_its_own_result_links_never_trigger_a_rebuild(watching):
    """With //..., the workspace root is watched (a new package may appear there): the result
    links each build rewrites must not look like changes."""
    files = {**SOURCE, "BUILD": SOURCE["BUILD"] + 'package b { version = "1" build = "mkdir -p $OUT" }\n'}
    root, w = watching(files, "//...")
    assert os.path.islink(root / "result-2")
    (root / "src/a.c").write_text("a 3\n")
    w.wait_for("up to date", 4)  # two roots, two lines per build
    out = w.settle(2.0)
    assert w.count(REBUILD) == 1 and w.count("up to date") == 4, out


def test_a_deleted_source_is_a_recipe_error_until_it_is_back(watching):
    root, w = watching(SOURCE, "//:a")
    (root / "src/a.c").unlink()
    w.wait_for("no file 'src/a.c'")
    (root / "src/a.c").write_text("a back\n")
    w.wait_for("up to date", 2)
    assert (root / "result/a").read_text() == "a back\n" and "Traceback" not in w.text


def test_patterns_with_nothing_to_build_say_why_and_a_package_added_later_builds(watching):
    files = {"BUILD": 'template t(v) {\n    version = args.v\n    build = "mkdir -p $OUT && echo t > $OUT/t"\n}\n'}
    root, w = watching(files, "//...")
    assert "error: nothing to build: //... matched no package or test to build" in w.text
    assert "BUILD defines only templates (t)" in w.text and "0 built" not in w.text, w.text
    (root / "BUILD").write_text(files["BUILD"] + 'package p = t("1")\n')
    w.wait_for("up to date")
    assert (root / "result/t").read_text() == "t\n", w.text

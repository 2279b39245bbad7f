"""`jbuild test` on a small workspace, through the real CLI and real bubblewrap: pass, fail (3),
nothing matched (4), cached reruns, flaky attempts, timeouts, the sandbox a test sees, logs,
JUnit (read with junitparser, as CI servers read it), and tests running while builds still run."""

import json
import time

import pytest
from helpers import run_jbuild
from junitparser import Failure, JUnitXml, Skipped

WORKSPACE = {
    "BUILD": '''
        package lib {
            version = "1"
            build_requires = [@std//host:sh]
            build = "mkdir -p $OUT/share && echo v1 > $OUT/share/data"
            exports = ["share"]
        }
        package slowpkg {
            version = "1"
            build_requires = [@std//host:sh]
            build = "sleep 3; mkdir -p $OUT"
        }
        test ok {
            requires = [:lib]
            build_requires = [@std//host:sh]
            command = "grep -q v1 share/data && echo fine"
        }
        test bad {
            build_requires = [@std//host:sh]
            command = "echo about to fail; exit 7"
        }
        test flaky {
            build_requires = [@std//host:sh]
            command = "echo attempt $JBUILD_TEST_ATTEMPT; [ $JBUILD_TEST_ATTEMPT -ge 2 ]"
        }
        test slow {
            build_requires = [@std//host:sh]
            command = "sleep 60"
        }
        test sandboxed {
            sources = ["data/input.txt"]
            requires = [:lib]
            build_requires = [@std//host:sh]
            command = """
                test "$(pwd)" = /env && test -f share/data
                test "$(cat $SRC/data/input.txt)" = declared && test ! -e $SRC/data/secret.txt
                test -d "$TEST_TMPDIR" && touch "$TEST_TMPDIR/scratch"
                test "$XML_OUTPUT_FILE" = /out/test.xml && test "$TEST_TARGET" = //:sandboxed
                test ! -e WORKSPACE_ROOT/data/secret.txt
                if touch share/new 2>/dev/null; then echo "the environment is writable"; exit 1; fi
                echo sandbox ok
            """
        }
        package broken {
            version = "1"
            build_requires = [@std//host:sh]
            build = "exit 1"
            tags = ["manual"]
        }
        test needs_broken {
            requires = [:broken]
            build_requires = [@std//host:sh]
            command = "true"
            tags = ["manual"]
        }
    ''',
    "data/input.txt": "declared",
    "data/secret.txt": "undeclared",
}


@pytest.fixture
def ws(make_workspace, tmp_path):
    root = make_workspace(WORKSPACE)
    build = root / "BUILD"
    build.write_text(build.read_text().replace("WORKSPACE_ROOT", str(root)))
    return root


def jb(root, *args, env=None):
    return run_jbuild(*args, cwd=root, env={"JBUILD_STORE": str(root.parent / "store"), **(env or {})})


def events(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_results(ws, tmp_path):
    """One run with every outcome, then a second: only the clean pass is cached."""
    ev, junit = tmp_path / "ev1.json", tmp_path / "junit.xml"
    r = jb(ws, "test", "//...", "--sandbox", "bwrap", "-j", "2", "--keep-going", "--flaky-attempts", "2",
           "--test-timeout", "2", "--junit-xml", str(junit), "--build-events", str(ev))
    assert r.returncode == 3, r.stdout + r.stderr
    lines = {line.split()[0]: line for line in r.stdout.splitlines() if line.startswith("//")}
    assert lines["//:ok"].endswith("PASSED in " + lines["//:ok"].rsplit(" ", 1)[1]) and "(cached)" not in lines["//:ok"]
    assert " FAILED in " in lines["//:bad"]
    assert "FLAKY, failed in 1 out of 2" in lines["//:flaky"]
    assert " TIMEOUT in " in lines["//:slow"]
    assert " PASSED in " in lines["//:sandboxed"], (ws / "jbuild-testlogs/sandboxed/test.log").read_text()
    assert "Executed 5 out of 5 tests: 2 tests pass, 1 fails locally, 1 timed out and 1 is flaky." in r.stdout
    assert "about to fail" in r.stderr and "fine" not in r.stderr  # --test-output errors: failures' logs only
    assert "jbuild-testlogs/bad/test.log" in r.stdout

    logs = ws / "jbuild-testlogs"
    assert "fine" in (logs / "ok/test.log").read_text() and "sandbox ok" in (logs / "sandboxed/test.log").read_text()
    assert "\nattempt 1\n" in (logs / "flaky/test_attempts/attempt_1.log").read_text()
    assert "attempt 2" in (logs / "flaky/test.log").read_text()
    assert "killed after 2s" in (logs / "slow/test.log").read_text()
    assert sorted(p.name for p in (logs / "ok").iterdir()) == ["test.log", "test.xml"]
    r = jb(ws, "log", "//:bad")  # a test's log: its last run's (bazel-testlogs' way), not "build it first"
    assert r.returncode == 0 and "about to fail" in r.stdout, r.stdout + r.stderr

    report = JUnitXml.fromfile(str(junit))
    cases = {case.name: case for suite in report for case in suite}
    assert set(cases) == {"//:ok", "//:bad", "//:flaky", "//:slow", "//:sandboxed"}
    assert [type(x) for x in cases["//:bad"].result] == [Failure] and "about to fail" in cases["//:bad"].system_out
    assert cases["//:slow"].result[0].type == "timeout" and cases["//:ok"].result == []
    assert report.tests == 5 and report.failures == 2
    assert JUnitXml.fromfile(str(logs / "bad/test.xml")).failures == 1

    # Tests run on the workers as soon as their closure is built, while slowpkg (3 s) still builds.
    evs = events(ev)
    slow_done = next(e for e in evs if e["event"] == "target_complete" and e["target"].startswith("//:slowpkg"))
    early = [e["target"] for e in evs if e["event"] == "test_result" and e["end_time"] < slow_done["start_time"] + 2.5]
    assert "//:bad" in early and evs.index(slow_done) > min(i for i, e in enumerate(evs) if e["event"] == "test_result")

    r = jb(ws, "test", "//...", "--sandbox", "bwrap", "--keep-going", "--flaky-attempts", "2", "--test-timeout", "2")
    assert r.returncode == 3
    lines = {line.split()[0]: line for line in r.stdout.splitlines() if line.startswith("//")}
    assert "(cached) PASSED" in lines["//:ok"] and "(cached) PASSED" in lines["//:sandboxed"]
    assert "(cached)" not in lines["//:bad"] + lines["//:flaky"] + lines["//:slow"]
    assert "Executed 3 out of 5 tests" in r.stdout
    assert "fine" in (logs / "ok/test.log").read_text()  # a cached pass restores its log


def test_cache_off_reruns_and_output_modes(ws):
    assert jb(ws, "test", "//:ok", "--sandbox", "bwrap").returncode == 0
    r = jb(ws, "test", "//:ok", "--sandbox", "bwrap", "--cache-test-results=no", "--test-output", "all")
    assert r.returncode == 0 and "(cached)" not in r.stdout and "Executed 1 out of 1 test: 1 test passes." in r.stdout
    assert "==== //:ok PASSED" in r.stderr and "fine" in r.stderr
    r = jb(ws, "test", "//:bad", "--sandbox", "bwrap", "--test-output", "summary")
    assert r.returncode == 3 and "about to fail" not in r.stderr and "FAILED" in r.stdout


def test_no_tests_bad_patterns_and_failed_builds(ws):
    r = jb(ws, "test", "//:lib", "--sandbox", "bwrap")
    assert r.returncode == 4 and "no test targets matched //:lib" in r.stderr
    r = jb(ws, "test", "//:bda", "--sandbox", "bwrap")
    assert r.returncode == 2 and "did you mean 'bad'" in r.stderr and "Traceback" not in r.stderr
    r = jb(ws, "test", "//:ok", "--test-timeout", "0")
    assert r.returncode == 2
    r = jb(ws, "test", "//:needs_broken", "--sandbox", "bwrap", "--keep-going", "--junit-xml", str(ws / "j.xml"))
    assert r.returncode == 1, r.stderr
    assert [type(x) for s in JUnitXml.fromfile(str(ws / "j.xml")) for c in s for x in c.result] == [Skipped]
    assert "//:needs_broken" in r.stdout and "NO STATUS" in r.stdout and "//:broken failed to build" in r.stdout
    assert "did not run" in r.stdout


def test_a_timed_out_test_is_killed_at_its_limit(ws):
    started = time.monotonic()
    r = jb(ws, "test", "//:slow", "--sandbox", "bwrap", "--test-timeout", "1")
    assert r.returncode == 3 and "TIMEOUT" in r.stdout
    assert time.monotonic() - started < 20
    assert "timed out" in r.stdout


def test_flaky_without_attempts_fails(ws):
    r = jb(ws, "test", "//:flaky", "--sandbox", "bwrap")
    assert r.returncode == 3 and " FAILED in " in r.stdout and not (ws / "jbuild-testlogs/flaky/test_attempts").exists()


def test_exit_codes_agree_with_the_cli():
    from jbuild.engine.testing import CODES

    from jbuild import exitcodes

    assert CODES == {"passed": exitcodes.SUCCESS, **{k: exitcodes.BY_KIND[k] for k in CODES if k != "passed"}}
    assert (CODES["tests_failed"], CODES["no_tests"]) == (3, 4)


def test_a_long_test_has_a_heartbeat_and_a_killed_run_caches_nothing(ws):
    """SIGKILL while a test runs: no result is recorded (never a wrong "passed"), and the next run
    runs it; while it ran, the CI heartbeat named it."""
    import os
    import select
    import signal
    import sqlite3
    import subprocess
    import sys

    store = ws.parent / "store"
    env = {**os.environ, "JBUILD_STORE": str(store), "JBUILD_HEARTBEAT": "0.5"}
    proc = subprocess.Popen([sys.executable, "-m", "jbuild", "test", "//:slow", "--sandbox", "bwrap",
                             "--test-timeout", "100"], cwd=ws, env=env, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    seen, deadline = "", time.monotonic() + 60
    while "still testing //:slow" not in seen and time.monotonic() < deadline:
        if select.select([proc.stderr], [], [], 1)[0]:
            seen += proc.stderr.readline()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert "still testing //:slow" in seen and "(1 running)" in seen, seen

    def rows():
        db = store / "test-results.sqlite"
        return sqlite3.connect(db).execute("SELECT label FROM results").fetchall() if db.exists() else []

    assert rows() == []
    assert jb(ws, "test", "//:ok", "--sandbox", "bwrap").returncode == 0 and rows() == [("//:ok",)]


def test_the_python_api_for_watch_mode(ws):
    """jbuild.engine.testing.test(patterns, opts, topts, cwd) -> TestRun with .code, as `jbuild watch
    test` calls it."""
    from jbuild.engine.settings import Options
    from jbuild.engine.testing import TestOptions, test

    opts = Options(sandbox="bwrap", store=str(ws.parent / "store"))
    run = test(["//:ok", "//:bad"], opts, TestOptions(output="summary"), cwd=str(ws))
    assert (run.code, run.kind) == (3, "tests_failed")
    assert {r.label: (r.status, r.cached) for r in run.results} == {"//:ok": ("passed", False),
                                                                     "//:bad": ("failed", False)}
    assert run.summary[-1] == "Executed 2 out of 2 tests: 1 test passes and 1 fails locally."
    run = test(["//:ok"], opts, TestOptions(), cwd=str(ws))
    assert run.code == 0 and run.results[0].cached
    assert test(["//:lib"], opts, TestOptions(), cwd=str(ws)).code == 4


def test_a_required_package_without_exports_is_seen_whole_and_its_dependency_not(make_workspace, tmp_path):
    """What a test requires is what it tests: seen whole (its bin/ on PATH), as a `result`
    environment sees its root, when it declares no `exports`; a package that one requires, and
    that declares none, exports nothing into the test's environment."""
    ws = make_workspace({"BUILD": '''
        package base {
            version = "1"
            build_requires = [@std//host:sh]
            build = "mkdir -p $OUT/share && echo base > $OUT/share/base"
        }
        package hello {
            version = "1"
            requires = [:base]
            build_requires = [@std//host:sh]
            build = """
                mkdir -p $OUT/bin
                printf '#!/bin/sh\\necho hello\\n' > $OUT/bin/hello
                chmod +x $OUT/bin/hello
            """
        }
        test hello_test {
            requires = [:hello]
            build_requires = [@std//host:sh]
            command = "hello | grep -q hello && test ! -e share/base && echo seen"
        }
    '''})
    r = run_jbuild("test", "//...", cwd=ws, env={"JBUILD_STORE": str(tmp_path / "store"), "JBUILD_SERVER": "0"})
    assert r.returncode == 0 and "1 test passes" in r.stderr + r.stdout, r.stdout + r.stderr

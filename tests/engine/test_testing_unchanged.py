"""`jbuild test` with nothing changed since every test passed answers from the result cache
without planning (engine/testing/unchanged.py), printing what the full path prints for cached
passes; a changed test source, a failure or a gc that pruned the results takes the full path.
The real CLI and bubblewrap on the example."""

import json
import os

import pytest
from jbuild.engine import build, session
from jbuild.engine.settings import Options
from jbuild.engine.testing import TestOptions as Topts
from jbuild.engine.testing import test as run_tests

TESTS = ["//libs:geohash_test", "//services:geotags_db_test", "//services:geotags_test"]


def cached_summary():
    return [f"{t:<48} (cached) PASSED" for t in TESTS] + ["Executed 0 out of 3 tests: 3 tests pass."]


def without_durations(lines):
    return [line.rpartition(" in ")[0] if " PASSED in " in line else line for line in lines]


def test_an_unchanged_test_run_answers_without_planning(example, monkeypatch):
    def jb(*args):
        r = example.jbuild("test", "//...", "--sandbox", "bwrap", *args)
        assert r.returncode == 0, r.stdout + r.stderr
        return r

    assert "Executed 3 out of 3" in jb().stdout
    (example.root / "jbuild-testlogs").rename(example.root / "old-testlogs")
    fast = jb("--build-events", str(example.root / "ev.json"))
    assert without_durations(fast.stdout.splitlines()) == cached_summary()
    assert "0 built, 6 reused from the store, 0 failed" in fast.stderr
    events = [json.loads(line) for line in (example.root / "ev.json").read_text().splitlines()]
    assert [(e["target"], e["cached"]) for e in events if e["event"] == "test_result"] == [(t, True) for t in TESTS]
    assert events[-1]["event"] == "finished" and events[-1]["tests"]["cached"] == 3
    log = example.root / "jbuild-testlogs/services/geotags_db_test/test.log"  # restored, as a cached pass is
    assert "tagged aalborg" in log.read_text()

    for recorded in (example.root / ".jbuild" / "cache").glob("tests-*.pickle"):
        recorded.unlink()  # the full path's answer, to compare
    assert jb().stdout == fast.stdout
    # As a full run with --remote-executor ends (the server is not asked: there is none there).
    remote = jb("--remote-executor", "grpc://127.0.0.1:9")
    assert remote.stdout == fast.stdout
    assert "remote: 0 executed on grpc://127.0.0.1:9, 0 from its action cache\n0 built, 6 reused" in remote.stderr

    def no_planning(*a, **k):
        pytest.fail("planned although nothing changed")

    monkeypatch.setattr(build, "plan", no_planning)
    monkeypatch.setattr(session, "Session", no_planning)
    opts = Options(store=str(example.store), sandbox="bwrap")
    run = run_tests(["//..."], opts, Topts(junit_xml=str(example.root / "all.xml")), cwd=str(example.root))
    assert run.code == 0 and without_durations(run.summary[:-1]) == cached_summary()
    assert 'name="curitiba"' in (example.root / "all.xml").read_text()  # the C test's cases, combined
    with pytest.raises(pytest.fail.Exception):  # --cache-test-results=no always plans (and runs)
        run_tests(["//..."], opts, Topts(cache_results=False), cwd=str(example.root))


def test_a_changed_test_source_a_failure_or_a_gc_takes_the_full_path(example):
    def jb(*args, code=0):
        r = example.jbuild(*args)
        assert r.returncode == code, r.stdout + r.stderr
        return r.stdout

    test = ("test", "//...", "--sandbox", "bwrap")
    jb(*test)
    src = example.root / "libs/tests/geohash_test.c"
    text = src.read_text()
    src.write_text(text + "\nint broken(void) { return undeclared; }\n")
    out = jb(*test, code=3)
    assert "//libs:geohash_test" in out and "FAILED" in out and "Executed 1 out of 3" in out
    out = jb(*test, code=3)  # a failure always reruns: nothing was recorded
    assert "Executed 1 out of 3" in out
    src.write_text(text)  # the source it passed with is back: the same test key, its cached pass
    assert "Executed 0 out of 3" in jb(*test)

    script = example.root / "services/tests/store_and_read.sh"  # a test's declared source
    script.write_text(script.read_text() + "\n# changed\n")
    out = jb(*test)
    assert "Executed 1 out of 3" in out and "//services:geotags_db_test" in out

    jb("gc", "--unused-for", "0")  # nothing roots the tests' closures: entries and results go
    assert "Executed 3 out of 3" in jb(*test)
    assert "Executed 0 out of 3" in jb(*test)
    assert os.listdir(example.root / ".jbuild" / "cache")

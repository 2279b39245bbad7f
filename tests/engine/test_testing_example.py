"""The example's tests, through the real CLI and bubblewrap: the C unit test of geohash, the
tinydb integration test and geotags_test pass; a rerun is cached; a libc implementation patch
rebuilds libc alone and reruns every test whose run closure holds libc (DESIGN §3, consequence
7); an ordinary user runs them too."""

import json

from test_store_nonroot import user  # noqa: F401 - the fixture: an ordinary user with the example

EXAMPLE_TESTS = {"//libs:geohash_test", "//services:geotags_test", "//services:geotags_db_test"}


def outcomes(path):
    built, results = {}, {}
    for e in map(json.loads, path.read_text().splitlines()):
        if e["event"] == "target_complete":
            built[e["target"].split("@")[0]] = e["outcome"]
        elif e["event"] == "test_result":
            results[e["target"]] = (e["status"], e["cached"])
    return built, results


def test_example_tests_pass_cache_and_rerun_after_a_libc_patch(example):
    ev = example.root / "ev1.json"
    r = example.jbuild("test", "//...", "--sandbox", "bwrap", "--build-events", str(ev))
    assert r.returncode == 0, r.stdout + r.stderr
    built, results = outcomes(ev)
    assert results == {t: ("passed", False) for t in EXAMPLE_TESTS}
    assert "Executed 3 out of 3 tests: 3 tests pass." in r.stdout
    db_log = (example.root / "jbuild-testlogs/services/geotags_db_test/test.log").read_text()
    assert "tagged aalborg: u4pruydqqvj" in db_log and "after a restart" in db_log
    xml = (example.root / "jbuild-testlogs/libs/geohash_test/test.xml").read_text()
    assert 'name="curitiba"' in xml  # the C test's own JUnit cases, from $XML_OUTPUT_FILE

    r = example.jbuild("test", "//services:geotags_test", "--sandbox", "bwrap")
    assert r.returncode == 0 and "(cached) PASSED" in r.stdout, r.stdout + r.stderr

    example.edit("libs/libc/src/mini.c", "hello from minilibc 1", "hello from minilibc 2")  # implementation only
    ev = example.root / "ev3.json"
    r = example.jbuild("test", "//...", "--sandbox", "bwrap", "--build-events", str(ev))
    assert r.returncode == 0, r.stdout + r.stderr
    built, results = outcomes(ev)
    assert {t for t, o in built.items() if o == "built"} == {"//libs:libc"}
    assert built["//services:geotags"] == built["//libs:geohash"] == built["//db:tinydb"] == "reused"
    assert results == {t: ("passed", False) for t in EXAMPLE_TESTS}  # every one of them exercises libc

    r = example.jbuild("test", "//...", "--sandbox", "bwrap")
    assert r.returncode == 0 and "Executed 0 out of 3 tests" in r.stdout


def test_a_failing_example_test_fails_the_run(example):
    """The integration test really checks geotags: a geotags that stores the wrong hash fails it."""
    example.edit("services/geotags/src/main.c", 'snprintf(request, sizeof request, "SET tag:%s %s %.5f %.5f\\n", name, '
                 'hash, lat, lon);', 'snprintf(request, sizeof request, "SET tag:%s x%s %.5f %.5f\\n", name, hash, lat, lon);')
    r = example.jbuild("test", "//services:geotags_db_test", "--sandbox", "bwrap")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "FAILED" in r.stdout and "aalborg: xu4pruydqqvj" in r.stderr  # the failed test's log is shown


def test_an_ordinary_user_runs_the_example_tests(user):  # noqa: F811 - the fixture
    ws = user.home / "geotags"
    r = user.jbuild("test", "//libs:geohash_test", "--sandbox", "bwrap", cwd=ws)
    assert r.returncode == 0, r.stdout + r.stderr
    r = user.jbuild("test", "//libs:geohash_test", "--sandbox", "bwrap", cwd=ws)
    assert r.returncode == 0 and "(cached) PASSED" in r.stdout, r.stdout + r.stderr
    assert "u4pruydqqvj" in (ws / "jbuild-testlogs/libs/geohash_test/test.log").read_text()

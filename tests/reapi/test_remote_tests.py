"""`jbuild test --remote-executor`: test actions run on BuildGrid's workers through the same
executor seam as builds (the store paths their environment names travel with them), with the
same statuses as local runs: PASSED, FAILED with its log, TIMEOUT."""

import uuid

from helpers import pristine_example, run_jbuild, write_tree


def _test(ws, store, url, *args):
    return run_jbuild("test", *args, "--store", str(store), "--sandbox", "bwrap", "--remote-executor", url,
                      cwd=ws, timeout=600)


def test_the_examples_tests_pass_remotely_and_are_not_served_from_the_action_cache(buildgrid, workers, tmp_path):
    ws = pristine_example(tmp_path / "geotags")
    r = _test(ws, tmp_path / "store", buildgrid.url, "//...")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("//libs:geohash_test", "//services:geotags_test", "//services:geotags_db_test"):
        assert any(line.startswith(name) and "PASSED" in line for line in r.stdout.splitlines()), r.stdout
    again = _test(ws, tmp_path / "store2", buildgrid.url, "//...", "--cache-test-results", "no")
    assert again.returncode == 0, again.stdout + again.stderr
    # Every build from the action cache; the three tests ran again (never answered from it).
    assert f"remote: 3 executed on {buildgrid.url}" in again.stderr, again.stderr


def test_a_failing_and_a_slow_test_are_failed_and_timed_out(buildgrid, workers, tmp_path):
    marker = uuid.uuid4().hex
    ws = write_tree(tmp_path / "ws", {"jbuild.toml": "", "BUILD": f"""
        package p {{ version = "1" build = "mkdir -p $OUT" }}
        test bad {{ requires = [:p] command = "echo {marker}; exit 3" }}
        test slow {{ requires = [:p] command = "sleep 60" }}
    """})
    r = _test(ws, tmp_path / "store", buildgrid.url, "//...", "--test-timeout", "3")
    assert r.returncode == 3, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert any(line.startswith("//:bad") and "FAILED" in line for line in lines), r.stdout
    assert any(line.startswith("//:slow") and "TIMEOUT" in line for line in lines), r.stdout
    assert marker in r.stdout + r.stderr  # the failed test's log, printed locally

"""What a new user hit on the README's path (the walk-through), each kept as a test: real CLI,
real bubblewrap, a pristine copy of the example."""

import json
import os
import signal
import subprocess
import sys
import time

from helpers import REPO, run_jbuild

CONSUMERS = {"//libs:geohash", "//db:tinydb", "//services:geotags"}


def test_the_form_users_type_builds(example):
    r = example.jbuild("//services:geotags", "--sandbox", "bwrap")
    assert r.returncode == 0, r.stderr
    assert "//services:geotags@5.1 up to date:" in r.stderr


def test_one_version_of_a_family_is_buildable(example):
    r = example.jbuild("build", "//db:tinydb@1.4.2", "--sandbox", "bwrap", "--no-link")
    assert r.returncode == 0, r.stderr
    assert "//db:tinydb@1.4.2 up to date:" in r.stderr and "2.0.0" not in r.stderr
    r = example.jbuild("build", "//db:tinydb@9.9", "--no-link")
    assert r.returncode == 2 and "no version 9.9 of '//db:tinydb'" in r.stderr and "Traceback" not in r.stderr


def test_gc_keeps_the_closure_a_result_runs_with(example):
    """B2: after the libc patch, the new libc is what geotags runs with: gc must keep it."""
    example.build()
    example.edit("libs/libc/src/mini.c", "minilibc 1", "minilibc 2")
    r, ran = example.build()
    assert ran["//libs:libc"] == "built"
    r = example.jbuild("gc", "--dry-run", "-v")
    assert r.returncode == 0, r.stderr
    doomed = [line for line in r.stdout.splitlines() if line.startswith("would delete")]
    # the old libc and the old environment (which paired geotags with it) only
    assert len(doomed) == 2 and "-libc-2.24" in doomed[0] and "-env-geotags" in doomed[1], doomed
    assert example.jbuild("gc").returncode == 0
    r, ran = example.build()
    assert r.returncode == 0 and set(ran.values()) == {"reused"}, (ran, r.stderr)


def test_several_targets_are_rooted_too(example):
    r = example.jbuild("build", "//libs:geohash", "//db:tinydb@1.4.2", "--sandbox", "bwrap")
    assert r.returncode == 0, r.stderr
    assert os.path.islink(example.root / "result") and os.path.islink(example.root / "result-2")
    r = example.jbuild("gc", "--dry-run")
    assert "would delete" not in r.stdout


def test_explain_is_true_of_the_store_after_a_failure_and_a_revert(example):
    """B3: a failed build, then a revert: explain must not call the old entry missing."""
    example.build()
    example.edit("services/BUILD", '-o "$OUT/bin/geotags"', '-o "$OUT/bin/geotags" -lnosuchlib')
    r, _ = example.build()
    assert r.returncode == 1
    example.edit("services/BUILD", '-o "$OUT/bin/geotags" -lnosuchlib', '-o "$OUT/bin/geotags"')
    explained = example.jbuild("explain", "//services:geotags").stdout
    assert "not in the store" not in explained and "would build" not in explained, explained
    r, ran = example.build()
    assert set(ran.values()) == {"reused"}


def test_dependents_of_a_failure_are_skipped_never_up_to_date(example):
    """B4: with and without --keep-going, every requested target is accounted for."""
    example.build()
    example.edit("libs/libc/src/mini.c", "minilibc 1", "minilibc 1\" syntax error")
    for flags in ((), ("--keep-going",)):
        r, ran = example.build(*flags)
        assert r.returncode == 1
        assert {t: ran[t] for t in CONSUMERS} == {c: "skipped" for c in CONSUMERS}, ran
        assert "up to date" not in r.stderr
        assert "//services:geotags@5.1 not built:" in r.stderr
        assert "3 skipped" in r.stderr
    events = [json.loads(line) for line in (example.root / f"events-{example.runs}.json").read_text().splitlines()]
    failed = [e for e in events if e["event"] == "action_executed" and not e["success"]]
    assert failed and all(isinstance(e["exit_code"], int) for e in events if "exit_code" in e)


def test_jobs_and_flavours_reach_the_build_script(make_workspace):
    root = make_workspace({"BUILD": """
        package lib {
            version = "1"
            flavours { precision = [low, high] default high }
            build_requires = [@std//host:sh]
            build = "mkdir -p $OUT/share && echo $JOBS $JBUILD_FLAVOUR_PRECISION > $OUT/share/seen"
        }
        package app {
            version = "1"
            requires = [:lib[precision=low]]
            build_requires = [@std//host:sh]
            build = "mkdir -p $OUT/share && cat /env/share/seen > $OUT/share/seen"
        }
    """}, toml="[build]\njobs = 3\n")
    store = root.parent / "store"
    r = run_jbuild("build", "//:lib", "--sandbox", "bwrap", "--print-out-paths", cwd=root,
                   env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    assert open(r.stdout.strip() + "/share/seen").read() == "3 high\n"
    r = run_jbuild("build", "//:app", "-j", "2", "--sandbox", "bwrap", "--print-out-paths", cwd=root,
                   env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    assert open(r.stdout.strip() + "/share/seen").read() == "2 low\n"  # another flavour, another output


def test_building_a_test_target_says_tests_are_not_run(example):
    r = example.jbuild("build", "//services:geotags_test", "--sandbox", "bwrap")
    assert r.returncode == 0, r.stderr
    assert "//services:geotags_test is a test" in r.stderr and "does not run tests" in r.stderr
    assert "4 built" in r.stderr  # what the test needs
    mini = example.root / "libs" / "libc" / "src" / "mini.c"
    mini.write_text(mini.read_text() + "\nthis does not compile\n")
    r = example.jbuild("build", "//...", "--sandbox", "bwrap")  # what it needs failed: not "built what it needs"
    assert r.returncode == 1 and "is a test" not in r.stderr, r.stderr


def test_a_failure_names_the_failing_command_and_an_empty_log_says_so(make_workspace):
    root = make_workspace({"BUILD": """
        package quiet { version = "1" build_requires = [@std//host:sh] build = "mkdir -p $OUT" }
        package loud {
            version = "1"
            build_requires = [@std//host:sh]
            build = \"\"\"
                mkdir -p $OUT
                test -e /no/such/file
                echo never
            \"\"\"
        }
    """})
    env = {"JBUILD_STORE": str(root.parent / "store")}
    r = run_jbuild("build", "//:loud", "--sandbox", "bwrap", cwd=root, env=env)
    assert r.returncode == 1
    assert "command: test -e /no/such/file" in r.stderr, r.stderr
    assert run_jbuild("build", "//:quiet", "--sandbox", "bwrap", cwd=root, env=env).returncode == 0
    r = run_jbuild("log", "//:quiet", cwd=root, env=env)
    assert r.returncode == 0 and "+ mkdir -p /out" in r.stdout  # the trace: a log is never silently empty


def test_heartbeat_never_counts_back_and_interrupt_says_so_once(make_workspace):
    root = make_workspace({"BUILD": """
        package slow { version = "1" build_requires = [@std//host:sh] build = "sleep 30; mkdir -p $OUT" }
    """})
    env = dict(os.environ, JBUILD_STORE=str(root.parent / "store"), JBUILD_HEARTBEAT="0.2")
    proc = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//:slow", "--sandbox", "bwrap"], cwd=root,
                            env=env, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 8
    counts = [int(line.split("[", 1)[1].split(" /")[0]) for line in err.splitlines() if line.startswith("[")]
    assert len(counts) >= 3 and counts == sorted(counts), err
    assert err.count("interrupted") == 1, err


def test_help_texts(tmp_path):
    r = run_jbuild("--help", cwd=tmp_path)
    build_line = next(line for line in r.stdout.splitlines() if line.strip().startswith("build"))
    assert not build_line.rstrip().endswith(("(e.g.", "e.g")), build_line
    r = run_jbuild("explain", "--help", cwd=tmp_path)
    assert "--keep-going" not in r.stdout and "--jobs" not in r.stdout
    for cmd in (("gc",), ("log",), ("store", "verify")):
        r = run_jbuild(*cmd, "--help", cwd=tmp_path)
        store_help = r.stdout[r.stdout.index("--store"):].split("\n", 1)[0]
        assert "store directory" in store_help.lower() or "JBUILD_STORE" in r.stdout, r.stdout


def test_bad_command_lines_exit_2(example, tmp_path):
    for args in (["--store", "/proc/nope"], ["--store", "/etc/passwd"], ["--build-events", "/"], ["-j", "-1"]):
        r = example.jbuild("build", "//services:geotags", "--no-link", *args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert "Traceback" not in r.stderr and "error:" in r.stderr.lower(), (args, r.stderr)


def test_the_readme_tour_cannot_break_the_suite(tmp_path):
    """Tests copy the example as committed: an edited working tree (the tour's sed) is not seen."""
    from helpers import pristine_example

    copy = pristine_example(tmp_path / "copy")
    committed = subprocess.run(["git", "-C", str(REPO), "show", "HEAD:examples/geotags/libs/libc/src/mini.c"],
                               capture_output=True, text=True)
    assert committed.returncode == 0, "the suite runs from a git checkout"
    assert (copy / "libs/libc/src/mini.c").read_text() == committed.stdout

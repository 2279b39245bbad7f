"""The CLI as users run it: exit codes and messages, no tracebacks."""

import pytest
from helpers import EXAMPLE, run_jbuild


def test_version(tmp_path):
    r = run_jbuild("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("jbuild ")


def test_query_example_sorted():
    r = run_jbuild("query", "//...", cwd=EXAMPLE)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines == sorted(lines) and "//services:geotags" in lines and "//libs:libc" in lines


def test_query_subtraction():
    r = run_jbuild("query", "--", "//...", "-//libs/...", cwd=EXAMPLE)
    assert r.returncode == 0 and "//libs:libc" not in r.stdout and "//services:geotags" in r.stdout


@pytest.mark.parametrize("command", ["query", "build", "test"])
def test_a_subtraction_without_the_double_dash_says_how(command):
    """click alone said "No such option '-/'"."""
    r = run_jbuild(command, "//...", "-//libs/...", cwd=EXAMPLE)
    assert r.returncode == 2 and "'-//libs/...' looks like a subtracted pattern, which needs '--' before the " \
        f"patterns: jbuild {command} -- //... -//libs/..." in r.stderr, r.stderr
    r = run_jbuild(command, "--bogus", "//...", cwd=EXAMPLE)  # other unknown options: click's own message
    assert r.returncode == 2 and "No such option '--bogus'" in r.stderr, r.stderr


def test_relative_label_from_subdirectory():
    r = run_jbuild("query", ":geotags", cwd=EXAMPLE / "services")
    assert r.stdout.strip() == "//services:geotags"


def test_unknown_target_did_you_mean():
    r = run_jbuild("query", "//services:geotag", cwd=EXAMPLE)
    assert r.returncode == 2
    assert "no such target '//services:geotag': not declared in services/BUILD" in r.stderr
    assert "did you mean 'geotags'?" in r.stderr and "Traceback" not in r.stderr


def test_typed_double_dot():
    r = run_jbuild("query", "//..", cwd=EXAMPLE)
    assert r.returncode == 2 and "did you mean '//...'?" in r.stderr


def test_show_is_canonical_json():
    import json

    r = run_jbuild("show", "//libs:libc", cwd=EXAMPLE)
    data = json.loads(r.stdout)
    assert data["version"] == "2.24" and data["interface"] == ["libc/include/mini.h"]


def test_recipe_error_exit_2_with_caret(make_workspace):
    root = make_workspace({"BUILD": 'package a {\n    verison = "1"\n}\n'})
    r = run_jbuild("query", "//...", cwd=root)
    assert r.returncode == 2
    assert r.stderr.splitlines()[:4] == [
        "BUILD:2:5: error: unknown attribute 'verison' in package",
        '2 |     verison = "1"',
        "  |     ^^^^^^^",
        "help: did you mean 'version'?",
    ]


def test_outside_workspace(tmp_path):
    r = run_jbuild("query", "//...", cwd=tmp_path)
    assert r.returncode == 2 and "not inside a jbuild workspace" in r.stderr


def test_help_target_syntax(tmp_path):
    r = run_jbuild("help", "target-syntax", cwd=tmp_path)
    assert r.returncode == 0 and "//services/..." in r.stdout
    r = run_jbuild("help", "target-sytnax", cwd=tmp_path)
    assert r.returncode == 2 and "did you mean 'target-syntax'" in r.stderr


def test_unknown_command(tmp_path):
    r = run_jbuild("qeury", cwd=tmp_path)
    assert r.returncode == 2 and "did you mean 'query'?" in r.stderr

"""The new-user walk-through's findings (a Bazel and Nix user following the README): what they
typed by habit now works, or says what to type instead; exit 2, never a traceback."""

import pytest
from helpers import EXAMPLE, run_jbuild

NESTED = {
    "a/BUILD": 'package a { version = "1" }\n',
    "a/b/BUILD": 'package x { version = "1" }\npackage y { version = "1" }\n',
}


def test_a_label_without_slashes_is_relative_to_the_workspace_top(example):
    """`services:geotags` at the top is `//services:geotags`, as Bazel reads it: was 'is not a label'."""
    r = example.jbuild("build", "services:geotags", "--no-link")
    assert r.returncode == 0, r.stderr
    assert "//services:geotags@5.1 up to date" in r.stderr


def test_a_relative_label_from_a_subdirectory(make_workspace):
    root = make_workspace(NESTED)
    r = run_jbuild("query", "b:x", cwd=root / "a")
    assert r.returncode == 0 and r.stdout.split() == ["//a/b:x"], r.stderr
    r = run_jbuild("query", "b/...", cwd=root / "a")
    assert r.returncode == 0 and r.stdout.split() == ["//a/b:x", "//a/b:y"], r.stderr
    r = run_jbuild("show", "b:y", cwd=root / "a")
    assert r.returncode == 0 and '"label": "//a/b:y"' in r.stdout, r.stderr
    r = run_jbuild("query", "--", "b/...", "-b:x", cwd=root / "a")
    assert r.returncode == 0 and r.stdout.split() == ["//a/b:y"], r.stderr


def test_a_relative_label_that_climbs_names_the_plain_one(make_workspace):
    root = make_workspace(NESTED)
    r = run_jbuild("show", "..:a", cwd=root / "a" / "b")
    assert r.returncode == 2 and "did you mean '//a:a'?" in r.stderr and "Traceback" not in r.stderr


def test_a_bare_word_is_offered_both_readings(make_workspace):
    root = make_workspace(NESTED)
    r = run_jbuild("show", "a", cwd=root)
    assert r.returncode == 2 and "'a' is not a label" in r.stderr
    assert "did you mean ':a' (a target of this package) or '//a' (the package)?" in r.stderr


@pytest.mark.parametrize("flake", [".#geotags", ".#packages.x86_64-linux.geotags"])
@pytest.mark.parametrize("command", ["build", "show"])
def test_a_nix_flake_reference_is_answered_with_the_label(command, flake):
    """Was: `help: did you mean ':.#geotags' (a target of this package)?`."""
    r = run_jbuild(command, flake, cwd=EXAMPLE)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "not a label: jbuild names a target //package:target" in r.stderr
    assert "help: did you mean '//services:geotags'?" in r.stderr, r.stderr


def test_a_flake_reference_naming_nothing_says_how_labels_look():
    r = run_jbuild("build", ".#nothing_like_it", cwd=EXAMPLE)
    assert r.returncode == 2 and "help: write '//PACKAGE:NAME'" in r.stderr, r.stderr


def test_a_flake_reference_in_a_query():
    r = run_jbuild("query", ".#geotags", cwd=EXAMPLE)
    assert r.returncode == 2 and "not a target pattern: jbuild names a target //package:target" in r.stderr


def test_log_of_a_package_that_does_not_exist(make_workspace):
    """Was: 'no build of //nope:x is recorded in this workspace (build it first)'."""
    root = make_workspace(NESTED)
    r = run_jbuild("log", "//b:x", cwd=root)
    assert r.returncode == 2 and "no such package 'b'" in r.stderr, r.stderr
    r = run_jbuild("log", "//a:b", cwd=root)
    assert r.returncode == 2 and "no such target '//a:b'" in r.stderr, r.stderr
    r = run_jbuild("log", "//a:a", cwd=root)  # it exists and was never built: that is still said
    assert r.returncode == 2 and "no build of //a:a is recorded" in r.stderr, r.stderr


def test_log_of_a_misspelt_package_offers_the_near_one():
    r = run_jbuild("log", "//service:geotags", cwd=EXAMPLE)
    assert r.returncode == 2 and "no such package 'service'" in r.stderr and "did you mean 'services'?" in r.stderr


def test_version_is_a_command_too(tmp_path):
    r = run_jbuild("version", cwd=tmp_path)
    flag = run_jbuild("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == flag.stdout and r.stdout.startswith("jbuild ")


def test_a_flavour_on_the_command_line_says_how_flavours_are_chosen():
    r = run_jbuild("build", "//libs:geohash[precision=low]", cwd=EXAMPLE)
    assert r.returncode == 2 and "flavours are not chosen on the command line" in r.stderr
    assert "requires = [//libs:geohash[precision=low]]" in r.stderr and "docs/language.md" in r.stderr

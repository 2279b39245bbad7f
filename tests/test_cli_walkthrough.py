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
    r = example.jbuild("services:geotags", "--no-link")  # a label where the command goes: a build, as `jbuild //x`
    assert r.returncode == 0 and "0 built, 4 reused" in r.stderr, r.stderr


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


def test_a_label_typed_from_the_top_inside_its_package_is_offered_the_absolute_one(make_workspace):
    """`services:geotags` typed inside services/ is //services/services:geotags, as in Bazel: said,
    with the label meant."""
    root = make_workspace(NESTED)
    r = run_jbuild("show", "a/b:x", cwd=root / "a" / "b")
    assert r.returncode == 2 and "no such package 'a/b/a/b'" in r.stderr, r.stderr
    assert "help: did you mean '//a/b:x'? (a label typed without // is relative to the current directory)" in r.stderr


def test_a_bare_word_is_offered_both_readings(make_workspace):
    root = make_workspace(NESTED)
    r = run_jbuild("show", "c", cwd=root)
    assert r.returncode == 2 and "'c' is not a label" in r.stderr
    assert "did you mean ':c' (a target of this package) or '//c' (the package)?" in r.stderr


def test_a_bare_name_of_a_target_is_answered_with_its_label(make_workspace):
    """`jbuild build geotags` by a Nix habit (`nix build .#geotags` less the `.#`)."""
    root = make_workspace(NESTED)
    r = run_jbuild("build", "y", cwd=root)
    assert r.returncode == 2 and "'y' is not a label" in r.stderr and "help: did you mean '//a/b:y'?" in r.stderr


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


def test_log_of_a_test_never_run_says_how_to_run_it(make_workspace):
    root = make_workspace({"BUILD": 'test t { command = "true" }\n'})
    r = run_jbuild("log", "//:t", cwd=root)
    assert r.returncode == 2 and "no run of the test //:t is recorded in this workspace (`jbuild test //:t` runs it" \
        in r.stderr, r.stderr


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


CONFLICT = {
    "db/BUILD": 'package pg { version = "9.6" }\npackage pg { version = "10.5" }\n',
    "services/BUILD": 'package geotags {\n    version = "5.1"\n    requires = [//db:pg >= 9.1 < 10]\n}\n',
    "reports/BUILD": 'package reports { version = "2.0" requires = [//db:pg >= 10] }\n'
                     'package site { version = "1" requires = [//services:geotags, :reports] }\n',
}


def test_a_version_conflict_is_one_requirement_a_line_with_its_source_and_a_help(make_workspace):
    """Was one long line (PubGrub's sentence, kept as the headline: CONVENTIONS.md), no excerpt, no help."""
    root = make_workspace(CONFLICT)
    r = run_jbuild("plan", "//reports:site", cwd=root)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines() == [
        "error: because //reports:reports 2.0 needs //db:pg >=10 and //services:geotags 5.1 needs //db:pg >=9.1,<10, "
        "no version of //db:pg satisfies both",
        "  //reports:reports 2.0 needs //db:pg >=10  (required through //reports:site)",
        "   --> reports/BUILD:1:47",
        '    1 | package reports { version = "2.0" requires = [//db:pg >= 10] }',
        "      |                                               ^^^^^^^^^^^^^",
        "  //services:geotags 5.1 needs //db:pg >=9.1,<10  (required through //reports:site)",
        "   --> services/BUILD:3:17",
        "    3 |     requires = [//db:pg >= 9.1 < 10]",
        "      |                 ^^^^^^^^^^^^^^^^^^^",
        "  declared: //db:pg 9.6, 10.5",
        "help: edit one of these constraints so that they overlap, or declare a version of //db:pg that satisfies "
        "both (a closure holds one version of each family)",
    ], r.stderr


def test_a_flavour_conflict_is_said_the_same_way(make_workspace):
    root = make_workspace({"BUILD": """
        package mysql { version = "8" flavours { ssl = [on, off] default on } }
        package a { version = "1" requires = [:mysql[ssl=off]] }
        package b { version = "1" requires = [:mysql[ssl=on]] }
        package app { version = "1" requires = [:a, :b] }
    """})
    r = run_jbuild("plan", "//:app", cwd=root)
    lines = r.stderr.splitlines()
    assert r.returncode == 2 and lines[0].startswith("error: because ") and \
        lines[0].endswith(", no flavour of //:mysql satisfies both"), r.stderr
    assert "//:a needs //:mysql[ssl=off]" in lines[0] and "//:b needs //:mysql[ssl=on]" in lines[0]
    assert "  //:a needs //:mysql[ssl=off]" in lines and "  //:b needs //:mysql[ssl=on]" in lines
    assert any(line.startswith("   --> BUILD:3:") for line in lines)
    assert lines[-1].startswith("help: make them ask for one value of 'ssl'")


def test_publish_to_an_unreachable_cache_is_one_line_exit_34_before_building(example):
    """Was exit 1, after the whole build, under a warning that it was 'building locally without it'."""
    from helpers import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    r = example.jbuild("publish", "//services:geotags", "--channel", "testing", "--remote-cache", url)
    assert r.returncode == 34, r.stderr
    assert r.stderr == f"error: cannot publish to channel testing: the remote cache {url} is unusable " \
        "(connection refused)\n", r.stderr
    assert not example.store.exists() or not any(example.store.glob("*-geotags-*")), "it built first"
    r = example.jbuild("channel", "list", "--remote-cache", url)
    assert r.returncode == 34 and r.stderr == f"error: cannot list channels: the remote cache {url} is unusable " \
        "(connection refused)\n", r.stderr


def test_a_relative_label_in_error_is_said_as_typed(make_workspace):
    root = make_workspace(NESTED)
    for command in (("show",), ("query",), ("build", "--")):
        r = run_jbuild(*command, "..:nope", cwd=root / "a" / "b")
        assert r.returncode == 2 and "'..:nope' (= '//a/b/..:nope') is not a label" in r.stderr, (command, r.stderr)
        assert "did you mean '//a:nope'?" in r.stderr


def test_a_relative_flavour_choice_is_answered_with_the_absolute_requirement():
    r = run_jbuild("show", "libs:geohash[precision=low]", cwd=EXAMPLE)
    assert r.returncode == 2 and "flavours are not chosen on the command line" in r.stderr
    assert "`requires = [//libs:geohash[precision=low]]`" in r.stderr, r.stderr

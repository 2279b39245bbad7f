"""`jbuild query` as users run it: errors with a caret and exit 2, and each output format checked
by what consumes it (json by a JSON parser, DOT by Graphviz, locations by opening the file)."""

import json
import re
import subprocess

import pytest
from helpers import pristine_example, run_jbuild


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return pristine_example(tmp_path_factory.mktemp("qc") / "geotags")


def query(ws, *args):
    return run_jbuild("query", *args, cwd=ws)


def test_rdeps_answers_what_a_libc_change_touches(ws):
    r = query(ws, "rdeps(//..., //libs:libc)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["//db:tinydb", "//libs:geohash", "//libs:geohash_test", "//libs:libc",
                                     "//services:geotags", "//services:geotags_db_test", "//services:geotags_test"]


def test_unknown_label_caret_and_did_you_mean(ws):
    r = query(ws, "rdeps(//..., //libs:libcc)")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "error: no such target '//libs:libcc': not declared in libs/BUILD",
        "1 | rdeps(//..., //libs:libcc)",
        "  |              ^^^^^^^^^^^^",
        "help: did you mean 'libc'?",
    ]


def test_unknown_function_did_you_mean(ws):
    r = query(ws, "rdep(//..., //libs:libc)")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "error: unknown function 'rdep'",
        "1 | rdep(//..., //libs:libc)",
        "  | ^^^^",
        "help: did you mean 'rdeps'?",
    ]


def test_unknown_package_in_a_query(ws):
    r = query(ws, "deps(//lib/...)")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "  |      ^^^^^^^^^" in r.stderr and "did you mean 'libs'?" in r.stderr


def test_syntax_error_exit_2_no_traceback(ws):
    r = query(ws, "deps(//services:geotags")
    assert r.returncode == 2
    assert r.stderr.splitlines()[:3] == ["error: unclosed '('", "1 | deps(//services:geotags", "  |     ^"]


def test_broken_build_file_is_reported_in_the_file(make_workspace):
    root = make_workspace({"BUILD": 'package a {\n    verison = "1"\n}\n'})
    r = run_jbuild("query", "deps(//...)", cwd=root)
    assert r.returncode == 2 and r.stderr.startswith("BUILD:2:5: error: unknown attribute 'verison'")


def test_query_outside_a_workspace(tmp_path):
    r = run_jbuild("query", "deps(//x)", cwd=tmp_path)
    assert r.returncode == 2 and "not inside a jbuild workspace" in r.stderr and "Traceback" not in r.stderr


def test_json_output(ws):
    r = query(ws, "--output", "json", "deps(//services:geotags) + buildfiles(//libs:libc)")
    assert r.returncode == 0, r.stderr
    data = {e["label"]: e for e in json.loads(r.stdout)}
    geotags = data["//services:geotags"]
    assert geotags["kind"] == "package" and geotags["versions"] == ["5.1"]
    assert {"label": "//db:tinydb", "kind": "run_requires"} in geotags["requires"]
    assert {"label": "//libs:geohash", "kind": "requires"} in geotags["requires"]
    assert {"label": "@std//host:cc", "kind": "build_requires"} in geotags["requires"]
    assert data["//db:tinydb"]["versions"] == ["1.4.2"]  # the version resolution chose for geotags
    assert data["@std//host:cc"]["kind"] == "host package"
    assert data["//libs:BUILD"]["kind"] == "BUILD file"


def test_graph_output_renders_with_graphviz(ws):
    r = query(ws, "--output", "graph", "allpaths(//services:geotags, //libs:libc)")
    assert r.returncode == 0, r.stderr
    plain = subprocess.run(["dot", "-Tplain"], input=r.stdout, capture_output=True, text=True, check=True).stdout
    nodes = {line.split()[1].strip('"') for line in plain.splitlines() if line.startswith("node ")}
    edges = {tuple(e.strip('"') for e in line.split()[1:3]) for line in plain.splitlines() if line.startswith("edge ")}
    assert nodes == {"//services:geotags", "//libs:geohash", "//libs:libc", "//db:tinydb"}
    assert edges == {("//services:geotags", "//libs:geohash"), ("//services:geotags", "//libs:libc"),
                     ("//services:geotags", "//db:tinydb"), ("//libs:geohash", "//libs:libc"),
                     ("//db:tinydb", "//libs:libc")}
    svg = subprocess.run(["dot", "-Tsvg"], input=r.stdout, capture_output=True, text=True, check=True).stdout
    assert "<svg" in svg and "run_requires" in svg


def test_location_points_at_the_declaration(ws):
    r = query(ws, "--output", "location", "//libs:libc + //db:tinydb + buildfiles(//services:geotags)")
    assert r.returncode == 0, r.stderr
    found = {}
    for line in r.stdout.splitlines():
        m = re.match(r"(.+):(\d+):(\d+): (.+?) (\S+)$", line)
        assert m, line
        path, lineno, col, kind, label = m[1], int(m[2]), int(m[3]), m[4], m[5]
        text = open(path).read().splitlines()[lineno - 1]
        found[label] = (kind, text, col)
    assert found["//libs:libc"][0] == "package" and found["//libs:libc"][1] == "package libc {"
    assert found["//libs:libc"][1][found["//libs:libc"][2] - 1:].startswith("libc")
    assert found["//db:tinydb@1.4.2"][1] == found["//db:tinydb@2.0.0"][1] == "package tinydb {"
    assert found["//services:BUILD"][0] == "BUILD file"


def test_several_arguments_are_patterns_as_in_build(ws):
    r = query(ws, "--", "//...", "-//libs/...", "-//db/...")
    assert r.stdout.splitlines() == ["//services:geotags", "//services:geotags_db_test", "//services:geotags_test"]

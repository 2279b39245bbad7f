"""A load that fails names the real problem: a broken BUILD file's own error (not "no such
target"), a BUILD directory, a source symlink out of the workspace, an oversized file."""

import os

import pytest
from jbuild.dsl import parser
from jbuild.dsl.errors import RecipeError, render_all
from jbuild.dsl.labels import parse_label
from jbuild.dsl.loader import Loader
from jbuild.dsl.parser import MAX_BYTES
from jbuild.dsl.workspace import Workspace

TYPO = 'package geotags {\n    verison = "5.1"\n}\n'
UNCLOSED = 'package geotags {\n    version = "5.1"\n'


def failure(root, *patterns) -> str:
    loader = Loader(Workspace(root))
    with pytest.raises(RecipeError) as info:
        loader.closure(loader.expand(list(patterns)))
    return render_all(info.value, str(root))


@pytest.mark.parametrize("how", ["expand", "lookup"])
def test_one_label_in_a_broken_file_reports_the_real_error(make_workspace, how):
    root = make_workspace({"services/BUILD": TYPO})
    loader = Loader(Workspace(root))
    with pytest.raises(RecipeError) as info:
        if how == "expand":
            loader.expand(["//services:geotags"])
        else:
            loader.lookup(parse_label("//services:geotags"))
    text = render_all(info.value, str(root))
    assert text.startswith("services/BUILD:2:5: error: unknown attribute 'verison' in package")
    assert "^^^^^^^" in text and "help: did you mean 'version'?" in text and "no such target" not in text


def test_one_label_in_an_unclosed_file_reports_the_brace(make_workspace):
    root = make_workspace({"services/BUILD": UNCLOSED})
    text = failure(root, "//services:geotags")
    assert text.startswith("services/BUILD:1:17: error: unclosed '{'") and "no such target" not in text


def test_a_broken_sibling_fails_the_package_with_its_own_error(make_workspace):
    """As in Bazel: a package with an error fails every target in it, and says why."""
    root = make_workspace({"p/BUILD": 'package good { version = "1" }\npackage bad { verison = "1" }\n'})
    text = failure(root, "//p:good")
    assert text.startswith("p/BUILD:2:15: error: unknown attribute 'verison'") and "no such target" not in text


def test_a_requirement_on_a_broken_package_reports_its_error_once(make_workspace):
    root = make_workspace({"a/BUILD": 'package a { version = "1" requires = [//b:b] }', "b/BUILD": TYPO.replace("geotags", "b")})
    loader = Loader(Workspace(root))
    with pytest.raises(RecipeError) as info:
        loader.closure(loader.expand(["//a:a"]))
    assert [d.message for d in info.value.diagnostics] == ["unknown attribute 'verison' in package"]


def test_a_build_directory_is_an_error_by_label_and_by_pattern(make_workspace):
    root = make_workspace({"ok/BUILD": 'package ok { version = "1" }', "odd/BUILD/x": ""})
    for pattern in ("//odd:odd", "//..."):
        text = failure(root, pattern)
        assert text == ("error: 'odd/BUILD' is a directory; a BUILD file must be a file\n"
                        "help: rename the directory: the name BUILD marks a package"), pattern


def test_the_root_package_is_named_plainly(make_workspace):
    root = make_workspace({"lib/BUILD": 'package lib { version = "1" }'})
    assert failure(root, "//:all").startswith("error: no such package '//': no BUILD file at the workspace root")


def test_a_source_symlink_out_of_the_workspace_says_so(make_workspace):
    for glob in (False, True):
        srcs = 'glob(["*.c"]) + ["x"]' if glob else '["x"]'
        root = make_workspace({"p/BUILD": f'package p {{ version = "1" sources = {srcs} }}', "p/a.c": ""})
        if not (root / "p" / "x").is_symlink():
            os.symlink("/etc/passwd", root / "p" / "x")
        text = failure(root, "//p:p")
        assert "sources of 'p': 'x' is a symlink that leaves the workspace (-> /etc/passwd)" in text
        assert "help: sources must be inside the workspace" in text


def test_a_symlink_inside_the_workspace_is_a_source(make_workspace):
    root = make_workspace({"p/BUILD": 'package p { version = "1" sources = ["x"] }', "p/real.c": ""})
    os.symlink("real.c", root / "p" / "x")
    (pkg,) = Loader(Workspace(root)).package("", "p")
    assert pkg.files == ("x",)


def test_a_recursive_pattern_does_not_walk_out_of_the_workspace(make_workspace, tmp_path):
    """`//out/...` where `out` (or a directory above it) is a symlink leading out of the
    workspace: an error naming it, not the packages of whatever it points at; a symlink to a
    directory inside the workspace is walked as before, and `//...` follows no symlink."""
    outside = tmp_path / "elsewhere"
    (outside / "q").mkdir(parents=True)
    (outside / "q" / "BUILD").write_text('package q { version = "1" }')
    root = make_workspace({"in/p/BUILD": 'package p { version = "1" }', "BUILD": 'package top { version = "1" }'})
    os.symlink(outside, root / "out")
    os.symlink("in", root / "alias")
    for pattern in ("//out/...", "//out/q/..."):
        text = failure(root, pattern)
        assert f"'{pattern}' would walk {os.path.realpath(outside)}" in text and "outside the workspace" in text, text
    loader = Loader(Workspace(root))
    assert [str(lb) for lb in loader.expand(["//alias/..."])] == ["//alias/p:p"]
    assert [str(lb) for lb in Loader(Workspace(root)).expand(["//..."])] == ["//:top", "//in/p:p"]


def test_an_oversized_build_file_is_refused_unread(make_workspace):
    root = make_workspace({"p/BUILD": ""})
    with open(root / "p" / "BUILD", "wb") as f:
        f.truncate(MAX_BYTES + 1)
    text = failure(root, "//p:p")
    assert text.startswith("error: 'p/BUILD' is 16 MB; a BUILD file may be at most 16 MB")


def test_a_10_mb_string_parses_whole(make_workspace):
    """(How long it takes, linear in the size: bench/parse_bench.py.)"""
    body = "a" * 10_000_000
    root = make_workspace({"p/BUILD": f'package p {{ version = "1" summary = "{body}" build = """\n{body[:5_000_000]}\n""" }}'})
    (pkg,) = Loader(Workspace(root)).package("", "p")
    assert len(pkg.summary) == 10_000_000 and len(pkg.build) == 5_000_001


def test_an_unterminated_10_mb_string_is_parsed_once_and_shown_short(make_workspace, monkeypatch):
    """A large file is parsed in pieces, and again whole when a piece fails; here the failing
    piece is the whole file (the string runs to its end), which is not parsed a second time.
    (How long it takes: bench/parse_bench.py.)"""
    parsed = []
    real = parser.parse_one
    monkeypatch.setattr(parser, "parse_one", lambda text, path: parsed.append(len(text)) or real(text, path))
    build = 'package q { version = "1" }\n\npackage p { version = "1" summary = "' + "a" * 10_000_000 + " }"
    root = make_workspace({"p/BUILD": build})
    text = failure(root, "//p:p")
    assert parsed == [len(build)]
    assert text.startswith("p/BUILD:3:37: error: unterminated string") and len(text) < 500


@pytest.mark.parametrize("target", ["BUILD", "/nonexistent"])
def test_a_broken_build_symlink_is_named_and_not_suggested_as_itself(make_workspace, target):
    root = make_workspace({"libs/BUILD": 'package libc { version = "1" }\n'})
    (root / "loop").mkdir()
    os.symlink(target, root / "loop" / "BUILD")  # (a loop, or a link to nothing)
    text = failure(root, "//loop:x")
    assert text == "error: no such package 'loop': no BUILD file in loop/ (loop/BUILD is a broken symlink)"

"""Templates (dsl/templates.py): expansion, where errors are reported, canonical keys, and
templates of other files through the loader."""

import time

import pytest
from jbuild.dsl import canonical
from jbuild.dsl.errors import RecipeError, render_all
from jbuild.dsl.loader import Loader
from jbuild.dsl.lowering import lower_file
from jbuild.dsl.parser import parse
from jbuild.dsl.workspace import Workspace

TOOL = '''
template tool(sources, version, cflags = [], build_requires = []) {
    version = args.version
    sources = args.sources
    build_requires = [@std//host:cc] + args.build_requires
    build = """
        cc ${args.cflags} -o "$OUT/bin/${args.name}" "$SRC"/*.c
    """
}
'''


def lower(text: str, path: str = "BUILD"):
    return lower_file(parse(text, path), "pkg")


def errors(tmp_path, text: str) -> str:
    (tmp_path / "BUILD").write_text(text)
    with pytest.raises(RecipeError) as exc:
        lower(text)
    return render_all(exc.value, root=str(tmp_path))


def keyed(target) -> dict:
    return {k: v for k, v in canonical.target(target).items() if k != "label"}


def test_a_call_expands_to_a_package_with_arguments_substituted():
    [pkg] = lower(TOOL + 'package hello = tool(["a.c"], version = "1.0", cflags = ["-O2", "-DX=\\"a b\\""])')
    assert str(pkg.version) == "1.0" and pkg.sources.paths == ("a.c",)
    assert [str(r.label) for r in pkg.requires] == ["@std//host:cc"]
    assert 'cc "-O2" "-DX=\\"a b\\"" -o "$OUT/bin/hello" "$SRC"/*.c' in pkg.build


def test_two_spellings_with_one_expansion_have_one_canonical_form():
    by_position = lower(TOOL + 'package hello = tool(["a.c"], "1.0", ["-O2", "-g"])')[0]
    by_name = lower(TOOL + 'package hello = tool(cflags = ["-O2"] + ["-g"], version = "1.0",\n'
                           '    sources = ["a.c"], build_requires = [])')[0]
    by_hand = lower('''package hello {
        version = "1.0"
        sources = ["a.c"]
        build_requires = [@std//host:cc]
        build = "cc \\"-O2\\" \\"-g\\" -o \\"$OUT/bin/hello\\" \\"$SRC\\"/*.c\\n"
    }''')[0]
    assert keyed(by_position) == keyed(by_name) == keyed(by_hand)
    other = lower(TOOL + 'package hello = tool(["a.c"], "1.0", ["-O3"])')[0]
    assert keyed(other) != keyed(by_position)


def test_keywords_set_package_attributes_and_a_body_adds_blocks():
    [pkg] = lower(TOOL + '''package hello = tool(["a.c"], version = "1.0", summary = "says hi",
                                                  requires = [:zlib]) {
        flavours { fast = [on, off] default off }
        exports = ["bin"]
    }
    package zlib { version = "1" }''')[:1]
    assert pkg.summary == "says hi" and pkg.exports == ("bin",)
    assert [f.name for f in pkg.flavours] == ["fast"]
    assert sorted(str(r.label) for r in pkg.requires) == ["//pkg:zlib", "@std//host:cc"]


def test_std_templates_expand():
    text = '''
    package z = autotools(glob(["**"]), version = "1.2.13", configure_flags = ["--static"])
    package c = cmake(["CMakeLists.txt"], "2.0", cmake_flags = ["-DX=ON"])
    package m = make(["Makefile"], "5.4.6", make_flags = ["linux"])
    package geo = cc_library(["geo.c"], "1.3", hdrs = ["include/geo.h"])
    package app = cc_binary(["main.c"], "1.0", pkg_config = ["geo"], requires = [:geo])
    '''
    z, c, m, geo, app = lower(text)
    assert './configure --prefix="$PREFIX" "--static"' in z.build and 'make -j"$JOBS"' in z.build
    assert '"-DX=ON"' in c.build and "@std//host:cmake" in {str(r.label) for r in c.requires}
    assert 'make -j"$JOBS" "linux"' in m.build
    assert geo.interface.paths == ("include/geo.h",) and "libgeo.so.$major" in geo.build
    assert 'set -- "geo"' in app.build and app.exports == ("bin",)
    [by_label] = lower('package z = @std//templates:autotools(glob(["**"]), "1.2.13", configure_flags = ["--static"])')
    assert keyed(by_label) == keyed(z)


def test_a_bad_argument_is_reported_at_the_callers_line(tmp_path):
    out = errors(tmp_path, TOOL + 'package hello = tool(["a.c"], version = "1.0", cflag = ["-g"])\n')
    assert out.startswith("BUILD:10:48: error: template 'tool' has no parameter 'cflag'")
    assert "10 | package hello = tool(" in out and "help: did you mean 'cflags'?" in out
    caret = out.splitlines()[2]
    assert caret.index("^") == out.splitlines()[1].index("cflag =")


def test_a_wrongly_typed_argument_points_at_the_argument(tmp_path):
    out = errors(tmp_path, TOOL + 'package hello = tool(["a.c"], version = 3)\n')
    assert out.startswith("BUILD:10:41: error: 'version' takes a string")
    out = errors(tmp_path, TOOL + 'package hello = tool(["a.c"], "1", cflags = glob(["*.c"]))\n')
    assert out.startswith("BUILD:10:45: error: argument 'cflags' of template 'tool' is used inside a string")


def test_missing_and_surplus_arguments(tmp_path):
    out = errors(tmp_path, TOOL + 'package hello = tool(["a.c"])\n')
    assert "BUILD:10:17: error: template 'tool' needs the argument 'version'" in out
    assert "help: it is tool(sources, version, cflags = ..., build_requires = ...)" in out
    out = errors(tmp_path, TOOL + 'package hello = tool(["a.c"], "1", [], [], "x")\n')
    assert "BUILD:10:44: error: template 'tool' takes 4 arguments by position" in out
    out = errors(tmp_path, 'package hello = autotool(["a.c"], "1")\n')
    assert "BUILD:1:17: error: unknown template 'autotool'" in out and "did you mean 'autotools'?" in out


def test_an_error_in_the_body_is_reported_at_the_call_with_the_body_line_shown(tmp_path):
    broken = TOOL.replace("exports", "x").replace("version = args.version", "version = args.vresion")
    out = errors(tmp_path, broken + 'package hello = tool(["a.c"], version = "1.0")\n')
    lines = out.splitlines()
    assert lines[0] == "BUILD:10:17: error: template 'tool' has no parameter 'vresion'"
    assert lines[1] == "10 | package hello = tool([\"a.c\"], version = \"1.0\")"
    assert lines[2] == "   |                 ^^^^"
    assert lines[3] == "note: in the template's text, at BUILD:3:15 (the line below):"
    assert lines[4] == "3 |     version = args.vresion" and lines[5] == "  |               ^^^^^^^^^^^^"
    # An error found by lowering in the expanded body: the same placement.
    broken = TOOL.replace('build_requires = [@std//host:cc]', 'build_requires = [cc]')
    out = errors(tmp_path, broken + 'package hello = tool(["a.c"], version = "1.0")\n')
    assert out.startswith("BUILD:10:17: error: 'build_requires' takes labels")
    assert "note: in the template's text, at BUILD:5:23 (the line below):" in out


def test_an_unknown_string_argument_points_inside_the_string(tmp_path):
    broken = TOOL.replace("${args.cflags}", "${args.cflgs}")
    out = errors(tmp_path, broken + 'package hello = tool(["a.c"], version = "1.0")\n')
    assert out.startswith("BUILD:10:17: error: template 'tool' has no parameter 'cflgs'")
    assert "note: in the template's text, at BUILD:7:12 (the line below):" in out


def test_template_definition_errors(tmp_path):
    out = errors(tmp_path, 'template t(a, a, name) { version = args.a }\n')
    assert "BUILD:1:15: error: parameter 'a' is declared twice" in out
    assert "BUILD:1:18: error: parameter 'name' is bound to the package's name" in out
    out = errors(tmp_path, 'templat t(a) { }\n')
    assert "BUILD:1:1: error: unexpected 'templat'" in out and "template NAME(PARAMS)" in out


def _workspace(tmp_path, files):
    (tmp_path / "jbuild.toml").write_text("")
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return Workspace(tmp_path)


def test_a_template_of_another_file_and_its_edit_reexpands_the_caller(tmp_path):
    ws = _workspace(tmp_path, {"tools/BUILD": TOOL, "app/a.c": "",
                               "app/BUILD": 'package hello = //tools:tool(["a.c"], version = "1.0")\n'})
    loader = Loader(ws)
    [pkg] = loader.closure(loader.expand(["//app:hello"])).targets[next(iter(loader.expand(["//app:hello"])))]
    assert '-o "$OUT/bin/hello"' in pkg.build
    loader.save_cache()
    time.sleep(0.05)  # past the racy-clean margin
    (tmp_path / "tools/BUILD").write_text(TOOL.replace("cc ${args.cflags}", "cc -O1 ${args.cflags}"))
    loader = Loader(ws)
    label = loader.expand(["//app:hello"])[0]
    [pkg] = loader.closure([label]).targets[label]
    assert "cc -O1 " in pkg.build
    files, _ = loader.inputs()
    assert str(tmp_path / "tools/BUILD") in files  # the no-op snapshot watches the template's file


def test_templates_using_each_other_in_a_cycle_are_an_error(tmp_path):
    ws = _workspace(tmp_path, {
        "a/BUILD": 'template ta(v) { version = args.v }\npackage x = //b:tb("1")\n',
        "b/BUILD": 'template tb(v) { version = args.v }\npackage y = //a:ta("1")\n'})
    loader = Loader(ws)
    with pytest.raises(RecipeError) as exc:
        loader.expand(["//a:x"])
    assert "uses templates of a file that uses its own" in render_all(exc.value)


def test_an_unknown_template_suggests_local_and_standard_ones(tmp_path):
    out = errors(tmp_path, TOOL + 'package hello = tol(["a.c"], "1")\n')
    assert "error: unknown template 'tol'" in out and "did you mean 'tool'?" in out
    out = errors(tmp_path, TOOL + 'package hello = :zzzz(["a.c"], "1")\n')
    assert "help: templates here: tool" in out

"""Review: the query language over packages written with templates of another file."""

from helpers import run_jbuild

TOOL = '''
template tool(sources, version) {
    version = args.version
    sources = args.sources
    build_requires = [@std//host:sh, @std//host:cc]
    build = "mkdir -p $OUT/bin && cc -o $OUT/bin/${args.name} $SRC/*.c"
}
'''


def _ws(make_workspace):
    return make_workspace({"tools/BUILD": TOOL, "app/hello.c": "int main(void) { return 0; }\n",
                           "app/BUILD": 'package hello = //tools:tool(["hello.c"], version = "1.0")\n'})


def test_a_package_made_by_a_template_is_queried_like_a_written_one(make_workspace):
    ws = _ws(make_workspace)
    r = run_jbuild("query", "attr(build, 'cc -o', //...)", cwd=ws)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["//app:hello"]
    r = run_jbuild("query", "deps(//app:hello)", cwd=ws)
    assert "@std//host:cc" in r.stdout.split()


def test_buildfiles_names_the_file_whose_template_a_package_calls(make_workspace):
    ws = _ws(make_workspace)
    r = run_jbuild("query", "buildfiles(//app:hello)", cwd=ws)
    # as Bazel lists the .bzl files loaded: a change of //tools:BUILD re-expands //app:hello
    assert r.returncode == 0, r.stderr
    assert {"//app:BUILD", "//tools:BUILD"} <= set(r.stdout.split())

"""`jbuild build` whose patterns match nothing to build says what they matched and why none of
it builds, and exits 4 (as `jbuild test` with no test); a workspace with targets builds as before."""

import json

from helpers import run_jbuild

TOOLS = '''
template tool(sources, version) {
    version = args.version
    sources = args.sources
    build_requires = [@std//host:sh]
    build = "mkdir -p $OUT && echo built > $OUT/x"
}
'''

APP = '''
package app {
    version = "1.0"
    build_requires = [@std//host:sh]
    build = "mkdir -p $OUT && echo app > $OUT/x"
}
package heavy {
    version = "1.0"
    tags = ["manual"]
    build_requires = [@std//host:sh]
    build = "mkdir -p $OUT && echo heavy > $OUT/x"
}
'''


def jbuild(ws, tmp_path, *args):
    return run_jbuild(*args, cwd=ws, env={"JBUILD_STORE": str(tmp_path / "store")})


def test_a_pattern_of_std_templates_names_them_and_exits_4(make_workspace, tmp_path):
    ws = make_workspace({"BUILD": APP})
    events = tmp_path / "events.json"
    r = jbuild(ws, tmp_path, "build", "@std//templates/...", "--build-events", str(events))
    assert r.returncode == 4, r.stdout + r.stderr
    lines = r.stderr.splitlines()
    assert lines[0] == "error: nothing to build: @std//templates/... matched no package or test to build"
    assert lines[1].startswith("  @std//templates/BUILD defines only templates (autotools, cc_binary, cc_library,")
    assert "e.g. package x = autotools(...)" in lines[1] and "0 built" not in r.stdout + r.stderr
    finished = [json.loads(x) for x in events.read_text().splitlines()][-1]
    assert finished["event"] == "finished" and finished["exit_code"] == 4
    # A second run says the same (no no-op snapshot of an empty build replays "0 built").
    again = jbuild(ws, tmp_path, "build", "@std//templates/...")
    assert again.returncode == 4 and again.stderr == r.stderr


def test_a_workspace_package_of_templates_shows_how_to_call_one(make_workspace, tmp_path):
    ws = make_workspace({"BUILD": APP, "tools/BUILD": TOOLS, "empty/BUILD": "# nothing yet\n"})
    r = jbuild(ws, tmp_path, "build", "//tools/...", "//empty:all")
    assert r.returncode == 4, r.stderr
    assert ("  //tools/BUILD defines only templates (tool): a template is built through a package that calls it, "
            "e.g. package x = //tools:tool(...)") in r.stderr.splitlines()
    assert "  //empty/BUILD declares no package or test" in r.stderr.splitlines()


def test_host_tools_and_manual_targets_say_why_they_are_not_built(make_workspace, tmp_path):
    ws = make_workspace({"BUILD": APP})
    r = jbuild(ws, tmp_path, "build", "@std//host:cc")
    assert r.returncode == 4
    assert "@std//host:cc is a host tool: the host provides it (detected, never built)" in r.stderr
    r = jbuild(ws, tmp_path, "build", "--", "//...", "-//:app")
    assert r.returncode == 4
    assert "//:heavy is tagged manual: patterns skip it; name one to build it: jbuild build //:heavy" in r.stderr
    assert "  //:app was subtracted by -//:app" in r.stderr.splitlines(), r.stderr
    r = jbuild(ws, tmp_path, "plan", "//:heavy")  # named, a manual target is planned (and built)
    assert r.returncode == 0, r.stderr


def test_a_workspace_with_targets_builds_as_before(make_workspace, tmp_path):
    ws = make_workspace({"BUILD": APP})
    r = jbuild(ws, tmp_path, "build", "//...", "--sandbox", "bwrap")
    assert r.returncode == 0, r.stderr
    assert "//:app@1.0 up to date" in r.stdout + r.stderr and "heavy" not in r.stdout + r.stderr
    again = jbuild(ws, tmp_path, "build", "//...", "--sandbox", "bwrap")  # the no-op path
    assert again.returncode == 0 and "//:app@1.0 up to date" in again.stdout + again.stderr

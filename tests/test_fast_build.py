"""jbuild/fast_build.py parses `jbuild build` without click: on generated command lines, every
answer it gives is exactly the parameters click's own `build` command gets, and it leaves to
click what it does not know (help, dry runs, unknown options, values click converts itself)."""

import pytest
from helpers import EXAMPLE, click_build_params, run_jbuild
from hypothesis import given, settings
from hypothesis import strategies as st

from jbuild.fast_build import parse

TOKENS = ["//...", "//a:b", ":x", "@std//host:cc", "-//exp/...", "--", "-", "", "build", "--help", "-h",
          "-j", "-j2", "-j0", "-j=2", "--jobs", "--jobs=3", "-k", "--keep-going", "--no-keep-going", "-kj2",
          "--strict", "--strict=1", "--sandbox", "--sandbox=bwrap", "landlock", "fallback", "bogus", "auto",
          "--store", "--store=/s", "/tmp/s", "--build-events", "ev.json", "--out-link", "res", "--no-link",
          "--show-result", "--show-result=0", "5", "-1", "+2", " 3", "--print-out-paths", "--offline",
          "--strict-interfaces", "--verify-inputs", "--remote-upload", "--no-remote-upload", "--remote-cache",
          "http://c", "--remote-cache=", "-n", "--dry-run", "--remote-executor", "grpc://h:1", "--remote-instance",
          "--remote-ca-cert", "--nope", "--no-link=1", "２"]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=8))
def test_every_fast_answer_is_clicks(tokens):
    fast = parse(["build", *tokens])
    if fast is None:
        return
    assert fast == click_build_params(tokens), tokens


@pytest.mark.parametrize("argv", [
    ["build", "//...", "-j", "2", "--sandbox", "bwrap", "--no-link", "--build-events", "/tmp/e.json"],
    ["build", "-k", "--store=/s", "//a:b", "--", "-//c/..."],
    ["//services:geotags", "--offline"],
    ["services:geotags", "--no-link"],  # (a relative label where the command goes: group.py takes it so too)
    ["libs/...", "-j", "2"],
])
def test_the_usual_command_lines_take_the_fast_path(argv):
    fast = parse(argv)
    assert fast is not None
    assert fast == click_build_params(argv[1:] if argv[0] == "build" else argv)


@pytest.mark.parametrize("argv", [
    [], ["build"], ["build", "--help"], ["build", "//x", "-n"], ["build", "//x", "--dry-run"], ["query", "//..."],
    ["build", "//x", "--remote-executor", "grpc://h:1"], ["build", "//x", "-j", "two"], ["build", "//x", "--nope"],
    ["--version"], ["build", "//x", "--sandbox", "docker"], ["--remote-cache=http://c", "//x"],
])
def test_what_it_does_not_know_goes_to_click(argv):
    assert parse(argv) is None


def test_the_ca_certificate_from_the_environment_goes_to_click(monkeypatch):
    monkeypatch.setenv("JBUILD_REMOTE_CA_CERT", "/etc/ca.pem")
    assert parse(["build", "//x"]) is None


def test_a_fast_build_imports_no_click(tmp_path):
    """A real build of the example's smallest target through `python -m jbuild`, twice (the second
    a no-op), without click in the process."""
    import json
    import subprocess
    import sys

    code = ("import json, sys\nfrom jbuild.cli import run\ncode = run(sys.argv[1:])\n"
            "print(json.dumps([code, sorted(m for m in sys.modules if m.startswith('click'))]))")
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", code, "build", "//libs:libc", "--no-link", "--store",
                            str(tmp_path / "store")], cwd=EXAMPLE, capture_output=True, text=True, timeout=300)
        code_and_modules = json.loads(r.stdout.strip().splitlines()[-1])
        assert code_and_modules == [0, []], r.stderr
    assert "up to date" in r.stderr
    r = run_jbuild("build", "//libs:libc", "--no-link", "--store", str(tmp_path / "store"), "--help", cwd=EXAMPLE)
    assert r.returncode == 0 and "Usage: jbuild build" in r.stdout


def test_click_and_the_fast_parser_read_one_table():
    """Every option click's `build` has is a row of jbuild/build_options.py, with its default; every
    option the fast parser reads is one of click's (so an option added to the table reaches both)."""
    from jbuild.build_commands import build
    from jbuild.build_options import BUILD
    from jbuild.fast_build import DEFAULTS, FLAGS, VALUES

    params = {p.name: p for p in build.params if p.name != "patterns"}
    assert {name: p.default for name, p in params.items()} == {row["name"]: row["default"] for row in BUILD}
    clicks = {opt for p in params.values() for opt in (*p.opts, *p.secondary_opts)}
    assert set(VALUES) | set(FLAGS) <= clicks
    assert set(DEFAULTS) == set(params) - {"dry_run"}

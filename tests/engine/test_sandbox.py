"""The bubblewrap sandbox refuses, for real: undeclared files, home, writes outside $OUT,
the network. A test that needs bubblewrap fails where it cannot run (it does not skip)."""

import pytest
from helpers import run_jbuild

BUILD = """
package probe {{
    version = "1"
    sources = ["declared.txt"]
    build_requires = [@std//host:sh]
    build = \"\"\"
        mkdir -p "$OUT"
        {script}
    \"\"\"
}}
"""


def build(make_workspace, tmp_path, script, sandbox="bwrap"):
    root = make_workspace({"BUILD": BUILD.format(script=script), "declared.txt": "declared",
                           "undeclared.txt": "secret next door"})
    return run_jbuild("build", "//:probe", "--sandbox", sandbox, cwd=root,
                      env={"JBUILD_STORE": str(tmp_path / "store")})


def test_declared_source_is_readable(make_workspace, tmp_path):
    r = build(make_workspace, tmp_path, 'cat "$SRC/declared.txt" > "$OUT/copy"')
    assert r.returncode == 0, r.stderr
    (entry,) = [p for p in (tmp_path / "store").iterdir() if "-probe-" in p.name]
    assert (entry / "copy").read_text() == "declared"


@pytest.mark.parametrize("script", [
    'cat "$SRC/undeclared.txt"',             # the undeclared file right next to a declared one
    "ls /work /root /home/* 2>&1 | grep -v 'No such' | grep . && exit 1; exit 3",  # nothing of the host
    "echo x > /usr/evil",                    # host toolchain is read-only
    "echo x > \"$SRC/declared.txt\"",        # sources are read-only
    "exec 3<>/dev/tcp/127.0.0.1/22 || exit 4; exit 0",
])
def test_refusals(make_workspace, tmp_path, script):
    r = build(make_workspace, tmp_path, script)
    assert r.returncode == 1, r.stderr
    assert "ERROR: building //:probe@1 failed" in r.stderr and "jbuild log //:probe" in r.stderr


def test_no_network_interface(make_workspace, tmp_path):
    r = build(make_workspace, tmp_path, "cat /proc/net/dev | tail -n +3 | grep -v ' lo:' && exit 1 || true")
    assert r.returncode == 0, r.stderr


def test_cannot_write_to_the_store_from_a_build(make_workspace, tmp_path):
    ok = build(make_workspace, tmp_path, "echo a > $OUT/a")
    assert ok.returncode == 0
    r = build(make_workspace, tmp_path, f"ls {tmp_path}/store && exit 0 || exit 5")
    assert r.returncode == 1 and "exit code 5" in r.stderr


def test_runs_as_non_root_inside(make_workspace, tmp_path):
    r = build(make_workspace, tmp_path, 'test "$(id -u)" = 1000 || exit 6')
    assert r.returncode == 0, r.stderr


def test_failure_block_shows_log_tail(make_workspace, tmp_path):
    r = build(make_workspace, tmp_path, "echo 'compiler says no' >&2; exit 7")
    assert r.returncode == 1
    assert "failed: exit code 7" in r.stderr and "> compiler says no" in r.stderr


def test_fallback_where_bubblewrap_is_missing(make_workspace, tmp_path):
    root = make_workspace({"BUILD": BUILD.format(script='cat "$SRC/declared.txt" > "$OUT/copy"'),
                           "declared.txt": "declared"})
    env = {"JBUILD_STORE": str(tmp_path / "store"), "JBUILD_BWRAP": "/nonexistent/bwrap"}
    r = run_jbuild("build", "//:probe", cwd=root, env=env)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: JBUILD_BWRAP=/nonexistent/bwrap is not an executable; building in the weaker "
                        "fallback sandbox"]
    r = run_jbuild("build", "//:probe", "--sandbox", "bwrap", cwd=root, env=env)
    assert r.returncode == 2 and "error: --sandbox bwrap: JBUILD_BWRAP=/nonexistent/bwrap is not an executable" \
        in r.stderr, r.stderr
    r = run_jbuild("build", "//:probe", "--sandbox", "bwrap", cwd=root,
                   env={"JBUILD_STORE": str(tmp_path / "store"), "PATH": str(tmp_path / "nothing")})
    assert r.returncode == 2 and "bubblewrap is not installed (no bwrap on PATH" in r.stderr, r.stderr
    # A fallback entry never satisfies a sandboxed build: the sandbox kind is in the key.
    r = run_jbuild("build", "//:probe", "--sandbox", "bwrap", cwd=root, env={"JBUILD_STORE": str(tmp_path / "store")})
    assert r.returncode == 0 and "1 built, 0 reused" in r.stderr
    assert len([p for p in (tmp_path / "store").iterdir() if "-probe-" in p.name]) == 2


def test_failure_names_the_command_and_jbuild_log_shows_it(make_workspace, tmp_path):
    r = build(make_workspace, tmp_path, "echo 'linker says no' >&2; exit 9")
    assert "  command: exit 9" in r.stderr  # the failing command (sh -x traces it), not the first line
    root = tmp_path / "ws"
    log = run_jbuild("log", "//:probe", cwd=root, env={"JBUILD_STORE": str(tmp_path / "store")})
    assert log.returncode == 0 and "linker says no" in log.stdout


def test_keep_going_builds_the_rest_and_repeats_failures(make_workspace, tmp_path):
    root = make_workspace({"BUILD": """
        package bad1 { version = "1" build = "exit 3" }
        package bad2 { version = "1" build = "exit 4" }
        package good { version = "1" build = "mkdir -p $OUT" }
        package top { version = "1" requires = [:bad1, :bad2, :good] build = "mkdir -p $OUT" }
    """})
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    r = run_jbuild("build", "//...", "--keep-going", "-j", "1", "--sandbox", "bwrap", cwd=root, env=env)
    assert r.returncode == 1
    assert "1 built, 0 reused from the store, 2 failed" in r.stderr
    assert r.stderr.count("ERROR: building //:bad1@1 failed: exit code 3") == 2  # in place, and at the end
    r = run_jbuild("build", "//...", "-j", "1", "--sandbox", "bwrap", cwd=root, env=env)
    assert r.returncode == 1 and "1 failed" in r.stderr  # fail-fast: stops after the first failure

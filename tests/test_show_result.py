"""`jbuild build --show-result N`: each root's `NODE up to date: PATH` line up to N roots, beyond
that one summary line saying how to list them (a `//...` of thousands prints one line, not
thousands); `--print-out-paths` still prints every path on stdout."""

import re

from helpers import run_jbuild

BUILD = "".join(f'''
package p{i} {{
    version = "1"
    build = "mkdir -p $OUT && echo {i} > $OUT/x"
}}
''' for i in range(3))


def jbuild(ws, tmp_path, *args):
    return run_jbuild("build", "//...", "--no-link", *args, cwd=ws, env={"JBUILD_STORE": str(tmp_path / "store")})


def _listed(stderr: str) -> list[str]:
    return re.findall(r"^(//:p\d@1) up to date: /", stderr, re.M)


def test_roots_beyond_show_result_are_one_summary_line(make_workspace, tmp_path):
    ws = make_workspace({"BUILD": BUILD})
    r = jbuild(ws, tmp_path)  # the default lists a handful
    assert r.returncode == 0, r.stderr
    assert _listed(r.stderr) == ["//:p0@1", "//:p1@1", "//:p2@1"], r.stderr
    r = jbuild(ws, tmp_path, "--show-result", "2", "--print-out-paths")  # the no-op path: same output
    assert r.returncode == 0, r.stderr
    assert _listed(r.stderr) == [], r.stderr
    assert "3 roots up to date (more than --show-result 2: `--show-result 3` lists each" in r.stderr, r.stderr
    assert len(r.stdout.split()) == 3 and all(p.startswith(str(tmp_path / "store")) for p in r.stdout.split())
    r = jbuild(ws, tmp_path, "--show-result", "3")
    assert _listed(r.stderr) == ["//:p0@1", "//:p1@1", "//:p2@1"] and "roots up to date" not in r.stderr


def test_show_result_must_be_a_count(make_workspace, tmp_path):
    ws = make_workspace({"BUILD": BUILD})
    r = jbuild(ws, tmp_path, "--show-result", "-1")
    assert r.returncode == 2 and "-1 is not in the range" in r.stderr and "Traceback" not in r.stderr, r.stderr

"""A tool whose run closure grows by a BUILD edit: its consumers' keys must read the new member.

`c` runs the programs of its build-only tool's run closure while it builds. A BUILD edit gives
the tool a new run-time requirement, `r2` (a program). Then `r2`'s implementation changes: its
exported digest does not (a program is implementation, exported.py), the tool is adopted, but
`c` runs the new `r2` and must be rebuilt (its key reads the build key of each member of its
tools' run closures: keys._hosts_and_tools). A kept memo of `c`'s tools from before the BUILD
edit (KeyComputer._tools) would leave `r2` out of `c`'s key, and `c` would keep the old `r2`'s
output: compared here with a clean build.
"""

import os
import shutil
import subprocess

from helpers import run_jbuild, write_tree

BUILD = """
package r1 {{
    version = "1"
    sources = ["r1.c"]
    build_requires = [@std//host:cc, @std//host:sh]
    build = "mkdir -p $OUT/bin && cc -o $OUT/bin/r1prog $SRC/r1.c"
}}
package r2 {{
    version = "1"
    sources = ["r2.c"]
    build_requires = [@std//host:cc, @std//host:sh]
    build = "mkdir -p $OUT/bin && cc -o $OUT/bin/r2prog $SRC/r2.c"
}}
package tool {{
    version = "1"
    requires = [{tool_requires}]
    build_requires = [@std//host:sh]
    build = "mkdir -p $OUT/share && echo tool > $OUT/share/tool.txt"
}}
package c {{
    version = "1"
    build_requires = [:tool, @std//host:sh]
    build = \"\"\"
        mkdir -p $OUT/share
        for p in /deps/*/bin/r*prog; do "$p"; done > $OUT/share/out.txt
    \"\"\"
}}
"""

PROG = '#include <stdio.h>\nint main(void) {{ puts("{text}"); return 0; }}\n'


def _build(root, store):
    r = run_jbuild("build", "//:c", "--sandbox", "bwrap", cwd=root, env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    return (root / "result" / "share" / "out.txt").read_text()


def test_a_tool_that_gains_a_run_requirement_keys_its_consumer_by_it(tmp_path):
    root, store = tmp_path / "ws", tmp_path / "store"
    write_tree(root, {"jbuild.toml": "", "BUILD": BUILD.format(tool_requires=":r1"),
                      "r1.c": PROG.format(text="r1 v0"), "r2.c": PROG.format(text="r2 v0")})
    assert _build(root, store) == "r1 v0\n"
    (root / "BUILD").write_text(BUILD.format(tool_requires=":r1, :r2"))
    assert _build(root, store) == "r1 v0\nr2 v0\n"
    (root / "r2.c").write_text(PROG.format(text="r2 v1"))
    incremental = _build(root, store)

    clean = tmp_path / "clean"
    shutil.copytree(root, clean, ignore=shutil.ignore_patterns(".jbuild", "result"))
    assert _build(clean, tmp_path / "clean-store") == "r1 v0\nr2 v1\n"
    subprocess.run(["chmod", "-R", "u+w", str(tmp_path)], check=False)
    assert incremental == "r1 v0\nr2 v1\n"
    assert os.path.exists(root / "result")

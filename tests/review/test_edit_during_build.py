"""A source edited while its package builds: that build fails with "inputs changed during the
build" (rebuilder._check_and_measure). The next build, with nothing edited meanwhile, must build
the file as it now is — not fail again, and not key it by the digest the failed run predicted
from the file as it was (its kept state must not pair the file's new stat with its old digest)."""

import os
import subprocess
import sys
import time

from helpers import run_jbuild, write_tree

BUILD = """
package slow {
    version = "1"
    sources = ["impl.c"]
    build_requires = [@std//host:sh]
    build = \"\"\"
        mkdir -p $OUT/share
        sleep 1.5
        cat $SRC/impl.c > $OUT/share/impl.txt
    \"\"\"
}
"""


def _build(root, store):
    return run_jbuild("build", "//:slow", "--sandbox", "bwrap", cwd=root, env={"JBUILD_STORE": str(store)})


def test_the_build_after_an_edit_during_a_build_builds_the_file_as_it_is(tmp_path):
    root, store = tmp_path / "ws", tmp_path / "store"
    write_tree(root, {"jbuild.toml": "", "BUILD": BUILD, "impl.c": "v1\n"})
    r = _build(root, store)
    assert r.returncode == 0, r.stderr
    (root / "impl.c").write_text("v2\n")
    argv = ["build", "//:slow", "--sandbox", "bwrap"]
    proc = subprocess.Popen([sys.executable, "-m", "jbuild", *argv], cwd=root, env={**os.environ, "JBUILD_STORE": str(store)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # the build is in its sleep: edit back
    (root / "impl.c").write_text("v3\n")
    _, err = proc.communicate(timeout=120)
    codes = [_build(root, store).returncode for _ in range(3)]
    assert codes == [0, 0, 0], err
    assert (root / "result" / "share" / "impl.txt").read_text() == "v3\n"
    subprocess.run(["chmod", "-R", "u+w", str(tmp_path)], check=False)

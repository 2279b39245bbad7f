"""An ordinary user's build whose worker's sandbox stager (the C fork server, compiled into that
user's cache, unprivileged bubblewrap) dies between its clone and its answer, or between its
answer and its child's go-ahead (the test-only JBUILD_TEST_STAGER_DIES): through the real CLI,
the build succeeds, each action's script ran once, and no child is left behind."""

import shlex
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_store_nonroot import user  # noqa: E402, F401 (the fixture)


@pytest.mark.parametrize("when", ["clone", "answer"])
def test_a_stager_dying_before_the_go_ahead_is_replaced_for_an_ordinary_user(user, when):  # noqa: F811
    ws = user.home / "ws"
    flag = user.home / "die-once"
    files = {"BUILD": ('package a { version = "1" sources = ["a.txt"] build = "mkdir -p $OUT && cp $SRC/a.txt $OUT/f" }\n'
                       'package b { version = "1" sources = ["b.txt"] requires = [:a]\n'
                       '  build = "mkdir -p $OUT && cat /deps/a/f $SRC/b.txt > $OUT/f" }\n'),
             "jbuild.toml": "", "a.txt": "a\n", "b.txt": "b\n"}
    script = " && ".join(f"printf %s {shlex.quote(t)} > {shlex.quote(str(ws / n))}" for n, t in files.items())
    assert user.run("sh", "-c", f"mkdir -p {shlex.quote(str(ws))} && {script} && touch {shlex.quote(str(flag))}",
                    cwd=user.home).returncode == 0
    r = user.run("env", f"JBUILD_TEST_STAGER_DIES={when}:{flag}", sys.executable, "-m", "jbuild", "build", "//:b",
                 "--sandbox", "bwrap", "-j", "1", cwd=ws)
    assert r.returncode == 0, r.stderr + r.stdout
    assert not flag.exists()  # the server did die once
    b = next(p for p in (user.home / "store").iterdir() if "-b-" in p.name)
    assert (b / "f").read_text() == "a\nb\n"
    assert "internal error" not in r.stderr

"""An ordinary user's build under a small per-user process limit (`prlimit --nproc`, ulimit -u):
jbuild cannot fork bubblewrap, or start its worker threads. Whatever the limit, one clear line
and exit 1 (2 where bubblewrap's own probe cannot run: "cannot create its namespaces here"; or
a build that succeeds), never "internal error" with a traceback (exit 37), never
a hang. Real limits, real CLI, unprivileged bubblewrap (review of the stager, item 6)."""

import shlex
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_store_nonroot import user  # noqa: E402, F401 (the fixture)


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="util-linux's prlimit is not installed")
def test_a_build_at_the_process_limit_fails_clearly(user):  # noqa: F811
    ws = user.home / "ws"
    files = {"BUILD": 'package a { version = "1" build = "mkdir -p $OUT && echo a > $OUT/f" }\n', "jbuild.toml": ""}
    script = " && ".join(f"printf %s {shlex.quote(t)} > {shlex.quote(str(ws / n))}" for n, t in files.items())
    assert user.run("sh", "-c", f"mkdir -p {shlex.quote(str(ws))} && {script}", cwd=user.home).returncode == 0
    seen = {}
    for nproc in (2, 4, 6, 8):
        r = user.run("prlimit", f"--nproc={nproc}", sys.executable, "-m", "jbuild", "--no-server", "build", "//:a",
                     "--no-link", "--sandbox", "bwrap", "-j", "2", cwd=ws)
        seen[nproc] = r.returncode
        assert r.returncode in (0, 1, 2), (nproc, r.stderr)  # (2: bubblewrap's probe could not run: "cannot create")
        assert "internal error" not in r.stderr and "Traceback" not in r.stderr, (nproc, r.stderr)
        if r.returncode == 2:  # bubblewrap could not be started or could not clone: said, with the limit named
            assert "bubblewrap cannot create its namespaces here: " in r.stderr and "ulimit -u" in r.stderr, r.stderr
        if r.returncode:  # said: "error: ..." or the action's "ERROR: building ... failed: ..." (its sh could
            assert "error: " in r.stderr.lower(), (nproc, r.stderr)  # not fork, under load: exit code 2)
    assert 1 in seen.values(), seen  # (the limits did bite: else this test proves nothing)

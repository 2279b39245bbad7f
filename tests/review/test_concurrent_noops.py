"""Two `jbuild build` of one target in one workspace at the same moment (an editor's save hook
and a terminal, two panes of a watch): each must succeed — or wait for the other — and leave the
result link naming the built environment. Both write the same link (`result`), and a fast no-op
makes their link-writing overlap often."""

import os
import subprocess
import sys
import time


def _noop_pair(example):
    env = {**os.environ, "JBUILD_STORE": str(example.store)}
    argv = [sys.executable, "-m", "jbuild", "build", "//services:geotags", "--sandbox", "bwrap"]
    procs = [subprocess.Popen(argv, cwd=example.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for _ in range(6)]
    return [(p.wait(timeout=120), p.stderr.read()) for p in procs]


def test_concurrent_noops_of_one_target_all_succeed(example):
    r, _ = example.build()
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 30
    for _ in range(30):  # (or 30 s: a no-op of the example takes 20-300 ms, load permitting)
        if time.monotonic() > deadline:
            break
        for code, err in _noop_pair(example):
            assert code in (0, 9), err  # 9: a lock not had in time
        assert (example.root / "result" / "bin" / "geotags").exists()
        assert not (example.root / "result.jbuild-new").is_symlink()

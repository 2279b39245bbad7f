"""Review of h-startup (22d41a4): the default store's directory is no longer platformdirs'
user_cache_dir but a hand-written "XDG rule" (engine/store_location.user_cache_dir). The XDG
base directory spec says a relative $XDG_CACHE_HOME is invalid and must be ignored (platformdirs
does, and so did jbuild before): taken as it is, the store lands relative to the current
directory — inside the workspace, and a different store for each directory jbuild runs from."""

import os
import subprocess
import sys
from pathlib import Path

BUILD = 'package a {\n    version = "1"\n    build = "mkdir -p $OUT && echo a > $OUT/a"\n}\n'


def test_a_relative_xdg_cache_home_is_ignored(make_workspace, tmp_path):
    root = make_workspace({"BUILD": BUILD, "sub/keep": ""})
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "JBUILD_STORE"}
    env.update(HOME=str(home), XDG_CACHE_HOME="relcache")
    seen = []
    for cwd in (root, root / "sub"):
        r = subprocess.run([sys.executable, "-m", "jbuild", "build", "//:a", "--no-link", "--print-out-paths"],
                           cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        seen.append(Path(r.stdout.split()[-1]).parent)
    assert seen[0] == seen[1] == home / ".cache" / "jbuild" / "store", seen
    assert not (root / "relcache").exists()

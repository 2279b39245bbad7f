"""Review of h-startup: jbuild.toml's checked settings kept by its stat. An edit of the same size
with its mtime put back (`touch -r`, `cp -p` over it) must still be seen: a bad key is refused
with exit 2 and file:line:col, a good file accepted again."""

import os
import shutil
import subprocess

from helpers import run_jbuild

BUILD = 'package a {\n    version = "1"\n    build = "mkdir -p $OUT"\n}\n'
GOOD, BAD = "[build]\njobs = 2\n", "[build]\njobz = 2\n"


def _build(root, store):
    return run_jbuild("build", "//:a", "--no-link", cwd=root, env={"JBUILD_STORE": str(store)})


def test_same_size_edit_with_mtime_put_back_is_seen(make_workspace, tmp_path):
    root = make_workspace({"BUILD": BUILD}, toml=GOOD)
    store, toml = tmp_path / "store", root / "jbuild.toml"
    ref = tmp_path / "ref.toml"
    shutil.copy2(toml, ref)
    assert _build(root, store).returncode == 0
    assert _build(root, store).returncode == 0  # the memo is used now
    toml.write_text(BAD)
    subprocess.run(["touch", "-r", str(ref), str(toml)], check=True)
    r = _build(root, store)
    assert r.returncode == 2 and "jobz" in r.stderr and "jbuild.toml:2:" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_cp_p_of_another_file_over_it_is_seen(make_workspace, tmp_path):
    root = make_workspace({"BUILD": BUILD}, toml=BAD)
    store, toml = tmp_path / "store", root / "jbuild.toml"
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    os.utime(good, ns=(os.stat(toml).st_atime_ns, os.stat(toml).st_mtime_ns))  # the same mtime as the bad one
    assert _build(root, store).returncode == 2
    subprocess.run(["cp", "-p", str(good), str(toml)], check=True)
    r = _build(root, store)
    assert r.returncode == 0, r.stderr
    toml.write_text(BAD)
    os.utime(toml, ns=(os.stat(good).st_atime_ns, os.stat(good).st_mtime_ns))
    r = _build(root, store)
    assert r.returncode == 2 and "jobz" in r.stderr, r.stderr

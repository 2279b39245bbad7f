"""Building through BuildGrid (tests/reapi/conftest.py starts it, PostgreSQL and two workers)."""

import filecmp
import os
import uuid
from pathlib import Path

import pytest
from helpers import pristine_example, run_jbuild, write_tree


def _build(ws: Path, store: Path, *args):
    return run_jbuild("build", "//services:geotags", "--store", str(store), "--sandbox", "bwrap", *args, cwd=ws,
                      timeout=600)


def _same_tree(a: Path, b: Path) -> bool:
    """Same files, same bytes (the entry's own metadata -- when and how long -- aside)."""
    cmp = filecmp.dircmp(a, b, ignore=[".jbuild-entry.json"])
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(_same_tree(a / d, b / d) for d in cmp.common_dirs)


def test_example_built_remotely_equals_a_local_build_and_then_hits_the_cache(buildgrid, workers, tmp_path):
    ws = pristine_example(tmp_path / "geotags")
    remote = _build(ws, tmp_path / "remote-store", "--remote-executor", buildgrid.url, "--print-out-paths")
    assert remote.returncode == 0, remote.stderr
    local = _build(ws, tmp_path / "local-store", "--print-out-paths")
    assert local.returncode == 0, local.stderr
    remote_entry, local_entry = Path(remote.stdout.split()[-1]), Path(local.stdout.split()[-1])
    assert remote_entry.name == local_entry.name  # the same build key
    assert _same_tree(remote_entry, local_entry)
    actions = [e for e in (tmp_path / "local-store").glob("*-*") if e.is_dir() and "-env-" not in e.name]
    assert len(actions) == 4  # libc, geohash, tinydb, geotags: each built remotely with the same key and bytes
    for entry in actions:
        assert _same_tree(entry, tmp_path / "remote-store" / entry.name), entry.name

    again = _build(ws, tmp_path / "fresh-store", "--remote-executor", buildgrid.url)
    assert again.returncode == 0, again.stderr
    assert f"remote: 0 executed on {buildgrid.url}, 4 from its action cache" in again.stderr


def _one_package(root: Path, script: str) -> Path:
    return write_tree(root, {"jbuild.toml": "", "BUILD": f"package p {{ version = \"1\" build = \"{script}\" }}\n"})


def test_a_failing_action_reports_its_log_locally_and_is_not_cached(buildgrid, workers, tmp_path):
    marker = f"boom-{uuid.uuid4().hex}"
    ws = _one_package(tmp_path / "ws", f"echo {marker}; exit 3")
    for attempt in range(2):
        r = run_jbuild("build", "//:p", "--store", str(tmp_path / f"store{attempt}"), "--sandbox", "bwrap",
                       "--remote-executor", buildgrid.url, cwd=ws, timeout=300)
        assert r.returncode == 1, r.stderr
        assert marker in r.stderr
        assert f"remote: 1 executed on {buildgrid.url}, 0 from its action cache" in r.stderr  # never cached


@pytest.mark.parametrize("url", ["http://x:1", "grpc://[::1:5", "grpcs://h:99999", "grpc://h:port"])
def test_a_bad_remote_url_is_a_bad_command_line(tmp_path, url):
    ws = _one_package(tmp_path / "ws", "mkdir -p $OUT")
    r = run_jbuild("build", "//:p", "--store", str(tmp_path / "s"), "--remote-executor", url, cwd=ws)
    assert r.returncode == 2, r.stderr
    assert "expected grpc://HOST:PORT" in r.stderr and "Traceback" not in r.stderr


def test_a_killed_workers_action_is_retried_on_another(buildgrid, workers, tmp_path):
    """Last in the module: it kills one of the module's workers."""
    marker = uuid.uuid4().hex
    ws = _one_package(tmp_path / "ws", f"sleep 4; mkdir -p $OUT; echo {marker} > $OUT/done")
    import subprocess
    import sys

    build = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//:p", "--store", str(tmp_path / "s"),
                              "--sandbox", "bwrap", "--remote-executor", buildgrid.url, "--print-out-paths"],
                             cwd=ws, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc, _ = workers.busy(timeout=60)
    os.kill(proc.pid, 9)
    proc.wait()
    out, err = build.communicate(timeout=120)
    assert build.returncode == 0, err
    assert (Path(out.split()[-1]) / "done").read_text().strip() == marker

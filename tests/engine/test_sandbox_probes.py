"""The sandbox probes' yes is kept for the boot (engine/sandbox_probes.py): a build asks once, the
next builds find the answer with a stat, and anything the answer depends on asks again. Real
bubblewrap, a real cache directory."""

import os
import shutil
from pathlib import Path

from helpers import run_jbuild
from jbuild.engine import sandbox, sandbox_probes
from jbuild.engine.sandbox import bwrap_path

BUILD = 'package a {\n    version = "1"\n    build = "mkdir -p $OUT && echo a > $OUT/a"\n}\n'


def test_a_yes_is_asked_once_then_found(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    asked = []
    probe = lambda: asked.append(1) or True  # noqa: E731
    assert sandbox._kept("t", bwrap_path(), probe) and sandbox._kept("t", bwrap_path(), probe)
    assert asked == [1]
    assert [p.name.endswith("-t") for p in (tmp_path / "cache/jbuild/probes").iterdir()] == [True]


def test_a_no_is_asked_every_time(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    asked = []
    probe = lambda: asked.append(1) and False  # noqa: E731
    assert not sandbox._kept("t", bwrap_path(), probe) and not sandbox._kept("t", bwrap_path(), probe)
    assert asked == [1, 1]


def test_another_bubblewrap_or_stager_setting_asks_again(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    copy = tmp_path / "bwrap"
    shutil.copy2(bwrap_path(), copy)
    sandbox_probes.remember_yes("t", bwrap_path())
    assert sandbox_probes.known_yes("t", bwrap_path())
    assert not sandbox_probes.known_yes("t", str(copy))  # another binary
    monkeypatch.setenv("JBUILD_STAGE_EXEC", "0")
    assert not sandbox_probes.known_yes("t", bwrap_path())  # the Python stager
    monkeypatch.delenv("JBUILD_STAGE_EXEC")
    os.utime(copy, ns=(1, 1))
    sandbox_probes.remember_yes("t", str(copy))
    os.utime(copy, ns=(2, 2))
    assert not sandbox_probes.known_yes("t", str(copy))  # the binary replaced in place


def test_builds_keep_the_answers_and_build_with_them(make_workspace, tmp_path):
    ws = make_workspace({"BUILD": BUILD})
    env = {"JBUILD_STORE": str(tmp_path / "store"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    r = run_jbuild("build", "//:a", "--no-link", cwd=ws, env=env)
    assert r.returncode == 0, r.stderr
    kept = sorted(p.name.rsplit("-", 1)[1] for p in Path(tmp_path / "cache/jbuild/probes").iterdir())
    assert kept == ["available", "stages_root"]
    (ws / "BUILD").write_text(BUILD.replace("echo a", "echo b"))
    r = run_jbuild("build", "//:a", "--no-link", "--print-out-paths", cwd=ws, env=env)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.split()[-1], "a").read_text() == "b\n"  # built, in the sandbox, on the kept answers
    after = sorted(p.name for p in Path(tmp_path / "cache/jbuild/probes").iterdir())
    assert len(after) == 2  # the second process found the first one's answers: it asked nothing again


def test_gc_deletes_the_answers_of_other_boots_only(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sandbox_probes.remember_yes("t", bwrap_path())
    other = tmp_path / "cache/jbuild/probes/0123456789abcdef-0-t"
    other.touch()
    assert sandbox_probes.sweep(dry_run=True) == [(str(other), 0)] and other.exists()
    assert sandbox_probes.sweep(dry_run=False) == [(str(other), 0)]
    assert not other.exists() and sandbox_probes.known_yes("t", bwrap_path())

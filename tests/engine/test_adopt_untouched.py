"""An edit's run does Python work per action only for what it touches (engine/adopted.py): the
unaffected actions are adopted, settled, saved, recorded and named as roots by C-level bulk
operations over what the last run kept. What that relies on is checked here too: an adopted
entry gone from the store meanwhile is rebuilt, not trusted; a kill between the run and the
session's save leaves a next run that is correct."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

from helpers import outcomes, run_jbuild
from jbuild.engine import build as build_mod
from jbuild.engine import snapshot
from jbuild.engine.settings import Options


def _files(count: int) -> dict[str, str]:
    blocks = []
    for i in range(count):
        req = f"    requires = [:p{i - 1}]\n" if i % 5 else ""
        blocks.append(f'package p{i} {{\n    version = "1"\n    sources = ["src/p{i}.txt"]\n{req}'
                      f'    build = "mkdir -p $OUT && cat $SRC/src/p{i}.txt > $OUT/p{i}"\n}}\n')
    return {"BUILD": "".join(blocks), **{f"src/p{i}.txt": f"p{i}\n" for i in range(count)}}


def _run_calls(root, store) -> int:
    """Python function calls on the main thread from the run's start to the build's end (the
    plan, and the sandbox's worker threads, not counted; nor a Node's __hash__, h-hash's)."""
    calls = [0]
    real_run = build_mod.run

    def count(frame, event, arg):
        if event == "call" and frame.f_code.co_name != "__hash__":
            calls[0] += 1

    def run(p, extra=None):
        sys.setprofile(count)
        return real_run(p, extra)

    build_mod.run = run
    try:
        result = build_mod.build(["//..."], Options(sandbox="bwrap", store=str(store), out_link=None, jobs=1),
                                 str(root), members=False)
    finally:
        sys.setprofile(None)
        build_mod.run = real_run
    assert result.code == 0
    return calls[0]


def _leaf_edit_calls(tmp_path, count: int) -> int:
    root, store = tmp_path / f"ws{count}", tmp_path / f"store{count}"
    root.mkdir()
    (root / "jbuild.toml").write_text("")
    for rel, text in _files(count).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    _run_calls(root, store)  # cold
    for n in range(2):  # (the first edit names every settled entry once: kept from then on)
        (root / "src" / f"p{count - 1}.txt").write_text(f"edited {n}\n")
        calls = _run_calls(root, store)
    return calls


def test_a_leaf_edit_makes_no_python_call_per_unaffected_action(tmp_path, monkeypatch):
    """Three times the actions, the same work: on a per-action loop (an entry name each, a
    settle, a decision row...) 60 more actions cost hundreds of calls more. (The store's
    presence asked as at 10,000 actions: by one listing, not a stat of each of a few.)"""
    monkeypatch.setattr(snapshot, "LISTING_FROM", 0)
    monkeypatch.setattr(snapshot.entries_present, "__defaults__", (0, None))
    small, large = _leaf_edit_calls(tmp_path, 20), _leaf_edit_calls(tmp_path, 80)
    assert large - small < 40, (small, large)


def _write_tree(root, files):
    (root / "jbuild.toml").write_text("")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


ARGS = ["build", "//...", "--sandbox", "bwrap", "--no-link", "--show-result", "100"]


def _entry(r, label: str):
    for line in (r.stdout + r.stderr).splitlines():
        if line.strip().startswith(f"{label}@") and " up to date: " in line:
            return line.split(" up to date: ")[1].strip()
    raise AssertionError(f"{label} not listed:\n{r.stdout}{r.stderr}")


def _build(root, store, events):
    r = run_jbuild(*ARGS, "--build-events", str(events), cwd=root, env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    return r, outcomes(events)


def test_an_unaffected_entry_gone_from_the_store_is_rebuilt_not_adopted(tmp_path):
    root, store, events = tmp_path / "ws", tmp_path / "store", tmp_path / "events.json"
    root.mkdir()
    _write_tree(root, _files(12))
    r, _ = _build(root, store, events)
    gone = _entry(r, "//:p3")
    subprocess.run(["chmod", "-R", "u+w", gone], check=True)
    shutil.rmtree(gone)  # (as a gc would: nothing roots it)
    (root / "src/p11.txt").write_text("leaf edited\n")
    r, seen = _build(root, store, events)
    assert seen["//:p11"] == "built" and seen["//:p3"] == "built", seen
    assert open(os.path.join(_entry(r, "//:p3"), "p3")).read() == "p3\n"
    assert open(os.path.join(_entry(r, "//:p11"), "p11")).read() == "leaf edited\n"
    _, seen = _build(root, store, events)
    assert set(seen.values()) == {"reused"}, seen  # and the next run is a no-op


KILL_BEFORE_SAVE = """
import os, signal, sys
from jbuild.engine import build
real_run = build.run
def run(p, extra=None):
    got = real_run(p, extra)
    build._save_session = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
    return got
build.run = run
sys.argv = ["jbuild", *sys.argv[1:]]
from jbuild import cli
cli.main()
"""


def test_a_kill_between_the_run_and_the_save_leaves_the_next_run_correct(tmp_path):
    root, store, events = tmp_path / "ws", tmp_path / "store", tmp_path / "events.json"
    root.mkdir()
    _write_tree(root, _files(12))
    _build(root, store, events)
    (root / "src/p11.txt").write_text("edited once\n")
    env = {**os.environ, "JBUILD_STORE": str(store)}
    killed = subprocess.run([sys.executable, "-c", KILL_BEFORE_SAVE, *ARGS], cwd=root, env=env,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (root / "src/p4.txt").write_text("edited twice\n")  # (p4..p9: its consumers)
    r, seen = _build(root, store, events)
    assert seen["//:p4"] == "built" and seen["//:p11"] in ("built", "reused"), seen
    assert seen["//:p0"] == "reused" and seen["//:p10"] == "reused", seen
    assert open(os.path.join(_entry(r, "//:p11"), "p11")).read() == "edited once\n"
    assert open(os.path.join(_entry(r, "//:p4"), "p4")).read() == "edited twice\n"
    _, seen = _build(root, store, events)
    assert set(seen.values()) == {"reused"}, seen

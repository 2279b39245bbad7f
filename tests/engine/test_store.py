"""Store integrity: kill -9 at random moments, two concurrent builders, verify, gc."""

import json
import random
import signal
import subprocess
import sys
import time

from helpers import run_jbuild

N = 50


def chain_workspace(make_workspace, salt=""):
    files = {}
    blocks = []
    for i in range(N):
        dep = f"requires = [:p{i - 1}, :p{i // 2}]" if i else ""
        blocks.append(f"""
package p{i} {{
    version = "1.0"
    {dep}
    build_requires = [@std//host:sh]
    build = "mkdir -p $OUT/share && echo {i}{salt} > $OUT/share/p{i} && sleep 0.02"
}}""")
    everything = ", ".join(f":p{i}" for i in range(N))
    top = f'package top {{ version = "1" requires = [{everything}] build = "mkdir -p $OUT" }}'
    files["BUILD"] = "\n".join(blocks) + "\n" + top + "\n"
    return make_workspace(files)


def events(path):
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_kill_9_leaves_store_consistent(make_workspace, tmp_path):
    root = chain_workspace(make_workspace)
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    rng = random.Random(7)
    for attempt in range(20):
        chain_workspace(make_workspace, salt=f"-{attempt}")  # new keys: every attempt really builds
        proc = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//:top", "-j", "2", "--sandbox", "bwrap"],
                                cwd=root, env={**__import__("os").environ, **env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        r = run_jbuild("store", "verify", cwd=root, env=env)
        assert r.returncode == 0, (attempt, r.stdout)
        # Only the builder's temporaries may remain, and the next run cleans them.
    r = run_jbuild("build", "//:top", "--sandbox", "bwrap", cwd=root, env=env)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "store").glob("*-top-1"))) == 1
    assert not list((tmp_path / "store").glob(".tmp-*"))
    assert run_jbuild("store", "verify", cwd=root, env=env).returncode == 0


def test_two_concurrent_builds_build_each_key_once(make_workspace, tmp_path):
    root = chain_workspace(make_workspace)
    env = {**__import__("os").environ, "JBUILD_STORE": str(tmp_path / "store")}
    procs = [subprocess.Popen([sys.executable, "-m", "jbuild", "build", target, "-j", "2", "--sandbox", "bwrap",
                               "--no-link", "--build-events", str(tmp_path / f"ev{i}")],
                              cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for i, target in enumerate(["//:top", "//:p40"])]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    built = [e["target"] for i in range(2) for e in events(tmp_path / f"ev{i}")
             if e["event"] == "action_executed" and e["success"]]
    assert len(built) == len(set(built)) == N + 1


def test_verify_detects_tampering_and_repair_evicts(make_workspace, tmp_path):
    root = make_workspace({"BUILD": 'package a { version = "1" build = "mkdir -p $OUT && echo a > $OUT/a" }'})
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    assert run_jbuild("build", "//:a", "--sandbox", "bwrap", cwd=root, env=env).returncode == 0
    (entry,) = [p for p in (tmp_path / "store").iterdir() if "-a-1" in p.name]
    (entry / "a").chmod(0o644)
    (entry / "a").write_text("tampered")
    r = run_jbuild("store", "verify", cwd=root, env=env)
    assert r.returncode == 1 and "contents changed" in r.stdout
    assert run_jbuild("store", "verify", "--repair", cwd=root, env=env).returncode == 0
    assert not entry.exists()
    r = run_jbuild("build", "//:a", "--sandbox", "bwrap", cwd=root, env=env)
    assert r.returncode == 0 and "1 built" in r.stderr


def test_gc_keeps_what_the_result_link_reaches(make_workspace, tmp_path):
    root = make_workspace({"BUILD": """
        package lib { version = "1" build = "mkdir -p $OUT/lib && echo 1 > $OUT/lib/x" }
        package app { version = "1" requires = [:lib] build = "mkdir -p $OUT/bin" }
        package orphan { version = "1" build = "mkdir -p $OUT && echo big > $OUT/o" }
    """})
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    assert run_jbuild("build", "//:orphan", "--no-link", "--sandbox", "bwrap", cwd=root, env=env).returncode == 0
    assert run_jbuild("build", "//:app", "--sandbox", "bwrap", cwd=root, env=env).returncode == 0
    dry = run_jbuild("gc", "--dry-run", cwd=root, env=env)
    assert "would delete" in dry.stdout and "-orphan-1" in dry.stdout and "-app-1" not in dry.stdout
    r = run_jbuild("gc", cwd=root, env=env)
    assert r.returncode == 0 and "bytes freed" in r.stdout
    names = [p.name for p in (tmp_path / "store").iterdir()]
    assert any("-app-1" in n for n in names) and any("-lib-1" in n for n in names)
    assert not any("-orphan-1" in n for n in names)


def test_corrupt_index_is_set_aside_and_rebuilt_from_the_entries(make_workspace, tmp_path):
    root = make_workspace({"BUILD": 'package a { version = "1" build = "mkdir -p $OUT && echo a > $OUT/a" }'})
    store = tmp_path / "store"
    env = {"JBUILD_STORE": str(store)}
    assert run_jbuild("build", "//:a", "--sandbox", "bwrap", cwd=root, env=env).returncode == 0
    (store / "index.sqlite").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (store / f"index.sqlite{suffix}").unlink(missing_ok=True)
    r = run_jbuild("explain", "//:a", "--sandbox", "bwrap", cwd=root, env=env)
    assert r.returncode == 0 and "the store index was corrupt" in r.stderr and "Traceback" not in r.stderr
    assert list(store.glob("index.sqlite.corrupt-*"))
    r = run_jbuild("build", "//:a", "--sandbox", "bwrap", cwd=root, env=env)
    assert r.returncode == 0 and "0 built, 1 reused" in r.stderr
    assert run_jbuild("store", "verify", cwd=root, env=env).returncode == 0

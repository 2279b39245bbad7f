"""Ways a build used to see or touch what it should not: jbuild's own environment through
bubblewrap's process (/proc/1/environ), and a background process writing into $OUT after the
script returned; a store entry the build did not declare; zombies left to a reaper. Real
bubblewrap, real processes."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import run_jbuild
from jbuild.engine import sandbox_landlock
from jbuild.engine.sandbox import BwrapExecutor, FallbackExecutor, Job

SECRET = "s3cr3t-token-of-the-ci-job"

BUILD = """
package probe {
    version = "1"
    build_requires = [@std//host:sh]
    build = \"\"\"
        mkdir -p "$OUT"
        tr '\\\\0' '\\\\n' < /proc/1/environ | grep -q '^PATH=' || exit 20   # readable: not vacuous
        for f in /proc/[0-9]*/environ; do tr '\\\\0' '\\\\n' < "$f"; done > /tmp/all 2>/dev/null || true
        grep -q JBUILD_PROBE_SECRET /tmp/all && exit 21
        echo ok > "$OUT/ok"
    \"\"\"
}
"""


def test_no_process_in_the_sandbox_shows_jbuilds_environment(make_workspace, tmp_path):
    """(The fallback has no pid namespace: it can read jbuild's /proc/<pid>/environ; that is
    part of why it is the weaker sandbox.)"""
    root = make_workspace({"BUILD": BUILD})
    env = {"JBUILD_STORE": str(tmp_path / "store"), "JBUILD_PROBE_SECRET": SECRET}
    r = run_jbuild("build", "//:probe", "--sandbox", "bwrap", cwd=root, env=env)
    assert r.returncode == 0, r.stderr
    assert list((tmp_path / "store").glob("*-probe-*/ok"))


def job(tmp_path: Path, script: str) -> Job:
    for d in ("src", "out", "tmp"):
        (tmp_path / d).mkdir()
    return Job(script=script, src=tmp_path / "src", out=tmp_path / "out", tmp=tmp_path / "tmp",
               log=tmp_path / "log")


@pytest.mark.parametrize("executor", [FallbackExecutor, BwrapExecutor])
def test_a_background_process_cannot_write_after_the_script_returned(tmp_path, executor):
    j = job(tmp_path, '(sleep 1; echo late > "$OUT/x") & (trap "" TERM HUP; sleep 1; echo late > "$OUT/z") &\n'
                      'echo early > "$OUT/y"')
    started = time.monotonic()
    assert executor().run(j) == 0, j.log.read_text()
    assert time.monotonic() - started < 1.0  # it did not wait for the background job either
    time.sleep(1.5)
    assert (j.out / "y").read_text() == "early\n"
    assert not (j.out / "x").exists() and not (j.out / "z").exists()


# ---------------------------------------------------------------- only the declared entries

def entries(store: Path, names) -> dict[str, Path]:
    """Store-entry-like directories side by side, as the store keeps them (sealed: read-only)."""
    out = {}
    for name in names:
        entry = store / f"{'0' * 32}-{name}-1.0"
        entry.mkdir(parents=True)
        (entry / "f").write_text(f"content of {name}\n")
        (entry / "f").chmod(0o444)
        (entry / "run").write_text("#!/bin/sh\nexit 0\n")
        (entry / "run").chmod(0o555)
        entry.chmod(0o555)
        out[name] = entry
    return out


@pytest.fixture(params=["bubblewrap binds", "staged root", "landlock"])
def stage_from(request, monkeypatch):
    """Every way the executor shows dependencies (sandbox.py, sandbox_root.py, sandbox_landlock.py)."""
    if request.param == "bubblewrap binds":
        monkeypatch.setattr(BwrapExecutor, "stage_from", 10 ** 9)
        return request.param
    # where the host cannot, the test must fail, not pass vacuously
    assert BwrapExecutor.landlock_available(), sandbox_landlock.why_not()
    monkeypatch.setattr(BwrapExecutor, "stage_from", 0)
    monkeypatch.setattr(BwrapExecutor, "landlock", request.param == "landlock")
    return request.param


def test_an_undeclared_store_entry_is_unreadable(tmp_path, stage_from):
    store = tmp_path / "store"
    declared, undeclared = entries(store, ["declared"])["declared"], entries(store, ["undeclared"])["undeclared"]
    j = job(tmp_path, f"""
        grep -q 'content of declared' /deps/declared/f || exit 20      # the declared one: readable
        test "$(ls /deps)" = declared || exit 21                       # nothing else under /deps
        test "$(ls /deps/declared/ | tr '\\n' ' ')" = "f run " || exit 27  # listed, through its link too
        /deps/declared/run || exit 28                                  # run
        cat {undeclared}/f && exit 22                                  # not at its store path
        ls {store} && exit 23                                          # nor the store itself
        cat /.store/{undeclared.name}/f && exit 30                     # nor inside (landlock: bound there)
        ls /.store/{undeclared.name} && exit 31
        /.store/{undeclared.name}/run && exit 32
        ls /.store && exit 33
        grep -rqs 'content of undeclared' /deps /env /src /tmp /out /etc && exit 24
        touch /deps/declared/new && exit 25                            # read-only, though we own it
        chmod u+w /deps/declared/f && exit 26
        echo ok > "$OUT/ok"
    """)
    j.deps = {"declared": declared}
    assert BwrapExecutor().run(j) == 0, j.log.read_text()
    assert (j.out / "ok").exists()
    assert (undeclared / "f").read_text() == "content of undeclared\n"  # and the store is untouched
    assert sorted(p.name for p in declared.iterdir()) == ["f", "run"]


def test_a_build_sees_each_of_300_declared_dependencies_quickly(tmp_path, stage_from):
    deps = entries(tmp_path / "store", [f"d{i}" for i in range(300)])
    j = job(tmp_path, """
        n=0
        for i in $(seq 0 299); do grep -qx "content of d$i" /deps/d$i/f || exit 20; n=$((n+1)); done
        test "$(ls /deps | wc -l)" = 300 && test $n = 300 && echo ok > "$OUT/ok"
    """)
    j.deps = deps
    started = time.monotonic()
    assert BwrapExecutor().run(j) == 0, j.log.read_text()
    assert (j.out / "ok").exists()
    if stage_from == "staged root":
        assert time.monotonic() - started < 5.0  # was 0.6 s of mounting alone, idle; 5 s allows a loaded machine


def test_no_zombie_is_left_to_a_process_that_reaps_orphans(tmp_path):
    """bubblewrap's own init used to outlive its parent: a `[bwrap] <defunct>` for whoever
    reaps orphans (a container's pid 1, a subreaper) after the availability check and each job."""
    for d in ("src", "out", "tmp", "dep"):
        (tmp_path / d).mkdir()
    code = f"""
import ctypes, os, sys
from pathlib import Path
assert ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER: orphans come to us
from jbuild.engine.sandbox import BwrapExecutor, Job
assert BwrapExecutor.available() and BwrapExecutor.stages_root()
t = Path({str(tmp_path)!r})
j = Job(script="sleep 5 & true", src=t / "src", out=t / "out", tmp=t / "tmp", deps={{"d": t / "dep"}})
for stage_from in (0, 10 ** 9):
    BwrapExecutor.stage_from = stage_from
    assert BwrapExecutor().run(j) == 0
import time; time.sleep(0.5)
me = str(os.getpid())
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        fields = open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    if fields[1] == me and fields[0] == "Z":
        sys.exit(f"child {{pid}} left a zombie: " + open(f"/proc/{{pid}}/comm").read())
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_cancel_stops_a_running_sandbox(tmp_path, stage_from):
    """An interrupt kills the sandbox whichever way it was started (the stager's child too)."""
    import threading

    j = job(tmp_path, 'echo started > "$OUT/started"; sleep 30; echo late > "$OUT/late"')
    j.deps = entries(tmp_path / "store", ["d"])
    executor, codes = BwrapExecutor(), []
    worker = threading.Thread(target=lambda: codes.append(executor.run(j)))
    started = time.monotonic()
    worker.start()
    while not (j.out / "started").exists():
        assert time.monotonic() - started < 20, j.log.read_text()
        time.sleep(0.05)
    executor.cancel()
    worker.join(20)
    assert not worker.is_alive() and codes and codes[0] != 0
    assert time.monotonic() - started < 25 and not (j.out / "late").exists()


def test_a_build_with_many_requirements_sees_them_through_deps_and_env(make_workspace, tmp_path):
    """Through jbuild itself: enough requirements for a staged root (BwrapExecutor.stage_from),
    each at /deps/NAME and merged into /env."""
    n = BwrapExecutor.stage_from + 2
    blocks = [f'package d{i} {{ version = "1" build = "mkdir -p $OUT/include && echo {i} > $OUT/include/d{i}.h" }}'
              for i in range(n)]
    reqs = ", ".join(f":d{i}" for i in range(n))
    blocks.append(f"""package top {{
        version = "1"
        requires = [{reqs}]
        build = \"\"\"
            for i in $(seq 0 {n - 1}); do
                test "$(cat /deps/d$i/include/d$i.h)" = $i && test "$(cat /env/include/d$i.h)" = $i || exit 20
            done
            mkdir -p $OUT && ls /deps > $OUT/deps
        \"\"\"
    }}""")
    root = make_workspace({"BUILD": "\n".join(blocks)})
    r = run_jbuild("build", "//:top", "--sandbox", "bwrap", cwd=root, env={"JBUILD_STORE": str(tmp_path / "store")})
    assert r.returncode == 0, r.stderr
    (entry,) = (tmp_path / "store").glob("*-top-1")
    assert (entry / "deps").read_text().split() == sorted(f"d{i}" for i in range(n))

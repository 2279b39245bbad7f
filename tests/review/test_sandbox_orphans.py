"""Review of h-sandbox: jbuild now starts the stager's C child itself (its child, in a session
of its own) and stages every action, a test's time limit included. Nothing the sandbox ran may
outlive a time limit or a SIGKILL of jbuild alone (the OOM killer's way: not its process group),
and nothing of jbuild's environment may reach the build. Real bubblewrap."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import gone_within, processes_holding
from jbuild.engine.sandbox import BwrapExecutor, Job


def _alive(marker: str) -> list[int]:
    return processes_holding(marker)


def _gone(marker: str, within: float) -> bool:
    return gone_within(marker, within)


def _job(tmp_path: Path, name: str, script: str) -> Job:
    dirs = [tmp_path / name / d for d in ("src", "out", "tmp")]
    for d in dirs:
        d.mkdir(parents=True)
    return Job(script=script, src=dirs[0], out=dirs[1], tmp=dirs[2], log=tmp_path / f"{name}.log")


def test_a_time_limit_kills_what_the_script_started(tmp_path):
    assert BwrapExecutor.stages_root()
    marker = f"98{os.getpid()}7"
    job = _job(tmp_path, "slow", f"sleep {marker} & sleep {marker}1; wait")
    job.timeout = 1.0
    with pytest.raises(subprocess.TimeoutExpired):
        BwrapExecutor().run(job)
    assert _gone(marker, 10), f"left running after the time limit: {_alive(marker)}"


def test_the_environment_of_jbuild_stays_out(tmp_path, monkeypatch):
    monkeypatch.setenv("JBUILD_REVIEW_SECRET", "leak")
    job = _job(tmp_path, "env", "env > $OUT/env")
    assert BwrapExecutor().run(job) == 0, job.log.read_text()
    seen = (job.out / "env").read_text()
    assert "JBUILD_REVIEW_SECRET" not in seen and "leak" not in seen


def _slow_build(root, tmp_path, marker: str, output) -> subprocess.Popen:
    """`jbuild build //:slow` in a session of its own, once its action (a `sleep <marker>`) runs."""
    env = {**os.environ, "JBUILD_STORE": str(tmp_path / "store")}
    proc = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//:slow", "--sandbox", "bwrap"], cwd=root,
                            env=env, stdout=output, stderr=output, start_new_session=True)
    end = time.monotonic() + 40
    while not _alive(marker) and time.monotonic() < end and proc.poll() is None:
        time.sleep(0.1)
    if not _alive(marker) and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    assert _alive(marker), "the build never started its action"
    return proc


def test_sigkill_of_jbuild_alone_leaves_no_sandboxed_process(make_workspace, tmp_path):
    marker = f"97{os.getpid()}5"
    root = make_workspace({"BUILD": f'package slow {{\n    version = "1"\n'
                                     f'    build = "sleep {marker} & sleep {marker}1; mkdir -p $OUT"\n}}\n'})
    proc = _slow_build(root, tmp_path, marker, subprocess.DEVNULL)
    try:
        os.kill(proc.pid, signal.SIGKILL)  # jbuild alone, as the OOM killer does
        proc.wait()
        assert _gone(marker, 10), f"left running after jbuild was killed: {_alive(marker)}"
        stager = str(Path(__import__("jbuild.engine.sandbox_zygote").engine.sandbox_zygote.__file__))
        assert _gone(stager, 10) or not [p for p in _alive(stager) if _ppid(p) == 1 and _in_group(p, proc.pid)]
        server = "--serve"  # the C fork server (stage_exec.c): ends with its thread too
        assert _gone(server, 10) or not [p for p in _alive(server) if _ppid(p) == 1 and _in_group(p, proc.pid)]
    finally:
        _kill_all(proc, marker)


def _kill_all(proc: subprocess.Popen, marker: str) -> None:
    """What a test's slow build left, whatever happened: its process group and the marked sleeps."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in _alive(marker):
        os.kill(pid, signal.SIGKILL)


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def _in_group(pid: int, pgid: int) -> bool:
    try:
        return os.getpgid(pid) == pgid
    except OSError:
        return False


def test_an_interrupt_stops_a_staged_action_and_exits_8(make_workspace, tmp_path):
    """Ctrl-C (SIGINT to jbuild's process group, as a terminal sends it): jbuild stops within
    seconds with exit code 8, and the action it started itself (in a session of its own, which
    the terminal's signal does not reach) is gone too."""
    marker = f"96{os.getpid()}3"
    root = make_workspace({"BUILD": f'package slow {{\n    version = "1"\n'
                                     f'    build = "sleep {marker}; mkdir -p $OUT"\n}}\n'})
    proc = _slow_build(root, tmp_path, marker, subprocess.PIPE)
    try:
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 8, err
        assert b"Traceback" not in err, err
        assert _gone(marker, 10), f"left running after the interrupt: {_alive(marker)}"
    finally:
        _kill_all(proc, marker)


def test_a_time_limit_holds_in_a_process_with_descriptors_past_1023(tmp_path):
    """An in-process caller that made many stores holds many descriptors (a CI run once reached
    1,024): waiting for a build under a time limit must not need a small descriptor number
    (select() refused it with "filedescriptor out of range")."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2048, hard), hard))
    held = [os.open("/dev/null", os.O_RDONLY) for _ in range(1100)]
    try:
        assert max(held) > 1023
        quick = _job(tmp_path, "quick", "echo done > /out/done")
        quick.timeout = 30.0
        assert BwrapExecutor().run(quick) == 0 and (quick.out / "done").read_text() == "done\n"
        slow = _job(tmp_path, "slow", f"sleep 98{os.getpid()}3")
        slow.timeout = 0.5
        with pytest.raises(subprocess.TimeoutExpired):
            BwrapExecutor().run(slow)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

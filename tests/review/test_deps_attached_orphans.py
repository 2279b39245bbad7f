"""With dependencies attached later (stage_exec.c's
clones moved into the sandbox's mount namespace), a time limit and a failing start leave no
process behind: neither the build's nor the C child's mounting helper (which holds the clones
and waits on the sandbox's word). Real bubblewrap."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from helpers import gone_within, processes_holding
from jbuild.engine import sandbox_zygote
from jbuild.engine.sandbox import BwrapExecutor, Job

STAGER = b"--serve"  # the stager (the C fork server) lives on between jobs: not a leftover


def _alive(marker: str) -> list[int]:
    return processes_holding(marker, ignore=STAGER)


def _gone(marker: str, within: float) -> bool:
    return gone_within(marker, within, ignore=STAGER)


def _job(tmp_path: Path, name: str, script: str, n: int) -> Job:
    deps = {}
    for i in range(n):
        entry = tmp_path / "store" / f"{i:032x}-d{i}-1"
        entry.mkdir(parents=True)
        (entry / "f").write_text(f"entry {i}\n")
        deps[f"d{i}"] = entry
    dirs = [tmp_path / name / d for d in ("src", "out", "tmp")]
    for d in dirs:
        d.mkdir(parents=True)
    return Job(script=script, src=dirs[0], out=dirs[1], tmp=dirs[2], deps=deps, log=tmp_path / f"{name}.log")


@pytest.mark.parametrize("n", [1, 200])
def test_a_time_limit_with_deps_mounted_later_leaves_nothing(tmp_path, n):
    program = sandbox_zygote.child_program()
    assert program is not None
    before = set(_alive(str(program)))
    marker = f"96{os.getpid()}{n}"
    job = _job(tmp_path, "slow", f"cat /deps/d0/f > $OUT/seen; sleep {marker}", n)
    job.timeout = 1.5
    with pytest.raises(subprocess.TimeoutExpired):
        BwrapExecutor().run(job)
    assert (job.out / "seen").read_text() == "entry 0\n", job.log.read_text()
    assert _gone(marker, 10), _alive(marker)
    end = time.monotonic() + 10
    while set(_alive(str(program))) - before and time.monotonic() < end:
        time.sleep(0.2)
    assert not set(_alive(str(program))) - before, "the C child's helpers outlived the time limit"


def test_a_vanished_dependency_fails_clearly_and_leaves_nothing(tmp_path):
    """An entry removed between planning and staging: the clone fails; the build is refused
    with a message in its log, never run without the dependency."""
    program = sandbox_zygote.child_program()
    before = set(_alive(str(program)))
    job = _job(tmp_path, "gone", "echo ran > $OUT/ran", 5)
    os.rename(job.deps["d3"], tmp_path / "elsewhere")
    code = BwrapExecutor().run(job)
    assert code != 0 and not (job.out / "ran").exists(), job.log.read_text()
    assert "d3" in job.log.read_text(), job.log.read_text()
    end = time.monotonic() + 10  # (another branch's tests may run the same compiled child meanwhile)
    while set(_alive(str(program))) - before and time.monotonic() < end:
        time.sleep(0.2)
    assert not set(_alive(str(program))) - before

"""A stager's stage directory does not outlive it: removed when it ends, and when it is killed
outright (SIGKILL skips its removal: jbuild killed with its process group), removed by the next
jbuild's sweep (sandbox_zygote.sweep_stages) — never while its stager lives."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

import pytest
from jbuild.engine import sandbox_zygote
from jbuild.engine.sandbox import BwrapExecutor


@pytest.fixture
def temp(tmp_path, monkeypatch):
    """Stages made here, not in the shared /tmp; each test sweeps afresh."""
    assert BwrapExecutor.stages_root()  # where it cannot, the test must fail, not pass vacuously
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(sandbox_zygote, "_SWEPT", [])
    return tmp_path


@pytest.fixture(params=["c", "python"])
def kind(request, monkeypatch):
    """The C fork server, and the Python stager (no `cc`, JBUILD_STAGE_EXEC=0)."""
    if request.param == "python":
        monkeypatch.setattr(sandbox_zygote, "_CHILD", [None])
    elif sandbox_zygote.child_program() is None:
        pytest.fail("cc is installed where the tests run: the C stager must build")
    return request.param


def _sweep(min_age: float = 0.0) -> None:
    sandbox_zygote._SWEPT.clear()  # (once per process: the stagers' start swept already)
    sandbox_zygote.sweep_stages(min_age)


def _stages(where: Path) -> list[Path]:
    return sorted(where.glob(sandbox_zygote.STAGE_PREFIX + "*"))


def test_a_stager_killed_outright_leaves_a_stage_the_next_sweep_removes(temp, kind):
    killed, alive = sandbox_zygote.Zygote(), sandbox_zygote.Zygote()
    assert killed.serves == (kind == "c") and alive.serves == (kind == "c")
    assert _stages(temp) == sorted([killed.stage, alive.stage])
    os.kill(killed.proc.pid, signal.SIGKILL)
    killed.proc.wait()
    assert killed.stage.is_dir()  # what the SIGKILL left
    _sweep()
    assert _stages(temp) == [alive.stage]  # the live stager's, locked, stays
    alive.close()
    assert _stages(temp) == []  # removed by its stager as it ended


def test_the_sweep_leaves_a_stage_just_made_and_what_is_not_a_stage(temp):
    young = temp / (sandbox_zygote.STAGE_PREFIX + "young")  # a stager about to lock it
    young.mkdir()
    old = temp / (sandbox_zygote.STAGE_PREFIX + "old")
    old.mkdir()
    (old / "f").write_text("")  # not empty: never ours to remove
    other = temp / "jbuild-stage-abc123"  # an older jbuild's, which holds no lock: perhaps alive
    other.mkdir()
    _sweep(60.0)
    assert young.is_dir() and old.is_dir() and other.is_dir()
    _sweep()
    assert not young.exists() and old.is_dir() and other.is_dir()


def test_the_stager_sweeps_once_per_process_when_it_starts(temp, monkeypatch):
    left = temp / (sandbox_zygote.STAGE_PREFIX + "left")
    left.mkdir()
    monkeypatch.setattr(sandbox_zygote.sweep_stages, "__defaults__", (0.0,))
    zygote = sandbox_zygote.Zygote()
    try:
        assert not left.exists() and _stages(temp) == [zygote.stage]
        left.mkdir()
        second = sandbox_zygote.Zygote()
        second.close()
        assert left.is_dir()  # once per process: not at every stager's start
    finally:
        zygote.close()
    deadline = time.monotonic() + 5
    while zygote.stage.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not zygote.stage.exists()

"""The stager's C child (stage_exec.c) stages the same root as the Python one it replaces
(StagedRoot.__call__, the fallback without `cc`): same mounts with the same flags, same tree,
same failures. Real bubblewrap, the program really compiled."""

from pathlib import Path

import pytest
from jbuild.engine import sandbox_zygote
from jbuild.engine.sandbox import BwrapExecutor, Job, env_plan

# What the build sees of its root: each mount's point, type and flags (ids differ run to run),
# and the tree of the staged parts.
SCRIPT = r"""set +x; {
awk '{ for (i = 7; $i != "-"; i++); print $5, $(i+1), $6 }' /proc/self/mountinfo | sort
ls -la / /dev /deps /deps/d0 /env /src /src/sub /out | awk '{ print $1, $3, $4, $NF }'
cat /src/sub/a.txt /deps/d1/f
grep -E '^Sig(Ign|Blk)' /proc/self/status
} > /tmp/seen 2>&1; mv /tmp/seen $OUT/seen
"""


@pytest.fixture
def program():
    got = sandbox_zygote.child_program()
    assert got is not None, "cc is installed where the tests run: the C child must be what stages"
    return got


def _job(tmp_path: Path, name: str, deps: dict) -> Job:
    dirs = [tmp_path / name / d for d in ("src", "out", "tmp")]
    for d in dirs:
        d.mkdir(parents=True)
    source = tmp_path / "a.txt"
    source.write_text("declared\n")
    j = Job(script=SCRIPT, src=dirs[0], out=dirs[1], tmp=dirs[2], deps=deps, log=tmp_path / f"{name}.log",
            src_files=[("sub/a.txt", str(source))])
    j.env_links = env_plan(j)
    return j


def _entries(tmp_path: Path, n: int) -> dict[str, Path]:
    deps = {}
    for i in range(n):
        entry = tmp_path / "store" / f"{i:032x}-d{i}-1"
        (entry / "bin").mkdir(parents=True)
        (entry / "f").write_text(f"entry {i}\n")
        (entry / "bin" / f"tool{i}").write_text("")
        deps[f"d{i}"] = entry
    return deps


def test_the_c_child_stages_what_the_python_child_stages(tmp_path, program, monkeypatch):
    monkeypatch.setattr(BwrapExecutor, "stage_from", 0)
    monkeypatch.setattr(BwrapExecutor, "defer_from", 1)  # the C child mounts /deps/* once bubblewrap is done
    deps = _entries(tmp_path, 12)
    c_job, py_job = _job(tmp_path, "c", deps), _job(tmp_path, "py", deps)
    c = BwrapExecutor()
    assert c.run(c_job) == 0, c_job.log.read_text()
    monkeypatch.setattr(sandbox_zygote, "_CHILD", [None])  # a new stager without the program: it forks
    py = BwrapExecutor()
    assert py.run(py_job) == 0, py_job.log.read_text()
    seen = (c_job.out / "seen").read_text()
    assert seen == (py_job.out / "seen").read_text()
    assert "/deps/d11 " in seen and "/src/sub/a.txt " in seen and "No such file" not in seen
    assert "declared\nentry 1\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n" in seen  # SIGPIPE as usual
    assert c._zygote().serves and not py._zygote().serves


def test_a_root_that_cannot_be_staged_fails_with_why(tmp_path, program, monkeypatch):
    monkeypatch.setattr(BwrapExecutor, "stage_from", 0)
    odd = tmp_path / "store" / "0123-odd-1"  # a file where an entry's directory should be: its bind fails
    odd.parent.mkdir()
    odd.write_text("")
    j = _job(tmp_path, "odd", {"odd": odd})
    assert BwrapExecutor().run(j) == 126
    assert f"jbuild: cannot stage the sandbox's root: bind {odd}: Not a directory" in j.log.read_text()


def test_a_time_limit_holds_and_a_deleted_program_falls_back_to_the_stager(tmp_path, program, monkeypatch):
    """Past the job's time limit the C server's child's process group is killed (TimeoutExpired,
    as bubblewrap's own path raises) and the server serves on; a cached program deleted meanwhile
    (a `jbuild gc`) is not a failed build: a running server keeps serving, and a stager started
    later is the Python one, which forks and stages in Python."""
    import shutil
    import subprocess
    import time

    copy = tmp_path / "stage_exec"
    shutil.copy2(program, copy)
    monkeypatch.setattr(sandbox_zygote, "_CHILD", [copy])
    deps = _entries(tmp_path, 2)
    executor = BwrapExecutor()
    slow = _job(tmp_path, "slow", deps)
    slow.script, slow.timeout = "sleep 30", 0.5
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        executor.run(slow)
    assert time.monotonic() - start < 10
    assert executor.local.zygote.serves  # the path under test
    copy.unlink()
    j = _job(tmp_path, "after", deps)
    assert executor.run(j) == 0, j.log.read_text()
    assert executor.local.zygote.serves and "entry 1" in (j.out / "seen").read_text()
    later = BwrapExecutor()
    k = _job(tmp_path, "later", deps)
    assert later.run(k) == 0, k.log.read_text()
    assert not later.local.zygote.serves and "entry 1" in (k.out / "seen").read_text()

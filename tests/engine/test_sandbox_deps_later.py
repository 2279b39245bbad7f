"""Dependencies mounted once bubblewrap has made the sandbox (stage_exec.c, op 'W'): the build
sees each declared entry read-only and nosuid, nothing undeclared, no descriptor of the
hand-over, and never runs without them. Real bubblewrap, the C child really compiled."""

from pathlib import Path

import pytest
from jbuild.engine import sandbox, sandbox_zygote
from jbuild.engine.sandbox import BwrapExecutor, Job

# Each /deps mount's point and options, what /deps holds, the descriptors the build holds (ls's
# own directory is one more), and whether a dependency or /deps itself can be written.
SCRIPT = r"""set +x; {
awk '$5 ~ "^/deps" { print $5, $6 }' /proc/self/mountinfo | sort
echo "listed: $(ls /deps | tr '\n' ' ')"
echo "fds: $(ls /proc/self/fd | tr '\n' ' ')"
touch /deps/d0/new 2>/dev/null && echo "wrote a dependency"
mkdir /deps/extra 2>/dev/null && echo "wrote /deps"
cat /deps/d2/f
} > $OUT/seen 2>&1
"""


@pytest.fixture
def program():
    got = sandbox_zygote.child_program()
    assert got is not None, "cc is installed where the tests run: the C child must be what stages"
    return got


def _entries(store: Path, n: int) -> dict[str, Path]:
    deps = {}
    for i in range(n):
        entry = store / f"{i:032x}-d{i}-1"
        entry.mkdir(parents=True)
        (entry / "f").write_text(f"entry {i}\n")
        deps[f"d{i}"] = entry
    return deps


def _job(tmp_path: Path, name: str, deps: dict) -> Job:
    dirs = [tmp_path / name / d for d in ("src", "out", "tmp")]
    for d in dirs:
        d.mkdir(parents=True)
    return Job(script=SCRIPT, src=dirs[0], out=dirs[1], tmp=dirs[2], deps=deps, log=tmp_path / f"{name}.log")


def _check(seen: str, n: int) -> None:
    lines = seen.splitlines()
    mounts = [x for x in lines if x.startswith("/deps/")]
    assert len(mounts) == n and all(x.split()[1].startswith("ro,nosuid") for x in mounts), seen
    assert any(x.startswith("/deps ro,nosuid") for x in lines), seen
    assert f"listed: {' '.join(sorted(f'd{i}' for i in range(n)))} " in lines, seen
    assert "fds: 0 1 2 3 " in lines, seen  # 3: ls's own directory
    assert "wrote" not in seen and "entry 2" in lines, seen


def test_dependencies_mounted_later_are_read_only_and_alone(tmp_path, program):
    store = tmp_path / "store"
    deps = _entries(store, 300)
    _entries(tmp_path / "other", 1)
    (store / f"{999:032x}-undeclared-1").mkdir()  # beside the declared ones, in the store bound read-only
    j = _job(tmp_path, "later", deps)
    argv, root = BwrapExecutor().staged_argv(j, tmp_path / "stage", True)
    assert [op[0] for op in root.ops].count("deps_later") == 1 and "--wait" in argv  # the path under test
    few = _job(tmp_path, "few", dict(list(deps.items())[:BwrapExecutor.defer_from - 1]))
    argv, root = BwrapExecutor().staged_argv(few, tmp_path / "stage", True)
    assert "deps" in [op[0] for op in root.ops] and "--wait" not in argv  # mounted before, as cheaper
    assert BwrapExecutor().run(j) == 0, j.log.read_text()
    _check((j.out / "seen").read_text(), 300)


def test_the_python_child_gives_the_go_ahead_at_once(tmp_path, program, monkeypatch):
    """A stager without the C program (its cache deleted after the command line was made) stages
    in Python: it mounts the dependencies before bubblewrap and answers the wait itself."""
    monkeypatch.setattr(sandbox_zygote, "_CHILD", [None])  # the stager forks and stages in Python
    monkeypatch.setattr(sandbox, "child_program", lambda: program)  # ... under a command line that waits
    monkeypatch.setattr(BwrapExecutor, "defer_from", 1)
    deps = _entries(tmp_path / "store", 5)
    j = _job(tmp_path, "py", deps)
    executor = BwrapExecutor()
    assert executor.run(j) == 0, j.log.read_text()
    assert not executor._zygote().serves
    _check((j.out / "seen").read_text(), 5)


def test_a_dependency_that_cannot_be_mounted_stops_the_build(tmp_path, program, monkeypatch):
    monkeypatch.setattr(BwrapExecutor, "defer_from", 1)
    deps = _entries(tmp_path / "store", 3)
    (deps["d1"] / "f").unlink()
    deps["d1"].rmdir()  # gone after its consumer's job was made
    j = _job(tmp_path, "gone", deps)
    j.script = "echo ran > $OUT/ran"
    assert BwrapExecutor().run(j) == 126
    log = j.log.read_text()
    assert f"cannot stage the sandbox's root: bind {deps['d1']}: No such file or directory" in log, log
    assert "its dependencies were not mounted" in log and not (j.out / "ran").exists()


def test_dependencies_are_attached_in_the_sandbox_itself(tmp_path, program):
    """Each entry is cloned while bubblewrap starts and attached in the sandbox's own mount
    namespace: one mount, no propagated copy of a mount on the stage (which would be a slave of
    it, `master:N` in mountinfo's optional fields) to make and tear down twice."""
    deps = _entries(tmp_path / "store", 40)
    j = _job(tmp_path, "attached", deps)
    j.script = r"""awk '$5 ~ "^/deps/" { print $5, $7 }' /proc/self/mountinfo > $OUT/seen"""
    assert BwrapExecutor().run(j) == 0, j.log.read_text()
    lines = (j.out / "seen").read_text().splitlines()
    assert len(lines) == 40, lines
    assert not [x for x in lines if "master:" in x], lines


FALLBACK = r"""
import sys
from pathlib import Path
from jbuild.engine.sandbox import BwrapExecutor, Job
tmp = Path(sys.argv[1])
deps = {}
for i in range(300):
    (tmp / "store" / f"d{i}").mkdir(parents=True)
    (tmp / "store" / f"d{i}" / "f").write_text(f"entry {i}\n")
    deps[f"d{i}"] = tmp / "store" / f"d{i}"
dirs = [tmp / d for d in ("src", "out", "tmp")]
for d in dirs:
    d.mkdir()
script = r'''awk '$5 ~ "^/deps/" { print $5, $6, $7 }' /proc/self/mountinfo > $OUT/seen; cat /deps/d299/f >> $OUT/seen'''
job = Job(script=script, src=dirs[0], out=dirs[1], tmp=dirs[2], deps=deps, log=tmp / "log")
sys.exit(BwrapExecutor().run(job))
"""


def test_without_descriptors_for_the_clones_the_entries_are_bound_on_the_stage(tmp_path, program):
    """300 clones need 300 descriptors at once: under a hard limit of 256 the child binds each
    entry on the stage's point instead, from where it propagates into the sandbox (a slave of
    it): the build sees the same, read-only."""
    import resource
    import subprocess
    import sys

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    r = subprocess.run([sys.executable, "-c", FALLBACK, str(tmp_path)], preexec_fn=limit, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr + (tmp_path / "log").read_text()
    lines = (tmp_path / "out" / "seen").read_text().splitlines()
    mounts = [x for x in lines if x.startswith("/deps/")]
    assert len(mounts) == 300 and all(x.split()[1].startswith("ro,nosuid") and "master:" in x for x in mounts), lines
    assert lines[-1] == "entry 299", lines

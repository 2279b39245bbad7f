"""Review of h-deps: an ordinary user's build whose action has more than 32 dependencies (so
they are mounted once bubblewrap has made the sandbox, stage_exec.c op 'W'), through the real
CLI and unprivileged bubblewrap: each dependency read, none written, an undeclared entry of the
store unreachable; a patch of one dependency rebuilt and seen."""

import shlex
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "engine"))
from jbuild.engine.store.fsops import force_remove  # noqa: E402
from test_store_nonroot import IS_ROOT, User  # noqa: E402

N = 40


def _build_file() -> str:
    out = [f'package d{i} {{ version = "1" sources = ["d{i}.txt"] build = "mkdir -p $OUT && cp $SRC/d{i}.txt $OUT/f" }}\n'
           for i in range(N)]
    out.append('package lone { version = "1" sources = ["lone.txt"] build = "mkdir -p $OUT && cp $SRC/lone.txt $OUT/f" }\n')
    reads = " ".join(f"/deps/d{i}/f" for i in range(N))
    out.append(f'package top {{ version = "1" sources = ["top.txt"] requires = [{", ".join(f":d{i}" for i in range(N))}]\n'
               f'  build = """mkdir -p $OUT && cat {reads} > $OUT/all\n'
               '  if touch /deps/d0/f 2>/dev/null; then echo wrote > $OUT/wrote; fi\n'
               '  ls / /deps > $OUT/seen; cat /proc/self/mountinfo | grep -c lone > $OUT/lone || true\n"""\n}\n')
    return "".join(out)


@pytest.fixture
def user(tmp_path):
    home = Path(tempfile.mkdtemp(prefix="jbuild-user-")) if IS_ROOT else tmp_path
    home.chmod(0o755)
    u = User(home)
    yield u
    if IS_ROOT:
        force_remove(home)


def test_many_dependencies_mounted_later_for_an_ordinary_user(user):
    ws = user.home / "ws"
    files = {"BUILD": _build_file(), "jbuild.toml": "", "top.txt": "top\n", "lone.txt": "lone\n",
             **{f"d{i}.txt": f"dep {i}\n" for i in range(N)}}
    script = " && ".join(f"printf %s {shlex.quote(t)} > {shlex.quote(str(ws / n))}" for n, t in files.items())
    assert user.run("sh", "-c", f"mkdir -p {shlex.quote(str(ws))} && {script}", cwd=user.home).returncode == 0
    r = user.jbuild("build", "//:lone", "//:top", "--sandbox", "bwrap", cwd=ws)
    assert r.returncode == 0, r.stderr
    top = next(p for p in (user.home / "store").iterdir() if "-top-" in p.name)
    assert (top / "all").read_text() == "".join(f"dep {i}\n" for i in range(N))
    assert not (top / "wrote").exists()
    assert (top / "lone").read_text().strip() == "0"
    assert user.run("sh", "-c", "echo 'dep 7 patched' > d7.txt", cwd=ws).returncode == 0
    r = user.jbuild("build", "//:top", "--sandbox", "bwrap", cwd=ws)
    assert r.returncode == 0, r.stderr
    top = [p for p in (user.home / "store").iterdir() if "-top-" in p.name]
    assert len(top) == 2 and any("dep 7 patched" in (p / "all").read_text() for p in top)

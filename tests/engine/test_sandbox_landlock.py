"""The Landlock mode (sandbox_landlock.py, landlock_exec.c): one bind of the whole store, a
ruleset granting the declared entries only. Real bubblewrap, the real helper compiled by the
host's cc, real Landlock (this kernel's ABI); `--sandbox landlock` refused (exit 2) where there
is no compiler. (The undeclared-entry checks shared by every mode: test_sandbox_holes.py.)"""

import os
import subprocess
import sys
from pathlib import Path

from elftools.elf.elffile import ELFFile
from helpers import run_jbuild
from jbuild.engine import sandbox_landlock
from jbuild.engine.sandbox import BWRAP_ENV, BwrapExecutor, Job, bwrap_path

HELPER_FAILED = 126
LANDLOCK_INFO = ("bwrap (bubblewrap; dependencies: mounts; roots staged by the C fork server (stage_exec.c)); "
                 "--sandbox landlock: available")


def store_with(tmp_path: Path, names) -> dict[str, Path]:
    out = {}
    for name in names:
        entry = tmp_path / "store" / f"{'1' * 32}-{name}-1.0"
        (entry / "sub").mkdir(parents=True)
        (entry / "f").write_text(f"content of {name}\n")
        out[name] = entry
    return out


def job(tmp_path: Path, script: str, deps: dict) -> Job:
    dirs = [tmp_path / "job" / d for d in ("src", "out", "tmp")]
    for d in dirs:
        d.mkdir(parents=True)
    return Job(script=script, src=dirs[0], out=dirs[1], tmp=dirs[2], deps=deps, log=tmp_path / "log")


def test_a_link_inside_a_declared_entry_gives_no_access_to_an_undeclared_one(tmp_path, landlock):
    deps = store_with(tmp_path, ["declared", "undeclared"])
    hidden = deps.pop("undeclared")
    os.symlink(f"../{hidden.name}/f", deps["declared"] / "relative")
    os.symlink(f"/.store/{hidden.name}", deps["declared"] / "absolute")
    j = job(tmp_path, """
        grep -q 'content of declared' /deps/declared/f || exit 20
        test -L /deps/declared/relative || exit 21                     # the links are there
        cat /deps/declared/relative && exit 22
        cat /deps/declared/absolute/f && exit 23
        ls /deps/declared/absolute/ && exit 24
        cat /deps/declared/../{name}/f && exit 25
        cd /deps/declared/absolute && cat f && exit 26
        echo ok > /out/ok
    """.replace("{name}", hidden.name), deps)
    assert landlock.run(j) == 0, j.log.read_text()
    assert (j.out / "ok").exists()


def test_declared_entries_are_read_only_and_scratch_is_fully_usable(tmp_path, landlock):
    """Every right the ruleset handles (refer, truncate, ...) is granted back in /out and /tmp:
    renames and hard links across directories, truncation, devices; none reaches an entry."""
    deps = store_with(tmp_path, ["declared"])
    j = job(tmp_path, """
        touch /deps/declared/new && exit 20
        echo x >> /deps/declared/f && exit 21
        mkdir /deps/declared/sub/d && exit 22
        mv /deps/declared/f /tmp/f && exit 23
        ln /deps/declared/f /tmp/hard && exit 24
        echo a > /tmp/a && mkdir -p /tmp/x /out/y && mv /tmp/a /tmp/x/a && ln /tmp/x/a /tmp/b
        mv /tmp/x/a /out/y/a && : > /out/y/a && test ! -s /out/y/a
        echo data > /dev/null && head -c 4 /dev/urandom > /tmp/r && test -s /tmp/r
        test "$(cat /deps/declared/f)" = "content of declared"
        echo ok > /out/ok
    """, deps)
    assert landlock.run(j) == 0, j.log.read_text()
    assert (j.out / "ok").exists()
    assert (deps["declared"] / "f").read_text() == "content of declared\n"


def test_mounts_do_not_grow_with_the_dependencies(tmp_path, landlock, monkeypatch):
    """The point of the mode: one bind of the store, whatever the count (mounts: one each)."""
    deps = store_with(tmp_path, [f"d{i}" for i in range(40)])
    counts = {}
    for mode in ("landlock", "mounts"):
        monkeypatch.setattr(BwrapExecutor, "landlock", mode == "landlock")
        for k in (1, 40):
            sub = tmp_path / f"{mode}{k}"
            j = job(sub, "wc -l < /proc/self/mountinfo > /out/n", dict(list(deps.items())[:k]))
            assert BwrapExecutor().run(j) == 0, j.log.read_text()
            counts[mode, k] = int((j.out / "n").read_text())
    assert counts["landlock", 1] == counts["landlock", 40]
    assert counts["mounts", 40] - counts["mounts", 1] == 39


def test_the_helper_fails_clearly_with_126(tmp_path):
    """A name that is no entry of the store, or one that would reach outside it: refused before
    anything runs, a line in the log, exit code 126 (as a root that cannot be staged)."""
    helper = sandbox_landlock.helper()
    assert helper is not None, sandbox_landlock.why_not()
    (tmp_path / "store" / "e").mkdir(parents=True)
    base = [bwrap_path(), "--unshare-all", "--unshare-user", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev",
            "--ro-bind", str(tmp_path / "store"), "/.store", "/proc/self/fd/3", "/.store"]
    def run(*names):  # the helper at descriptor 3, as the stager's child leaves it
        return subprocess.run(["sh", "-c", f'exec 3<"{helper}"; exec "$@"', "sh", *base, *names, "--", "/bin/true"],
                              env=BWRAP_ENV, capture_output=True, text=True)

    ok = run("e")
    assert ok.returncode == 0, ok.stderr
    for names, message in ((["missing"], "open the declared entry missing: No such file"),
                           ([".."], "not the name of a store entry: ..")):
        r = run(*names)
        assert r.returncode == HELPER_FAILED, r
        assert "jbuild: cannot confine the sandbox to its declared dependencies (landlock): " + message in r.stderr


def test_the_helper_is_built_once_under_the_cache_and_never_half_written(tmp_path):
    """Built to a temporary name and renamed; the next process finds and reuses it."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    code = "from jbuild.engine import sandbox_landlock as s; print(s.helper())"
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    program = Path(first.stdout.strip())
    assert program.parent == tmp_path / "cache" / "jbuild" / "tools"
    assert os.listdir(program.parent) == [program.name] and os.access(program, os.X_OK)
    with open(program, "rb") as f:  # static: nothing of the sandbox's declared /usr is needed
        assert not any(seg["p_type"] == "PT_INTERP" for seg in ELFFile(f).iter_segments())
    before = program.stat().st_mtime_ns
    second = subprocess.run([sys.executable, "-c", code], env={**env, "JBUILD_CC": "/nonexistent"},
                            capture_output=True, text=True, check=True)
    assert second.stdout.strip() == str(program) and program.stat().st_mtime_ns == before


def test_without_a_compiler_landlock_is_refused_and_bwrap_builds(make_workspace, tmp_path):
    root = make_workspace({"BUILD": """
package dep { version = "1" build = "mkdir -p $OUT && echo dep > $OUT/f" }
package top { version = "1" requires = [:dep] build = "mkdir -p $OUT && cat /deps/dep/f > $OUT/f" }
"""})
    env = {"JBUILD_STORE": str(tmp_path / "store"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "JBUILD_CC": str(tmp_path / "no-cc")}
    info = run_jbuild("info", "sandbox", cwd=root, env=env)
    assert info.stdout.startswith("bwrap (bubblewrap; dependencies: mounts; roots staged by the Python fallback (no cc "
                                  "to build stage_exec.c): the stager forks); --sandbox landlock: unavailable ("), \
        info.stdout + info.stderr
    r = run_jbuild("build", "//:top", "--sandbox", "landlock", cwd=root, env=env)
    assert r.returncode == 2 and "Landlock cannot confine a sandbox here" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    r = run_jbuild("build", "//:top", "--sandbox", "bwrap", cwd=root, env=env)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "cache" / "jbuild" / "tools").exists()
    del env["JBUILD_CC"]
    info = run_jbuild("info", "sandbox", cwd=root, env=env)
    assert info.stdout.strip() == LANDLOCK_INFO, info.stderr


def test_an_output_naming_a_resolved_dependency_path_is_refused(make_workspace, tmp_path):
    """`realpath /deps/d0` is /.store/<entry> here: an output keeping it would name the entry,
    which the consumer's key does not cover, and read /deps/d0 in the mounts mode."""
    assert BwrapExecutor.landlock_available(), sandbox_landlock.why_not()
    n = BwrapExecutor.stage_from + 1
    blocks = [f'package d{i} {{ version = "1" build = "mkdir -p $OUT && echo {i} > $OUT/f" }}' for i in range(n)]
    reqs = ", ".join(f":d{i}" for i in range(n))
    blocks.append(f'package top {{ version = "1" requires = [{reqs}] '
                  f'build = "mkdir -p $OUT && realpath /deps/d0/f > $OUT/where" }}')
    blocks.append(f'package fine {{ version = "1" requires = [{reqs}] '
                  f'build = "mkdir -p $OUT && cat /deps/d0/f > $OUT/d0 && echo /deps/d0/f > $OUT/where" }}')
    root = make_workspace({"BUILD": "\n".join(blocks)})
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    r = run_jbuild("build", "//:fine", "--sandbox", "landlock", cwd=root, env=env)
    assert r.returncode == 0, r.stderr
    r = run_jbuild("build", "//:top", "--sandbox", "landlock", cwd=root, env=env)
    assert r.returncode == 1, r.stderr
    assert "where contains /.store/" in r.stdout + r.stderr and "realpath of /deps/NAME" in r.stdout + r.stderr


def test_the_build_starts_with_the_standard_descriptors_only(tmp_path, landlock):
    """The helper ran as /proc/self/fd/3: that descriptor (and any other) is closed before the
    build's shell starts, so the build cannot reach the helper's file or anything outside."""
    deps = store_with(tmp_path, ["declared"])
    # ls, run in the shell's place, lists its own descriptors: 0-2 and the directory it reads,
    # which takes the lowest free number (3 only if nothing else holds it)
    j = job(tmp_path, "exec ls /proc/self/fd > /out/fds", deps)
    assert landlock.run(j) == 0, j.log.read_text()
    assert (j.out / "fds").read_text().split() == ["0", "1", "2", "3"]


def test_an_ordinary_user_builds_in_the_landlock_mode(tmp_path):
    """Landlock needs no privilege: as an ordinary user (test_store_nonroot.py's), the helper is
    built under that user's cache, a build sees its declared entries and not another one."""
    import tempfile

    from jbuild.engine.store.fsops import force_remove
    from test_store_nonroot import IS_ROOT, USER, User

    home = Path(tempfile.mkdtemp(prefix="jbuild-user-")) if IS_ROOT else tmp_path
    home.chmod(0o755)
    user = User(home)
    n = BwrapExecutor.stage_from + 1
    blocks = [f'package d{i} {{ version = "1" build = "mkdir -p $OUT && echo {i} > $OUT/f" }}' for i in range(n)]
    blocks.append('package other { version = "1" build = "mkdir -p $OUT && echo secret > $OUT/f" }')
    reqs = ", ".join(f":d{i}" for i in range(n))
    top = (f'package top {{ version = "1" requires = [{reqs}] build = """\n'
           'test "$(cat /deps/d0/f)" = 0 && test -L /deps/d0 || exit 20\n'
           'cat /.store/OTHER/f && exit 21\nls /.store && exit 22\nmkdir -p $OUT && echo ok > $OUT/ok\n"""}')
    ws = home / "ws"
    ws.mkdir()
    (ws / "jbuild.toml").write_text("")
    (ws / "BUILD").write_text("\n".join(blocks))
    try:
        if IS_ROOT:
            subprocess.run(["chown", "-R", f"{USER}:", str(home)], check=True)
        info = user.jbuild("info", "sandbox", cwd=ws)
        assert info.stdout.strip() == LANDLOCK_INFO, info.stdout + info.stderr
        assert list((home / ".cache" / "jbuild" / "tools").glob("landlock_exec-*"))
        r = user.jbuild("build", "//:other", "--sandbox", "landlock", cwd=ws)
        assert r.returncode == 0, r.stderr
        (other,) = (home / "store").glob("*-other-1")
        (ws / "BUILD").write_text("\n".join([*blocks, top.replace("OTHER", other.name)]))
        r = user.jbuild("build", "//:top", "--sandbox", "landlock", cwd=ws)
        assert r.returncode == 0, r.stdout + r.stderr
        assert list((home / "store").glob("*-top-1/ok"))
    finally:
        if IS_ROOT:
            force_remove(home)

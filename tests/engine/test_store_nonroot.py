"""The example, built by an ordinary user: the real CLI, real unprivileged bubblewrap (user
namespaces), a store that user owns. Run as root, the test creates the user `jbuildtest`
and switches to it; run as an ordinary user, it is already one and runs as itself.

The interpreter may live where that user cannot reach it (pyenv under /root, mode 0700). Then
the commands run in a private mount namespace where the closed directory is replaced by an
open tmpfs holding only a bind of the interpreter's tree: nothing of the machine changes (the
bind's temporary mount point is an empty directory in the test's home, removed with it).
"""

import json
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import EXAMPLE
from jbuild.engine.store.fsops import force_remove

USER = "jbuildtest"
IS_ROOT = os.geteuid() == 0


def closed_ancestor(path: str) -> tuple[str, str] | None:
    """(the first ancestor others cannot traverse, its child on the way to `path`), or None."""
    parts = Path(path).parts
    for i in range(1, len(parts) - 1):
        d = os.path.join(*parts[: i + 1])
        if not os.stat(d).st_mode & stat.S_IXOTH:
            return d, parts[i + 1]
    return None


class User:
    """Runs commands as the test user (or as oneself when not root)."""

    def __init__(self, home: Path):
        self.home = home
        self.prefix: list[str] = []
        if not IS_ROOT:
            return
        try:
            pw = pwd.getpwnam(USER)
        except KeyError:  # (another pytest-xdist worker may be adding it now: its useradd or ours fails)
            made = subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER], capture_output=True, text=True)
            try:
                pw = pwd.getpwnam(USER)
            except KeyError:
                raise AssertionError(f"useradd {USER}: {made.stderr}") from None
        os.chown(home, pw.pw_uid, pw.pw_gid)
        drop = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups", "--"]
        closed = closed_ancestor(os.path.realpath(sys.executable))
        if closed is None:
            self.prefix = drop
            return
        d, child = closed
        # (the mount point that keeps the interpreter's tree while a tmpfs covers its closed
        # ancestor: inside the home, which each caller removes, so no run leaves one in /tmp)
        hold = home / ".jbuild-hold"
        hold.mkdir(exist_ok=True)
        script = (f"mount --bind {shlex.quote(os.path.join(d, child))} {shlex.quote(str(hold))} && "
                  f"mount -t tmpfs -o mode=755 tmpfs {shlex.quote(d)} && mkdir {shlex.quote(os.path.join(d, child))} && "
                  f"mount --bind {shlex.quote(str(hold))} {shlex.quote(os.path.join(d, child))} && "
                  f"exec {shlex.join(drop)} \"$@\"")
        self.prefix = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh"]

    def run(self, *argv, cwd, timeout=300) -> subprocess.CompletedProcess:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "JBUILD_STORE": str(self.home / "store"),
               "LANG": "C.UTF-8", "JBUILD_SERVER": "0"}  # (in-process, as the suite: tests/conftest.py)
        return subprocess.run([*self.prefix, *argv], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def jbuild(self, *args, cwd):
        return self.run(sys.executable, "-m", "jbuild", *args, cwd=cwd)


@pytest.fixture
def user(tmp_path):
    home = Path(tempfile.mkdtemp(prefix="jbuild-user-")) if IS_ROOT else tmp_path
    home.chmod(0o755)
    u = User(home)
    shutil.copytree(EXAMPLE, home / "geotags", ignore=shutil.ignore_patterns(".jbuild", "result"))
    if IS_ROOT:
        subprocess.run(["chown", "-R", f"{USER}:", str(home)], check=True)
    yield u
    if IS_ROOT:
        force_remove(home)


def built(home: Path, events: str) -> set[str]:
    lines = (home / events).read_text().splitlines()
    return {e["target"].split("@")[0] for e in map(json.loads, lines)
            if e["event"] == "action_executed" and e["success"]}


def test_an_ordinary_user_builds_patches_verifies_and_collects(user):
    ws, home = user.home / "geotags", user.home
    probe = user.run("bwrap", "--unshare-all", "--unshare-user", "--ro-bind", "/usr", "/usr", "--symlink",
                     "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                     "/bin/true", cwd=ws)
    assert probe.returncode == 0, f"unprivileged bubblewrap cannot create its namespaces: {probe.stderr}"
    assert int(user.run(sys.executable, "-c", "import os; print(os.geteuid())", cwd=ws).stdout) != 0

    def build(events):
        r = user.jbuild("build", "//services:geotags", "--sandbox", "bwrap", "--build-events", str(home / events),
                        cwd=ws)
        assert r.returncode == 0, r.stderr
        return built(home, events)

    assert build("ev1") == {"//libs:libc", "//libs:geohash", "//db:tinydb", "//services:geotags"}
    assert build("ev2") == set()
    text = (ws / "libs/libc/src/mini.c").read_text()
    user.run("sh", "-c", f"printf %s {shlex.quote(text.replace('minilibc 1', 'minilibc 2'))} > libs/libc/src/mini.c",
             cwd=ws)
    assert build("ev3") == {"//libs:libc"}
    store = home / "store"
    uid = os.stat(home).st_uid
    entries = [e for e in store.iterdir() if (e / ".jbuild-entry.json").exists()]
    assert len(entries) == 7  # 5 builds and the environments `result` pointed at before and after the patch
    for p in entries:
        for q in [p, *p.rglob("*")]:
            st = os.lstat(q)
            assert st.st_uid == uid and (stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o7222), q
    r = user.jbuild("store", "verify", cwd=ws)
    assert r.returncode == 0, r.stdout + r.stderr
    libcs = sorted(p.name for p in store.iterdir() if "-libc-" in p.name)
    r = user.jbuild("gc", cwd=ws)
    assert r.returncode == 0, r.stderr
    # the old libc and the old environment (which paired geotags with it)
    assert r.stdout.count("deleting ") == 2 and "-libc-" in r.stdout and "-env-geotags" in r.stdout
    assert len(libcs) == 2 and len([p for p in store.iterdir() if "-libc-" in p.name]) == 1
    assert os.path.exists(ws / "result" / "bin" / "geotags")
    assert build("ev4") == set()



def test_the_harness_leaves_nothing_behind_in_tmp(monkeypatch):
    """A User's run (its private mount namespace included, when the interpreter is closed to
    others) leaves nothing in the temporary directory once its home is removed."""
    tmp = Path(tempfile.mkdtemp(prefix="jbuild-harness-"))
    tmp.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # (what the harness makes lands here)
    try:
        home = Path(tempfile.mkdtemp(prefix="jbuild-user-"))
        home.chmod(0o755)
        r = User(home).run(sys.executable, "-c", "print('ran')", cwd=home)
        assert r.stdout == "ran\n", r.stderr
        force_remove(home)
        assert list(tmp.iterdir()) == []
    finally:
        force_remove(tmp)

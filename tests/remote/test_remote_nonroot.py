"""An ordinary user runs both sides: nginx unprivileged (its paths in the user's home) and
jbuild, uploading from one store and downloading into another. Downloaded entries belong to
the user and nobody can write them, as built ones do."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from nginx_server import Nginx  # noqa: E402
from test_store_nonroot import EXAMPLE, IS_ROOT, USER, User, force_remove  # noqa: E402


@pytest.fixture
def ordinary():
    """The test user (test_store_nonroot.py's) with a home holding a copy of the example."""
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="jbuild-user-"))
    home.chmod(0o755)
    u = User(home)
    shutil.copytree(EXAMPLE, home / "geotags", ignore=shutil.ignore_patterns(".jbuild", "result"))
    if IS_ROOT:
        subprocess.run(["chown", "-R", f"{USER}:", str(home)], check=True)
    yield u
    force_remove(home)


def test_an_ordinary_user_shares_builds_through_an_unprivileged_nginx(ordinary):
    user = ordinary
    home = user.home
    server = Nginx(home / "nginx", prefix=tuple(user.prefix))
    if IS_ROOT:
        subprocess.run(["chown", "-R", f"{USER}:", str(home / "nginx")], check=True)
    server.start()
    try:
        ws = home / "geotags"
        r = user.jbuild("build", "//services:geotags", "--remote-cache", server.url, cwd=ws)
        assert r.returncode == 0, r.stderr
        assert len(server.objects("ac")) == 4, r.stderr + (home / "nginx" / "error.log").read_text()
        cold = home / "store2"
        r = user.run("env", f"JBUILD_STORE={cold}", sys.executable, "-m", "jbuild", "build", "//services:geotags",
                     "--remote-cache", server.url, "--no-link", cwd=ws)
        assert r.returncode == 0, r.stderr
        assert "0 built, 0 reused from the store, 4 from the remote cache" in r.stderr, r.stderr
    finally:
        server.stop()
    uid = os.stat(home).st_uid
    entries = [e for e in cold.iterdir() if (e / ".jbuild-entry.json").exists()]
    assert len(entries) == 4
    for p in entries:
        for q in [p, *p.rglob("*")]:
            st = os.lstat(q)
            assert st.st_uid == uid and (stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o7222), q
    r = user.run("env", f"JBUILD_STORE={cold}", sys.executable, "-m", "jbuild", "store", "verify", cwd=ws)
    assert r.returncode == 0, r.stdout + r.stderr


pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/setpriv") and os.geteuid() == 0,
                                reason="switching to an ordinary user needs setpriv (util-linux)")

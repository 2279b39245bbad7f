"""An ordinary user makes an image into an OCI directory, unpacks it with `umoci unpack
--rootless` and runs it under unprivileged bubblewrap; the layer cache in that user's store
is theirs. (Run as root, the test switches to the user `jbuildtest`, as
tests/engine/test_store_nonroot.py does, whose User it borrows.)"""

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("nonroot_kit", Path(__file__).parents[1] / "engine" / "test_store_nonroot.py")
kit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kit)

pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("umoci", "bwrap")), reason="umoci and bwrap: dev/setup.sh")


@pytest.fixture
def user(tmp_path):
    home = Path(kit.tempfile.mkdtemp(prefix="jbuild-user-")) if kit.IS_ROOT else tmp_path
    home.chmod(0o755)
    u = kit.User(home)
    shutil.copytree(kit.EXAMPLE, home / "geotags", ignore=shutil.ignore_patterns(".jbuild", "result"))
    if kit.IS_ROOT:
        subprocess.run(["chown", "-R", f"{kit.USER}:", str(home)], check=True)
    yield u
    if kit.IS_ROOT:
        kit.force_remove(home)


def test_an_ordinary_user_makes_unpacks_and_runs_an_image(user):
    ws, home = user.home / "geotags", user.home
    r = user.jbuild("image", "//services:geotags", "-o", f"{home}/img/", "--sandbox", "bwrap", cwd=ws)
    assert r.returncode == 0, r.stderr
    r = user.run("umoci", "unpack", "--rootless", "--image", f"{home}/img:5.1", str(home / "bundle"), cwd=ws)
    assert r.returncode == 0, r.stderr
    r = user.run("bwrap", "--unshare-user", "--bind", str(home / "bundle" / "rootfs"), "/", "--proc", "/proc",
                 "--dev", "/dev", "/bin/geotags", "57.64911", "10.40744", cwd=ws)
    assert r.returncode == 0 and r.stdout.split()[0] == "u4pruydqqvj", r.stderr
    uid = os.stat(home).st_uid
    layers = home / "store" / ".layers"
    assert {os.lstat(p).st_uid for p in layers.iterdir()} == {uid}
    r = user.jbuild("gc", cwd=ws)
    assert r.returncode == 0, r.stderr

"""A worker runs an action over the declared host's /usr the client keyed it with, or refuses
it (engine/reapi/hostmatch.py): real BuildGrid, real workers, and a second dpkg database (a
copy of this host's with one version changed) read by the worker through --dpkg-admindir."""

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from conftest import Workers
from helpers import run_jbuild, write_tree

PACKAGE = "sed"  # in every action's closure: the sandbox's own shell utilities (hostroot.SANDBOX_PACKAGES)
OTHER_VERSION = "99.9-9"


def _installed_version(name: str) -> str:
    return subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True,
                          check=True).stdout


def _other_dpkg(root: Path) -> Path:
    """This host's dpkg database, but with PACKAGE at OTHER_VERSION."""
    root.mkdir()
    status = Path("/var/lib/dpkg/status").read_text()
    changed = re.sub(rf"(Package: {PACKAGE}\n(?:[^\n]+\n)*?Version: )[^\n]+", rf"\g<1>{OTHER_VERSION}", status)
    assert changed != status
    (root / "status").write_text(changed)
    (root / "updates").mkdir()
    for name in ("info", "alternatives", "diversions"):
        if Path("/var/lib/dpkg", name).exists():
            (root / name).symlink_to(Path("/var/lib/dpkg", name))
    return root


@pytest.fixture
def pool(buildgrid, tmp_path):
    w = Workers(buildgrid.url, tmp_path / "workers")
    yield w
    w.stop()


def test_a_worker_with_other_versions_refuses_and_a_matching_one_builds(buildgrid, pool, tmp_path):
    if shutil.which("dpkg-query") is None:
        pytest.skip("no dpkg here: actions carry no host root")
    marker = uuid.uuid4().hex
    # The whole host /usr has python3; the declared host's (the sandbox's base closure) has not.
    script = f"if [ -e /usr/bin/python3 ]; then exit 7; fi; mkdir -p $OUT; echo {marker} > $OUT/done"
    ws = write_tree(tmp_path / "ws", {"jbuild.toml": "", "BUILD": f'package p {{ version = "1" build = "{script}" }}\n'})

    def build(store: str):
        return run_jbuild("build", "//:p", "--store", str(tmp_path / store), "--sandbox", "bwrap",
                          "--remote-executor", buildgrid.url, "--print-out-paths", cwd=ws, timeout=120)

    pool.start(1, "--dpkg-admindir", str(_other_dpkg(tmp_path / "dpkg")))
    refused = build("s1")
    assert refused.returncode == 1, refused.stderr
    mine = _installed_version(PACKAGE)
    assert ("FAILED_PRECONDITION: worker test-" in refused.stderr and f"Debian package '{PACKAGE}': the action "
            f"was keyed with version {mine}, this worker has {OTHER_VERSION}" in refused.stderr), refused.stderr
    assert "Traceback" not in refused.stderr
    pool.stop()

    pool.start(1)
    built = build("s2")
    assert built.returncode == 0, built.stderr
    assert f"remote: 1 executed on {buildgrid.url}, 0 from its action cache" in built.stderr  # the refusal: not cached
    assert (Path(built.stdout.split()[-1]) / "done").read_text().strip() == marker
    assert list((tmp_path / "workers").glob("w1/.host/*/usr/bin/sed"))  # the tree the worker assembled

"""The worker's host check in process (engine/reapi/hostmatch.py), with this host's real dpkg
database and a second one (an edited copy, read through dpkg's --admindir): the properties a
client sends, a matching worker's tree with the same key, and each kind of refusal."""

import re
import shutil
from pathlib import Path

import pytest
from jbuild.engine import dpkg, hostroot
from jbuild.engine.reapi.hostmatch import ALTERNATIVES, PACKAGES, ROOT, HostMismatch, host_properties, matching_root

pytestmark = pytest.mark.skipif(not dpkg.available(), reason="no dpkg database here: actions carry no host root")


@pytest.fixture
def client(tmp_path):
    """The properties of an action keyed with this host's sandbox base (dash, coreutils, ...)."""
    return host_properties(hostroot.host_root(tmp_path / "client-store", ()))


@pytest.fixture
def other_dpkg(tmp_path):
    """A copy of this host's dpkg database to edit; reads go back to the real one afterwards."""
    root = tmp_path / "dpkg"
    root.mkdir()
    shutil.copy(Path(dpkg.DPKG_DIR, "status"), root / "status")
    shutil.copytree(Path(dpkg.DPKG_DIR, "alternatives"), root / "alternatives")
    (root / "updates").mkdir()
    for name in ("info", "diversions"):
        (root / name).symlink_to(Path(dpkg.DPKG_DIR, name))
    real = dpkg.DPKG_DIR
    yield root
    dpkg.use_admin_dir(real)


def test_the_client_sends_its_closure_and_a_matching_worker_assembles_the_same_tree(client, tmp_path):
    assert f"sed={dpkg.database()['sed'].version}" in client[PACKAGES].split()
    root = matching_root(client, tmp_path / "worker", "w")
    assert root.key == client[ROOT] and (root.usr / "bin" / "sed").is_file()
    assert str(root.usr).startswith(str(tmp_path / "worker"))


def test_an_action_without_a_host_root_runs_over_the_whole_usr(tmp_path):
    assert matching_root({"OSFamily": "linux"}, tmp_path, "w") is None


def test_another_version_is_refused_naming_the_package_and_both_versions(client, other_dpkg, tmp_path):
    status = other_dpkg / "status"
    status.write_text(re.sub(r"(Package: grep\n(?:[^\n]+\n)*?Version: )[^\n]+", r"\g<1>0.1-1", status.read_text()))
    mine = dpkg.database()["grep"].version
    dpkg.use_admin_dir(str(other_dpkg))
    with pytest.raises(HostMismatch, match=re.escape(f"worker w: Debian package 'grep': the action was keyed with "
                                                     f"version {mine}, this worker has 0.1-1")):
        matching_root(client, tmp_path / "worker", "w")


def test_another_alternative_is_refused_naming_it(client, other_dpkg, tmp_path):
    chosen = dict(hostroot.chosen_alternatives())
    if not chosen:
        pytest.skip("no alternatives chosen on this host")
    name = sorted(chosen)[0]
    masters = [f for f in (other_dpkg / "alternatives").iterdir() if name in f.read_text().split("\n")[::2]
               or f.name == name]
    for f in masters:
        f.unlink()
    dpkg.use_admin_dir(str(other_dpkg))
    with pytest.raises(HostMismatch, match=re.escape(f"alternative '{name}': the action was keyed with "
                                                     f"{chosen[name]}, this worker has none")):
        matching_root(client, tmp_path / "worker", "w")
    assert client[ALTERNATIVES]  # what the worker compared against

"""dpkg's installed packages kept on disk (engine/dpkg_cache.py), against a copy of this host's
real dpkg database read through dpkg's --admindir: the second run does not ask dpkg-query, and
a real package-list change (the copy's status file edited as `apt upgrade` would) is seen."""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from jbuild.engine import dpkg, dpkg_cache

pytestmark = pytest.mark.skipif(not dpkg.available(), reason="no dpkg database on this host")


@pytest.fixture
def admin(tmp_path, monkeypatch):
    """A copy of this host's dpkg database, read through --admindir, and a cache of the test's own."""
    root = tmp_path / "dpkg"
    root.mkdir()
    shutil.copy(Path(dpkg.DPKG_DIR, "status"), root / "status")
    (root / "updates").mkdir()
    for name in ("info", "diversions", "alternatives"):
        (root / name).symlink_to(Path(dpkg.DPKG_DIR, name))
    monkeypatch.setattr(dpkg_cache, "CACHE_DIR", tmp_path / "cache")
    real = dpkg.DPKG_DIR
    time.sleep(2 * dpkg_cache.RACY_MARGIN_NS / 1e9)  # the copy is older than the first query by the margin
    dpkg.use_admin_dir(str(root))
    yield root
    dpkg.use_admin_dir(real)


@pytest.fixture
def queries(monkeypatch):
    """How many times dpkg-query -W really ran (each call goes through to the real program)."""
    ran = []
    real = subprocess.run

    def counting(argv, *a, **kw):
        if argv[0] == "dpkg-query" and "-W" in argv:
            ran.append(argv)
        return real(argv, *a, **kw)
    monkeypatch.setattr(subprocess, "run", counting)
    return ran


def _new_process():
    """What a new jbuild process starts with: no answer in memory."""
    dpkg._database.cache_clear()


def _set_version(status: Path, package: str, version: str) -> None:
    text = re.sub(rf"(Package: {package}\n(?:[^\n]+\n)*?Version: )[^\n]+", rf"\g<1>{version}", status.read_text())
    status.write_text(text)


def test_a_second_run_reads_the_kept_answer_not_dpkg(admin, queries):
    first = dpkg.database()
    assert len(queries) == 1 and first["grep"].version
    _new_process()
    assert dpkg.database() == first
    assert len(queries) == 1  # answered from the cache file
    assert len(list((admin.parent / "cache").glob("installed-*.pickle"))) == 1


def test_an_upgrade_in_the_status_file_is_seen(admin, queries):
    before = dpkg.database()["grep"].version
    _set_version(admin / "status", "grep", "0.1-1")  # as `apt install grep=0.1-1` would leave it
    _new_process()
    assert dpkg.database()["grep"].version == "0.1-1" != before
    assert len(queries) == 2


def test_a_same_size_edit_with_the_old_mtime_is_seen(admin, queries):
    """An edit that keeps the size and puts the mtime back still changes the ctime."""
    status = admin / "status"
    old = dpkg.database()["grep"].version
    st = status.stat()
    new = ("9" if old[0] != "9" else "8") + old[1:]
    time.sleep(0.05)  # a later ctime than the cached one, whatever the clock's tick
    _set_version(status, "grep", new)
    os.utime(status, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert status.stat().st_size == st.st_size and status.stat().st_mtime_ns == st.st_mtime_ns
    _new_process()
    assert dpkg.database()["grep"].version == new
    assert len(queries) == 2


def test_a_journal_entry_in_updates_is_seen_as_a_change(admin, queries):
    dpkg.database()
    time.sleep(0.05)
    (admin / "updates" / "0000").write_text("")  # an unfinished dpkg run's journal (empty: no change)
    _new_process()
    dpkg.database()
    assert len(queries) == 2  # asked again: the journal could have changed what is installed


def test_an_unwritable_cache_is_only_slower(admin, queries, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setattr(dpkg_cache, "CACHE_DIR", blocker / "cache")
    first = dpkg.database()
    _new_process()
    assert dpkg.database() == first and len(queries) == 2


def test_another_admin_directory_is_not_answered_from_the_cache(admin, queries, tmp_path):
    dpkg.database()
    other = tmp_path / "other"
    shutil.copytree(admin, other, symlinks=True)
    _set_version(other / "status", "grep", "0.2-1")
    os.utime(other / "status", ns=(0, (admin / "status").stat().st_mtime_ns))  # same mtime and size as the first
    time.sleep(2 * dpkg_cache.RACY_MARGIN_NS / 1e9)
    dpkg.use_admin_dir(str(other))
    assert dpkg.database()["grep"].version == "0.2-1" and len(queries) == 2


def test_another_admin_directory_does_not_evict_the_first(admin, queries, tmp_path):
    """Test runs against other databases (and this host's own) each keep their answer."""
    dpkg.database()
    other = tmp_path / "other"
    shutil.copytree(admin, other, symlinks=True)
    time.sleep(2 * dpkg_cache.RACY_MARGIN_NS / 1e9)
    dpkg.use_admin_dir(str(other))
    dpkg.database()
    dpkg.use_admin_dir(str(admin))
    _new_process()
    dpkg.database()
    assert len(queries) == 2  # the first directory's answer was still kept after the second's
    assert len(list((tmp_path / "cache").glob("installed-*.pickle"))) == 2


def test_reading_the_cache_freezes_nothing_the_run_holds(admin, queries):
    """Read mid-run, with the store's index open: a gc.freeze() there would keep the index (in a
    reference cycle) from ever being closed, its WAL from being checkpointed."""
    import gc

    dpkg.database()
    _new_process()
    frozen = gc.get_freeze_count()
    dpkg.database()
    assert len(queries) == 1 and gc.get_freeze_count() == frozen


def test_an_answer_of_another_shape_is_not_read(admin, queries, monkeypatch):
    """A jbuild that asks dpkg-query for other fields (another FIELDS, or Installed changed)
    never reads the answer an older one kept: the shape is part of the signature."""
    dpkg.database()
    _new_process()
    monkeypatch.setattr(dpkg, "FIELDS", dpkg.FIELDS.replace("${Pre-Depends}", "${Pre-Depends}\t${Essential}"))
    assert dpkg.database()["grep"].version  # asked dpkg-query anew, not read from the cache
    assert len(queries) == 2 and "${Essential}" in queries[1][-1]

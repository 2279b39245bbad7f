"""`jbuild gc` run by an ordinary user on the store that user built (as
tests/engine/test_store_nonroot.py builds the example): read-only entries, the host trees and
the cached test results go, the store stays consistent, and what gc deleted is rebuilt right."""

import os
import pwd
import stat
import time

import pytest
from jbuild.engine import hostroot
from jbuild.engine.gc import gc
from jbuild.engine.store import Store
from test_store_nonroot import IS_ROOT, USER, built, user  # noqa: F401 (the fixture)

OLD = time.time() - 30 * 86400

EVERYTHING = {"//libs:libc", "//libs:geohash", "//db:tinydb", "//services:geotags"}


def test_an_ordinary_user_collects_everything_and_rebuilds_it(user):  # noqa: F811
    ws, home = user.home / "geotags", user.home
    store = home / "store"

    def jb(*args):
        r = user.jbuild(*args, cwd=ws)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout + r.stderr

    def build(events):
        jb("build", "//services:geotags", "--sandbox", "bwrap", "--build-events", str(home / events))
        return built(home, events)

    def entries():
        return sorted(p.name for p in store.iterdir() if (p / ".jbuild-entry.json").exists())

    assert build("ev1") == EVERYTHING
    built_entries = entries()
    assert "PASSED" in jb("test", "//services:geotags_test", "--sandbox", "bwrap")
    before = entries()  # and the test's own environment
    trees = [p.name for p in (store / ".host").iterdir() if p.is_dir()]
    assert trees and all(not os.stat(store / e).st_mode & 0o222 for e in before)  # read-only entries

    assert user.run("rm", "result", cwd=ws).returncode == 0  # nothing roots them any more
    out = jb("gc", "--unused-for", "0")
    assert out.count("deleting ") >= len(before) + len(trees), out
    assert "dropping the cached test result of //services:geotags_test" in out
    assert entries() == [] and not [p for p in (store / ".host").iterdir() if p.is_dir()]
    assert not [p for p in store.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in ("roots", "logs")]
    assert not list((store / "logs").iterdir()) and not list((store / ".host").glob(".trash-*"))
    assert "0 problem(s)" in jb("store", "verify")

    assert build("ev2") == EVERYTHING  # deleted, so built again: the same keys, the same entries
    assert entries() == built_entries
    run = user.run(str(ws / "result" / "bin" / "geotags"), "57.64911", "10.40744", cwd=ws)
    assert "u4pruydqqvj" in run.stdout, run.stdout + run.stderr
    out = jb("test", "//services:geotags_test", "--sandbox", "bwrap")
    assert "PASSED" in out and "(cached)" not in out  # its cached pass went with the entries
    assert "0 problem(s)" in jb("store", "verify")
    out = jb("gc")  # the result link roots the build again; the test's environment is no root's
    assert out.count("deleting ") == 1 and "-env-geotags_test" in out and entries() == built_entries
    assert all(stat.S_IMODE(os.stat(store / e).st_mode) & 0o222 == 0 for e in entries())


@pytest.mark.skipif(not IS_ROOT, reason="needs root to own a host tree in the user's store")
def test_an_ordinary_users_gc_says_which_trees_are_not_theirs_to_collect(user, tmp_path):  # noqa: F811
    """A shared store: a host tree root assembled stays when the user's gc runs (renaming it
    would leave a trash directory the user cannot empty), and the summary says so; root's gc
    collects it."""
    ws, store = user.home / "geotags", user.home / "store"
    assert user.jbuild("gc", cwd=ws).returncode == 0  # the user's store
    tree = hostroot.host_root(store, ["make"]).usr.parent  # root's, in the user's .host
    os.chown(store / ".host", pwd.getpwnam(USER).pw_uid, -1)
    os.utime(tree, (OLD, OLD))
    for args in (["--dry-run"], []):
        r = user.jbuild("gc", "--unused-for", "0", *args, cwd=ws)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "1 host tree (.host/) belongs to another user, so it stays: root or its owner can collect it" \
            in r.stdout and ".host/" + tree.name not in r.stdout, r.stdout
    assert (tree / "usr" / "bin" / "make").is_file() and not list((store / ".host").glob(".trash-*"))
    report = gc(Store(store), unused_for_days=0)
    assert f".host/{tree.name}" in [p for p, _ in report.trimmed] and report.notes == [] and not tree.exists()

"""`jbuild gc` trims the caches beside the store against the entries it keeps (engine/gc.py):
cached test results whose run closure it deleted, downloads no kept entry's key names and
nobody used within --unused-for days, and host image layers. Real CLI, bubblewrap, SQLite,
archives and a git repository on disk."""

import os
import sqlite3
import time

import pytest
from fetchkit import make_git_repo, make_tar, sha256
from helpers import run_jbuild, write_tree
from jbuild.engine.gc import gc
from jbuild.engine.store import Store
from jbuild.engine.testing.cache import ResultCache

OLD = time.time() - 30 * 86400


def workspace(tmp_path):
    a = make_tar(tmp_path / "srv" / "a-1.tar.gz", {"a.txt": "a\n"}, top="a-1")
    b = make_tar(tmp_path / "srv" / "b-1.tar.gz", {"b.txt": "b\n"}, top="b-1")
    repo = tmp_path / "srv" / "g"
    commit = make_git_repo(repo, {"g.txt": "g\n"})
    root = tmp_path / "ws"
    write_tree(root, {"jbuild.toml": "", "BUILD": f'''
        package kept {{
            version = "1"
            sources = archive(url = "{a}", sha256 = "{sha256(a)}", strip = 1)
            build_requires = [@std//host:sh]
            build = "mkdir -p $OUT/share && cat $SRC/a.txt > $OUT/share/a"
            exports = ["share"]
        }}
        package dep {{
            version = "1"
            build_requires = [@std//host:sh]
            build = "mkdir -p $OUT/share && echo dep > $OUT/share/dep"
            exports = ["share"]
        }}
        package later {{
            version = "1"
            sources = [archive(url = "{b}", sha256 = "{sha256(b)}", strip = 1),
                       git(url = "{repo}", commit = "{commit}")]
            build_requires = [@std//host:sh]
            build = "mkdir -p $OUT"
        }}
        test t_kept {{
            requires = [:kept]
            build_requires = [@std//host:sh]
            command = "test -f share/a"
        }}
        test t_dep {{
            requires = [:dep]
            build_requires = [@std//host:sh]
            command = "test -f share/dep"
        }}
    '''})
    return root, tmp_path / "store", sha256(a), sha256(b)


def test_gc_trims_test_results_and_downloads_against_what_it_keeps(tmp_path):
    root, store, a, b = workspace(tmp_path)

    def jb(*args):
        r = run_jbuild(*args, cwd=root, env={"JBUILD_STORE": str(store)})
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout + r.stderr

    downloads = store / ".downloads"
    jb("build", "//:kept", "--sandbox", "bwrap")  # its result link roots it
    jb("fetch", "//:later")  # fetched for an offline build: no entry names them yet
    [git_cache] = (downloads / "git").glob("*.git")
    jb("test", "//:t_kept", "//:t_dep", "--sandbox", "bwrap")

    out = jb("gc")  # default: downloads used in the last 7 days stay
    assert "dropping the cached test result of //:t_dep" in out and "result of //:t_kept" not in out
    assert (downloads / "sha256" / a).exists() and (downloads / "sha256" / b).exists() and git_cache.exists()
    assert "(cached) PASSED" in jb("test", "//:t_kept", "--sandbox", "bwrap")

    out = jb("gc", "--unused-for", "0", "--dry-run")
    assert f"would delete .downloads/sha256/{b}" in out and f"would delete .downloads/git/{git_cache.name}" in out
    assert a not in out and (downloads / "sha256" / b).exists() and git_cache.exists()

    os.utime(downloads / "sha256" / a, (OLD, OLD))  # old, but a kept entry's key names it
    out = jb("gc", "--unused-for", "0")
    assert f"deleting .downloads/sha256/{b}" in out and not (downloads / "sha256" / b).exists()
    assert not git_cache.exists() and (downloads / "sha256" / a).exists()
    assert "(cached) PASSED" in jb("test", "//:t_kept", "--sandbox", "bwrap")

    jb("fetch", "//:later")
    os.utime(downloads / "sha256" / b, (OLD, OLD))
    jb("fetch", "//:later")  # a use refreshes it
    assert f".downloads/sha256/{b}" not in jb("gc", "--unused-for", "1")
    assert (downloads / "sha256" / b).exists()


@pytest.mark.parametrize("days", ["-1", "nan"])
def test_unused_for_below_zero_or_not_a_number_is_a_usage_error(tmp_path, days):
    r = run_jbuild("gc", "--unused-for", days, cwd=tmp_path, env={"JBUILD_STORE": str(tmp_path / "store")})
    assert r.returncode == 2 and "--unused-for must be 0 days or more" in r.stderr and "Traceback" not in r.stderr


def test_host_layers_age_out_and_orphan_entry_layers_go(tmp_path):
    store = Store(tmp_path / "store")
    layers = store.root / ".layers"
    layers.mkdir(parents=True)
    files = {"host-old.tar.gz": OLD, "host-old.json": OLD, "choice-old.json": OLD,
             "host-new.tar.gz": None, "host-new.json": None, "choice-new.json": None,
             "0123-gone-1.abc.tar.gz": None, "0123-gone-1.abc.json": None, ".tmp-1-x.json": OLD}
    for name, mtime in files.items():
        (layers / name).write_text("x")
        if mtime:
            os.utime(layers / name, (mtime, mtime))
    report = gc(store, dry_run=False, unused_for_days=7)
    assert sorted(p for p, _ in report.trimmed) == sorted(
        f".layers/{n}" for n in ("host-old.tar.gz", "host-old.json", "choice-old.json",
                                 "0123-gone-1.abc.tar.gz", "0123-gone-1.abc.json", ".tmp-1-x.json"))
    assert sorted(os.listdir(layers)) == ["choice-new.json", "host-new.json", "host-new.tar.gz"]
    assert report.freed == 6


def test_a_version_1_results_file_is_migrated_and_its_rows_dropped_by_gc(tmp_path):
    path = tmp_path / "test-results.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE results (key TEXT PRIMARY KEY, label TEXT, duration REAL, log TEXT, xml TEXT, at REAL)")
    db.execute("INSERT INTO results VALUES ('k1', '//:old', 1.0, 'log', NULL, 0)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    cache = ResultCache(tmp_path)
    assert cache.get("k1").label == "//:old"  # still read
    cache.put("k2", "//:new", 1.0, "log", None, ["e1", "e2"])
    assert cache.prune({"e1", "e2"}, dry_run=True) == ["//:old"] and cache.get("k1") is not None
    assert cache.prune({"e1", "e2"}) == ["//:old"] and cache.get("k1") is None
    assert cache.prune({"e1"}) == ["//:new"] and cache.get("k2") is None
    cache.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 2


def test_a_result_whose_run_closure_has_no_entry_survives_gc(tmp_path):
    cache = ResultCache(tmp_path)
    cache.put("k", "//:script_only", 1.0, "log", None, [])
    assert cache.prune(set()) == [] and cache.get("k").label == "//:script_only"
    cache.close()

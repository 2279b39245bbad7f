"""The index is a cache: damage anywhere in the file, an old or new schema, a full disk — each
gets a clear outcome, never exit 37. Real SQLite files damaged in the middle, a real tmpfs."""

import os
import sqlite3
import subprocess

import pytest
from helpers import run_jbuild
from jbuild.engine.store import EntryMeta, Store, StoreError
from jbuild.engine.store.index import SCHEMA_VERSION

BUILD = "\n".join(f'package p{i} {{ version = "1" build = "mkdir -p $OUT && echo {i} > $OUT/p{i}" }}'
                  for i in range(12))


def page_size(db):
    with sqlite3.connect(db) as c:
        return c.execute("PRAGMA page_size").fetchone()[0]


def damage(db, pages):
    """Overwrite the given pages (0-based) of a real index file with garbage."""
    size = page_size(db)
    with open(db, "r+b") as f:
        for n in pages:
            f.seek(n * size)
            f.write(bytes((n * 37 + i) % 251 for i in range(size)))
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)


@pytest.fixture
def built(make_workspace, tmp_path):
    root = make_workspace({"BUILD": BUILD})
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    for i in range(12):
        r = run_jbuild("build", f"//:p{i}", "--sandbox", "bwrap", "--no-link", cwd=root, env=env)
        assert r.returncode == 0, r.stderr
    db = tmp_path / "store" / "index.sqlite"
    with sqlite3.connect(db) as c:  # jbuild leaves its last commits in the WAL (base/quick_exit.py): into the file
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert db.stat().st_size // page_size(db) >= 4
    return root, env, db


def test_a_damaged_middle_page_is_reported_by_verify_and_repaired(built):
    root, env, db = built
    damage(db, [db.stat().st_size // page_size(db) // 2])
    r = run_jbuild("store", "verify", cwd=root, env=env)
    assert r.returncode == 1 and "index.sqlite: the index is damaged" in r.stdout, (r.stdout, r.stderr)
    r = run_jbuild("store", "verify", "--repair", cwd=root, env=env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    r = run_jbuild("store", "verify", cwd=root, env=env)
    assert r.returncode == 0 and r.stdout == "", r.stdout
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM entries").fetchone()[0] == 12


@pytest.mark.parametrize("command", [["build", "//:p3", "--sandbox", "bwrap", "--no-link"], ["gc"]])
def test_any_statement_on_a_damaged_index_rebuilds_it_once_and_goes_on(built, command):
    root, env, db = built
    damage(db, range(1, db.stat().st_size // page_size(db)))  # everything but the header page
    r = run_jbuild(*command, cwd=root, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("warning: the store index was corrupt") == 1 and "Traceback" not in r.stderr
    assert list(db.parent.glob("index.sqlite.corrupt-*"))
    if command[0] == "build":
        assert "0 built, 1 reused" in r.stderr
    else:
        assert r.stdout.count("deleting ") == 12 and not [p for p in db.parent.iterdir() if "-p" in p.name]
        assert run_jbuild("store", "verify", cwd=root, env=env).returncode == 0


def test_an_older_schema_is_rebuilt_from_the_entries_and_a_newer_one_refused(tmp_path, capsys):
    store = Store(tmp_path / "s")
    with store.temporary() as tmp:
        (tmp.out / "f").write_text("x")
        store.publish(tmp.out, EntryMeta(key="k1", name="k1-a-1", node="//:a", interface_key="i", exported="e",
                                         inputs={"sources": {"f": "d"}}))
    store.index.close()
    db = store.root / "index.sqlite"
    db.unlink()
    with sqlite3.connect(db) as c:  # the first schema, as the first jbuild wrote it
        c.execute("CREATE TABLE entries (key TEXT PRIMARY KEY, name TEXT, label TEXT, output_hash TEXT, "
                  "size INTEGER, deps TEXT, inputs TEXT, log TEXT, duration REAL, built_at REAL)")
        c.execute("CREATE TABLE decisions (workspace TEXT, node TEXT, label TEXT, key TEXT, decision TEXT, "
                  "reason TEXT, at REAL, PRIMARY KEY (workspace, node))")
        c.execute("PRAGMA user_version=1")
    fresh = Store(store.root)
    assert fresh.index.last_inputs("//:a") == {"sources": {"f": "d"}}
    assert fresh.index.exported_for("i") == ("e", "k1-a-1")
    assert "older jbuild (schema 1); rebuilding it" in capsys.readouterr().err
    fresh.index.close()
    with sqlite3.connect(db) as c:
        c.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    r = run_jbuild("gc", "--store", str(store.root), cwd=tmp_path)
    assert r.returncode == 1 and "is from a newer jbuild" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------- a full disk


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def fill(path):
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == 28


def test_a_full_disk_at_publish_is_a_clear_error_and_leaves_nothing(small_fs):
    store = Store(small_fs / "store")
    store.index.decisions("/ws")  # the index exists before the disk fills
    with pytest.raises(StoreError, match=r"no space left on the store's filesystem \(.*store\)"):
        with store.temporary() as tmp:
            (tmp.out / "lib.so").write_bytes(b"x" * 100_000)
            fill(small_fs / "filler")
            store.publish(tmp.out, EntryMeta(key="k1", name="k1-a-1"))
    leftovers = [p.name for p in store.root.iterdir() if p.name.startswith((".tmp-", ".trash-")) or "-a-" in p.name]
    assert leftovers == []
    with pytest.raises(StoreError, match="no space left on the store's filesystem"):
        store.index.record_decisions("/ws", [(f"//:n{i}", "l", "k" * 64, "built", "r" * 200) for i in range(5000)])
    os.unlink(small_fs / "filler")
    with store.temporary() as tmp:
        (tmp.out / "lib.so").write_bytes(b"x" * 100)
        store.publish(tmp.out, EntryMeta(key="k1", name="k1-a-1"))
    assert store.verify() == []


def _plans(db):
    with sqlite3.connect(db) as c:
        return [" ".join(str(col) for row in c.execute(f"EXPLAIN QUERY PLAN {sql}", ("x",)) for col in row)
                for sql in ("DELETE FROM entries WHERE name=?", "DELETE FROM interfaces WHERE entry=?")]


def test_gc_removes_entries_by_index_also_in_a_store_indexed_before(built):
    """A removal (gc) looks rows up by an index, not by a scan of each table: a gc of 90,000
    entries took most of an hour. A store's index made before those indexes gets them at its
    first removal, without a rebuild."""
    root, env, db = built
    with sqlite3.connect(db) as c:  # an index of the version before: the same schema without them
        c.execute("DROP INDEX IF EXISTS entries_name")
        c.execute("DROP INDEX IF EXISTS interfaces_entry")
    assert not any("USING" in p and "INDEX" in p for p in _plans(db)), _plans(db)
    r = run_jbuild("gc", cwd=root, env=env)  # (no result links: nothing is kept)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    plans = _plans(db)
    assert all("INDEX entries_name" in p or "INDEX interfaces_entry" in p for p in plans), plans
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM entries").fetchone()[0] == 0

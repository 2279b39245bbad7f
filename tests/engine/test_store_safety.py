"""The store is safe for whoever runs it: modes and owners sealed at publish, deletion that a
kill cannot tear, GC roots that are closures, tampered entries caught by stats, a full disk
reported clearly. Real files, real SQLite, real subprocesses killed with SIGKILL."""

import os
import signal
import stat
import subprocess
import sys
import time

import pytest
from jbuild.engine.store import EntryMeta, Store, StoreError, stat_digest, tree_digest

IS_ROOT = os.geteuid() == 0


def publish(store, name, files, key=None, **meta):
    """Publish an entry holding `files` ({relpath: text or (text, mode)}) through a real temporary."""
    with store.temporary() as tmp:
        for rel, content in files.items():
            text, mode = content if isinstance(content, tuple) else (content, 0o644)
            p = tmp.out / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
            p.chmod(mode)
        return store.publish(tmp.out, EntryMeta(key=key or name.split("-")[0], name=name, **meta))


def modes(entry):
    return {os.path.relpath(os.path.join(d, n), entry): stat.S_IMODE(os.lstat(os.path.join(d, n)).st_mode)
            for d, dirs, files in os.walk(entry) for n in dirs + files}


def test_temporary_output_is_a_sibling_of_the_entries(tmp_path):
    store = Store(tmp_path / "s")
    with store.temporary() as tmp:
        assert tmp.out.parent == store.root and tmp.work.parent == store.root
        assert list(tmp.out.iterdir()) == []
    assert not list(store.root.glob(".tmp-*"))


def test_publish_strips_setuid_setgid_sticky_and_write_bits(tmp_path):
    store = Store(tmp_path / "s")
    with store.temporary() as tmp:
        (tmp.out / "bin").mkdir()
        (tmp.out / "bin" / "su").write_text("#!/bin/sh\n")
        (tmp.out / "bin" / "su").chmod(0o6777)
        (tmp.out / "shared").mkdir()
        (tmp.out / "shared" / "data").write_text("x")
        (tmp.out / "shared" / "data").chmod(0o666)
        (tmp.out / "shared").chmod(0o3777)
        (tmp.out / "link").symlink_to("bin/su")
        entry = store.publish(tmp.out, EntryMeta(key="k1", name="k1-su-1"))
    assert modes(entry) == {"bin": 0o555, "bin/su": 0o555, "shared": 0o555, "shared/data": 0o444,
                            "link": 0o777, ".jbuild-entry.json": 0o444}
    assert stat.S_IMODE(entry.stat().st_mode) == 0o555
    assert os.readlink(entry / "link") == "bin/su"


def test_publish_records_the_digests_a_fresh_read_of_the_entry_gives(tmp_path):
    """publish lists the output once for the seal and both digests (with the modes it set):
    what it records must be what `check` and `verify` compute from the entry later."""
    store = Store(tmp_path / "s")
    first = publish(store, "k0-lib-1", {"lib/liba.so": ("elf", 0o755)})
    with store.temporary() as tmp:
        (tmp.out / "a" / "b").mkdir(parents=True)
        (tmp.out / "a" / "f").write_text("f")
        (tmp.out / "a" / "b" / "run").write_text("#!/bin/sh\n")
        (tmp.out / "a" / "b" / "run").chmod(0o700)
        (tmp.out / "a" / "b" / "up").symlink_to("../f")
        (tmp.out / "dirlink").symlink_to("a/b")
        os.link(first / "lib" / "liba.so", tmp.out / "linked.so")  # already sealed: left as it is
        (tmp.out / ".jbuild-entry.json").write_text("written by the build")  # replaced by publish
        (tmp.out / "a").chmod(0o500)
        tmp.out.chmod(0o500)  # a build that left /out read-only
        entry = store.publish(tmp.out, EntryMeta(key="k1", name="k1-mixed-1"))
    meta = store.meta("k1-mixed-1")
    assert (meta.output_hash, meta.size) == tree_digest(entry)
    assert meta.stat_digest == stat_digest(entry)
    assert store.check("k1-mixed-1")
    assert modes(entry)["a/b/run"] == 0o555 and modes(entry)["linked.so"] == 0o555
    assert stat.S_IMODE(entry.stat().st_mode) == 0o555 and modes(entry)[".jbuild-entry.json"] == 0o444


@pytest.mark.skipif(not IS_ROOT, reason="only root can create files owned by another user")
def test_files_of_another_owner_are_handed_to_the_store_owner(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    os.chown(root, 4242, 4343)
    store = Store(root)
    with store.temporary() as tmp:
        (tmp.out / "f").write_text("x")
        os.chown(tmp.out / "f", 777, 777)
        (tmp.out / "l").symlink_to("f")
        entry = store.publish(tmp.out, EntryMeta(key="k2", name="k2-f-1"))
    owners = {(os.lstat(p).st_uid, os.lstat(p).st_gid) for p in [entry, *entry.rglob("*")]}
    assert owners == {(4242, 4343)}


def test_a_special_file_is_refused_by_name_and_nothing_is_left(tmp_path):
    store = Store(tmp_path / "s")
    with pytest.raises(StoreError, match="pipe: a special file"):
        with store.temporary() as tmp:
            os.mkfifo(tmp.out / "pipe")
            store.publish(tmp.out, EntryMeta(key="k3", name="k3-p-1"))
    assert not store.lookup("k3-p-1")
    assert [p.name for p in store.root.iterdir() if p.name.startswith(".tmp") or p.name.startswith(".trash")] == []


def test_entry_metadata_is_typed_tolerant_and_holds_a_relative_log(tmp_path):
    store = Store(tmp_path / "s")
    entry = publish(store, "k4-a-1", {"a": "hello"}, label="//:a", interface_key="i4", exported="e4",
                    built_against={"//:lib": {"entry": "k0-lib-1", "exported": "e0"}},
                    log=str(store.log_path("k4")))
    meta = store.meta("k4-a-1")
    assert meta.log == "logs/k4.log" and meta.size == 5 and meta.output_hash == tree_digest(entry)[0]
    assert meta.stat_digest and meta.built_against["//:lib"]["exported"] == "e0"
    assert store.index.exported_for("i4") == ("e4", "k4-a-1")
    text = (entry / ".jbuild-entry.json").read_text().replace('"format": 2', '"format": 3, "from_the_future": 1')
    assert EntryMeta.from_json(text) == meta
    with pytest.raises(ValueError, match="logs/"):
        publish(store, "k5-b-1", {"b": "b"}, log="/var/log/elsewhere.log")


def test_index_records_the_latest_exported_interface_and_named_decisions(tmp_path):
    store = Store(tmp_path / "s")
    assert store.index.exported_for("i") is None
    store.index.record_interface("i", "d1", "k1-x-1")
    store.index.record_interface("i", "d2", "k2-x-1")
    assert store.index.exported_for("i") == ("d2", "k2-x-1")
    store.index.record_decisions("/ws", [("//:x", "//:x", "k2", "built", "sources changed")])
    (d,) = store.index.decisions("/ws").values()
    assert (d.label, d.key, d.decision, d.reason) == ("//:x", "k2", "built", "sources changed")


def test_check_evicts_an_entry_modified_after_it_was_built(tmp_path, capsys):
    store = Store(tmp_path / "s")
    entry = publish(store, "k6-a-1", {"a": "original", "sub/b": "b"})
    assert store.check("k6-a-1") is True
    (entry / "sub").chmod(0o755)
    (entry / "sub" / "extra").write_text("planted")
    assert store.check("k6-a-1") is False
    assert "entry k6-a-1 was modified after it was built; rebuilding it" in capsys.readouterr().err
    assert store.lookup("k6-a-1") is None and not entry.exists()
    assert not list(store.root.glob(".trash-*"))
    assert store.check("nope") is False


def test_full_verify_rehashes_what_stats_cannot_see(tmp_path):
    store = Store(tmp_path / "s")
    entry = publish(store, "k7-a-1", {"a": "aaaa"})
    st = os.stat(entry / "a")
    (entry / "a").chmod(0o644)
    (entry / "a").write_text("bbbb")
    (entry / "a").chmod(0o444)
    os.utime(entry / "a", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert store.check("k7-a-1") is True  # same size, mode and mtime: stats cannot tell
    assert store.verify(full=False) == []
    assert store.verify(full=True) == ["k7-a-1: contents changed since it was built"]


# ---------------------------------------------------------------- GC roots are closures


def test_gc_roots_are_closures_and_a_repointed_link_stops_holding(tmp_path):
    store = Store(tmp_path / "s")
    for name in ("ka-app-1", "kb-lib-1", "kc-old-1"):
        publish(store, name, {"f": name}, built_against={"x": {"entry": "kc-old-1"}})
    link = tmp_path / "result"
    link.symlink_to(store.path("ka-app-1"))
    with store.shared():
        store.add_root(link, ["ka-app-1", "kb-lib-1"])
    report = store.gc(dry_run=True)
    assert report.dead == ["kc-old-1"]  # built_against is not a liveness edge
    assert report.kept == {"ka-app-1": f"needed by {link}", "kb-lib-1": f"needed by {link}"}
    assert report.freed == len("kc-old-1") and store.lookup("kc-old-1")
    link.unlink()
    link.symlink_to(store.path("kc-old-1"))
    assert store.live() == set()  # re-pointed without re-registering: holds nothing
    store.add_root(link, ["kc-old-1"])
    assert store.live() == {"kc-old-1"}
    report = store.gc()
    assert sorted(report.dead) == ["ka-app-1", "kb-lib-1"]
    assert [e.name for e in store.entries()] == ["kc-old-1"]
    link.unlink()
    assert store.gc().dead == ["kc-old-1"] and list((store.root / "roots").iterdir()) == []


def test_gc_waits_for_a_build_holding_the_shared_lock_and_then_sees_its_root(tmp_path):
    import threading

    store = Store(tmp_path / "s")
    link = tmp_path / "result"
    result = {}
    with store.shared():
        entry = publish(store, "kd-new-1", {"f": "x"})
        other = Store(store.root)  # another process's view
        t = threading.Thread(target=lambda: result.setdefault("r", other.gc()))
        t.start()
        time.sleep(0.3)
        assert t.is_alive() and store.lookup("kd-new-1")
        link.symlink_to(entry)
        store.add_root(link, ["kd-new-1"])
    t.join(10)
    assert result["r"].dead == [] and store.lookup("kd-new-1")


def test_repair_waits_for_a_build_holding_the_shared_lock(tmp_path):
    """A build under the shared lock trusts that an entry it saw stays (Rebuilder.store_listing);
    `store verify --repair` removes entries, so it waits for the build, as gc does."""
    import threading

    store = Store(tmp_path / "s")
    entry = publish(store, "ke-bad-1", {"f": "x"})
    os.chmod(entry / "f", 0o644)
    (entry / "f").write_text("tampered")
    result = {}
    with store.shared():
        other = Store(store.root)  # another process's view
        t = threading.Thread(target=lambda: result.setdefault("r", other.verify(repair=True)))
        t.start()
        time.sleep(0.3)
        assert t.is_alive() and store.lookup("ke-bad-1")  # the build still sees what it listed
    t.join(10)
    assert result["r"] == ["ke-bad-1: contents changed since it was built"] and not store.lookup("ke-bad-1")


def test_gc_removes_the_rows_of_every_deleted_entry_in_batches(tmp_path):
    """The index rows of deleted entries go REMOVALS_PER_TRANSACTION at a time, the last partial
    batch too; a rooted entry keeps its row."""
    import sqlite3

    from jbuild.engine.store.gc import REMOVALS_PER_TRANSACTION

    store = Store(tmp_path / "s")
    names = [f"k{i}-many-1" for i in range(REMOVALS_PER_TRANSACTION + 5)]
    for name in names:
        publish(store, name, {"f": name})
    link = tmp_path / "result"
    link.symlink_to(store.path(names[7]))
    store.add_root(link, [names[7]])
    report = store.gc()
    assert sorted(report.dead) == sorted(n for n in names if n != names[7])
    with sqlite3.connect(store.root / "index.sqlite") as c:
        assert [r[0] for r in c.execute("SELECT name FROM entries")] == [names[7]]
    assert [p.name for p in store.entries()] == [names[7]] and store.verify() == []


# ---------------------------------------------------------------- kill -9 during gc


GC = "import sys; from jbuild.engine.store import Store; Store(sys.argv[1]).gc()"


def test_kill_9_during_gc_never_leaves_a_torn_entry(tmp_path):
    store = Store(tmp_path / "s")
    names = [f"k{i}-big-1" for i in range(6)]
    for name in names:
        publish(store, name, {f"sub/f{j}": str(j) for j in range(300)})
    for victim in names[:4]:  # kill while the victim is being deleted
        proc = subprocess.Popen([sys.executable, "-c", GC, str(store.root)])
        while proc.poll() is None:
            try:
                if len(os.listdir(store.path(victim) / "sub")) < 300:
                    break
            except FileNotFoundError:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for entry in store.entries():  # what looks like an entry is whole
            assert tree_digest(entry)[0] == store.meta(entry.name).output_hash, entry.name
        assert store.verify() == [], victim
        assert not list(store.root.glob(".trash-*"))  # the next store operation removed the trash
    store.gc()
    assert store.entries() == []

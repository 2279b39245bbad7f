"""Deferred durability (engine/store/durability.py): a build publishes without fsyncs of its own,
a marker on disk covers the window until a syncfs, and a crash inside the window costs a
re-hash of that window, never a damaged entry left under its name. Real files, real SQLite,
a real process killed with SIGKILL inside the window."""

import os
import subprocess
import sys
import textwrap

import pytest
from jbuild.engine.store import EntryMeta, Store
from jbuild.engine.store.durability import Syncer, _read_time


def publish(store, name, text):
    with store.temporary() as tmp:
        (tmp.out / "f").write_text(text)
        return store.publish(tmp.out, EntryMeta(key=name.split("-")[0], name=name, node=f"//:{name}",
                                                inputs={"text": text}))


def markers(store):
    return sorted(store.root.glob(".unsynced-*"))


@pytest.fixture(params=["fsync each entry", "one syncfs"])
def few(request, monkeypatch):
    """Both ways a batch is made durable: a few entries one by one, more by one syncfs."""
    monkeypatch.setattr(Syncer, "FEW", 16 if request.param == "fsync each entry" else 0)


def test_a_deferred_publish_is_covered_by_a_marker_and_indexed_at_the_sync(tmp_path, few):
    store = Store(tmp_path / "s")
    with store.deferred_sync(interval=3600):
        entry = publish(store, "k1-a-1", "a")
        assert (entry / "f").read_text() == "a" and store.lookup("k1-a-1")  # usable at once
        assert len(markers(store)) == 1
        assert store.index.last_inputs("//:k1-a-1") is None  # its row waits for the sync
    assert markers(store) == []
    assert store.index.last_inputs("//:k1-a-1") == {"text": "a"}
    assert store.verify() == []


def test_the_window_moves_on_only_when_nothing_was_half_published(tmp_path, few):
    store = Store(tmp_path / "s")
    with store.deferred_sync(interval=3600):
        publish(store, "k1-a-1", "a")
        (marker,) = markers(store)
        opened = _read_time(marker)
        store.syncer.before_rename()  # another worker between its seal and its rename
        store.syncer.sync()
        assert _read_time(marker) == opened and store.index.last_inputs("//:k1-a-1") == {"text": "a"}
        store.syncer.renamed(None)  # its rename failed
        publish(store, "k2-b-1", "b")
        store.syncer.sync()
        assert _read_time(marker) > opened
    assert markers(store) == []


def test_without_a_publication_no_marker_is_made(tmp_path):
    store = Store(tmp_path / "s")
    with store.deferred_sync(interval=3600):
        pass
    assert markers(store) == []


def test_a_live_builders_window_is_left_alone(tmp_path):
    store = Store(tmp_path / "s")
    with store.deferred_sync(interval=3600):
        entry = publish(store, "k1-a-1", "a")
        other = Store(tmp_path / "s")  # another builder's view: the marker's flock is held
        with other.shared():
            other.clean_temporaries()
        assert len(markers(store)) == 1 and entry.exists()


CRASH = textwrap.dedent("""
    import os, signal, sys
    from jbuild.engine.store import EntryMeta, Store
    store = Store(sys.argv[1])
    with store.deferred_sync(interval=3600):
        for name in ("k1-a-1", "k2-b-1", "k3-c-1"):
            with store.temporary() as tmp:
                (tmp.out / "f").write_text(name * 100)
                store.publish(tmp.out, EntryMeta(key=name[:2], name=name))
        os.kill(os.getpid(), signal.SIGKILL)  # inside the window: nothing synced, nothing indexed
""")


def test_a_crash_inside_the_window_discards_what_did_not_reach_the_disk(tmp_path, capsys):
    store = Store(tmp_path / "s")
    old = publish(store, "k0-old-1", "old")  # before the window: durable, never re-hashed
    proc = subprocess.run([sys.executable, "-c", CRASH, str(store.root)], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert len(markers(store)) == 1
    # What a power loss may leave of unsynced entries: a truncated file, lost metadata.
    a, b, c = (store.root / n for n in ("k1-a-1", "k2-b-1", "k3-c-1"))
    for entry in (a, b):
        entry.chmod(0o755)
    (a / "f").chmod(0o644)
    os.truncate(a / "f", 0)
    (b / ".jbuild-entry.json").unlink()
    with store.shared():
        store.clean_temporaries()
    assert not a.exists() and not b.exists()
    assert (c / "f").read_text() == "k3-c-1" * 100 and store.check("k3-c-1")  # whole: kept
    assert old.exists() and markers(store) == []
    err = capsys.readouterr().err
    assert "k1-a-1 did not reach the disk whole" in err and "k2-b-1" in err and "k3-c-1" not in err
    assert store.verify() == []
    # A second cleaning has nothing left to do.
    with store.shared():
        assert store.clean_temporaries() == 0


def test_a_killed_builds_whole_entries_survive_its_window_being_rehashed(tmp_path):
    store = Store(tmp_path / "s")
    proc = subprocess.run([sys.executable, "-c", CRASH, str(store.root)], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    with store.shared():
        assert store.clean_temporaries() == 0
    assert [store.check(n) for n in ("k1-a-1", "k2-b-1", "k3-c-1")] == [True, True, True]
    assert markers(store) == [] and store.verify() == []

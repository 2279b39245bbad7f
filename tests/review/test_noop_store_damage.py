"""The no-op's proof that its store entries are there (noop.answer), attacked: an entry damaged
or removed by hand between two no-ops, after the no-op has settled on a stamp of the store's
directory (h-fixed: one stat of the directory instead of a look at each entry)."""

import shutil
import subprocess
import time

from jbuild.base.freshness import RACY_MARGIN_NS

ALL = {"//libs:libc", "//libs:geohash", "//db:tinydb", "//services:geotags"}


def _settle(example) -> None:
    """A few no-ops, spaced beyond the racy margin, so any stamp a no-op takes is settled."""
    for _ in range(3):
        time.sleep(2 * RACY_MARGIN_NS / 1e9)
        r, ran = example.build()
        assert r.returncode == 0 and set(ran.values()) == {"reused"}, r.stderr


def _entry(example, name: str):
    (entry,) = [p for p in example.store.iterdir() if f"-{name}-" in p.name]
    subprocess.run(["chmod", "-R", "u+w", str(entry)], check=True)
    return entry


def test_an_entry_whose_metadata_was_removed_is_not_taken_for_whole(example):
    """An entry without its metadata is not a whole entry (snapshot.entries_present: "a stat of
    each one's metadata"); the no-op of a few entries must not report it up to date."""
    example.build()
    _settle(example)
    (_entry(example, "geotags") / ".jbuild-entry.json").unlink()
    r, ran = example.build()
    assert r.returncode == 0, r.stderr
    assert ran["//services:geotags"] != "reused" or (_entry(example, "geotags") / ".jbuild-entry.json").exists()


def test_an_entry_removed_by_hand_is_rebuilt_after_many_noops(example):
    example.build()
    _settle(example)
    shutil.rmtree(_entry(example, "geohash"))
    r, ran = example.build()
    assert r.returncode == 0, r.stderr
    assert ran["//libs:geohash"] == "built"
    assert (example.root / "result" / "bin" / "geotags").exists()
    r, ran = example.build()
    assert set(ran.values()) == {"reused"}


def test_an_entry_removed_and_the_directory_times_put_back_is_rebuilt(example):
    """`touch -d` restores the store directory's mtime after a removal: the ctime still moved."""
    example.build()
    _settle(example)
    store = str(example.store)
    before = subprocess.run(["stat", "-c", "%y", store], capture_output=True, text=True, check=True).stdout.strip()
    shutil.rmtree(_entry(example, "tinydb"))
    subprocess.run(["touch", "-d", before, store], check=True)
    r, ran = example.build()
    assert r.returncode == 0, r.stderr
    assert ran["//db:tinydb"] == "built"


def test_gc_after_settled_noops_without_a_link_rebuilds_what_it_deleted(example):
    """Built with --no-link, nothing roots the entries: `jbuild gc` deletes them all. The no-op
    that follows (its stamp settled by earlier no-ops) must not answer from the stamp."""
    r, ran = example.build("--no-link")
    assert r.returncode == 0, r.stderr
    for _ in range(3):
        time.sleep(2 * RACY_MARGIN_NS / 1e9)
        r, ran = example.build("--no-link")
        assert r.returncode == 0 and set(ran.values()) == {"reused"}, r.stderr
    r = example.jbuild("gc", "--unused-for", "0")
    assert r.returncode == 0, r.stderr
    assert not [p for p in example.store.iterdir() if "-geotags-" in p.name]
    r, ran = example.build("--no-link")
    assert r.returncode == 0, r.stderr
    assert ran == dict.fromkeys(ALL, "built"), ran
    assert [p for p in example.store.iterdir() if "-geotags-" in p.name]

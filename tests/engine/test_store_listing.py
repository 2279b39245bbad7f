"""store/listing.py: the store directory's names kept by inotify between a server's runs, checked
against a fresh listing after real operations on a real directory (the oracle: os.listdir)."""

import os
import random
import shutil

import pytest
from jbuild.engine.store import listing


@pytest.fixture
def kept(monkeypatch):
    monkeypatch.setattr(listing, "_keep", True)
    monkeypatch.setattr(listing, "_kept", {})


def test_without_keeping_each_look_lists(tmp_path, monkeypatch):
    monkeypatch.setattr(listing, "_keep", False)
    monkeypatch.setattr(listing, "_kept", {})
    (tmp_path / "a").mkdir()
    assert listing.names(str(tmp_path)) == {"a"} and listing._kept == {}


def test_kept_names_follow_publishes_removals_and_renames(tmp_path, kept):
    """Random publishes (a temporary renamed in), removals (renamed out to trash, then deleted;
    or deleted in place), and plain files, between looks: each look equals a listing."""
    store, outside = tmp_path / "store", tmp_path / "outside"
    store.mkdir(), outside.mkdir()
    rng = random.Random(7)
    (store / "seed").mkdir()
    assert listing.names(str(store)) == {"seed"}
    assert listing._kept[str(store)].fd is not None  # (inotify is there: else this test proves nothing)
    for round_ in range(30):
        for _ in range(rng.randrange(1, 12)):
            present = sorted(os.listdir(store))
            op = rng.choice(["publish", "publish", "trash", "rmtree", "file", "out"])
            if op == "publish":
                tmp = store / f".tmp-{round_}-{rng.random()}"
                (tmp / "sub").mkdir(parents=True)
                tmp.rename(store / f"e{rng.randrange(40)}-{round_}")
            elif op == "file":
                (store / f"f{rng.randrange(5)}").write_text("x")
            elif present and op == "trash":
                victim = store / rng.choice(present)
                trash = store / f".trash-{rng.random()}"
                victim.rename(trash)
                shutil.rmtree(trash) if trash.is_dir() else trash.unlink()
            elif present and op == "rmtree":
                victim = store / rng.choice(present)
                shutil.rmtree(victim) if victim.is_dir() else victim.unlink()
            elif present and op == "out":
                victim = store / rng.choice(present)
                victim.rename(outside / f"{victim.name}-{rng.random()}")
        got = listing.names(str(store))
        assert got == set(os.listdir(store)), round_
        got.add("not-there")  # a caller's copy: the kept set is not the caller's
        assert "not-there" not in listing.names(str(store))


def test_a_store_deleted_and_made_again_is_listed_again(tmp_path, kept):
    store = tmp_path / "store"
    (store / "old").mkdir(parents=True)
    assert listing.names(str(store)) == {"old"}
    shutil.rmtree(store)
    (store / "new").mkdir(parents=True)
    assert listing.names(str(store)) == {"new"}
    (store / "newer").mkdir()
    assert listing.names(str(store)) == {"new", "newer"}


def test_an_overflowed_queue_lists_again(tmp_path, kept, monkeypatch):
    """The kernel drops events past max_queued_events and says so (IN_Q_OVERFLOW): the kept
    names cannot be trusted, so the next look lists."""
    store = tmp_path / "store"
    (store / "a").mkdir(parents=True)
    assert listing.names(str(store)) == {"a"}
    watched = listing._kept[str(store)]
    real_read = os.read
    overflow = listing._HEADER.pack(-1, listing.IN_Q_OVERFLOW, 0, 0)
    calls = []

    def read(fd, n):
        if fd == watched.fd and not calls:
            calls.append(fd)
            return overflow  # (what the kernel sends; then the events it still had)
        return real_read(fd, n)

    monkeypatch.setattr(listing.os, "read", read)
    os.rmdir(store / "a")
    (store / "b").mkdir()
    watched.known.add("ghost")  # what a lost event would have left: only a new listing clears it
    assert listing.names(str(store)) == {"b"} and calls

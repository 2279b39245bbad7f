"""Tree listings from the cache are hostile input: bad paths are refused before anything is
written, and a listing round-trips an entry exactly (same tree digest)."""

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from jbuild.engine.remote.tree import Rejected, decode, encode, listing, write
from jbuild.engine.store.entry import tree_digest

SHA = hashlib.sha256(b"x").hexdigest()


def doc(items):
    return json.dumps({"format": 1, "items": items}).encode()


@pytest.mark.parametrize("items, what", [
    ([["../etc/passwd", "f", SHA]], "bad path"),
    ([["/etc/passwd", "f", SHA]], "bad path"),
    ([["a/./b", "f", SHA]], "bad path"),
    ([["a", "f", SHA], ["a", "f", SHA]], "bad path"),
    ([[".jbuild-entry.json", "f", SHA]], "bad path"),
    ([["lib", "l", "/etc"], ["lib/passwd", "f", SHA]], "not a listed directory"),
    ([["a/b", "f", SHA]], "not a listed directory"),
    ([["a", "f", "1234"]], "bad digest"),
    ([["a", "p", ""]], "bad path"),
])
def test_hostile_listings_are_refused(items, what):
    with pytest.raises(Rejected, match=what):
        decode(doc(items))


def test_not_a_listing_is_refused():
    for data in (b"garbage", b'{"format": 2, "items": []}', b'{"format": 1, "items": [[1, 2, 3]]}'):
        with pytest.raises(Rejected, match="not a jbuild listing"):
            decode(data)


def test_a_listing_round_trips_a_tree(tmp_path):
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    (src / "lib").mkdir()
    (src / "bin" / "tool").write_bytes(b"#!/bin/sh\n")
    os.chmod(src / "bin" / "tool", 0o755)
    (src / "lib" / "libx.so.1").write_bytes(b"\0ELF" * 100)
    os.symlink("libx.so.1", src / "lib" / "libx.so")
    blobs = {hashlib.sha256(p.read_bytes()).hexdigest(): p.read_bytes()
             for p in src.rglob("*") if p.is_file() and not p.is_symlink()}
    items = decode(encode(listing(src)))
    out = tmp_path / "out"
    out.mkdir()
    with ThreadPoolExecutor(4) as pool:
        write(items, out, lambda digest, fd: os.write(fd, blobs[digest]), pool)
    assert tree_digest(out) == tree_digest(src)

"""The build server keeps the store's names between builds (store/listing.py): an entry that
gc removed between two edits must be built again, never adopted from a stale memory. Real
server, real builds in bubblewrap, a real gc; enough packages that adoption asks the listing
(snapshot.LISTING_FROM) rather than a stat of each entry. In-process too: the edit's build
starts over whole when an entry to adopt is gone (build.run), and the action it had built
before is still counted as built (Rebuilder.carried)."""

import re

import pytest
from helpers import gone_within, write_tree
from jbuild.engine import snapshot
from test_server import Workspace, stop_servers

N = snapshot.LISTING_FROM + 8
PACKAGE = 'package p{i} {{ version = "1" build = "mkdir -p $OUT && echo {i} > $OUT/n" }}\n'
LEAF = 'package leaf { version = "1" sources = ["leaf.txt"] build = "mkdir -p $OUT && cat $SRC/leaf.txt > $OUT/l" }\n'


@pytest.fixture
def ws(make_workspace, tmp_path):
    files = {"BUILD": LEAF + "".join(PACKAGE.format(i=i) for i in range(N)), "leaf.txt": "one\n"}
    w = Workspace(make_workspace(files), tmp_path / "store")
    yield w
    stop_servers(w)
    assert gone_within(str(w.server_dir()), 10)


def _built(r) -> int:
    found = re.search(r"(\d+) built, (\d+) reused", r.stderr)
    assert r.returncode == 0 and found, r.stderr
    return int(found[1])


@pytest.mark.parametrize("server", [True, False], ids=["server", "in-process"])
def test_entries_gc_removed_between_two_edits_are_built_again(ws, server):
    def build():
        return _built(ws.jbuild("build", "//...", "--no-link", server=server))

    assert build() == N + 1
    pids = ws.pids()
    assert len(pids) == (1 if server else 0)
    write_tree(ws.root, {"leaf.txt": "two\n"})
    assert build() == 1  # the others adopted (the server: their names now kept)
    r = ws.jbuild("gc", server=False)  # no roots (--no-link): every entry goes
    assert r.returncode == 0 and r.stdout.count("deleting ") >= N + 1, r.stdout + r.stderr
    write_tree(ws.root, {"leaf.txt": "three\n"})
    assert build() == N + 1  # (the leaf too: built before the build started over whole)
    assert ws.pids() == pids  # (the same server: its kept names followed the gc)
    r = ws.jbuild("explain", "//:leaf", server=False)
    assert r.returncode == 0 and "//:leaf@1: built" in r.stdout + r.stderr, r.stdout + r.stderr
    write_tree(ws.root, {"leaf.txt": "four\n"})
    assert build() == 1
    r = ws.jbuild("store", "verify", server=False)
    assert r.returncode == 0 and "0 problem(s)" in r.stderr, r.stdout + r.stderr

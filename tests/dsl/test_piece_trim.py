"""`.jbuild/cache/pieces/` holds one file per BUILD file lowered by pieces, and no more
(dsl/piece_cache.py `trim`): a file's pieces go once it is deleted or no longer lowered by
pieces; a file written by another process after this one read the parse cache stays."""

import os
import time

import pytest
from jbuild.dsl import pieces
from jbuild.dsl.loader import Loader
from jbuild.dsl.workspace import Workspace


def package(i: int) -> str:
    return f'package p{i} {{\n    version = "1.{i}"\n    build = "echo {i} > $OUT/p{i}"\n}}\n'


@pytest.fixture
def small_pieces(monkeypatch):
    monkeypatch.setattr(pieces, "PIECE_CHARS", 300)


def load_all(root):
    loader = Loader(Workspace(root))
    loader.closure(loader.expand(["//..."], str(root)))
    return loader


def kept(root) -> set[str]:
    d = root / ".jbuild" / "cache" / "pieces"
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


def test_the_pieces_of_a_deleted_or_small_build_file_are_removed(small_pieces, make_workspace):
    big = "".join(package(i) for i in range(20))
    root = make_workspace({"a/BUILD": big, "b/BUILD": big, "c/BUILD": package(1)})
    load_all(root)
    both = kept(root)
    assert len(both) == 2  # a and b: c is small
    (root / "b" / "BUILD").unlink()
    load_all(root)
    (only_a,) = kept(root)
    assert only_a in both
    (root / "a" / "BUILD").write_text(package(1))  # small now: parsed whole
    load_all(root)
    assert kept(root) == set()


def test_pieces_another_process_wrote_meanwhile_stay(small_pieces, make_workspace):
    root = make_workspace({"a/BUILD": "".join(package(i) for i in range(20))})
    loader = Loader(Workspace(root))  # reads the parse cache now
    time.sleep(0.01)
    other = root / ".jbuild" / "cache" / "pieces" / "0123456789abcdef.pickle"  # another's new BUILD file
    other.parent.mkdir(parents=True)
    other.write_bytes(b"x")
    stale = other.with_name("fedcba9876543210.pickle")
    stale.write_bytes(b"x")
    os.utime(stale, ns=(0, 0))  # written long before: no BUILD file of this workspace is lowered into it
    loader.closure(loader.expand(["//..."], str(root)))
    assert other.exists() and not stale.exists()
    assert len(kept(root)) == 2  # a's own, and the other's

"""base/file_memo.py: a value comes back only while its files are what this process wrote."""

import os

import pytest
from jbuild.base import file_memo


@pytest.fixture
def memo():
    file_memo.enable()
    yield file_memo
    file_memo.enable(False)


def test_off_it_keeps_nothing(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    file_memo.keep("k", "key", [f], "value")
    assert file_memo.recall("k", "key", [f]) is None


def test_a_value_comes_back_once_for_its_key_while_its_files_are_unchanged(memo, tmp_path):
    f, g = tmp_path / "f", tmp_path / "g"
    f.write_text("x")
    memo.keep("k", "key", [f, g], "value")  # (g absent: its absence is part of the state)
    assert memo.recall("k", "other", [f, g]) is None
    memo.keep("k", "key", [f, g], "value")
    assert memo.recall("k", "key", [f, g]) == "value"
    assert memo.recall("k", "key", [f, g]) is None  # taken out
    memo.keep("k", "key", [f], "value")
    assert memo.recall("k", "key", [f], keep=True) == "value" and memo.recall("k", "key", [f]) == "value"


@pytest.mark.parametrize("change", ["rewrite", "replace", "touch", "create", "remove"])
def test_another_writer_makes_it_forget(memo, tmp_path, change):
    f, g = tmp_path / "f", tmp_path / "g"
    f.write_text("x")
    memo.keep("k", "key", [f, g], "value")
    st = os.stat(f)
    if change == "rewrite":
        f.write_text("yy")
    elif change == "replace":  # same size, a new inode (another jbuild's write-and-rename)
        (tmp_path / "tmp").write_text("y")
        os.replace(tmp_path / "tmp", f)
    elif change == "touch":
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    elif change == "create":
        g.write_text("")
    else:
        f.unlink()
    assert memo.recall("k", "key", [f, g], keep=True) is None
    assert memo.recall("k", "key", [f, g]) is None  # forgotten, not only refused

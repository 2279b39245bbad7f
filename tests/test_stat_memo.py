"""jbuild.toml's settings kept by its stat (base/stat_memo.py): a command in an unchanged
workspace does not parse it again (nor import TOML's parser), and every change is seen — a
same-size edit right after the read, a file made invalid, another schema."""

import os
import subprocess
import sys
import time

import pytest
from jbuild.base import stat_memo
from jbuild.dsl.errors import RecipeError
from jbuild.dsl.workspace import Workspace

PROBE = ("import sys; from jbuild.dsl.workspace import Workspace; s = Workspace.find().settings; "
         "print(s, 'tomllib' in sys.modules)")


def _old(path):
    """Backdate the file past the racy-clean margin, as a file written a while ago is (its ctime
    cannot be set back: wait that margin out)."""
    past = time.time_ns() - 10**9
    os.utime(path, ns=(past, past))
    time.sleep(0.05)


def test_unchanged_settings_are_not_parsed_again(tmp_path):
    toml = tmp_path / "jbuild.toml"
    toml.write_text("[build]\njobs = 3\n")
    time.sleep(0.05)  # (the first read must come after the racy-clean margin to be kept)
    assert Workspace.find(tmp_path).settings == {"build": {"jobs": 3}}
    assert (tmp_path / ".jbuild" / "cache" / "settings.pickle").is_file()
    r = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.stdout.split("\n")[0] == "{'build': {'jobs': 3}} False", r.stderr


def test_a_same_size_edit_right_after_the_read_is_seen(tmp_path):
    toml = tmp_path / "jbuild.toml"
    toml.write_text("[build]\njobs = 3\n")
    assert Workspace.find(tmp_path).settings == {"build": {"jobs": 3}}
    st = os.stat(toml)
    toml.write_text("[build]\njobs = 4\n")
    os.utime(toml, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime (the ctime moved)
    assert Workspace.find(tmp_path).settings == {"build": {"jobs": 4}}
    _old(toml)
    assert Workspace.find(tmp_path).settings == {"build": {"jobs": 4}}  # kept now
    toml.write_text("[build]\njobs = 5\n")
    assert Workspace.find(tmp_path).settings == {"build": {"jobs": 5}}


def test_invalid_settings_are_never_kept(tmp_path):
    toml = tmp_path / "jbuild.toml"
    toml.write_text("[build]\njobs = 0\n")
    _old(toml)
    for _ in range(2):
        with pytest.raises(RecipeError, match="jobs must be an integer of at least 1"):
            Workspace.find(tmp_path)
    assert not (tmp_path / ".jbuild" / "cache" / "settings.pickle").exists()


def test_a_memo_is_trusted_only_under_its_salt(tmp_path):
    src, memo = tmp_path / "f", tmp_path / "memo.pickle"
    src.write_text("one")
    _old(src)
    calls = []

    def parse():
        calls.append(1)
        return src.read_text()

    assert stat_memo.parsed(src, memo, "a", parse) == "one"
    assert stat_memo.parsed(src, memo, "a", parse) == "one" and len(calls) == 1
    assert stat_memo.parsed(src, memo, "b", parse) == "one" and len(calls) == 2


def test_a_read_only_workspace_still_reads_its_settings(tmp_path):
    toml = tmp_path / "jbuild.toml"
    toml.write_text("[build]\njobs = 2\n")
    _old(toml)
    (tmp_path / ".jbuild").write_text("not a directory")  # the memo cannot be written
    assert Workspace.find(tmp_path).settings == {"build": {"jobs": 2}}

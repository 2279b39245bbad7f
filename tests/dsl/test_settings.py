"""jbuild.toml is checked against settings_schema: unknown sections and keys, wrong types,
bad bytes and a directory are RecipeErrors placed in the file; `Workspace.setting` reads it."""

import os

import pytest
from jbuild.dsl.errors import RecipeError, render_all
from jbuild.dsl.workspace import Workspace


def refused(tmp_path, content: bytes | str) -> str:
    path = tmp_path / "jbuild.toml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "sub").mkdir(exist_ok=True)
    with pytest.raises(RecipeError) as info:
        Workspace.find(tmp_path / "sub")
    return render_all(info.value, str(tmp_path)).replace(str(tmp_path) + "/", "")


def test_valid_settings_are_read_typed(tmp_path):
    (tmp_path / "jbuild.toml").write_text(
        '[store]\npath = "store"\n[build]\njobs = 3\nkeep_going = true\n[fetch]\nmirrors = ["a"]\n'
        '[cache]\nurl = "http://c"\nupload = false\n[profiles.ci]\nstrict = true\n')
    ws = Workspace.find(tmp_path)
    assert ws.setting("build", "jobs", 1) == 3 and ws.setting("build", "strict", False) is False
    assert ws.setting("store", "path") == "store" and ws.setting("profiles.ci", "strict") is True
    assert ws.setting("profiles.other", "jobs", 7) == 7
    with pytest.raises(KeyError):
        ws.setting("build", "jbos")


@pytest.mark.parametrize("content,expected", [
    ("[biuld]\njobs = 4\n", "jbuild.toml:1:2: error: unknown section 'biuld' in jbuild.toml\n1 | [biuld]\n"
     "  |  ^^^^^\nhelp: did you mean 'build'?"),
    ("[build]\njobz = 4\n", "jbuild.toml:2:1: error: unknown key 'jobz' in [build]\n2 | jobz = 4\n"
     "  | ^^^^\nhelp: did you mean 'jobs'?"),
    ("[store]\npath = 5\n", "jbuild.toml:2:1: error: [store] path must be a string, not an integer\n"
     "2 | path = 5\n  | ^^^^\nhelp: path: the store directory, relative to the workspace"),
    ("[build]\n  jobs = 0\n", "jbuild.toml:2:3: error: [build] jobs must be an integer of at least 1, not 0\n"
     "2 |   jobs = 0\n  |   ^^^^\nhelp: jobs: parallel actions (default: the core count)"),
    ("[profiles.ci]\nkeep_going = \"yes\"\n", "jbuild.toml:2:1: error: [profiles.ci] keep_going must be "
     "true or false, not a string\n2 | keep_going = \"yes\"\n  | ^^^^^^^^^^\n"
     "help: keep_going: go on building what does not depend on a failure (default: false; true under `CI=true`)"),
    ("[cache]\njobs = 2\n", "jbuild.toml:2:1: error: unknown key 'jobs' in [cache]\n2 | jobs = 2\n  | ^^^^\n"
     "help: it belongs in [build]"),
    ("jobs = 2\n", "jbuild.toml:1:1: error: unknown section 'jobs' in jbuild.toml\n1 | jobs = 2\n  | ^^^^\n"
     "help: it belongs in a section: [build] jobs = ..."),
    ("[fetch]\nmirrors = [1]\n", "jbuild.toml:2:1: error: [fetch] mirrors must be a list of strings, not an "
     "array\n2 | mirrors = [1]\n  | ^^^^^^^\nhelp: mirrors: directories (relative to the workspace) or URLs "
     "searched for archives before their own URL"),
    ("[build\n", "jbuild.toml:1:7: error: bad jbuild.toml: Expected ']' at the end of a table declaration\n"
     "1 | [build\n  |       ^"),
])
def test_bad_settings_are_placed_in_the_file(tmp_path, content, expected):
    assert refused(tmp_path, content) == expected


def test_several_problems_are_all_reported(tmp_path):
    text = refused(tmp_path, "[build]\njobz = 1\nstrict = 2\n[stor]\n")
    assert text.endswith("3 errors") and text.count("error:") == 3


def test_non_utf8_settings_are_a_clear_error(tmp_path):
    text = refused(tmp_path, b'[store]\npath = "caf\xe9"\n')
    assert text.startswith("jbuild.toml:2:12: error: jbuild.toml is not UTF-8 text: byte 0xe9 at line 2")


def test_a_settings_directory_is_a_clear_error(tmp_path):
    (tmp_path / "jbuild.toml").mkdir()
    with pytest.raises(RecipeError) as info:
        Workspace.find(tmp_path)
    assert render_all(info.value).startswith(f"error: '{tmp_path}/jbuild.toml' is a directory; jbuild.toml must be a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_settings_are_a_clear_error(tmp_path):
    (tmp_path / "jbuild.toml").write_text("")
    (tmp_path / "jbuild.toml").chmod(0)
    with pytest.raises(RecipeError) as info:
        Workspace.find(tmp_path)
    assert "cannot read" in render_all(info.value)

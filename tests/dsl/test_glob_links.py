"""What a glob sees of a directory's symlinks (dsl/globs.py `_relevant`): a link that leaves the
workspace (a `result` link into the store) is not a source. Each link is resolved with the
directory its target names resolved once per listing (`_resolved`): it must agree with
os.path.realpath on every shape of link."""

from __future__ import annotations

import os

import pytest
from jbuild.dsl import globs
from jbuild.dsl.globs import _relevant, _resolved


def test_each_shape_of_link_resolves_as_realpath_does(tmp_path):
    ws, store = tmp_path / "ws", tmp_path / "store"
    (ws / "sub").mkdir(parents=True)
    (store / "e1").mkdir(parents=True)
    (tmp_path / "storelink").symlink_to(store)
    shapes = {
        "into_store": store / "e1", "through_a_linked_dir": tmp_path / "storelink" / "e1", "relative_inside": "sub",
        "relative_out": "../store/e1", "dangling": tmp_path / "nothere" / "x", "dot_dot_last": ws / "sub" / "..",
        "loop": "loop", "to_a_link": ws / "into_store", "trailing_slash": f"{tmp_path}/storelink/",
        "relative_through_dot_dot": "sub/../../store",
    }
    for name, target in shapes.items():
        (ws / name).symlink_to(target)
    parents: dict[str, str] = {}
    for name in shapes:
        link = str(ws / name)
        assert _resolved(link, parents) == os.path.realpath(link), name


def test_a_glob_sees_links_inside_the_workspace_and_not_those_out_of_it(tmp_path):
    ws, store = tmp_path / "ws", tmp_path / "store"
    (ws / "src").mkdir(parents=True)
    (store / "env").mkdir(parents=True)
    (tmp_path / "storelink").symlink_to(store)
    for i in range(5):
        (ws / f"result-{i}").symlink_to(store / "env")
    (ws / "result").symlink_to(tmp_path / "storelink" / "env")
    (ws / "alias").symlink_to("src")
    (ws / "back_in").symlink_to(tmp_path / "ws" / "src")
    seen = sorted(e.name for e in _relevant(os.scandir(ws), str(ws)))
    assert seen == ["alias", "back_in", "src"]


@pytest.mark.parametrize("pattern, rel_dir, expected", [
    ("src/**", "src/sub", True), ("src/*.c", "src", True), ("src/*.c", "src/sub", False),
    ("*.c", "sub", False), ("**/*.h", "a/b/c", True), ("s*/x/*.c", "src/x", True),
    ("s*/x/*.c", "src/y", False), ("src/a**", "src/ab/c", True), ("lib/*", "src", False),
    ("*.c", "", True),  # the package's own directory unreadable: every glob
])
def test_reaches_says_which_directories_a_glob_may_match_below(pattern, rel_dir, expected):
    assert globs.reaches(pattern, rel_dir) is expected
    # (an oracle: some file below the directory that the pattern matches, when it may)
    probe = f"{rel_dir}/ab/c.c" if rel_dir else "c.c"
    if globs.compile_glob(pattern).match(probe):
        assert expected

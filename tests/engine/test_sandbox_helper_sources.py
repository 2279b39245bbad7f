"""The C helpers' sources are a fixed list, not a glob: a stray file beside them (an editor's or a
merge's copy, `stage_exec_serve.orig.c`) is neither compiled into the stager (its symbols twice: no
program, the slower Python stager) nor part of its cache key (review of the stager, item 7)."""

from __future__ import annotations

import shutil

from jbuild.engine import sandbox_landlock


def test_a_stray_copy_beside_the_stager_is_no_part_of_it(tmp_path):
    engine = sandbox_landlock.SOURCE.parent
    for name in ("stage_exec.c", "stage_exec_serve.c", "stage_exec.h", "landlock_exec.c"):
        shutil.copy(engine / name, tmp_path / name)
    before = sandbox_landlock.sources(tmp_path / "stage_exec.c")
    assert [p.name for p in before] == ["stage_exec.c", "stage_exec_serve.c", "stage_exec.h"]
    shutil.copy(engine / "stage_exec_serve.c", tmp_path / "stage_exec_serve.orig.c")
    (tmp_path / "stage_exec_old.h").write_text("#error stray\n")
    (tmp_path / "landlock_exec_copy.c").write_text("int main(void) { return 0; }\n")
    assert sandbox_landlock.sources(tmp_path / "stage_exec.c") == before
    assert [p.name for p in sandbox_landlock.sources(tmp_path / "landlock_exec.c")] == ["landlock_exec.c"]


def test_every_part_of_the_stager_exists():
    for helper in sandbox_landlock.HELPERS:
        assert all(p.is_file() for p in sandbox_landlock.sources(helper))

"""A BUILD edit taken the loader's way (a package added to a file, engine/session.py `_reload`)
expands `//...` again without walking the workspace: the edit check proved every directory the
last walk looked at unchanged, so its packages are the same (dsl/loader.py `walks`). A directory
or BUILD file that appears or goes is structural (a whole analysis, walking again), and what
each edit builds is what a clean build of the same files builds."""

from __future__ import annotations

import time

from jbuild.dsl.workspace import Workspace
from jbuild.engine.build import build
from jbuild.engine.settings import Options
from test_noop_since import _build


def _pkg(name: str, script: str = "") -> str:
    return f'package {name} {{\n    version = "1"\n    build = "mkdir -p $OUT && echo {name} {script} > $OUT/{name}"\n}}\n'


def test_a_package_added_to_a_build_file_expands_the_pattern_without_walking(make_workspace, tmp_path, monkeypatch):
    root = make_workspace({"BUILD": _pkg("top"), "a/BUILD": _pkg("a"), "b/c/BUILD": _pkg("c"), "b/x.txt": "x\n"})
    opts = Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None)
    time.sleep(0.05)  # (the files written beyond the racy margin before the analysis)
    assert build(["//..."], opts, str(root), members=False).code == 0
    walks = []
    under = Workspace.packages_under
    monkeypatch.setattr(Workspace, "packages_under", lambda self, *a: walks.append(a) or under(self, *a))
    (root / "a" / "BUILD").write_text(_pkg("a") + _pkg("a2"))  # a target added: not taken in place
    ran, err = _build(root, tmp_path)  # (the CLI: another process, the edit check's proof, its own count)
    assert {k for k, v in ran.items() if v == "built"} == {"//a:a2"}, err
    (root / "a" / "BUILD").write_text(_pkg("a") + _pkg("a2") + _pkg("a3"))
    result = build(["//..."], opts, str(root), members=False)
    assert result.code == 0 and walks == []  # in process: expanded without a walk
    assert sorted(str(n).split("@")[0] for n, _ in result.roots) == ["//:top", "//a:a", "//a:a2", "//a:a3", "//b/c:c"]
    (root / "b" / "d").mkdir()
    (root / "b" / "d" / "BUILD").write_text(_pkg("d"))  # a new package: walked again (a whole analysis)
    result = build(["//..."], opts, str(root), members=False)
    assert result.code == 0 and walks
    assert "//b/d:d" in {str(n).split("@")[0] for n, _ in result.roots}
    walks.clear()
    (root / "b" / "c" / "BUILD").unlink()  # a package gone: walked again too
    (root / "a" / "BUILD").write_text(_pkg("a", "edited") + _pkg("a2"))
    result = build(["//..."], opts, str(root), members=False)
    assert result.code == 0 and walks
    assert sorted(str(n).split("@")[0] for n, _ in result.roots) == ["//:top", "//a:a", "//a:a2", "//b/d:d"]

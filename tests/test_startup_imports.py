"""What a no-op and a source edit import (issue 12: start-up is most of their cost). The no-op's
jbuild modules are pinned exactly, so a module that joins its path is a decision, not an
accident; both must stay clear of the heavy libraries (click, lark, networkx, resolvelib, SQLite,
the store package, the DSL parser and model), and of the stdlib modules whose import was measured
to cost milliseconds where nothing on the path uses them (each named with where it went)."""

import os
import subprocess
import sys
from pathlib import Path

BUILD = '''
package lib {
    version = "1"
    sources = ["lib.txt"]
    build = "mkdir -p $OUT && cp $SRC/lib.txt $OUT/lib"
}
package app {
    version = "1"
    sources = ["a.txt"]
    requires = [:lib]
    build = "mkdir -p $OUT && cp $SRC/a.txt $OUT/a"
}
'''
# The CLI as `python -m jbuild` runs it, then the modules it imported (printed after exit).
PROBE = ("import atexit, sys, runpy; atexit.register(lambda: print('MODULES', *sorted(sys.modules)));"
         "sys.argv = ['jbuild', *sys.argv[1:]]; runpy.run_module('jbuild', run_name='__main__')")
NOOP_JBUILD_MODULES = {
    "jbuild", "jbuild.cli", "jbuild.exitcodes", "jbuild.fast_build", "jbuild.build_options", "jbuild.build_run",
    "jbuild.base", "jbuild.base.stat_memo", "jbuild.base.errors", "jbuild.base.freshness", "jbuild.base.locks",
    "jbuild.base.cachefile", "jbuild.base.file_memo", "jbuild.base.quick_exit", "jbuild.base.dataclass_code",
    "jbuild.base.workspace_cache",
    "jbuild.dsl", "jbuild.dsl.workspace", "jbuild.dsl.globs", "jbuild.dsl.settings_schema",
    "jbuild.engine", "jbuild.engine.build", "jbuild.engine.noop", "jbuild.engine.snapshot", "jbuild.engine.settings",
    "jbuild.engine.ci", "jbuild.engine.platform", "jbuild.engine.progress", "jbuild.engine.events",
}
HEAVY = ("click", "lark", "networkx", "resolvelib", "sqlite3", "jbuild.engine.store", "jbuild.dsl.parser",
         "jbuild.dsl.loader", "jbuild.dsl.model", "jbuild.engine.session", "jbuild.engine.resolve")
NOT_ON_THE_NOOP = {
    "tomllib": "dsl/workspace.py keeps jbuild.toml's settings by its stat (base/stat_memo.py)",
    "typing": "TYPE_CHECKING = False in engine/build.py, noop.py, platform.py, dsl/settings_schema.py",
    "shutil": "engine/platform.py's _which",
    "platformdirs": "engine/store_location.py's user_cache_dir",
    "jbuild.dsl.errors": "jbuild/build_run.py asks sys.modules; dsl/workspace.py imports it to raise",
    "jbuild.dsl.labels": "dsl/workspace.py's STD",
}
NOT_ON_AN_EDIT = {
    "tomllib": "as the no-op",
    "platformdirs": "engine/store_location.py's user_cache_dir (dpkg_cache.py, sandbox_landlock.py)",
    "secrets": "engine/store/durability.py names its marker with os.urandom",
    "netrc": "engine/remote/config.py, only with a remote cache",
    "hashlib": "(secrets' import of it)",
}


def _run(ws, env) -> tuple[str, set[str]]:
    r = subprocess.run([sys.executable, "-c", PROBE, "build", "//...", "--no-link", "--sandbox", "bwrap"], cwd=ws,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stderr, set(next(line for line in r.stdout.splitlines() if line.startswith("MODULES")).split()[1:])


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def _env(tmp_path, store: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "JBUILD_STORE"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # (the default store, the dpkg cache, the tools)
    if store:
        env["JBUILD_STORE"] = str(tmp_path / "store")
    return env


def test_a_noop_imports_only_its_own_path(make_workspace, tmp_path):
    """In the user's default store (no JBUILD_STORE: the usual case) and in a named one."""
    ws = make_workspace({"BUILD": BUILD, "a.txt": "a\n", "lib.txt": "l\n"}, toml="[build]\nkeep_going = false\n")
    for store in (False, True):
        for _ in range(3):  # builds; a no-op that marks the decisions reused (it writes the index); a no-op
            err, noop = _run(ws, _env(tmp_path, store))
        assert "0 built, 2 reused" in err, err
        # (jbuild.stdlib_recipes: where the stdlib's place is asked, when a directory's stat alone does not
        # prove it unchanged and snapshot.is_fresh lists it: timing decides)
        assert {m for m in noop if m.startswith("jbuild")} - {"jbuild.stdlib_recipes"} == NOOP_JBUILD_MODULES | (
            set() if store else {"jbuild.engine.store_location"})  # (the default store: found there)
        assert _heavy(noop) == []
        assert {m: why for m, why in NOT_ON_THE_NOOP.items() if m in noop} == {}
    assert (tmp_path / "cache" / "jbuild" / "store").is_dir()


def test_a_source_edit_imports_no_parser_graph_library_or_click(make_workspace, tmp_path):
    ws = make_workspace({"BUILD": BUILD, "a.txt": "a\n", "lib.txt": "l\n"})
    env = _env(tmp_path, store=False)
    _run(ws, env)
    for text in ("edited\n", "again\n"):  # the second edit's session is the first edit's
        (ws / "a.txt").write_text(text)
        err, edit = _run(ws, env)
        assert "1 built, 1 reused" in err, err
    assert "jbuild.engine.rebuilder" in edit  # it did build
    assert [m for m in _heavy(edit) if not m.startswith(("sqlite3", "jbuild.engine.store", "jbuild.dsl.model",
                                                          "jbuild.engine.session", "jbuild.engine.resolve"))] == []
    assert {m: why for m, why in NOT_ON_AN_EDIT.items() if m in edit} == {}


def test_the_users_cache_directory_is_platformdirs_one(monkeypatch, tmp_path):
    import platformdirs
    from jbuild.dsl import labels, workspace
    from jbuild.engine.store_location import default_store, user_cache_dir

    for xdg in (str(tmp_path / "xdg"), "", None):
        if xdg is None:
            monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        else:
            monkeypatch.setenv("XDG_CACHE_HOME", xdg)
        assert str(user_cache_dir()) == platformdirs.user_cache_dir("jbuild")
        assert default_store() == user_cache_dir() / "store"
    assert user_cache_dir() == Path.home() / ".cache" / "jbuild"
    assert workspace.STD == labels.STD

"""An edit's build imports only what its path needs (start-up is most of an incremental
build's fixed cost, issue 12): no ELF parser when no ELF is measured, no DSL parser when the
session is restored, no archive/git/download code for a package without fetched sources."""

import os
import subprocess
import sys

BUILD = '''
package app {
    version = "1"
    sources = ["a.txt"]
    build = "mkdir -p $OUT && cp $SRC/a.txt $OUT/a"
}
'''
# The CLI as `python -m jbuild` runs it, then the modules it imported (printed after exit).
PROBE = ("import atexit, sys, runpy; atexit.register(lambda: print('MODULES', *sorted(sys.modules)));"
         "sys.argv = ['jbuild', *sys.argv[1:]]; runpy.run_module('jbuild', run_name='__main__')")
NOT_NEEDED = ("elftools", "jbuild.dsl.syntax", "jbuild.dsl.templates", "jbuild.engine.fetch.downloads",
              "jbuild.engine.fetch.git", "tarfile")


def _build(ws, tmp_path, env=None) -> set[str]:
    env = env or {**os.environ, "JBUILD_STORE": str(tmp_path / "store")}
    r = subprocess.run([sys.executable, "-c", PROBE, "build", "//...", "--no-link"], cwd=ws, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "//:app@1 up to date:" in r.stderr, r.stderr
    return set(next(line for line in r.stdout.splitlines() if line.startswith("MODULES")).split()[1:])


def test_a_source_edit_imports_no_parser_elf_reader_or_fetcher(make_workspace, tmp_path):
    ws = make_workspace({"BUILD": BUILD, "a.txt": "one\n"})
    first = _build(ws, tmp_path)
    assert "jbuild.dsl.syntax" in first  # (a whole analysis parses: the probe sees imports)
    (ws / "a.txt").write_text("two\n")
    edit = _build(ws, tmp_path)
    assert "jbuild.engine.rebuilder" in edit  # it did build
    assert (tmp_path / "store").exists()
    loaded = [m for m in edit if m.split(".")[0] in NOT_NEEDED or m in NOT_NEEDED]
    assert loaded == [], loaded


def test_a_noop_in_the_default_store_imports_no_store_package(make_workspace, tmp_path):
    """Without JBUILD_STORE the store is found in the user's cache directory
    (engine/store_location.py): the no-op does not import the store package to find it."""
    ws = make_workspace({"BUILD": BUILD, "a.txt": "one\n"})
    env = {k: v for k, v in os.environ.items() if k != "JBUILD_STORE"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    for _ in range(3):  # builds; a no-op that marks the decisions reused (it writes the index); a no-op
        noop = _build(ws, tmp_path, env)
    assert (tmp_path / "cache" / "jbuild" / "store").is_dir()
    assert "jbuild.engine.noop" in noop and "jbuild.engine.store" not in noop


def test_the_noop_names_the_entries_metadata_as_the_store_does():
    from jbuild.engine import snapshot, store

    assert snapshot.ENTRY_META == store.META

"""`jbuild why-depends` prints the chain of requirements; `jbuild path-info` the store path and
sizes, which must be what the entries hold on disk."""

import os

import pytest
from helpers import pristine_example, run_jbuild


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return pristine_example(tmp_path_factory.mktemp("why") / "geotags")


def test_why_depends_chain_with_edge_kinds(ws):
    r = run_jbuild("why-depends", "//services:geotags_test", "//libs:libc", cwd=ws)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "//services:geotags_test",
        "└─ requires //services:geotags@5.1  (services/BUILD:27:17)",
        "   └─ requires //libs:libc@2.24  (services/BUILD:7:56)",
    ]


def test_why_depends_through_run_requires_and_tools(make_workspace):
    root = make_workspace({"BUILD": """
        package gen { version = "1" requires = [:rt] }
        package rt { version = "1" }
        package db { version = "1" build_requires = [:gen] }
        package app { version = "1" run_requires = [:db] }
    """})
    r = run_jbuild("why-depends", "//:app", "//:rt", cwd=root)
    assert r.returncode == 0, r.stderr
    assert [line.split("  (")[0] for line in r.stdout.splitlines()] == [
        "//:app@1", "└─ run_requires //:db@1", "   └─ build_requires //:gen@1", "      └─ requires //:rt@1"]
    r = run_jbuild("why-depends", "//:app", "@std//host:cc", cwd=root)
    assert r.returncode == 0 and r.stdout.strip() == "//:app does not depend on @std//host:cc"


def test_why_depends_host_tool_and_unknown_label(ws):
    r = run_jbuild("why-depends", "//libs:libc", "@std//host:cc", cwd=ws)
    assert r.stdout.splitlines()[1].startswith("└─ build_requires (host tool) @std//host:cc")
    r = run_jbuild("why-depends", "//libs:libc", "//libs:geohsh", cwd=ws)
    assert r.returncode == 2 and "did you mean 'geohash'?" in r.stderr


def du(path):
    """Bytes of the regular files of an entry (its metadata file aside), as the store counts."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            full = os.path.join(dirpath, f)
            if not os.path.islink(full) and f != ".jbuild-entry.json":
                total += os.lstat(full).st_size
    return total


def test_path_info_sizes_match_the_store(example):
    r = example.jbuild("path-info", "//services:geotags")
    assert r.returncode == 1 and "not in the store" in r.stderr and "jbuild build //services:geotags" in r.stderr
    r, _ = example.build()
    assert r.returncode == 0, r.stderr
    r = example.jbuild("path-info", "-sS", "//services:geotags")
    assert r.returncode == 0, r.stderr
    path, size, closure = r.stdout.strip().split("\t")
    entries = [e for e in example.store.iterdir() if (e / ".jbuild-entry.json").exists() and "-env-" not in e.name]
    assert path.endswith("-geotags-5.1") and os.path.isdir(path)
    assert int(size) == du(path) > 0
    assert int(closure) == sum(du(e) for e in entries)  # geotags, geohash, libc, tinydb: its whole closure
    assert len(entries) == 4
    r = example.jbuild("path-info", "-r", "-s", "//services:geotags")
    rows = dict(line.split("\t") for line in r.stdout.splitlines())
    assert sorted(rows) == sorted(str(e) for e in entries)
    assert all(int(v) == du(p) for p, v in rows.items())
    r = example.jbuild("path-info", "//services:geotags_test")
    assert r.returncode == 2 and "tests are run, not built" in r.stderr


def test_why_depends_entries_show_built_against_and_runs_with(example):
    """After the libc implementation patch, geotags is reused: why-depends --entries says it was
    built against the old libc entry and runs with the new one (never silent)."""
    import re

    r, _ = example.build()
    assert r.returncode == 0, r.stderr
    old = next(example.store.glob("*-libc-2.24")).name
    example.edit("libs/libc/src/mini.c", "minilibc 1", "minilibc 2")
    r, seen = example.build()
    assert r.returncode == 0 and seen["//libs:libc"] == "built" and seen["//services:geotags"] == "reused"
    new = next(e.name for e in example.store.glob("*-libc-2.24") if e.name != old)
    r = example.jbuild("why-depends", "--entries", "//services:geotags", "//libs:libc", "--sandbox", "bwrap")
    assert r.returncode == 0, r.stderr
    top, step = r.stdout.splitlines()
    assert re.fullmatch(rf"//services:geotags@5.1  \[\w+-geotags-5.1; built against {old}, runs with {new}\]", top)
    assert step.endswith(f"[{new}]") and step.startswith("└─ requires //libs:libc@2.24")

"""The no-op path: a cached analysis checked by stats. It must import none of the parser, the
resolver or networkx, and every change the analysis depends on must invalidate it."""

import os
import shutil
import subprocess
import sys
import time

from helpers import run_jbuild
from jbuild.base.freshness import RACY_MARGIN_NS

ALL = {"//libs:libc", "//libs:geohash", "//db:tinydb", "//services:geotags"}


def test_warm_noop_imports_no_parser_resolver_or_graph(example):
    example.build()
    env = {**os.environ, "JBUILD_STORE": str(example.store)}
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "jbuild", "build", "//services:geotags",
                        "--sandbox", "bwrap"], cwd=example.root, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    imported = {line.split("|")[-1].strip().split(".")[0] for line in r.stderr.splitlines()
                if line.startswith("import time:")}
    assert imported & {"lark", "networkx", "resolvelib"} == set()
    assert "0 built, 4 reused" in r.stderr


def test_unrelated_file_next_to_named_sources_keeps_the_noop(example):
    """db/BUILD names its sources without a glob: a new file beside them is nobody's input."""
    example.build()
    (example.root / "db/tinydb/src/notes.txt").write_text("not a source")
    env = {**os.environ, "JBUILD_STORE": str(example.store)}
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "jbuild", "build", "//services:geotags",
                        "--sandbox", "bwrap"], cwd=example.root, env=env, capture_output=True, text=True)
    assert "0 built, 4 reused" in r.stderr and "networkx" not in r.stderr


def test_new_file_matching_a_glob_invalidates(example):
    example.build()
    (example.root / "libs/libc/src/extra.c").write_text("int extra;\n")  # libc declares glob(libc/**)
    r, ran = example.build()
    assert ran["//libs:libc"] == "built" and ran["//services:geotags"] == "reused"


def test_vanished_store_entry_is_rebuilt(example):
    example.build()
    (entry,) = [p for p in example.store.iterdir() if "-geotags-" in p.name]
    subprocess.run(["chmod", "-R", "u+w", str(entry)], check=True)
    shutil.rmtree(entry)
    r, ran = example.build()
    assert r.returncode == 0 and ran == {**{t: "reused" for t in ALL}, "//services:geotags": "built"}
    assert (example.root / "result" / "bin" / "geotags").exists()


def test_result_link_is_never_a_source(make_workspace, tmp_path):
    root = make_workspace({"BUILD": 'package site { version = "1" sources = glob(["**"]) '
                                    'build = "mkdir -p $OUT && ls $SRC > $OUT/listing" }', "index.html": "hi"})
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    assert run_jbuild("build", "//:site", "--sandbox", "bwrap", cwd=root, env=env).returncode == 0
    assert os.path.islink(root / "result")
    assert (root / "result" / "listing").read_text().split() == ["index.html", "jbuild.toml"]
    r = run_jbuild("build", "//:site", "--sandbox", "bwrap", cwd=root, env=env)
    assert "0 built, 1 reused" in r.stderr
    assert run_jbuild("show", "//:site", cwd=root).stdout.count("index.html") == 1


def test_new_package_under_a_recursive_pattern_is_built(make_workspace, tmp_path):
    root = make_workspace({"a/BUILD": 'package a { version = "1" build = "mkdir -p $OUT" }'})
    env = {"JBUILD_STORE": str(tmp_path / "store")}
    assert "1 built" in run_jbuild("build", "//...", "--sandbox", "bwrap", cwd=root, env=env).stderr
    (root / "b").mkdir()
    (root / "b/BUILD").write_text('package b { version = "1" build = "mkdir -p $OUT" }')
    r = run_jbuild("build", "//...", "--sandbox", "bwrap", cwd=root, env=env)
    assert "1 built, 1 reused" in r.stderr


def test_host_tool_upgrade_rebuilds_only_its_users(make_workspace, tmp_path):
    """DESIGN §3 consequence 8."""
    bin_dir = tmp_path / "hostbin"
    bin_dir.mkdir()
    for tool in ("faketool", "othertool"):
        (bin_dir / tool).write_text("#!/bin/sh\necho 'faketool 1.0'\n")
        (bin_dir / tool).chmod(0o755)
    root = make_workspace({
        "tools/BUILD": """
            package fake { host_tool { binaries = ["faketool"] version_command = "faketool --version" } }
            package other { host_tool { binaries = ["othertool"] version_command = "othertool" } }
        """,
        "BUILD": """
            package user { version = "1" build_requires = [//tools:fake] build = "mkdir -p $OUT" }
            package bystander { version = "1" build = "mkdir -p $OUT" }
        """})
    env = {"JBUILD_STORE": str(tmp_path / "store"), "JBUILD_HOST_PATH": f"{bin_dir}:/usr/bin:/bin"}

    def build():
        return run_jbuild("build", "--sandbox", "bwrap", "//:all", cwd=root, env=env).stderr

    assert "2 built" in build()
    (bin_dir / "othertool").write_text("#!/bin/sh\necho 'othertool 2.0 -- upgraded, nobody declares it'\n")
    assert "0 built, 2 reused" in build()
    (bin_dir / "faketool").write_text("#!/bin/sh\necho 'faketool 1.0' # rebuilt binary, same version\n")
    out = build()
    assert "1 built, 1 reused" in out and "building //:user@1 (host tool changed: //tools:fake)" in out


def test_a_noop_with_result_links_rewrites_neither_links_nor_gc_roots(example):
    """A no-op of `//...` finds each `result` link and its GC root record as they are: it writes
    (and syncs) neither again (at 10,000 roots that was ~13 s a no-op)."""
    env = {**os.environ, "JBUILD_STORE": str(example.store)}

    def build():
        r = subprocess.run([sys.executable, "-m", "jbuild", "build", "//...", "--sandbox", "bwrap"],
                           cwd=example.root, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r

    build()
    links = sorted(example.root.glob("result*"))
    records = sorted((example.store / "roots").glob("*.json"))
    assert len(links) >= 4 and len(records) >= len(links)
    before = {p: os.lstat(p).st_ino for p in links + records}
    assert "0 built" in build().stderr
    assert {p: os.lstat(p).st_ino for p in links + records} == before
    first = links[0]
    target = os.readlink(first)
    first.unlink()
    first.symlink_to("/nonexistent")
    build()  # a link pointing elsewhere is made again
    assert os.readlink(first) == target


def test_a_noop_makes_each_roots_members_only_when_asked(example):
    from jbuild.engine.build import build
    from jbuild.engine.noop import RecordedMembers
    from jbuild.engine.settings import Options

    opts = Options(sandbox="bwrap", store=str(example.store), out_link=None)
    time.sleep(2 * RACY_MARGIN_NS / 1e9)  # (files written just before a build do not let the next trust their stats)
    first = build(["//services:geotags"], opts, cwd=str(example.root))
    again = build(["//services:geotags"], opts, cwd=str(example.root))
    assert again.reused_analysis and isinstance(again.members, RecordedMembers)
    assert [(str(n), sorted(m.label for m in ms)) for n, ms in again.members] == \
        [(str(n), sorted(m.label for m in ms)) for n, ms in first.members]
    (node, members), = again.members
    assert str(node).startswith("//services:geotags") and len(members) >= 3


def test_a_stray_file_beside_the_sources_is_listed_by_one_noop_not_by_every_one(example, monkeypatch):
    """A directory whose stat changed but whose listing did not (a stray file in a workspace's
    root, where 10,000 `result` links made each listing cost ~0.4 s) is stamped again by the no-op
    that listed it: the next one trusts one stat."""
    from jbuild.engine import snapshot
    from jbuild.engine.build import build
    from jbuild.engine.settings import Options

    opts = Options(sandbox="bwrap", store=str(example.store), out_link=None)
    time.sleep(2 * RACY_MARGIN_NS / 1e9)  # (files written just before a build do not let the next trust their stats)
    build(["//..."], opts, cwd=str(example.root))
    (example.root / "stray.txt").write_text("not a source\n")
    time.sleep(2 * RACY_MARGIN_NS / 1e9)
    listed, unchanged = [], snapshot.dir_unchanged
    monkeypatch.setattr(snapshot, "dir_unchanged", lambda path, *rest: listed.append(path) or unchanged(path, *rest))
    assert build(["//..."], opts, cwd=str(example.root)).reused_analysis
    assert str(example.root) in listed
    listed.clear()
    assert build(["//..."], opts, cwd=str(example.root)).reused_analysis
    assert listed == []

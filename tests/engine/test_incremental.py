"""DESIGN §3's consequences, with the real sandbox, on the example workspace. The oracle is
the build events (which actions ran), never the keys module."""

import os
import subprocess

CONSUMERS = {"//libs:geohash", "//db:tinydb", "//services:geotags"}
ALL = CONSUMERS | {"//libs:libc"}


def run_geotags(example):
    """The result as a user runs it: from a plain shell, nothing set (runtime/ launchers)."""
    return subprocess.run([str(example.root / "result/bin/geotags")], env={"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True).stdout


def test_first_build_then_noop(example):
    r, ran = example.build()
    assert r.returncode == 0, r.stderr
    assert ran == {t: "built" for t in ALL}
    assert "//services:geotags@5.1 up to date:" in r.stderr
    assert os.path.islink(example.root / "result")
    r, ran = example.build()
    assert r.returncode == 0 and ran == {t: "reused" for t in ALL}
    assert "0 built, 4 reused" in r.stderr


def test_libc_implementation_patch_rebuilds_only_libc(example):
    example.build()
    example.edit("libs/libc/src/mini.c", "minilibc 1", "minilibc 2")
    r, ran = example.build()
    assert r.returncode == 0, r.stderr
    assert ran == {"//libs:libc": "built", **{c: "reused" for c in CONSUMERS}}
    # The reused consumer picks the patched libc up at run time.
    assert run_geotags(example).splitlines()[-1] == "hello from minilibc 2"
    explained = example.jbuild("explain", "//services:geotags", "--sandbox", "bwrap").stdout
    assert "//libs:libc@2.24: built: sources changed: libc/src/mini.c" in explained
    assert "//services:geotags@5.1: reused: inputs unchanged (//libs:geohash" not in explained
    assert ("//services:geotags@5.1: reused: inputs unchanged (//libs:libc rebuilt; exported interface unchanged)"
            in explained)
    # what it was built against and what it runs with differ, and explain says so
    geotags_line = next(line for line in explained.splitlines() if line.startswith("//services:geotags@5.1"))
    assert "; built against " in geotags_line and "-libc-2.24, runs with " in geotags_line


def test_libc_header_change_rebuilds_every_consumer(example):
    example.build()
    example.edit("libs/libc/include/mini.h", "int size);", "int size); /* documented */")
    r, ran = example.build()
    assert r.returncode == 0 and ran == {t: "built" for t in ALL}
    explained = example.jbuild("explain", "//services:geotags").stdout
    assert "//libs:geohash@1.3[precision=high]: built: exported interface changed: //libs:libc" in explained


def test_libc_version_bump_rebuilds_consumers_only_if_its_export_changed(example):
    example.build()
    example.edit("libs/BUILD", 'version = "2.24"', 'version = "2.25"')
    r, ran = example.build()  # a version is a label: the same headers and symbols cut the cascade
    assert r.returncode == 0, r.stderr
    assert ran == {"//libs:libc": "built", **{c: "reused" for c in CONSUMERS}}
    example.edit("libs/BUILD", 'version = "2.25"', 'version = "2.26"')
    example.edit("libs/BUILD", "libmini.so.2", "libmini.so.3")  # a new SONAME: consumers must relink
    r, ran = example.build()
    assert r.returncode == 0 and ran == {t: "built" for t in ALL}, r.stderr


def test_excluding_constraint_fails_with_an_explanation(example):
    example.build()
    example.edit("libs/BUILD", 'version = "2.24"', 'version = "2.25"')
    example.edit("services/BUILD", "//libs:libc >= 2.20", "//libs:libc >= 2.20 < 2.25")
    r, _ = example.build()
    assert r.returncode == 2
    assert "needs //libs:libc >=2.20,<2.25\n   --> services/BUILD:" in r.stderr
    assert "no version of //libs:libc satisfies" in r.stderr and "Traceback" not in r.stderr


def test_undeclared_file_changes_nothing(example):
    example.build()
    (example.root / "libs/libc/src/NOTES.txt").write_text("not declared")  # glob libc/** would match!
    (example.root / "services/geotags/README").write_text("undeclared, next to declared main.c")
    r, ran = example.build()
    # libc's glob("libc/**") declares NOTES.txt, so libc alone rebuilds; README is undeclared.
    assert ran == {"//libs:libc": "built", **{c: "reused" for c in CONSUMERS}}
    (example.root / "services/geotags/README").write_text("edited again")
    r, ran = example.build()
    assert ran == {t: "reused" for t in ALL}


def test_strict_rebuilds_consumers_on_implementation_patch(example):
    example.build("--strict")
    example.edit("libs/libc/src/mini.c", "minilibc 1", "minilibc 2")
    r, ran = example.build("--strict")
    assert r.returncode == 0 and ran == {t: "built" for t in ALL}


def test_widening_a_constraint_with_same_resolution_changes_nothing(example):
    example.build()
    example.edit("services/BUILD", "//libs:libc >= 2.20", "//libs:libc >= 2.0")
    r, ran = example.build()
    assert ran == {t: "reused" for t in ALL}


def test_reformatting_a_build_file_changes_nothing(example):
    example.build()
    text = (example.root / "libs/BUILD").read_text()
    head, geohash = text.split("package geohash")
    libc = head[head.index("package libc"):]
    reordered = "# reordered and re-commented\npackage geohash" + geohash + "\n\n# libc last\n" + libc
    (example.root / "libs/BUILD").write_text(reordered.replace('version = "2.24"', 'version   =   "2.24"  # spaced'))
    r, ran = example.build()
    assert ran == {t: "reused" for t in ALL}

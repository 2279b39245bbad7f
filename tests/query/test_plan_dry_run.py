"""`jbuild plan` and `jbuild build --dry-run` predict what a build would do, from the keys alone:
they run nothing and leave the store as it was, and the build that follows does what they said."""

import os
import re


def store_state(store):
    """Every path under the store with its mtime (the index aside: reading may checkpoint it)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(store):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if not name.startswith("index.sqlite"):
                out[os.path.relpath(path, store)] = os.lstat(path).st_mtime_ns
    return out


def predicted(stdout):
    """{label: status} from plan's lines `//x@v: would build: why`."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"(//[^@]+)@\S+: (would build|would reuse): ", line)
        assert m, line
        out[m[1]] = m[2]
    return out


def test_plan_before_and_after_a_libc_implementation_patch(example):
    r = example.jbuild("plan", "//services:geotags", "--sandbox", "bwrap")
    assert r.returncode == 0, r.stderr
    assert set(predicted(r.stdout).values()) == {"would build"}  # an empty store: all four
    assert "4 would build, 0 would be reused" in r.stderr
    assert not any(example.store.glob("*-libc-*"))  # nothing ran

    r, seen = example.build()
    assert r.returncode == 0, r.stderr
    assert set(seen.values()) == {"built"} and len(seen) == 4

    r = example.jbuild("plan", "//services:geotags", "--sandbox", "bwrap")
    assert set(predicted(r.stdout).values()) == {"would reuse"} and "0 would build, 4 would be reused" in r.stderr

    example.edit("libs/libc/src/mini.c", "minilibc 1", "minilibc 2")
    before = store_state(example.store)
    r = example.jbuild("plan", "//services:geotags", "--sandbox", "bwrap")
    dry = example.jbuild("build", "--dry-run", "//services:geotags", "--sandbox", "bwrap")
    assert store_state(example.store) == before  # no entry, log, root or temporary appeared
    assert r.returncode == dry.returncode == 0
    assert dry.stdout == r.stdout and dry.stderr == r.stderr  # the same code
    assert predicted(r.stdout) == {"//libs:libc": "would build", "//libs:geohash": "would reuse",
                                   "//db:tinydb": "would reuse", "//services:geotags": "would reuse"}
    assert "//libs:libc@2.24: would build: sources changed: libc/src/mini.c" in r.stdout.splitlines()
    assert re.search(r"//services:geotags@5.1: would reuse: .*built against \w+-libc-2.24, runs with \w+-libc-2.24",
                     r.stdout)

    r, seen = example.build()  # the prediction holds: exactly libc builds
    assert r.returncode == 0, r.stderr
    assert seen == {"//libs:libc": "built", "//libs:geohash": "reused", "//db:tinydb": "reused",
                    "//services:geotags": "reused"}


def test_plan_after_a_header_change_predicts_every_consumer(example):
    r, _ = example.build()
    assert r.returncode == 0, r.stderr
    example.edit("libs/libc/include/mini.h", "#endif", "int mini_new(void);\n#endif")
    r = example.jbuild("plan", "//services:geotags", "--sandbox", "bwrap")
    assert set(predicted(r.stdout).values()) == {"would build"}
    assert "//libs:geohash@1.3[precision=high]: would build: exported interface changed: //libs:libc" in r.stdout


def test_plan_errors_like_build(example):
    r = example.jbuild("plan", "//services:geotag")
    assert r.returncode == 2 and "did you mean 'geotags'?" in r.stderr and "Traceback" not in r.stderr

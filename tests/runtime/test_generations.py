"""Named environments with generations (`jbuild env ...`), like Nix profiles: atomic switches,
rollback, var/ kept across every switch, generations as GC roots, one consistent closure.
Real CLI, real bubblewrap builds of the example workspace, a private store."""

import os

from runtime_helpers import plain_shell

POINT = ["57.64911", "10.40744"]


def env(example, *args):
    return example.jbuild("env", *args, "--sandbox", "bwrap") if args[0] in ("create", "install", "remove") \
        else example.jbuild("env", *args)


def current(example, name):
    return os.readlink(example.store / "envs" / name)


def test_generations_switch_roll_back_and_keep_var(example):
    r = env(example, "create", "web", "//libs:geohash")
    assert r.returncode == 0, r.stderr
    assert "created web, generation 1: //libs:geohash" in r.stderr
    assert r.stdout.strip() == str(example.store / "envs" / "web")
    assert current(example, "web") == "web-1"
    web = example.store / "envs" / "web"
    assert (web / "include/geohash.h").exists() and not (web / "bin").exists()
    (web / "var" / "tags.db").write_text("u4pruydqqvj=aalborg\n")

    r = env(example, "install", "web", "//services:geotags")
    assert "switching web from generation 1 to 2: //libs:geohash, //services:geotags" in r.stderr, r.stderr
    assert current(example, "web") == "web-2"
    r = example.jbuild("env", "run", "web", "--", "geotags", *POINT)
    assert r.returncode == 0 and r.stdout.splitlines() == ["u4pruydqqvj", "hello from minilibc 1"], r.stderr
    assert (web / "var/tags.db").read_text() == "u4pruydqqvj=aalborg\n"  # data survives the switch

    r = env(example, "history", "web")
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[0].split()[0] == "1" and lines[1].endswith("(current)")
    assert "web  generation 2  //libs:geohash //services:geotags" in env(example, "list").stdout

    r = env(example, "rollback", "web")
    assert r.returncode == 0 and r.stdout.strip() == "switching web from generation 2 to 1"
    assert not (web / "bin").exists() and (web / "var/tags.db").exists()
    r = env(example, "rollback", "web")
    assert r.returncode == 2 and "web has no generation before 1" in r.stderr
    r = env(example, "rollback", "web", "--to", "9")
    assert r.returncode == 2 and "no generation 9" in r.stderr
    assert env(example, "rollback", "web", "--to", "2").stdout.strip() == "switching web from generation 1 to 2"

    r = env(example, "remove", "web", "//services:geotags")
    assert "switching web from generation 2 to 3: //libs:geohash" in r.stderr
    assert (web / "var/tags.db").exists() and not (web / "bin").exists()
    r = env(example, "remove", "web", "//db:tinydb")
    assert r.returncode == 2 and "web does not hold //db:tinydb" in r.stderr

    assert "would delete" not in example.jbuild("gc", "--dry-run").stdout  # generations are roots
    r = env(example, "delete", "web")
    assert r.returncode == 0 and "deleted web (3 generation(s))" in r.stderr
    assert not os.path.lexists(web) and (example.store / "envs/web.var/tags.db").exists()  # data kept
    doomed = [line for line in example.jbuild("gc", "--dry-run").stdout.splitlines() if line.startswith("would")]
    assert any("-geotags-" in line for line in doomed) and any("-env-web" in line for line in doomed)
    assert env(example, "list").stdout == ""


def test_gc_keeps_what_an_older_generation_runs_with(example):
    """After a libc patch the new generation runs the new libc with the reused geotags; gc keeps
    the old libc for generation 1, and rolling back runs it again."""
    assert env(example, "create", "web", "//services:geotags").returncode == 0
    r = env(example, "install", "web", "//services:geotags")
    assert "web is unchanged (generation 1)" in r.stderr  # same closure, same targets: no generation
    example.edit("libs/libc/src/mini.c", "minilibc 1", "minilibc 2")
    r = env(example, "install", "web", "//services:geotags")
    assert "switching web from generation 1 to 2" in r.stderr, r.stderr
    assert "1 built, 3 reused" in r.stderr
    geotags = str(example.store / "envs/web/bin/geotags")
    assert plain_shell([geotags, *POINT]).stdout.splitlines()[-1] == "hello from minilibc 2"
    r = example.jbuild("gc")
    assert r.returncode == 0
    assert not [line for line in r.stdout.splitlines() if "-libc-" in line or "-env-web" in line], r.stdout
    assert env(example, "rollback", "web").returncode == 0
    assert plain_shell([geotags, *POINT]).stdout.splitlines()[-1] == "hello from minilibc 1"


def test_an_environment_is_one_closure(example):
    r = env(example, "create", "mix", "//services:geotags", "//db:tinydb@2.0.0")
    assert r.returncode == 2, r.stderr
    assert "//db:tinydb would be in the environment twice" in r.stderr
    assert "-tinydb-1.4.2 (for //services:geotags@5.1)" in r.stderr and "-tinydb-2.0.0" in r.stderr
    assert not os.path.lexists(example.store / "envs/mix")


def test_bad_requests_are_clear(example):
    assert "not an environment name" in env(example, "create", "web-3", "//libs:libc").stderr
    r = env(example, "create", "web", ":libc")
    assert r.returncode == 2 and "give an absolute label" in r.stderr
    r = env(example, "install", "nope", "//libs:libc")
    assert r.returncode == 2 and "no environment named nope" in r.stderr
    for args in (("run", "nope", "--", "true"), ("shell", "nope"), ("history", "nope"), ("delete", "nope")):
        r = env(example, *args)
        assert r.returncode == 2 and "no environment named nope" in r.stderr and "Traceback" not in r.stderr
    assert env(example, "create", "web", "//libs:libc").returncode == 0
    r = env(example, "create", "web", "//libs:libc")
    assert r.returncode == 2 and "an environment named web exists" in r.stderr
    r = env(example, "run", "web", "--", "no-such-program")
    assert r.returncode == 2 and "no-such-program: cannot run it in web" in r.stderr
    r = env(example, "run", "web", "--", "sh", "-c", 'echo "$JBUILD_ENV ${LD_LIBRARY_PATH-unset}"')
    assert r.stdout == "web unset\n"

"""`jbuild build` leaves `result` -> the environment of the target's run closure (DESIGN §10):
it runs from a plain shell, with its own libraries, and after a libc patch with the new libc
although geotags was reused. Real bubblewrap, real cc, the example workspace."""

import json
import os
import subprocess

from runtime_helpers import plain_shell

POINT = ["57.64911", "10.40744"]


def geotags(example, extra=None):
    return plain_shell(["./result/bin/geotags", *POINT], cwd=example.root, extra=extra)


def test_result_runs_from_a_plain_shell_and_ignores_host_libraries(example, tmp_path):
    r, ran = example.build()
    assert r.returncode == 0, r.stderr
    assert os.path.realpath(example.root / "result").endswith("-env-geotags")
    out = geotags(example)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["u4pruydqqvj", "hello from minilibc 1"]
    assert os.path.exists(example.root / "result/bin/tinydb")  # run_requires are in the closure
    # A same-named libmini.so.2 on the calling shell's LD_LIBRARY_PATH is not used.
    fake = tmp_path / "fakelib"
    fake.mkdir()
    (fake / "mini.c").write_text('int mini_greeting(char *b, int n) { b[0] = 0; return 0; }\n'
                                 'int mini_strlen(const char *s) { return 0; }\n')
    subprocess.run(["cc", "-shared", "-fPIC", "-Wl,-soname,libmini.so.2", "-o", "libmini.so.2", "mini.c"],
                   cwd=fake, check=True)
    out = geotags(example, {"LD_LIBRARY_PATH": str(fake)})
    assert out.stdout.splitlines() == ["u4pruydqqvj", "hello from minilibc 1"]
    # The GC root holds the environment and its whole closure: gc deletes nothing.
    r = example.jbuild("gc", "--dry-run", "-v")
    assert "would delete" not in r.stdout
    kept = [line for line in r.stdout.splitlines() if line.startswith("keeping")]
    assert any("-env-geotags" in line for line in kept) and len(kept) == 5, kept


def test_noop_keeps_the_environment_without_reassembling(example):
    example.build()
    env = os.path.realpath(example.root / "result")
    stamp = os.stat(env).st_mtime_ns
    os.unlink(example.root / "result")
    r, ran = example.build()
    assert r.returncode == 0 and "0 built, 4 reused" in r.stderr
    assert os.path.realpath(example.root / "result") == env and os.stat(env).st_mtime_ns == stamp
    assert geotags(example).returncode == 0
    assert "would delete" not in example.jbuild("gc", "--dry-run").stdout


def test_libc_patch_one_action_and_the_reused_geotags_runs_with_it(example):
    example.build()
    geotags_entry = [p.name for p in example.store.iterdir() if "-geotags-" in p.name]
    example.edit("libs/libc/src/mini.c", "minilibc 1", "minilibc 2")
    r, ran = example.build()
    assert r.returncode == 0, r.stderr
    assert [t for t, how in ran.items() if how == "built"] == ["//libs:libc"]
    assert [p.name for p in example.store.iterdir() if "-geotags-" in p.name] == geotags_entry
    assert geotags(example).stdout.splitlines() == ["u4pruydqqvj", "hello from minilibc 2"]
    env = os.path.realpath(example.root / "result")
    members = json.loads(open(os.path.join(env, ".jbuild-entry.json")).read())["members"]
    assert {m["entry"] for m in members} >= set(geotags_entry)


def test_two_packages_exporting_one_path_fail_the_build_clearly(make_workspace, tmp_path):
    from helpers import run_jbuild

    root = make_workspace({"BUILD": '''
        package a { version = "1" build = "mkdir -p $OUT/bin && echo a > $OUT/bin/tool" exports = ["bin"] }
        package b { version = "1" requires = [:a] exports = ["bin"]
                    build = "mkdir -p $OUT/bin && echo b > $OUT/bin/tool" }
    '''})
    r = run_jbuild("build", "//:b", "--sandbox", "bwrap", cwd=root, env={"JBUILD_STORE": str(tmp_path / "s")})
    assert r.returncode == 2, r.stderr
    assert "error: //:a and //:b both export bin/tool" in r.stderr or "error: //:b and //:a both export bin/tool" \
        in r.stderr
    assert "Traceback" not in r.stderr

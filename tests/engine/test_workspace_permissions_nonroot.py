"""Permissions an ordinary user meets in a workspace (root reads and writes whatever the modes).

A `.jbuild/cache` the user cannot write (`chmod -R a-w .jbuild`, a read-only checkout): builds
still work, in-process and through the build server, keeping their caches in the user's own
directory for the workspace (base/workspace_cache.py), as Bazel keeps its output base under
~/.cache/bazel; with nowhere to keep them, a clear error (exit 2). A declared source the user
cannot read: a clear error naming it (exit 2)."""

import os

from test_store_nonroot import user  # noqa: F401 (the fixture: an ordinary user with the example)


def _jbuild(user, *args, cwd, env=()):  # noqa: F811
    import sys

    suite = f"PYTEST_JBUILD_SUITE_PID={os.environ.get('PYTEST_JBUILD_SUITE_PID', '')}"  # (conftest finds servers left)
    return user.run("env", suite, *env, sys.executable, "-m", "jbuild", *args, cwd=cwd)


def test_a_read_only_cache_directory_builds_in_process_and_through_the_server(user):  # noqa: F811
    ws, home = user.home / "geotags", user.home
    r = _jbuild(user, "build", "//services:geotags", cwd=ws)
    assert r.returncode == 0, r.stderr
    user.run("chmod", "-R", "a-w", ".jbuild", cwd=ws)
    before = sorted(p.name for p in (ws / ".jbuild" / "cache").iterdir())
    try:
        for env in ((), ("JBUILD_SERVER=1",)):
            for _ in range(2):  # (the second: its analysis kept, in the server or beside)
                r = _jbuild(user, "build", "//services:geotags", cwd=ws, env=env)
                assert r.returncode == 0, r.stderr
                assert "0 built, 4 reused" in r.stderr and "internal error" not in r.stderr
                assert "warning" not in r.stderr, r.stderr  # (through the server, not in-process)
        # an edit is seen (the caches elsewhere are keyed by stats as the workspace's own)
        user.run("sh", "-c", "sed -i 's/minilibc 1/minilibc 2/' libs/libc/src/mini.c", cwd=ws)
        for env in ((), ("JBUILD_SERVER=1",)):
            r = _jbuild(user, "build", "//services:geotags", cwd=ws, env=env)
            assert r.returncode == 0, r.stderr
            assert ("1 built" if not env else "0 built") in r.stderr, r.stderr
        [kept] = (home / ".cache" / "jbuild" / "workspaces").iterdir()
        assert kept.name.startswith("geotags-") and list(kept.glob("session-*.pickle"))
        assert list(kept.glob("server-*/*.sock"))
        assert sorted(p.name for p in (ws / ".jbuild" / "cache").iterdir()) == before
        r = _jbuild(user, "shutdown", cwd=ws)
        # (1 or 2: as root, each of the harness's commands runs in a mount namespace of its own,
        # so each build through the server starts another, and a workspace keeps two)
        assert r.returncode == 0 and r.stderr.startswith(("stopped 1 build server\n", "stopped 2 build servers\n")), \
            r.stderr
        assert not list(kept.glob("server-*/*.sock"))
    finally:
        user.run("chmod", "-R", "u+w", ".jbuild", cwd=ws)


def test_nowhere_to_keep_the_caches_is_a_clear_error(user):  # noqa: F811
    ws, home = user.home / "geotags", user.home
    user.run("mkdir", "-p", ".jbuild/cache", str(home / "ro-cache"), cwd=ws)
    user.run("chmod", "-R", "a-w", ".jbuild", str(home / "ro-cache"), cwd=ws)
    try:
        for env in (("XDG_CACHE_HOME=" + str(home / "ro-cache"),),
                    ("XDG_CACHE_HOME=" + str(home / "ro-cache"), "JBUILD_SERVER=1")):
            r = _jbuild(user, "build", "//services:geotags", cwd=ws, env=env)
            assert r.returncode == 2, r.stderr
            assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
            assert f"cannot keep jbuild's caches: neither {ws}/.jbuild/cache nor {home}/ro-cache/jbuild/" in r.stderr
    finally:
        user.run("chmod", "-R", "u+w", ".jbuild", str(home / "ro-cache"), cwd=ws)


def test_an_unreadable_source_is_a_clear_error(user):  # noqa: F811
    ws = user.home / "small"
    user.run("mkdir", "-p", "small/src", cwd=user.home)
    user.run("sh", "-c", "touch jbuild.toml && echo hi > src/f && chmod 000 src/f && echo 'package a { version = \"1\" "
             "sources = glob([\"src/**\"]) build = \"mkdir -p $OUT && cat $SRC/src/f > $OUT/f\" }' > BUILD", cwd=ws)
    for command in ("build", "run"):
        r = _jbuild(user, command, "//:a", cwd=ws)
        assert r.returncode == 2, r.stderr
        assert r.stderr == "error: cannot read 'src/f', a source of //:a: Permission denied\n"
    user.run("chmod", "644", "src/f", cwd=ws)
    r = _jbuild(user, "build", "//:a", cwd=ws)
    assert r.returncode == 0, r.stderr


def test_a_directory_a_glob_reaches_but_cannot_list_is_a_clear_error(user):  # noqa: F811
    """Bazel: "error globbing [...]: Permission denied"; before, the directory was skipped and the
    build went on without its files."""
    ws = user.home / "globbed"
    user.run("mkdir", "-p", "globbed/pkg/src/secret", "globbed/top/src/secret", cwd=user.home)
    user.run("sh", "-c", "touch jbuild.toml && echo hi > pkg/src/a && echo hi > top/src/a && "
             "chmod 000 pkg/src/secret top/src/secret && printf 'package a { version = \"1\"\\n  sources = glob([\"src/**\"])\\n"
             "  build = \"mkdir -p $OUT && cat $SRC/src/a > $OUT/a\" }\\n' > pkg/BUILD && "
             "echo 'package top { version = \"1\" sources = glob([\"src/*\"]) build = \"mkdir -p $OUT\" }' > top/BUILD",
             cwd=ws)
    try:
        r = _jbuild(user, "build", "//pkg:a", cwd=ws)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
        assert "pkg/BUILD:2:13: error: sources of 'a': glob(['src/**']) cannot read the directory " \
               "'pkg/src/secret': Permission denied" in r.stderr, r.stderr
        assert "^" in r.stderr and "help: make it readable" in r.stderr, r.stderr
        r = _jbuild(user, "build", "//top:top", cwd=ws)  # a glob that does not reach into it: built
        assert r.returncode == 0, r.stderr
    finally:
        user.run("chmod", "755", "pkg/src/secret", "top/src/secret", cwd=ws)
    r = _jbuild(user, "build", "//pkg:a", cwd=ws)
    assert r.returncode == 0, r.stderr

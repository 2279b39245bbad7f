"""Review: split outputs where they meet the features merged beside them — `jbuild test`'s
environments, `jbuild image`, `jbuild path-info`. One real workspace (real cc, real bubblewrap),
built once for the module."""

import sys
import tarfile

import pytest
from helpers import run_jbuild, write_tree

GREET = '''
package greet {
    version = "1.0"
    sources = ["greet.c", "greet.h", "tool.c"]
    interface = ["greet.h"]
    build_requires = [@std//host:cc, @std//host:sh]
    outputs = {
        bin = ["bin"],
        lib = ["lib/*.so*"],
        dev = ["include", "lib/*.a"],
    }
    build = """
        mkdir -p $OUT/bin $OUT/lib $OUT/include
        cc -O2 -fPIC -shared -Wl,-soname,libgreet.so.1 -o $OUT/lib/libgreet.so.1 $SRC/greet.c
        ln -s libgreet.so.1 $OUT/lib/libgreet.so
        cc -O2 -c $SRC/greet.c -o $TMPDIR/greet.o && ar rc $OUT/lib/libgreet.a $TMPDIR/greet.o
        cp $SRC/greet.h $OUT/include/
        cc -O2 -I$SRC -o $OUT/bin/greet-tool $SRC/tool.c -L$OUT/lib -lgreet
    """
}
package app {
    version = "1.0"
    sources = ["app.c"]
    requires = [:greet]
    build_requires = [@std//host:cc, @std//host:sh]
    build = "mkdir -p $OUT/bin && cc -O2 -o $OUT/bin/app $SRC/app.c -lgreet"
    exports = ["bin"]
    config { port: int = 8090 }
    service { command = "bin/app" ports = [config.port] }
}
# The environment of a test holds a split package's bin and lib outputs, never dev.
test app_test {
    requires = [:app]
    build_requires = [@std//host:sh]
    command = "bin/app | grep -q 'app: hello' && test ! -e include/greet.h && test ! -e lib/libgreet.a"
}
test greet_tool_test {
    requires = [:greet]
    build_requires = [@std//host:sh]
    command = "bin/greet-tool | grep -q hello"
}
'''

FILES = {
    "jbuild.toml": "",
    "greet.h": "const char *greet(void);\n",
    "greet.c": '#include "greet.h"\nconst char *greet(void) { return "hello"; }\n',
    "tool.c": '#include <stdio.h>\n#include "greet.h"\nint main(void) { puts(greet()); return 0; }\n',
    "app.c": '#include <stdio.h>\n#include <greet.h>\nint main(void) { printf("app: %s\\n", greet()); return 0; }\n',
    "BUILD": GREET,
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = write_tree(tmp_path_factory.mktemp("split") / "ws", FILES)
    store = root.parent / "store"

    def jb(*args):
        return run_jbuild(*args, cwd=root, env={"JBUILD_STORE": str(store)})

    r = jb("build", "//:app")
    assert r.returncode == 0, r.stderr
    return root, store, jb


def test_a_test_of_a_split_package_runs_against_its_bin_and_lib_outputs(ws):
    root, _, jb = ws
    r = jb("test", "//...", "--test-output", "errors")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 tests pass" in r.stdout


def test_path_info_counts_a_split_packages_outputs(ws):
    root, store, jb = ws
    r = jb("path-info", "-s", "-S", "//:greet")
    assert r.returncode == 0, r.stderr
    path, size, closure = r.stdout.split()
    assert path.endswith("-greet-1.0")
    assert int(size) > 20000  # a shared library, a static archive, a program: never 0
    assert int(closure) == int(size)
    r = jb("path-info", "-S", "//:app")
    assert int(r.stdout.split()[1]) > int(size)  # app's closure holds greet's outputs


def test_a_service_image_of_a_split_closure_has_no_headers_or_archives(ws):
    root, _, jb = ws
    r = jb("image", "//:app", "-o", "app.tar")
    assert r.returncode == 0, r.stderr
    names = set()
    with tarfile.open(root / "app.tar") as outer:
        for member in outer.getmembers():
            if member.isfile() and member.name.startswith("blobs/") and member.size > 200:
                data = outer.extractfile(member)
                try:
                    with tarfile.open(fileobj=data) as layer:
                        names |= set(layer.getnames())
                except tarfile.ReadError:
                    continue  # a config or manifest blob
    assert {"bin/app", "bin/greet-tool", "lib/libgreet.so.1"} <= {n.lstrip("./") for n in names}
    assert not [n for n in names if n.endswith((".h", ".a"))]



def test_an_ordinary_user_tests_and_images_a_split_closure(tmp_path):
    import os
    import subprocess
    import tempfile
    from pathlib import Path

    from helpers import REPO
    from jbuild.engine.store.fsops import force_remove

    sys.path.insert(0, str(REPO / "tests" / "engine"))  # the ordinary user of tests/engine/test_store_nonroot.py
    from test_store_nonroot import IS_ROOT, USER, User

    home = Path(tempfile.mkdtemp(prefix="jbuild-user-")) if IS_ROOT else tmp_path
    home.chmod(0o755)
    user = User(home)
    write_tree(home / "ws", FILES)
    if IS_ROOT:
        subprocess.run(["chown", "-R", f"{USER}:", str(home)], check=True)
    try:
        r = user.jbuild("test", "//...", cwd=home / "ws")
        assert r.returncode == 0, r.stdout + r.stderr
        r = user.jbuild("image", "//:app", "-o", "app.tar", cwd=home / "ws")
        assert r.returncode == 0, r.stdout + r.stderr
        assert os.stat(home / "ws" / "app.tar").st_uid == os.stat(home).st_uid
        r = user.jbuild("gc", cwd=home / "ws")
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        if IS_ROOT:
            force_remove(home)


@pytest.fixture
def lost_output(tmp_path):
    """A built workspace whose greet set has lost its lib output (deleted by hand)."""
    from jbuild.engine.store.fsops import force_remove

    root = write_tree(tmp_path / "ws", FILES)
    store = tmp_path / "store"

    def jb(*args):
        return run_jbuild(*args, cwd=root, env={"JBUILD_STORE": str(store)})

    assert jb("build", "//:app").returncode == 0
    [lib] = store.glob("*-greet-1.0-lib")
    force_remove(lib)
    return jb


def test_plan_and_path_info_see_a_set_that_lost_an_output(lost_output):
    jb = lost_output
    r = jb("plan", "//:app")
    assert r.returncode == 0, r.stderr
    assert "//:greet@1.0: would build" in r.stdout  # the build does rebuild it
    r = jb("path-info", "-S", "//:app")
    assert r.returncode == 1, r.stderr  # not in the store: a message, not a traceback (exit 37)
    assert "build it again" in r.stderr and "Traceback" not in r.stderr


def test_a_noop_build_rebuilds_a_set_that_lost_an_output(lost_output):
    jb = lost_output
    r = jb("build", "//:app")
    assert r.returncode == 0, r.stderr
    assert "1 built" in r.stdout + r.stderr

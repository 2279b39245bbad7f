"""The standard templates build real projects in the real sandbox (bubblewrap, cc, make,
cmake, pkg-config): an autotools-shaped project with a hand-written configure, a CMake
project, a plain Makefile, and a cc_library with a cc_binary consuming it through pkg-config,
each run through its environment; pkg-config files right in every view; version_check."""

import os
import re
import subprocess

import pytest
from helpers import REPO, outcomes, run_jbuild, write_tree

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/cmake"), reason="cmake is installed by dev/setup.sh")

CONFIGURE = r"""#!/bin/sh
# A configure script as autoconf would leave it, in miniature.
prefix=/usr/local
for a in "$@"; do
    case $a in
        --prefix=*) prefix=${a#--prefix=} ;;
        --enable-shout) defs=-DSHOUT ;;
        *) echo "configure: unknown option $a" >&2; exit 1 ;;
    esac
done
sed -e "s|@prefix@|$prefix|g" -e "s|@DEFS@|${defs:-}|g" Makefile.in > Makefile
sed -e "s|@prefix@|$prefix|g" foo.pc.in > foo.pc
sed -e "s|@prefix@|$prefix|g" libfoo.la.in > libfoo.la
"""
MAKEFILE_IN = """\
prefix = @prefix@
all: libfoo.so.1
libfoo.so.1: foo.c foo.h
\t$(CC) -O2 -fPIC @DEFS@ -shared -Wl,-soname,libfoo.so.1 -o $@ foo.c
install: all
\tmkdir -p $(prefix)/lib/pkgconfig $(prefix)/include
\tcp libfoo.so.1 $(prefix)/lib/ && ln -sf libfoo.so.1 $(prefix)/lib/libfoo.so
\tcp foo.h $(prefix)/include/ && cp foo.pc $(prefix)/lib/pkgconfig/ && cp libfoo.la $(prefix)/lib/
"""
FOO_PC_IN = """\
prefix=@prefix@
libdir=${prefix}/lib
includedir=@prefix@/include

Name: foo
Description: a greeting
Version: 1.0
Libs: -L${libdir} -lfoo
Cflags: -I${includedir}
"""
LIBFOO_LA_IN = "dlname='libfoo.so.1'\nlibrary_names='libfoo.so.1 libfoo.so'\nlibdir='@prefix@/lib'\n"

CMAKELISTS = """\
cmake_minimum_required(VERSION 3.10)
project(bar VERSION 2.1 LANGUAGES C)
include(GNUInstallDirs)
add_library(bar SHARED bar.c)
set_target_properties(bar PROPERTIES SOVERSION 2 PUBLIC_HEADER bar.h)
configure_file(bar.pc.in bar.pc @ONLY)
install(TARGETS bar LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_BINARY_DIR}/bar.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
"""
BAR_PC_IN = """\
libdir=@CMAKE_INSTALL_FULL_LIBDIR@
includedir=@CMAKE_INSTALL_FULL_INCLUDEDIR@
Name: bar
Description: bars
Version: @PROJECT_VERSION@
Libs: -L${libdir} -lbar
Cflags: -I${includedir}
"""

FILES = {
    "foo/configure": CONFIGURE,
    "foo/Makefile.in": MAKEFILE_IN,
    "foo/foo.pc.in": FOO_PC_IN,
    "foo/libfoo.la.in": LIBFOO_LA_IN,
    "foo/foo.h": '#define FOO_VERSION "1.0"\nconst char *foo_greet(void);\n',
    "foo/foo.c": '#include "foo.h"\n#ifdef SHOUT\nconst char *foo_greet(void) { return "HELLO"; }\n'
                 '#else\nconst char *foo_greet(void) { return "hello"; }\n#endif\n',
    "foo/BUILD": """
        package foo = autotools(
            glob(["*"]),
            version = "1.0",
            configure_flags = ["--enable-shout"],
            version_check = { file = "foo.h", regex = "FOO_VERSION \\"([^\\"]+)\\"" },
        )
    """,
    "app/main.c": '#include <stdio.h>\n#include <foo.h>\n#include <bar.h>\n'
                  'int main(void) { printf("%s %d\\n", foo_greet(), bar_count()); return 0; }\n',
    "app/BUILD": """
        package app = cc_binary(["main.c"], version = "1.0", pkg_config = ["foo", "bar"],
                                requires = [//foo, //bar])
        package probe {
            version = "1"
            requires = [//foo]
            build_requires = [@std//host:sh, @std//host:pkg-config]
            build = \"\"\"
                mkdir -p "$OUT/share"
                pkg-config --cflags --libs foo > "$OUT/share/flags"
                cat "$(pkg-config --variable=includedir foo)/foo.h" > "$OUT/share/header"
            \"\"\"
            exports = ["share"]
        }
    """,
    "bar/CMakeLists.txt": CMAKELISTS,
    "bar/bar.pc.in": BAR_PC_IN,
    "bar/bar.h": "int bar_count(void);\n",
    "bar/bar.c": '#include "bar.h"\nint bar_count(void) { return 7; }\n',
    "bar/BUILD": """
        package bar = cmake(glob(["*"]), "2.1",
                            version_check = { command = "cat $OUT/lib/pkgconfig/bar.pc", regex = "Version: ([0-9.]+)" })
    """,
    "greet/hello.c": '#include <stdio.h>\nint main(void) { puts("hi from make"); return 0; }\n',
    "greet/Makefile": "PREFIX ?= /usr/local\nall: hello\nhello: hello.c\n\t$(CC) -o hello hello.c\n"
                      "install: all\n\tmkdir -p $(PREFIX)/bin\n\tcp hello $(PREFIX)/bin/\n",
    "greet/BUILD": 'package greet = make(glob(["*"]), version = "0.9")\n',
    "geo/geo.c": '#include "geo.h"\nint geo_answer(void) { return 42; }\n',
    "geo/include/geo.h": "int geo_answer(void);\n",
    "geo/BUILD": 'package geo = cc_library(["geo.c"], version = "1.3", hdrs = ["include/geo.h"])\n',
    "geoinfo/main.c": '#include <stdio.h>\n#include <geo.h>\nint main(void) { printf("answer %d\\n", geo_answer()); }\n',
    "geoinfo/BUILD": 'package geoinfo = cc_binary(["main.c"], version = "1.0", pkg_config = ["geo"], requires = [//geo])\n',
}


# The host tools the templates and fetched sources need, each used in the sandbox.
FILES["tools/BUILD"] = """package tools {
    version = "1"
    build_requires = [@std//host:sh, @std//host:tar, @std//host:xz, @std//host:patch, @std//host:awk,
                      @std//host:diffutils, @std//host:cxx, @std//host:pkg-config]
    exports = ["share"]
    build = \"\"\"
        mkdir -p "$OUT/share"
        cd "$TMPDIR"
        printf 'a\\n' > a
        printf 'b\\n' > b
        if cmp -s a b; then exit 1; fi
        diff -u a b > d.patch || true
        patch a d.patch
        cmp a b
        tar -cf t.tar a b
        xz t.tar
        xz -d t.tar.xz
        tar -tf t.tar > "$OUT/share/list"
        echo | awk '{ print "awk ok" }' >> "$OUT/share/list"
        printf '#include <string>\\nint main() { return std::string("x").size() - 1; }\\n' > x.cc
        c++ -o x x.cc
        ./x
        pkg-config --version >> "$OUT/share/list"
    \"\"\"
}
"""

# docs/language.md's own template example, built as written.
DOC_TEMPLATE = next(b for b in re.findall(r"```jbuild\n(.*?)```", (REPO / "docs/language.md").read_text(), re.DOTALL)
                    if b.startswith("template tool("))
FILES["tool/BUILD"] = DOC_TEMPLATE
FILES["tool/hello.c"] = '#include <stdio.h>\nint main(void) { puts(GREETING); return 0; }\n'


class Workspace:
    def __init__(self, root, store):
        self.root, self.store, self.runs = root, store, 0

    def build(self, *targets):
        """(process, {label: built|reused}) of one real build."""
        self.runs += 1
        events = self.root / f"events-{self.runs}.json"
        r = run_jbuild("build", *targets, "--sandbox", "bwrap", "--build-events", str(events),
                       cwd=self.root, env={"JBUILD_STORE": str(self.store)})
        return r, {label: how for label, how in outcomes(events).items() if how in ("built", "reused")}

    def entry(self, name):
        [path] = [p for p in self.store.iterdir() if "-" in p.name and "-env-" not in p.name
                  and p.name.split("-", 1)[1].startswith(name + "-")]
        return path


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("templates") / "ws"
    root.mkdir()
    (root / "jbuild.toml").write_text("")
    write_tree(root, FILES)
    os.chmod(root / "foo" / "configure", 0o755)
    w = Workspace(root, root.parent / "store")
    r, seen = w.build("//...")
    assert r.returncode == 0, r.stdout + r.stderr
    assert all(seen.get(f"//{n}:{n}") == "built" for n in ("foo", "bar", "greet", "geo", "app", "geoinfo"))
    return w


def run(path, *args, env=None):
    return subprocess.run([str(path), *args], capture_output=True, text=True, check=True, env=env).stdout


def test_consumers_run_through_their_environments(ws):
    """autotools (with its configure flag), cmake and cc_library outputs linked by cc_binary
    programs through pkg-config in the sandbox, run from their environments."""
    envs = {p.name.split("-env-")[1]: p for p in ws.store.iterdir() if "-env-" in p.name}
    assert run(envs["app"] / "bin" / "app") == "HELLO 7\n"
    assert run(envs["geoinfo"] / "bin" / "geoinfo") == "answer 42\n"
    assert run(envs["greet"] / "bin" / "hello") == "hi from make\n"
    assert run(envs["hello"] / "bin" / "hello") == "hi there\n"  # the docs' example: one quoted shell word


def test_pkg_config_files_are_right_in_the_sandbox_and_in_an_environment(ws):
    foo = ws.entry("foo")
    pc = (foo / "lib/pkgconfig/foo.pc").read_text()
    assert pc.startswith("prefix=${pcfiledir}/../..\n") and "includedir=${pcfiledir}/../../include" in pc
    assert "libdir='/env/lib'" in (foo / "lib/libfoo.la").read_text()
    assert "libdir=${pcfiledir}/../../lib" in (ws.entry("bar") / "lib/pkgconfig/bar.pc").read_text()
    assert "prefix=${pcfiledir}/../.." in (ws.entry("geo") / "lib/pkgconfig/geo.pc").read_text()
    # In a consumer's sandbox: found under /env, and the header is where it says.
    probe = ws.entry("probe")
    flags = (probe / "share/flags").read_text().split()
    assert flags[0] in ("-I/env/lib/pkgconfig/../../include", "-I/deps/foo/lib/pkgconfig/../../include")
    assert "FOO_VERSION" in (probe / "share/header").read_text()
    # In an environment, with the host's pkg-config and no --define-prefix.
    env = next(p for p in ws.store.iterdir() if p.name.endswith("-env-app"))
    out = run("pkg-config", "--cflags", "--libs", "foo", "bar",
              env={"PKG_CONFIG_PATH": str(env / "lib/pkgconfig"), "PATH": os.environ["PATH"]})
    include = out.split()[0][2:]
    assert include == f"{env}/lib/pkgconfig/../../include" and os.path.isfile(os.path.join(include, "bar.h"))


def test_another_spelling_of_the_same_expansion_is_reused(ws):
    build = ws.root / "app" / "BUILD"
    before = build.read_text()
    build.write_text(before.replace(
        'package app = cc_binary(["main.c"], version = "1.0", pkg_config = ["foo", "bar"],',
        'package app = cc_binary(version = "1.0", sources = ["main.c"], pkg_config = ["foo"] + ["bar"],'))
    r, seen = ws.build("//app:app")
    assert r.returncode == 0, r.stdout + r.stderr
    assert seen["//app:app"] == "reused" and "built" not in seen.values()
    build.write_text(before.replace('version = "1.0"', 'version = "1.0", cflags = ["-O1"]'))
    r, seen = ws.build("//app:app")
    assert seen["//app:app"] == "built"  # a different expansion: a different key
    build.write_text(before)


def test_version_check_catches_a_bumped_recipe_with_old_sources(ws):
    build = ws.root / "foo" / "BUILD"
    before = build.read_text()
    build.write_text(before.replace('version = "1.0"', 'version = "1.1"'))
    try:
        r, _ = ws.build("//foo:foo")
    finally:
        build.write_text(before)
    assert r.returncode == 1
    assert "jbuild: version_check failed: the recipe says version 1.1, but foo.h says '1.0'" in r.stdout + r.stderr
    bar = ws.root / "bar" / "BUILD"
    before = bar.read_text()
    bar.write_text(before.replace('"2.1"', '"2.2"'))
    try:
        r, _ = ws.build("//bar:bar")
    finally:
        bar.write_text(before)
    assert r.returncode == 1
    assert "the recipe says version 2.2, but 'cat /out/lib/pkgconfig/bar.pc' says '2.1'" in r.stdout + r.stderr


def test_the_declared_host_tools_work_in_the_sandbox(ws):
    """tar, xz, patch, awk, cmp/diff, c++ and pkg-config from their Debian packages' closures."""
    listing = (ws.entry("tools") / "share/list").read_text().split("\n")
    assert listing[:3] == ["a", "b", "awk ok"] and listing[3].startswith("1.")

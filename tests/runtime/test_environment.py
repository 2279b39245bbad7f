"""Assembling an environment from store entries: layout, launchers, conflicts, content address.
Real store, real cc-built ELF files; entries are published through the store API."""

import os
import subprocess
import time

import pytest
from jbuild.base.errors import BadInput
from jbuild.engine.runtime.environment import Member, assemble, env_name, members_of
from jbuild.engine.runtime.launchers import interpreter
from jbuild.engine.store import EntryMeta, Store
from runtime_helpers import plain_shell

LIB = 'const char *greet(void) { return "%s"; }\n'
PROG = r'''
#include <stdio.h>
#include <stdlib.h>
const char *greet(void);
int main(int argc, char **argv) {
    const char *llp = getenv("LD_LIBRARY_PATH");
    printf("%s|%s|%s\n", greet(), argv[0], llp ? llp : "-");
    fflush(stdout);
    return system("env | grep -c LD_LIBRARY_PATH= || true");
}
'''


def cc(*args, cwd):
    subprocess.run(["cc", *args], cwd=cwd, check=True, capture_output=True)


def publish(store, name, files, tmp_path, build=None):
    """An entry `<name>` whose files are given as {relpath: text} (or built by `build(out)`)."""
    with store.temporary() as tmp:
        for rel, text in files.items():
            p = tmp.out / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        if build:
            build(tmp.out)
        return store.publish(tmp.out, EntryMeta(key=name, name=f"{name}-pkg-1", label=f"//t:{name}")).name


@pytest.fixture
def world(tmp_path):
    """A store with a shared library `libgreet.so.1`, a program linked to it, a script, a static
    binary and a header, in three entries."""
    store = Store(tmp_path / "store")
    src = tmp_path / "src"
    src.mkdir()
    (src / "greet.c").write_text(LIB % "from the environment")
    (src / "prog.c").write_text(PROG)
    (src / "static.c").write_text('#include <stdio.h>\nint main(void) { puts("static"); return 0; }\n')
    cc("-shared", "-fPIC", "-Wl,-soname,libgreet.so.1", "-o", "libgreet.so.1", "greet.c", cwd=src)
    cc("-o", "prog", "prog.c", "-L.", "-l:libgreet.so.1", cwd=src)
    cc("-static", "-o", "stat", "static.c", cwd=src)

    def lib_out(out):
        (out / "lib").mkdir()
        os.link(src / "libgreet.so.1", out / "lib/libgreet.so.1")
        os.symlink("libgreet.so.1", out / "lib/libgreet.so")

    def bin_out(out):
        (out / "bin").mkdir()
        for name in ("prog", "stat"):
            os.link(src / name, out / "bin" / name)
        (out / "bin/hello.sh").write_text("#!/bin/sh\necho script\n")
        os.chmod(out / "bin/hello.sh", 0o755)
        (out / "libexec").mkdir()  # not exported: a link into it must still work from the environment
        (out / "libexec/helper").write_text("#!/bin/sh\necho helper\n")
        os.chmod(out / "libexec/helper", 0o755)
        os.symlink("../libexec/helper", out / "bin/helper")

    greet = publish(store, "greet", {"include/greet.h": "const char *greet(void);\n", "share/doc/greet": "doc"},
                    tmp_path, lib_out)
    app = publish(store, "app", {"share/doc/app": "doc", "notes.txt": "not exported"}, tmp_path, bin_out)
    members = [Member("//t:greet", greet, ("lib", "include", "share")), Member("//t:app", app, ("bin", "share"))]
    return store, members, tmp_path


def test_layout_is_the_union_of_exports_with_launchers(world):
    store, members, _ = world
    env = assemble(store, members, {"app.conf": "port = 7\n", "sub/x.conf": "x"}, title="app")
    assert env.parent == store.root and env.name.endswith("-env-app")
    assert sorted(os.listdir(env)) == [".jbuild-entry.json", "bin", "etc", "include", "lib", "share"]
    assert not os.path.islink(env / "share/doc") and os.path.isdir(env / "share/doc")  # directories are real
    # files are the members' own (hard links: no copy, no new inode); their symlinks too
    assert os.path.samefile(env / "share/doc/app", store.path(members[1].entry) / "share/doc/app")
    assert os.readlink(env / "lib/libgreet.so") == "libgreet.so.1"
    assert os.path.samefile(env / "lib/libgreet.so", store.path(members[0].entry) / "lib/libgreet.so.1")
    for name in ("hello.sh", "stat"):  # script, static binary: as they are
        assert os.path.samefile(env / "bin" / name, store.path(members[1].entry) / "bin" / name)
    assert os.stat(env / "bin/prog").st_nlink == 1  # dynamic: a launcher of its own
    assert interpreter(str(store.path(members[1].entry) / "bin/prog")) in open(env / "bin/prog").read()
    assert (env / "etc/app.conf").read_text() == "port = 7\n" and not os.path.islink(env / "etc/app.conf")
    assert (env / "etc/sub/x.conf").read_text() == "x"
    assert not (env / "notes.txt").exists()
    assert {m.entry for m in members_of(store, env.name)} == {m.entry for m in members}
    assert plain_shell([str(env / "bin/hello.sh")]).stdout == "script\n"
    assert plain_shell([str(env / "bin/helper")]).stdout == "helper\n"
    assert plain_shell([str(env / "bin/stat")]).stdout == "static\n"


def test_a_program_loads_the_environments_library_and_leaks_nothing(world, tmp_path):
    store, members, _ = world
    env = assemble(store, members, title="app")
    r = plain_shell([str(env / "bin/prog")])
    assert r.returncode == 0, r.stderr
    line, children = r.stdout.splitlines()
    # argv[0] is the launcher's path; no LD_LIBRARY_PATH in the process nor in its children
    assert line == f"from the environment|{env}/bin/prog|-"
    assert children == "0"
    # A same-named library on the caller's LD_LIBRARY_PATH is not used.
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "greet.c").write_text(LIB % "FAKE host library")
    cc("-shared", "-fPIC", "-Wl,-soname,libgreet.so.1", "-o", "libgreet.so.1", "greet.c", cwd=fake)
    r = plain_shell([str(env / "bin/prog")], extra={"LD_LIBRARY_PATH": str(fake)})
    assert r.stdout.startswith("from the environment|"), r.stdout
    # ... and the store binary alone, without the launcher, would have taken it: the test can fail.
    raw = plain_shell([str(store.path(members[1].entry) / "bin/prog")], extra={"LD_LIBRARY_PATH": str(fake)})
    assert raw.stdout.startswith("FAKE host library|")


def test_same_closure_is_found_not_reassembled(world):
    store, members, _ = world
    first = assemble(store, members, {"a": "1"}, title="app")
    mtime = os.stat(first).st_mtime_ns
    t = time.perf_counter()
    again = assemble(store, list(reversed(members)), {"a": "1"}, title="app")
    assert time.perf_counter() - t < 0.05
    assert again == first and os.stat(again).st_mtime_ns == mtime
    assert assemble(store, members, {"a": "2"}, title="app") != first  # config is part of the address
    assert env_name(members[:1], None, "app") != env_name(members, None, "app")


def test_two_packages_exporting_one_path_is_an_error_naming_both(world, tmp_path):
    store, members, _ = world
    other = publish(store, "other", {"lib/libgreet.so": "clash"}, tmp_path)
    with pytest.raises(BadInput, match=r"//t:greet and //t:other both export lib/libgreet.so"):
        assemble(store, [*members, Member("//t:other", other, ("lib",))], title="x")
    dir_vs_file = publish(store, "dvf", {"share": "a file where the others have a directory"}, tmp_path)
    with pytest.raises(BadInput, match=r"both export share"):
        assemble(store, [*members, Member("//t:dvf", dir_vs_file, ("share",))], title="x")
    assert not [p for p in os.listdir(store.root) if p.startswith(".tmp-")]  # nothing left behind


def test_exports_must_stay_inside_the_package(world):
    store, members, _ = world
    for bad in ("../x", "/usr/lib", "etc", "var/lib"):
        with pytest.raises(BadInput):
            assemble(store, [Member("//t:bad", members[0].entry, (bad,))], title="x")

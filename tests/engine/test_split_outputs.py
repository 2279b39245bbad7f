"""Split outputs, for real: a C library built by real cc in real bubblewrap, split into bin, lib,
dev and doc entries; a consumer compiled against its headers; environments without headers or
archives; what a change of each output rebuilds; the errors of a bad split; gc and verify over
sets; an ordinary user's build."""

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import run_jbuild, write_tree
from jbuild.engine.store import Store
from jbuild.engine.store.fsops import force_remove

SH_CC = "build_requires = [@std//host:cc, @std//host:sh]"
OUTPUTS = """outputs = {
        bin = ["bin"],
        lib = ["lib/*.so*"],
        dev = ["include", "lib/*.a", "lib/pkgconfig"],
        doc = ["share/doc"],
    }"""
GREET_BUILD = """
        mkdir -p $OUT/bin $OUT/lib/pkgconfig $OUT/include $OUT/share/doc/greet
        cc -O2 -fPIC -shared -Wl,-soname,libgreet.so.1 -o $OUT/lib/libgreet.so.1 $SRC/greet.c
        ln -s libgreet.so.1 $OUT/lib/libgreet.so
        cc -O2 -c $SRC/greet.c -o $TMPDIR/greet.o && ar rcD $OUT/lib/libgreet.a $TMPDIR/greet.o
        cp $SRC/greet.h $OUT/include/
        printf 'Name: greet\\nVersion: 1.0\\nDescription: greet\\nLibs: -lgreet\\n' > $OUT/lib/pkgconfig/greet.pc
        cc -O2 -I$SRC -o $OUT/bin/greet-tool $SRC/tool.c -L$OUT/lib -lgreet
        cp $SRC/README $OUT/share/doc/greet/
"""
# The consumer checks what its sandbox shows of greet: dev and lib, never bin or doc.
APP_BUILD = """
        test -e /deps/greet.dev/include/greet.h && test -e /deps/greet.lib/lib/libgreet.so.1
        test ! -e /deps/greet.bin && test ! -e /deps/greet.doc && test ! -e /deps/greet
        test ! -e /env/bin/greet-tool && test ! -e /env/share/doc
        mkdir -p $OUT/bin && cc -O2 -o $OUT/bin/app $SRC/app.c -lgreet
"""


def files(outputs=OUTPUTS, greet_build=GREET_BUILD):
    return {
        "jbuild.toml": "",
        "greet.h": "const char *greet(void);\n",
        "greet.c": '#include "greet.h"\nconst char *greet(void) { return "hello"; }\n',
        "tool.c": '#include <stdio.h>\n#include "greet.h"\nint main(void) { puts(greet()); return 0; }\n',
        "app.c": '#include <stdio.h>\n#include <greet.h>\nint main(void) { printf("app: %s\\n", greet()); return 0; }\n',
        "README": "greet, version 1\n",
        "BUILD": f'''
package greet {{
    version = "1.0"
    sources = ["greet.c", "greet.h", "tool.c", "README"]
    interface = ["greet.h"]
    {SH_CC}
    {outputs}
    build = """{greet_build}"""
}}
package app {{
    version = "1.0"
    sources = ["app.c"]
    requires = [:greet]
    {SH_CC}
    build = """{APP_BUILD}"""
    exports = ["bin"]
}}
''',
    }


class Ws:
    def __init__(self, root: Path, store: Path):
        self.root, self.store, self.n = root, store, 0

    def jbuild(self, *args):
        return run_jbuild(*args, cwd=self.root, env={"JBUILD_STORE": str(self.store)})

    def build(self, target="//:app", *args):
        """(process, labels built) of one real build."""
        self.n += 1
        events = self.root / f"ev{self.n}.json"
        r = self.jbuild("build", target, "--sandbox", "bwrap", "--build-events", str(events), *args)
        built = set()
        for line in events.read_text().splitlines() if events.exists() else []:
            e = json.loads(line)
            if e["event"] == "action_executed" and e["success"]:
                built.add(e["target"].split("@")[0])
        return r, built

    def edit(self, rel, old, new):
        text = (self.root / rel).read_text()
        assert old in text
        (self.root / rel).write_text(text.replace(old, new))

    def greet_sets(self):
        return sorted(p.name for p in self.store.iterdir() if p.name.endswith("-greet-1.0"))


@pytest.fixture
def ws(tmp_path):
    return Ws(write_tree(tmp_path / "ws", files()), tmp_path / "store")


def tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*") if p.name != ".jbuild-entry.json"}


def test_outputs_are_entries_and_the_consumer_sees_dev_and_lib_only(ws):
    r, built = ws.build()
    assert r.returncode == 0, r.stderr
    assert built == {"//:greet", "//:app"}
    (set_name,) = ws.greet_sets()
    meta = json.loads((ws.store / set_name / ".jbuild-entry.json").read_text())
    assert meta["outputs"] == {o: f"{set_name}-{o}" for o in ("bin", "lib", "dev", "doc")}
    assert tree(ws.store / set_name) == set()
    assert tree(ws.store / f"{set_name}-bin") == {"bin", "bin/greet-tool"}
    assert tree(ws.store / f"{set_name}-lib") == {"lib", "lib/libgreet.so", "lib/libgreet.so.1"}
    assert tree(ws.store / f"{set_name}-dev") == {"include", "include/greet.h", "lib", "lib/libgreet.a",
                                                  "lib/pkgconfig", "lib/pkgconfig/greet.pc"}
    assert tree(ws.store / f"{set_name}-doc") == {"share", "share/doc", "share/doc/greet", "share/doc/greet/README"}
    dev = json.loads((ws.store / f"{set_name}-dev" / ".jbuild-entry.json").read_text())
    assert (dev["output"], dev["set"], dev["key"]) == ("dev", set_name, meta["key"])
    # what the consumer's key saw is measured over dev + lib: headers, archive, .pc, the ELF interface
    assert sorted(meta["exported_detail"]) == ["include/greet.h", "lib/libgreet.a", "lib/libgreet.so",
                                               "lib/libgreet.so.1", "lib/pkgconfig/greet.pc"]
    # the environment: the run outputs only (no headers, no static archive), and it runs
    env = ws.root / "result"
    assert sorted(tree(env)) == ["bin", "bin/app", "bin/greet-tool", "lib", "lib/libgreet.so", "lib/libgreet.so.1"]
    assert subprocess.run([env / "bin" / "app"], capture_output=True, text=True).stdout == "app: hello\n"
    assert subprocess.run([env / "bin" / "greet-tool"], capture_output=True, text=True).stdout == "hello\n"
    # building the library itself prints each output; for scripts, their paths
    r = ws.jbuild("build", "//:greet", "--sandbox", "bwrap", "--print-out-paths", "--no-link")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(ws.store / f"{set_name}-{o}") for o in ("bin", "dev", "doc", "lib")]  # by name
    assert f"  dev: {ws.store / set_name}-dev" in r.stderr
    assert ws.jbuild("store", "verify").returncode == 0


def test_what_a_change_of_each_output_rebuilds(ws):
    assert ws.build()[0].returncode == 0
    ws.edit("README", "version 1", "version 2")  # doc only
    r, built = ws.build()
    assert r.returncode == 0, r.stderr
    assert built == {"//:greet"}
    assert len(ws.greet_sets()) == 2
    ws.edit("tool.c", "puts(greet())", 'printf("%s!\\n", greet())')  # bin only: a program is implementation
    assert ws.build()[1] == {"//:greet"}
    assert subprocess.run([ws.root / "result" / "bin" / "greet-tool"], capture_output=True, text=True).stdout == "hello!\n"
    ws.edit("greet.c", '"hello"', '"hi"')  # the implementation: dev's static archive changes, so consumers rebuild
    assert ws.build()[1] == {"//:greet", "//:app"}
    assert subprocess.run([ws.root / "result" / "bin" / "app"], capture_output=True, text=True).stdout == "app: hi\n"
    ws.edit("greet.h", "greet(void);", "greet(void);\nint greet_version(void);")  # dev: consumers rebuild
    assert ws.build()[1] == {"//:greet", "//:app"}
    assert ws.build()[1] == set()


def test_a_set_missing_an_output_is_rebuilt(ws):
    assert ws.build()[0].returncode == 0
    (set_name,) = ws.greet_sets()
    force_remove(ws.store / f"{set_name}-doc")  # by hand: gc removes sets whole
    problems = ws.jbuild("store", "verify").stdout
    assert f"{set_name}: its output doc ({set_name}-doc) is missing" in problems
    # like any tampering inside the store, the no-op path (stats of the inputs) does not look;
    # a full path does, and then the set is no hit: it is rebuilt
    r, built = ws.build("//:app", "--verify-inputs")
    assert r.returncode == 0, r.stderr
    assert built == {"//:greet"}  # same key, so the consumer is reused
    assert ws.greet_sets() == [set_name] and (ws.store / f"{set_name}-doc" / "share/doc/greet/README").exists()


@pytest.mark.parametrize("outputs, expected", [
    (OUTPUTS.replace('"lib/*.a", ', ""), "lib/libgreet.a belongs to no output; add it to one of the declared "
                                         "outputs (bin, lib, dev, doc), or do not install it"),
    (OUTPUTS.replace('"lib/*.a"', '"lib"'), 'lib/libgreet.so (lib by "lib/*.so*", dev by "lib"), '
                                            'lib/libgreet.so.1 (lib by "lib/*.so*", dev by "lib") are claimed by two outputs'),
    (OUTPUTS.replace('lib = ["lib/*.so*"]', 'lib = ["lib/*.so.*"]').replace('"lib/*.a"', '"lib/*.a", "lib/*.so"'),
     "lib/libgreet.so (output dev) is a symlink to lib/libgreet.so.1, which is in output lib; a symlink must "
     "stay inside its output"),
])
def test_a_bad_split_fails_the_build_naming_the_paths(tmp_path, outputs, expected):
    ws = Ws(write_tree(tmp_path / "ws", files(outputs)), tmp_path / "store")
    r, built = ws.build("//:greet")
    assert r.returncode == 1
    assert expected in r.stderr
    assert built == set() and ws.greet_sets() == []
    assert [p.name for p in ws.store.iterdir() if p.name.startswith((".tmp-", ".trash-"))] == []


def test_an_unknown_output_name_is_a_recipe_error(tmp_path):
    ws = Ws(write_tree(tmp_path / "ws", files(OUTPUTS.replace("doc =", "docs ="))), tmp_path / "store")
    r = ws.jbuild("build", "//:greet", "--sandbox", "bwrap")
    assert r.returncode == 2
    assert "error: unknown output 'docs'" in r.stderr and "did you mean 'doc'?" in r.stderr
    assert "Traceback" not in r.stderr


def test_gc_keeps_whole_sets_a_root_needs_and_collects_old_ones(ws):
    assert ws.build()[0].returncode == 0
    (old,) = ws.greet_sets()
    ws.edit("README", "version 1", "version 2")
    assert ws.build()[1] == {"//:greet"}
    new = next(s for s in ws.greet_sets() if s != old)
    r = ws.jbuild("gc")
    assert r.returncode == 0, r.stderr
    deleted = {line.split()[1] for line in r.stdout.splitlines() if line.startswith("deleting ")}
    assert {old, *(f"{old}-{o}" for o in ("bin", "lib", "dev", "doc"))} <= deleted
    for o in ("", "-bin", "-lib", "-dev", "-doc"):  # the result's environment runs bin+lib; dev and doc go with them
        assert (ws.store / f"{new}{o}" / ".jbuild-entry.json").exists()
    assert subprocess.run([ws.root / "result" / "bin" / "app"], capture_output=True, text=True).stdout == "app: hello\n"
    assert ws.build()[1] == set()


IS_ROOT = os.geteuid() == 0


def test_an_ordinary_user_builds_split_outputs(tmp_path):
    from test_store_nonroot import USER, User

    home = Path(__import__("tempfile").mkdtemp(prefix="jbuild-user-")) if IS_ROOT else tmp_path
    home.chmod(0o755)
    user = User(home)
    write_tree(home / "ws", files())
    if IS_ROOT:
        subprocess.run(["chown", "-R", f"{USER}:", str(home)], check=True)
    try:
        r = user.jbuild("build", "//:app", "--sandbox", "bwrap", cwd=home / "ws")
        assert r.returncode == 0, r.stderr
        assert user.run(str(home / "ws/result/bin/app"), cwd=home).stdout == "app: hello\n"
        uid = os.stat(home).st_uid
        assert uid != 0 or not IS_ROOT
        sets = [p for p in (home / "store").iterdir() if "-greet-1.0" in p.name]
        assert len(sets) == 5
        for p in sets:
            for q in [p, *p.rglob("*")]:
                st = os.lstat(q)
                assert st.st_uid == uid and (stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o222), q
        r = user.jbuild("store", "verify", cwd=home / "ws")
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        if IS_ROOT:
            force_remove(home)


# ---------------------------------------------------------------- kill -9 while publishing a set

PUBLISH = """
import sys
import time
from pathlib import Path
from jbuild.engine.store import EntryMeta, Store
store = Store(sys.argv[1])
with store.key_lock("k1"), store.temporary() as tmp:
    parts = {}
    for out in ("bin", "lib", "dev", "doc"):
        d = parts[out] = tmp.output(out)
        for i in range(100):
            (d / out).mkdir(exist_ok=True)
            (d / out / f"f{i}").write_text(out * 50)
    store.publish_set(parts, EntryMeta(key="k1", name="k1-pkg-1.0", label="//:pkg"))
"""


def test_kill_9_mid_publish_never_shows_a_half_set(tmp_path):
    root = tmp_path / "s"
    Store(root)
    seen_orphans = False
    for wait_for in ("bin", "lib", "dev", "doc"):  # kill once that output's entry appeared
        proc = subprocess.Popen([sys.executable, "-c", PUBLISH, str(root)])
        target = root / f"k1-pkg-1.0-{wait_for}"
        while proc.poll() is None and not target.exists():
            time.sleep(0.0005)
        proc.kill()
        proc.wait()
        store = Store(root)
        store.clean_temporaries()
        if store.lookup("k1-pkg-1.0"):  # the set entry is there: all of it is
            assert store.check("k1-pkg-1.0", full=True)
            assert sorted(store.outputs_of("k1-pkg-1.0")) == ["bin", "dev", "doc", "lib"]
            for path in store.outputs_of("k1-pkg-1.0").values():
                assert len(list((path / path.name.rsplit("-", 1)[1]).iterdir())) == 100
            force_remove(root / "k1-pkg-1.0")  # start over: the next kill lands earlier in a publish
            continue
        orphans = [p.name for p in store.entries()]
        seen_orphans |= bool(orphans)
        problems = store.verify()
        assert sorted(problems) == [f"{o}: an output of k1-pkg-1.0, which is not in the store (an interrupted "
                                    "publish)" for o in orphans]
        report = store.gc()
        assert sorted(report.dead) == orphans and store.entries() == []
    assert seen_orphans  # at least one kill landed between an output and its set
    subprocess.run([sys.executable, "-c", PUBLISH, str(root)], check=True)
    store = Store(root)
    assert store.check("k1-pkg-1.0", full=True) and store.verify() == []


def test_a_publish_replaces_orphans_and_gc_keeps_a_set_by_any_output(tmp_path):
    store = Store(tmp_path / "s")
    subprocess.run([sys.executable, "-c", PUBLISH, str(store.root)], check=True)
    force_remove(store.root / "k1-pkg-1.0")  # as if killed before the set entry: four orphans
    (store.root / "k1-pkg-1.0-dev" / "dev" / "f0").chmod(0o644)
    (store.root / "k1-pkg-1.0-dev" / "dev").chmod(0o755)
    (store.root / "k1-pkg-1.0-dev" / "dev" / "f0").write_text("stale")
    subprocess.run([sys.executable, "-c", PUBLISH, str(store.root)], check=True)
    assert store.check("k1-pkg-1.0", full=True)
    assert (store.root / "k1-pkg-1.0-dev" / "dev" / "f0").read_text() == "dev" * 50
    link = tmp_path / "env"
    link.symlink_to(store.root / "k1-pkg-1.0-lib")
    store.add_root(link, ["k1-pkg-1.0-lib"])  # an environment's root names the outputs it links into
    assert store.gc().dead == []
    assert len(store.entries()) == 5
    link.unlink()
    assert len(store.gc().dead) == 5 and store.entries() == []


def test_the_documented_example_builds_and_its_environment_has_no_headers(tmp_path):
    import re

    from helpers import REPO

    text = (REPO / "docs" / "language.md").read_text()
    block = re.search(r"## Split outputs.*?```jbuild\n(.*?)```", text, re.DOTALL).group(1)
    ws = Ws(write_tree(tmp_path / "ws", {
        "jbuild.toml": "", "README": "zstr\n",
        # a build that runs zstr's program: a build-only tool brings its bin output too
        "BUILD": block + '''
            package counted {
                version = "1.0"
                build_requires = [:zstr]
                build = "test -e /deps/zstr.bin/bin/zcat && test ! -e /deps/zstr.doc && zcat > $OUT/n"
            }''',
        "zstr.h": "int zstr_len(const char *s);\n",
        "zstr.c": '#include "zstr.h"\nint zstr_len(const char *s) { int n = 0; while (s[n]) n++; return n; }\n',
        "zcat.c": '#include <stdio.h>\n#include "zstr.h"\nint main(void) { printf("%d\\n", zstr_len("abc")); return 0; }\n',
        "zapp.c": '#include <stdio.h>\n#include <zstr.h>\nint main(void) { printf("zapp %d\\n", zstr_len("ab")); return 0; }\n',
    }), tmp_path / "store")
    r, built = ws.build("//:zapp")
    assert r.returncode == 0, r.stderr
    assert built == {"//:zstr", "//:zapp"}
    env = ws.root / "result"
    assert sorted(tree(env)) == ["bin", "bin/zapp", "bin/zcat", "lib", "lib/libzstr.so", "lib/libzstr.so.1"]
    assert subprocess.run([env / "bin" / "zapp"], capture_output=True, text=True).stdout == "zapp 2\n"
    assert subprocess.run([env / "bin" / "zcat"], capture_output=True, text=True).stdout == "3\n"
    r, built = ws.build("//:counted", "--no-link")
    assert r.returncode == 0, r.stderr
    assert built == {"//:counted"}
    (entry,) = [p for p in ws.store.iterdir() if p.name.endswith("-counted-1.0")]
    assert (entry / "n").read_text() == "3\n"


def test_declared_outputs_enter_the_canonical_form_only_when_declared():
    from jbuild.dsl.canonical import target
    from jbuild.dsl.lowering import lower_file
    from jbuild.dsl.parser import parse

    def canonical(extra):
        (pkg,) = lower_file(parse(f'package p {{ version = "1" {extra} }}', "BUILD"), "x")
        return target(pkg)

    assert "outputs" not in canonical("")  # packages without outputs keep their form, and their keys
    split = canonical('outputs = { lib = ["lib/*.so*"], dev = ["include/"] }')
    assert split["outputs"] == {"lib": ["lib/*.so*"], "dev": ["include"]}
    moved = canonical('outputs = { lib = ["lib/*.so*", "include"] }')
    assert moved["outputs"] != split["outputs"]
    from jbuild.dsl.errors import RecipeError

    for bad, message in [('outputs = { lib = ["../x"] }', "'../x' is not a path inside the package's output"),
                         ('outputs = { lib = ["/lib"] }', "'/lib' is not a path inside the package's output"),
                         ("outputs = {}", "'outputs' takes a map from output names to lists of paths"),
                         ('outputs = { dev = "include" }', "'dev' takes a list")]:
        with pytest.raises(RecipeError) as e:
            canonical(bad)
        assert message in str(e.value), str(e.value)


def test_kill_9_of_jbuild_while_it_publishes_leaves_a_store_the_next_build_trusts(ws):
    env = {**os.environ, "JBUILD_STORE": str(ws.store)}
    proc = subprocess.Popen([sys.executable, "-m", "jbuild", "build", "//:greet", "--sandbox", "bwrap", "--no-link"],
                            cwd=ws.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and not any(p.name.endswith("-greet-1.0-bin") for p in
                                          (ws.store.iterdir() if ws.store.exists() else ())):
        time.sleep(0.0005)
    proc.kill()
    proc.wait()
    store = Store(ws.store)
    for name in ws.greet_sets():  # a set entry that is there is whole
        assert store.check(name, full=True) and len(store.outputs_of(name)) == 4
    if not ws.greet_sets():  # killed between an output and the set entry (the usual case here)
        r = ws.jbuild("store", "verify")
        assert r.returncode == 1 and "(an interrupted publish)" in r.stdout, r.stdout
    r, built = ws.build()
    assert r.returncode == 0, r.stderr
    assert "//:app" in built
    assert ws.jbuild("gc").returncode == 0
    r = ws.jbuild("store", "verify")
    assert r.returncode == 0 and r.stdout == "", r.stdout
    assert len([p for p in ws.store.iterdir() if "-greet-1.0" in p.name]) == 5

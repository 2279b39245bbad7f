"""Keys that hold for real C software: a workspace of small real packages (shared and static
libraries, a header including a dependency's header, a generated header, a configure-style probe
for a library only the host has), edited one kind of change at a time. After every edit the
actions that ran are compared with what the edit must rebuild (an oracle written here from the
workspace's shape, not from engine/keys.py), and the incremental store with a clean build's."""

import json
import shutil
import subprocess

import pytest
from helpers import run_jbuild, write_tree

SH_CC = "build_requires = [@std//host:cc, @std//host:sh]"
FILES = {
    "jbuild.toml": "",
    "BUILD": f"""
        package a {{
            version = "1.0"
            sources = glob(["a/*"])
            interface = ["a/a.h"]
            {SH_CC}
            build = \"\"\"
                mkdir -p $OUT/lib $OUT/include
                cc -O2 -fPIC -shared -Wl,-soname,liba.so.1 -o $OUT/lib/liba.so.1 $SRC/a/a.c
                ln -s liba.so.1 $OUT/lib/liba.so
                cp $SRC/a/a.h $OUT/include/
            \"\"\"
        }}
        package b {{
            version = "1.0"
            sources = glob(["b/*"])
            interface = ["b/b.h"]
            requires = [:a]
            {SH_CC}
            build = \"\"\"
                mkdir -p $OUT/lib $OUT/include
                cc -O2 -fPIC -shared -Wl,-soname,libb.so.1 -I/env/include -o $OUT/lib/libb.so.1 $SRC/b/b.c \\
                    -L/env/lib -la
                ln -s libb.so.1 $OUT/lib/libb.so
                cp $SRC/b/b.h $OUT/include/
            \"\"\"
        }}
        package app {{
            version = "1.0"
            sources = ["app/main.c"]
            requires = [:b]
            {SH_CC}
            build = "mkdir -p $OUT/bin && cc -O2 -I/env/include -o $OUT/bin/app $SRC/app/main.c -L/env/lib -lb -la"
        }}
        package s {{
            version = "1.0"
            sources = glob(["s/*"])
            interface = ["s/s.h"]
            {SH_CC}
            build = \"\"\"
                mkdir -p $OUT/lib $OUT/include
                cc -O2 -c -o $TMPDIR/s.o $SRC/s/s.c
                ar rcD $OUT/lib/libs.a $TMPDIR/s.o
                cp $SRC/s/s.h $OUT/include/
            \"\"\"
        }}
        package sapp {{
            version = "1.0"
            sources = ["sapp/main.c"]
            requires = [:s]
            {SH_CC}
            build = "mkdir -p $OUT/bin && cc -O2 -I/env/include -o $OUT/bin/sapp $SRC/sapp/main.c /env/lib/libs.a"
        }}
        package gen {{
            version = "1.0"
            sources = glob(["gen/*"])
            interface = ["gen/gen_api.h"]
            {SH_CC}
            build = \"\"\"
                mkdir -p $OUT/include
                cp $SRC/gen/gen_api.h $OUT/include/
                sed -n 's/^value=/#define GEN_VALUE /p' $SRC/gen/config.in > $OUT/include/gen.h
            \"\"\"
        }}
        package genapp {{
            version = "1.0"
            sources = ["genapp/main.c"]
            requires = [:gen]
            {SH_CC}
            build = "mkdir -p $OUT/bin && cc -O2 -I/env/include -o $OUT/bin/genapp $SRC/genapp/main.c"
        }}
        package probe {{
            version = "1.0"
            {SH_CC}
            build = \"\"\"
                mkdir -p $OUT/share
                if echo '#include <zlib.h>' | cc -E - >/dev/null 2>&1; then echo found; else echo absent; fi \\
                    > $OUT/share/zlib
            \"\"\"
        }}
        package all {{
            version = "1"
            run_requires = [:app, :sapp, :genapp, :probe]
            build = "mkdir -p $OUT"
        }}
    """,
    "a/a.h": "int a_value(void);\nextern int a_table[];\n",
    "a/a.c": "int a_table[4] = {1, 2, 3, 4};\nint a_value(void) { return 1; }\nint a_gone(void) { return 0; }\n",
    "b/b.h": "#include <a.h>\nint b_value(void);\n",
    "b/b.c": "#include <a.h>\nint b_value(void) { return 10 * a_value(); }\n",
    "app/main.c": '#include <stdio.h>\n#include <b.h>\nint main(void) { printf("%d\\n", b_value()); return 0; }\n',
    "s/s.h": "int s_value(void);\n",
    "s/s.c": "int s_value(void) { return 7; }\n",
    "sapp/main.c": '#include <stdio.h>\n#include <s.h>\nint main(void) { printf("%d\\n", s_value()); return 0; }\n',
    "gen/gen_api.h": "#include <gen.h>\n",
    "gen/config.in": "value=41\n",
    "genapp/main.c": '#include <stdio.h>\n#include <gen_api.h>\nint main(void) { printf("%d\\n", GEN_VALUE); return 0; }\n',
}
PACKAGES = {"a", "b", "app", "s", "sapp", "gen", "genapp", "probe", "all"}


class Workspace:
    def __init__(self, root, store):
        self.root, self.store, self.runs = root, store, 0

    def build(self):
        self.runs += 1
        events = self.root.parent / f"events-{self.runs}.json"
        r = run_jbuild("build", "//:all", "--sandbox", "bwrap", "--build-events", str(events), cwd=self.root,
                       env={"JBUILD_STORE": str(self.store)})
        ran = {json.loads(x)["target"].split("@")[0][3:] for x in events.read_text().splitlines()
               if json.loads(x)["event"] == "action_executed"}
        return r, ran

    def edit(self, rel, old, new):
        p = self.root / rel
        assert old in p.read_text()
        p.write_text(p.read_text().replace(old, new))

    def entries(self):
        """name -> the entry each package resolves to now (one build call, all no-op or cached)."""
        labels = [f"//:{n}" for n in sorted(PACKAGES)]
        r = run_jbuild("build", *labels, "--sandbox", "bwrap", "--no-link", "--print-out-paths", cwd=self.root,
                       env={"JBUILD_STORE": str(self.store)})
        assert r.returncode == 0, r.stderr
        return {path.rsplit("/", 1)[1].split("-")[1]: path for path in r.stdout.split()}

    def run(self, program, libs=()):
        e = self.entries()
        env = {"LD_LIBRARY_PATH": ":".join(e[n] + "/lib" for n in libs)}
        return subprocess.run([f"{e[program]}/bin/{program}"], env=env, capture_output=True, text=True).stdout.strip()


def output_hashes(entries):
    return {name: json.loads(open(path + "/.jbuild-entry.json").read())["output_hash"]
            for name, path in entries.items()}


@pytest.fixture
def ws(tmp_path):
    root = write_tree(tmp_path / "ws", FILES)
    w = Workspace(root, tmp_path / "store")
    r, ran = w.build()
    assert r.returncode == 0, r.stderr
    assert ran == PACKAGES
    return w


def assert_same_as_clean(w, tmp_path):
    """The incremental store holds, for the current sources, exactly what a clean build makes,
    and the programs behave the same."""
    clean_root = tmp_path / "clean"
    shutil.copytree(w.root, clean_root, ignore=shutil.ignore_patterns(".jbuild", "result*"))
    clean = Workspace(clean_root, tmp_path / "clean-store")
    r, _ = clean.build()
    assert r.returncode == 0, r.stderr
    assert output_hashes(w.entries()) == output_hashes(clean.entries())
    for program in ("app", "sapp", "genapp"):
        assert w.run(program, ["a", "b"]) == clean.run(program, ["a", "b"])


EDITS = [
    # (file, old, new, what must rebuild)
    ("a/a.c", "return 1;", "return 2;", {"a"}),                          # shared library implementation
    ("s/s.c", "return 7;", "return 8;", {"s", "sapp"}),                   # static library: its linkers
    ("gen/config.in", "value=41", "value=42", {"gen", "genapp"}),         # a generated header
    ("a/a.h", "int a_value(void);", "int a_value(void); /* doc */", {"a", "b", "app"}),  # a header of a header
    ("a/a.c", "a_table[4] = {1, 2, 3, 4}", "a_table[8] = {1, 2, 3, 4}", {"a", "b", "app"}),  # data object size
    ("a/a.c", "int a_gone(void) { return 0; }\n", "", {"a", "b", "app"}),  # an exported function removed
]


@pytest.mark.parametrize("rel,old,new,expected", EDITS, ids=[e[0] + ":" + e[2][:12] for e in EDITS])
def test_each_kind_of_edit_rebuilds_what_it_must_and_matches_a_clean_build(ws, tmp_path, rel, old, new, expected):
    ws.edit(rel, old, new)
    r, ran = ws.build()
    assert r.returncode == 0, r.stderr
    assert ran == expected
    assert_same_as_clean(ws, tmp_path)


def test_the_patched_shared_library_runs_under_the_reused_program(ws):
    assert ws.run("app", ["a", "b"]) == "10"
    ws.edit("a/a.c", "return 1;", "return 3;")
    r, ran = ws.build()
    assert ran == {"a"}
    assert ws.run("app", ["a", "b"]) == "30"  # app and b were reused; they run with the new a


def test_the_static_library_patch_reaches_its_linker(ws):
    assert ws.run("sapp") == "7"
    ws.edit("s/s.c", "return 7;", "return 9;")
    ws.build()
    assert ws.run("sapp") == "9"


def test_a_library_only_the_host_has_is_not_found(ws):
    assert open(ws.entries()["probe"] + "/share/zlib").read().strip() == "absent"


def test_a_dependency_of_a_dependency_is_in_the_sandbox(ws):
    """b.h includes a.h; app requires only b: a's headers are visible to app's build (the
    interface closure), so app built at all, and against the workspace's a, not the host."""
    assert ws.run("app", ["a", "b"]) == "10"

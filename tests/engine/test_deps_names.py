"""What a build sees at /deps when two dependencies share a name, for real (bubblewrap): the
first one the walk takes keeps the name, the other is /deps/<package>_<name>; and the entry's
`built_against` names both. (Each dependency's view is made once per run: build_action._seen_as.)"""

import json

from helpers import run_jbuild, write_tree

LIB = '''package lib {{
    version = "1"
    build = "mkdir -p $OUT && echo {which} > $OUT/which"
}}
'''
APP = '''package app {
    version = "1"
    requires = [//a:lib, //b:lib]
    build = """
        mkdir -p $OUT
        cat /deps/lib/which /deps/a_lib/which > $OUT/seen
        test ! -e /deps/b_lib
    """
}
package plain {
    version = "1"
    requires = [//a:lib]
    build = "mkdir -p $OUT && cat /deps/lib/which > $OUT/seen && test ! -e /deps/a_lib"
}
'''


def test_two_dependencies_of_one_name_are_told_apart_by_package(tmp_path):
    root = write_tree(tmp_path / "ws", {"jbuild.toml": "", "a/BUILD": LIB.format(which="a"),
                                        "b/BUILD": LIB.format(which="b"), "BUILD": APP})
    store = tmp_path / "store"
    r = run_jbuild("build", "//...", "--no-link", cwd=root, env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    [app] = [p for p in store.iterdir() if p.name.endswith("-app-1")]
    assert (app / "seen").read_text() == "b\na\n"  # the last requirement is walked first
    against = json.loads((app / ".jbuild-entry.json").read_text())["built_against"]
    assert sorted(against) == ["//a:lib", "//b:lib"]
    assert all(v["entry"].endswith("-lib-1") and v["exported"] for v in against.values())
    [plain] = [p for p in store.iterdir() if p.name.endswith("-plain-1")]
    assert (plain / "seen").read_text() == "a\n"


def test_built_against_is_in_label_order_where_it_is_not_the_names_order(tmp_path):
    """//:zzz sorts before //x:aaa, though aaa sorts before zzz: the entry's built_against is
    written in label order (as json.dumps(sort_keys=True) writes it), whatever order /deps is in."""
    top = '''package zzz { version = "1" build = "mkdir -p $OUT" }
package mmm { version = "1" requires = [:zzz] build = "mkdir -p $OUT" }
package app { version = "1" requires = [//x:aaa, :mmm] build = "mkdir -p $OUT && ls /deps > $OUT/seen" }
package one { version = "1" requires = [:mmm] build = "mkdir -p $OUT" }
'''
    root = write_tree(tmp_path / "ws", {"jbuild.toml": "", "x/BUILD": 'package aaa { version = "1" build = "mkdir -p $OUT" }\n',
                                        "BUILD": top})
    store = tmp_path / "store"
    r = run_jbuild("build", "//...", "--no-link", cwd=root, env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    for name, want in (("app", ["//:mmm", "//:zzz", "//x:aaa"]), ("one", ["//:mmm", "//:zzz"])):
        [entry] = [p for p in store.iterdir() if p.name.endswith(f"-{name}-1")]
        text = (entry / ".jbuild-entry.json").read_text()
        against = json.loads(text)["built_against"]
        assert list(against) == want
        assert json.dumps(against, sort_keys=True) in text
        if name == "app":
            assert (entry / "seen").read_text().split() == ["aaa", "mmm", "zzz"]

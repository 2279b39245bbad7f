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

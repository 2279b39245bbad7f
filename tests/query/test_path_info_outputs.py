"""`jbuild path-info -r` of a closure with a split package lists its output entries (where its
files are), not only its set entry (which holds none). Real CLI, bubblewrap, store."""

from helpers import run_jbuild

BUILD = '''
package tool {
    version = "1.0"
    build_requires = [@std//host:sh]
    outputs = { bin = ["bin"], doc = ["share/doc"] }
    build = """
        mkdir -p $OUT/bin $OUT/share/doc
        printf '#!/bin/sh\\necho tool\\n' > $OUT/bin/tool && chmod +x $OUT/bin/tool
        echo "the manual" > $OUT/share/doc/tool.txt
    """
}
package app {
    version = "1.0"
    build_requires = [:tool, @std//host:sh]
    build = "mkdir -p $OUT/share && echo app > $OUT/share/app"
    exports = ["share"]
}
'''


def test_recursive_path_info_lists_a_split_packages_outputs(make_workspace, tmp_path):
    store = tmp_path / "store"
    ws = make_workspace({"BUILD": BUILD})

    def jb(*args):
        r = run_jbuild(*args, cwd=ws, env={"JBUILD_STORE": str(store)})
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    jb("build", "//:app", "--sandbox", "bwrap")
    [tool_set] = [p for p in store.iterdir() if p.name.endswith("-tool-1.0")]
    rows = [line.split("\t") for line in jb("path-info", "-r", "-s", "-S", "//:app", "--sandbox", "bwrap").splitlines()]
    paths = [r[0] for r in rows]
    assert paths.index(str(tool_set)) + 1 == paths.index(f"{tool_set}-bin")
    assert paths.index(f"{tool_set}-bin") + 1 == paths.index(f"{tool_set}-doc")
    sizes = {r[0]: int(r[1]) for r in rows}
    assert sizes[f"{tool_set}-doc"] == len("the manual\n")
    assert sizes[str(tool_set)] == sizes[f"{tool_set}-bin"] + sizes[f"{tool_set}-doc"]  # the set: its outputs'
    assert all(p.startswith(str(store)) for p in paths) and len(paths) == len(set(paths))
    # Not recursive: the target's own entry only.
    assert jb("path-info", "//:tool", "--sandbox", "bwrap").split() == [str(tool_set)]

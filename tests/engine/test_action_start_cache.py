"""An action's start looks its dependencies up in per-process and per-run caches, in C
(stage_request.dep_items, sandbox_env's listings, build_action's views): a dependency rebuilt
under a new entry, between two actions of one run or between two runs of one process, must be
seen at its new entry, never served from a stale cache."""

import json

from jbuild.engine.build import run
from jbuild.engine.sandbox import Job
from jbuild.engine.sandbox_env import env_plan
from jbuild.engine.session import Session
from jbuild.engine.settings import Options
from jbuild.engine.stage_request import dep_item, dep_items


def _entry(root, name, files):
    for rel in files:
        (root / name / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / name / rel).write_text(rel)
    return root / name


def test_dep_items_are_each_dep_item_by_name_whatever_the_path_type(tmp_path):
    a, b = _entry(tmp_path, "e1-a-1", ["x"]), _entry(tmp_path, "e2-b-1", ["y"])
    for sources in ({"b": b, "a": a}, {"b": str(b), "a": str(a)}, {"a": a, "b": str(b)}):
        want = [dep_item(n, s) for n, s in sorted(sources.items())]
        assert dep_items(sources) == want
        assert dep_items(sources) == want  # the second time, all from the cache


def test_a_name_moved_to_a_new_entry_is_encoded_anew(tmp_path):
    old, new = _entry(tmp_path, "e1-lib-1", ["x"]), _entry(tmp_path, "e9-lib-1", ["x"])
    before = dep_items({"lib": str(old)})
    after = dep_items({"lib": str(new), "zz": str(old)})
    assert before[0][1] == (b"lib", b"e1-lib-1")
    assert after[0][1] == (b"lib", b"e9-lib-1") and after[1][1] == (b"zz", b"e1-lib-1")


def test_env_plan_is_the_same_for_str_and_path_entries_and_follows_a_new_entry(tmp_path):
    old = _entry(tmp_path, "e1-lib-1", ["lib/libold.so", "include/old.h"])
    new = _entry(tmp_path, "e9-lib-1", ["lib/libnew.so"])
    plain = _entry(tmp_path, "e5-doc-1", ["README"])  # no /env directory: not in the plan

    def plan(deps):
        return env_plan(Job(script="true", src=tmp_path, out=tmp_path, tmp=tmp_path, deps=deps, log=tmp_path / "l"))

    want = [("lib", [("libold.so", "/deps/lib/lib/libold.so")]), ("include", [("old.h", "/deps/lib/include/old.h")])]
    assert plan({"lib": old, "doc": plain}) == want
    assert plan({"doc": str(plain), "lib": str(old)}) == want
    assert plan({"lib": str(new), "doc": str(plain)}) == [("lib", [("libnew.so", "/deps/lib/lib/libnew.so")])]


BUILD = """
package mid {
    version = "1"
    sources = ["mid.h"]
    build = "mkdir -p $OUT/include && cp $SRC/mid.h $OUT/include/"
}
package top {
    version = "1"
    sources = ["top.c"]
    requires = [:mid]
    build = "mkdir -p $OUT && cat /deps/mid/include/mid.h /env/include/mid.h $SRC/top.c > $OUT/seen"
}
"""


def _entries(store, name):
    return {p.name for p in store.iterdir() if p.name.endswith(f"-{name}-1")}


def test_a_dependency_rebuilt_under_a_new_entry_is_seen_by_the_next_run_of_the_process(make_workspace, tmp_path):
    root = make_workspace({"BUILD": BUILD, "mid.h": "mid 1\n", "top.c": "top\n"})
    store = tmp_path / "store"
    s = Session(["//:top"], Options(sandbox="bwrap", store=str(store), out_link=None), str(root))
    for i in (1, 2, 3):  # one process, three runs: each rebuilds mid (a new entry), then top in the same run
        if i > 1:
            (root / "mid.h").write_text(f"mid {i}\n")
        before = _entries(store, "mid") if store.exists() else set()
        code, rb = run(s.plan() if i == 1 else s.update([str(root / "mid.h")]))
        assert code == 0
        decided = {n.label.name: o for n, o in rb.outcomes.items()}
        assert decided["mid"].decision == decided["top"].decision == "built"
        [mid] = _entries(store, "mid") - before
        assert decided["mid"].entry.name == mid
        top = decided["top"].entry
        assert (top / "seen").read_text() == f"mid {i}\nmid {i}\ntop\n"  # at /deps and through /env
        against = json.loads((top / ".jbuild-entry.json").read_text())["built_against"]
        assert against["//:mid"]["entry"] == mid
        s.settle(rb)

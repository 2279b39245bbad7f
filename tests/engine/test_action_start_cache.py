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


def test_sorted_mounts_encode_the_request_a_plain_dict_of_them_does(tmp_path):
    from jbuild.engine.sandbox_root import StagedRoot
    from jbuild.engine.stage_request import SortedMounts, encode

    entries = {n: str(_entry(tmp_path, f"e{i}-{n}-1", ["x"])) for i, n in enumerate(["zlib", "a-b", "a", "m.dev"])}
    names = sorted(entries)
    sorted_mounts = SortedMounts(((n, entries[n]) for n in names), [dep_item(n, entries[n]) for n in names])
    requests = []
    for deps in (entries, sorted_mounts):  # the walk's order, and the order a build's mounts come in
        root = StagedRoot()
        root.read_only_tree("/deps", deps, later=True)
        requests.append(encode(root.state(), b"/stage", True, ["/bin/true"], {"A": "1"}))
    assert requests[0] == requests[1]
    assert dep_items(sorted_mounts) is sorted_mounts.items_encoded


DEPS = """
package zeta { version = "1" build = "mkdir -p $OUT" }
package alpha { version = "1" requires = [:zeta] build = "mkdir -p $OUT" }
package mid { version = "1" requires = [:alpha, :zeta] build = "mkdir -p $OUT" }
package top { version = "1" requires = [:mid] build = "ls /deps > $OUT/seen" }
"""


def test_a_builds_mounts_carry_each_dependencys_item_in_name_order(make_workspace, tmp_path, monkeypatch):
    from jbuild.engine.sandbox import BwrapExecutor
    from jbuild.engine.stage_request import SortedMounts

    seen = {}
    real = BwrapExecutor.run

    def spy(self, job):
        seen[job.script] = job.deps
        return real(self, job)

    monkeypatch.setattr(BwrapExecutor, "run", spy)
    root = make_workspace({"BUILD": DEPS})
    s = Session(["//:top"], Options(sandbox="bwrap", store=str(tmp_path / "store"), out_link=None), str(root))
    code, rb = run(s.plan())
    assert code == 0
    deps = seen["ls /deps > $OUT/seen"]
    assert type(deps) is SortedMounts and list(deps) == ["alpha", "mid", "zeta"]
    assert deps.items_encoded == dep_items(dict(reversed(deps.items())))  # as a plain dict of them gives
    top = next(o.entry for n, o in rb.outcomes.items() if n.label.name == "top")
    assert (top / "seen").read_text().split() == ["alpha", "mid", "zeta"]

"""Correctness as a property: after any sequence of edits, an incremental build gives the same
store contents as a clean build, and exactly the actions the oracle expects ran.

The oracle is independent of engine/keys.py: the generator knows the graph, and the kind of
each edit says what must rebuild — an implementation edit rebuilds the package alone, an
interface edit rebuilds it and every transitive build-and-run consumer, an undeclared file
rebuilds nothing.
"""

import json
import random
import shutil
import subprocess

from helpers import run_jbuild
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

N = 7


def generate(root, seed):
    rng = random.Random(seed)
    deps = {i: sorted(rng.sample(range(i), min(i, rng.randint(0, 2)))) for i in range(N)}
    blocks = []
    for i in range(N):
        (root / f"p{i}").mkdir(parents=True)
        (root / f"p{i}" / "impl.c").write_text(f"impl {i} v0\n")
        (root / f"p{i}" / "api.h").write_text(f"api {i} v0\n")
        reqs = ", ".join(f":p{d}" for d in deps[i])
        # The output holds the package's interface and what it saw of its dependencies'; the
        # implementation is compiled away (here: read, and left in $TMPDIR), as a shared
        # library's function bodies are. test_property_c.py has the real thing.
        blocks.append(f"""
package p{i} {{
    version = "1.0"
    sources = glob(["p{i}/*"])
    interface = ["p{i}/api.h"]
    requires = [{reqs}]
    build = \"\"\"
        mkdir -p $OUT/include $OUT/lib $OUT/share
        cp $SRC/p{i}/api.h $OUT/include/p{i}.h
        cat $SRC/p{i}/impl.c $SRC/p{i}/api.h > $TMPDIR/p{i}
        cat /env/include/*.h > $OUT/lib/p{i}.deps 2>/dev/null || true
    \"\"\"
}}""")
    everything = ", ".join(f":p{i}" for i in range(N))
    blocks.append(f'package top {{ version = "1" requires = [{everything}] build = "mkdir -p $OUT" }}')
    (root / "BUILD").write_text("\n".join(blocks))
    (root / "jbuild.toml").write_text("")
    return deps


def consumers_closure(deps, i):
    out, todo = {i}, [i]
    while todo:
        x = todo.pop()
        for j, ds in deps.items():
            if x in ds and j not in out:
                out.add(j)
                todo.append(j)
    return out


def build(root, store, events):
    r = run_jbuild("build", "//:top", "--sandbox", "bwrap", "--build-events", str(events), cwd=root,
                   env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    return {json.loads(x)["target"].split("@")[0] for x in events.read_text().splitlines()
            if json.loads(x)["event"] == "action_executed"}


def contents(store):
    """Entry name -> output digest, for every entry in a store."""
    return {p.name: json.loads((p / ".jbuild-entry.json").read_text())["output_hash"]
            for p in store.iterdir() if (p / ".jbuild-entry.json").exists()}


EDITS = st.lists(st.tuples(st.sampled_from(["impl", "api", "undeclared"]), st.integers(0, N - 1)),
                 min_size=1, max_size=4)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), edits=EDITS)
def test_incremental_equals_clean_and_runs_only_what_changed(tmp_path_factory, seed, edits):
    base = tmp_path_factory.mktemp("prop")
    root, store = base / "ws", base / "store"
    root.mkdir()
    deps = generate(root, seed)
    assert build(root, store, base / "ev0") == {f"//:p{i}" for i in range(N)} | {"//:top"}
    for step, (kind, i) in enumerate(edits, 1):
        if kind == "undeclared":
            (root / f"notes-{step}.txt").write_text("nobody declares me")  # outside every glob
            expected = set()
        else:
            name = "impl.c" if kind == "impl" else "api.h"
            (root / f"p{i}" / name).write_text(f"{kind} {i} v{step}\n")
            expected = {f"//:p{j}" for j in ({i} if kind == "impl" else consumers_closure(deps, i))}
            if kind == "api":
                expected.add("//:top")  # top requires every package
        ran = build(root, store, base / f"ev{step}")
        assert ran == expected, (kind, i, deps)
    clean_root, clean_store = base / "clean", base / "clean-store"
    shutil.copytree(root, clean_root, ignore=shutil.ignore_patterns(".jbuild", "result", "ev*"))
    build(clean_root, clean_store, base / "ev-clean")
    incremental, clean = contents(store), contents(clean_store)
    assert set(clean) <= set(incremental)  # the clean build's entries exist incrementally...
    assert {name: incremental[name] for name in clean} == clean  # ...with the same contents
    subprocess.run(["chmod", "-R", "u+w", str(base)], check=False)

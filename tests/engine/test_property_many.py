"""Correctness of the incremental analysis (engine/session.py) as a property: many files edited
between two builds — sources, new files a glob picks up, undeclared files, and the BUILD file
itself (a recipe change, a new requirement, a comment) — and the incremental build runs exactly
what an independent oracle expects and leaves the same store contents as a clean build.

The oracle knows the generated graph: an implementation edit or a new file rebuilds the package
alone, an interface edit or a new requirement rebuilds it and every transitive build-and-run
consumer (its exported digest names its requirements'), and so does a recipe change of what it
exports (share/ is exported in full: the measured digest overrules the declared interface); a
recipe change of what it keeps to itself rebuilds the package alone; a comment or an
undeclared file nothing.
"""

import json
import random
import shutil
import subprocess

from helpers import run_jbuild
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

N = 6


class Generated:
    def __init__(self, root, seed):
        rng = random.Random(seed)
        self.root = root
        self.deps = {i: sorted(rng.sample(range(i), min(i, rng.randint(0, 2)))) for i in range(N)}
        self.stamp = dict.fromkeys(range(N), 0)  # visible to consumers (share/ is exported)
        self.scratch = dict.fromkeys(range(N), 0)  # invisible: left in $TMPDIR
        self.comments = 0
        for i in range(N):
            (root / f"p{i}").mkdir(parents=True)
            (root / f"p{i}" / "impl.c").write_text(f"impl {i} v0\n")
            (root / f"p{i}" / "api.h").write_text(f"api {i} v0\n")
        (root / "jbuild.toml").write_text("")
        self.write_build()

    def write_build(self):
        blocks = [f"# comment {c}" for c in range(self.comments)]
        for i in range(N):
            reqs = ", ".join(f":p{d}" for d in self.deps[i])
            blocks.append(f"""
package p{i} {{
    version = "1.0"
    sources = glob(["p{i}/*"])
    interface = ["p{i}/api.h"]
    requires = [{reqs}]
    build = \"\"\"
        mkdir -p $OUT/include $OUT/lib $OUT/share
        cp $SRC/p{i}/api.h $OUT/include/p{i}.h
        cat $SRC/p{i}/*.c > $TMPDIR/p{i}
        echo stamp {self.stamp[i]} > $OUT/share/p{i}.stamp
        echo scratch {self.scratch[i]} > $TMPDIR/scratch
        cat /env/include/*.h > $OUT/lib/p{i}.deps 2>/dev/null || true
    \"\"\"
}}""")
        everything = ", ".join(f":p{i}" for i in range(N))
        blocks.append(f'package top {{ version = "1" requires = [{everything}] build = "mkdir -p $OUT" }}')
        (self.root / "BUILD").write_text("\n".join(blocks))

    def consumers(self, i):
        out, todo = {i}, [i]
        while todo:
            x = todo.pop()
            for j, ds in self.deps.items():
                if x in ds and j not in out:
                    out.add(j)
                    todo.append(j)
        return out

    def apply(self, kind, i, step) -> set[str]:
        """Make one edit; return the packages it must rebuild."""
        pkg = self.root / f"p{i}"
        if kind == "impl":
            (pkg / "impl.c").write_text(f"impl {i} v{step}\n")
            return {f"//:p{i}"}
        if kind == "new_file":  # a new file the package's glob picks up
            (pkg / f"extra{step}.c").write_text(f"extra {step}\n")
            return {f"//:p{i}"}
        if kind == "api":
            (pkg / "api.h").write_text(f"api {i} v{step}\n")
            return {f"//:p{j}" for j in self.consumers(i)} | {"//:top"}
        if kind == "undeclared":
            (self.root / f"notes-{step}-{i}.txt").write_text("nobody declares me")
            return set()
        if kind == "comment":
            self.comments += 1
            self.write_build()
            return set()
        if kind == "script":  # a build step whose effect consumers cannot see
            self.scratch[i] = step
            self.write_build()
            return {f"//:p{i}"}
        if kind == "recipe":  # a build step that changes an exported file under share/: the
            self.stamp[i] = step  # prediction (same declared interface) is caught by the measurement
            self.write_build()
            return {f"//:p{j}" for j in self.consumers(i)} | {"//:top"}
        # "require": a new requirement on an earlier package; its exported digest changes
        new = [j for j in range(i) if j not in self.deps[i]]
        if not new:
            return set()
        self.deps[i] = sorted(self.deps[i] + [new[step % len(new)]])
        self.write_build()
        return {f"//:p{j}" for j in self.consumers(i)} | {"//:top"}


def build(root, store, events):
    r = run_jbuild("build", "//:top", "--sandbox", "bwrap", "--build-events", str(events), cwd=root,
                   env={"JBUILD_STORE": str(store)})
    assert r.returncode == 0, r.stderr
    return {json.loads(x)["target"].split("@")[0] for x in events.read_text().splitlines()
            if json.loads(x)["event"] == "action_executed"}


def contents(store):
    return {p.name: json.loads((p / ".jbuild-entry.json").read_text())["output_hash"]
            for p in store.iterdir() if (p / ".jbuild-entry.json").exists()}


KINDS = ["impl", "api", "undeclared", "new_file", "comment", "script", "recipe", "require"]
STEPS = st.lists(st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, N - 1)), min_size=2, max_size=6),
                 min_size=1, max_size=3)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), steps=STEPS)
def test_many_edits_between_builds_equal_a_clean_build(tmp_path_factory, seed, steps):
    base = tmp_path_factory.mktemp("many")
    root, store = base / "ws", base / "store"
    root.mkdir()
    g = Generated(root, seed)
    assert build(root, store, base / "ev0") == {f"//:p{i}" for i in range(N)} | {"//:top"}
    counter = 0
    for n, edits in enumerate(steps, 1):
        expected = set()
        for kind, i in edits:
            counter += 1
            expected |= g.apply(kind, i, counter)
        ran = build(root, store, base / f"ev{n}")
        assert ran == expected, (edits, g.deps)
    clean_root, clean_store = base / "clean", base / "clean-store"
    shutil.copytree(root, clean_root, ignore=shutil.ignore_patterns(".jbuild", "result", "ev*"))
    build(clean_root, clean_store, base / "ev-clean")
    incremental, clean = contents(store), contents(clean_store)
    assert {name: incremental.get(name) for name in clean} == clean
    subprocess.run(["chmod", "-R", "u+w", str(base)], check=False)

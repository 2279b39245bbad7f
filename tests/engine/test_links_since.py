"""A build that is not a no-op makes again only the environments, result links and GC-root
records of the roots its changes reach (results._links_since); each other root keeps what the
last run recorded. After every kind of edit the outcome must be exactly the full path's: each
test compares it with a build that takes the full path (the roots' record removed)."""

import json
import os
import time

import pytest
from jbuild.base.freshness import RACY_MARGIN_NS


def _settle():
    time.sleep(2 * RACY_MARGIN_NS / 1e9)  # (stats newer than a run's start are not trusted by the next)


def _state(example) -> tuple[dict, dict]:
    """(link -> target, link -> (target, sorted entries) of its GC-root record)."""
    links = {p.name: os.readlink(p) for p in example.root.glob("result*")}
    records = {}
    for p in (example.store / "roots").glob("*.json"):
        data = json.loads(p.read_text())
        if os.path.dirname(data["link"]) == str(example.root):
            records[os.path.basename(data["link"])] = (data["target"], sorted(data["entries"]))
    return links, records


@pytest.fixture
def builds(example, monkeypatch):
    """build(links=True) -> how many roots `_links_since` made again (None: the full path)."""
    from jbuild.engine import results
    from jbuild.engine.build import build
    from jbuild.engine.settings import Options

    made = []
    since = results._links_since

    def spy(p, rb):
        took = since(p, rb)
        made.append(p.envs_made if took else None)
        return took

    monkeypatch.setattr(results, "_links_since", spy)

    def run(links: bool = True):
        made.clear()
        opts = Options(sandbox="bwrap", store=str(example.store),
                       out_link=str(example.root / "result") if links else None)
        r = build(["//..."], opts, cwd=str(example.root), members=False)
        assert r.code == 0
        _settle()
        return made[-1] if made else "no run"

    _settle()
    return run


def _full(example, builds) -> tuple[dict, dict]:
    """The links and records the full path makes now (the roots' record and the links removed:
    a no-op cannot make them without it)."""
    for p in (example.root / ".jbuild" / "cache").glob("roots-*.pickle"):
        p.unlink()
    for p in example.root.glob("result*"):
        p.unlink()
    assert builds() is None
    return _state(example)


def _edit(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _check(example, builds, reached) -> None:
    """An incremental build made again `reached` roots (a predicate of the count), and left
    what the full path makes."""
    made = builds()
    assert made is not None and reached(made), made
    after = _state(example)
    assert _full(example, builds) == after


def test_each_edit_leaves_what_the_full_path_makes(example, builds):
    builds()
    links, _ = _state(example)
    roots = len(links)
    assert roots >= 4
    libs = example.root / "libs"
    _edit(libs / "libc" / "src" / "mini.c", "{", "{ /* patched */", )  # libc's implementation: every root
    _check(example, builds, lambda n: 0 < n)
    _edit(libs / "geohash" / "src" / "geohash.c", "{", "{ /* edited */")  # a library: some roots, not all
    _check(example, builds, lambda n: 0 < n < roots)
    _edit(libs / "libc" / "include" / "mini.h", "\n", "\n/* an interface change */\n")
    _check(example, builds, lambda n: 0 < n)


def test_a_build_file_edit_of_exports_or_requirements_reaches_its_consumers(example, builds):
    builds()
    before, _ = _state(example)
    db = example.root / "db" / "BUILD"
    _edit(db, 'exports = ["bin"]', 'exports = ["bin", "share"]')  # no key changes: the environment does
    made = builds()
    after = _state(example)
    assert made is None or made > 0
    assert _full(example, builds) == after
    _edit(db, 'port: int = 7000', 'port: int = 7001')  # rendered etc/ changes
    made = builds()
    after = _state(example)
    assert after[0] != before
    assert _full(example, builds) == after
    services = example.root / "services" / "BUILD"
    _edit(services, "run_requires = [//db:tinydb >= 1.4 < 2]", "run_requires = []")  # a dependency removed
    builds()
    after = _state(example)
    assert _full(example, builds) == after
    _edit(services, "run_requires = []", "run_requires = [//db:tinydb >= 1.4 < 2]")  # ... and added again
    builds()
    after = _state(example)
    assert _full(example, builds) == after


def test_builds_without_links_between_and_roots_added_or_removed(example, builds):
    builds()
    libs = example.root / "libs"
    _edit(libs / "geohash" / "src" / "geohash.c", "{", "{ /* one */")
    assert builds(links=False) == "no run"
    _edit(libs / "libc" / "src" / "mini.c", "{", "{ /* two */")
    _check(example, builds, lambda n: n > 0)  # (from the record of the build before the one without links)
    build_file = libs / "BUILD"
    build_file.write_text(build_file.read_text() + """
package extra {
    version = "1.0"
    sources = ["libc/include/mini.h"]
    requires = [:libc]
    build = "mkdir -p $OUT && cp $SRC/libc/include/mini.h $OUT/"
}
""")
    builds()
    after = _state(example)
    assert _full(example, builds) == after
    build_file.write_text(build_file.read_text().split("\npackage extra {")[0])
    for p in example.root.glob("result*"):  # (links past the roots' count stay: not this test's)
        p.unlink()
    builds()
    after = _state(example)
    assert _full(example, builds) == after
    _edit(libs / "geohash" / "src" / "geohash.c", "{", "{ /* three */")
    _check(example, builds, lambda n: n > 0)


def _package(i: int, requires: list[str], extra: str = "") -> str:
    return f"""package p{i} {{
    version = "1.0"
    sources = ["src/p{i}.txt"]
    interface = ["src/p{i}.txt"]
    requires = [{", ".join(requires)}]
    build = "mkdir -p $OUT/share && cat $SRC/src/p{i}.txt > $OUT/share/p{i}"
    exports = ["share"]{extra}
}}
"""


FILLERS = 100


@pytest.fixture
def chain(example, tmp_path):
    """A workspace like bench/engine_bench.py's (one resolution shared by every root: a BUILD edit
    is taken in by relower.py): libc and p0..p5, each requiring libc and the two before it, and
    FILLERS packages requiring nothing."""
    root = example.root
    for p in root.iterdir():
        if p.name != "jbuild.toml" and p.name != ".jbuild":
            __import__("shutil").rmtree(p) if p.is_dir() else p.unlink()
    (root / "libc").mkdir()
    (root / "libc" / "impl.c").write_text("int f(void) { return 1; }\n")
    (root / "libc" / "api.h").write_text("int f(void);\n")
    (root / "src").mkdir()
    text = """package libc {
    version = "2.24"
    sources = ["libc/impl.c", "libc/api.h"]
    interface = ["libc/api.h"]
    build = "mkdir -p $OUT/share && cp $SRC/libc/impl.c $SRC/libc/api.h $OUT/share/"
    exports = ["share"]
}
"""
    for i in range(6):
        (root / "src" / f"p{i}.txt").write_text(f"{i}\n")
        text += _package(i, [":libc", *(f":p{j}" for j in (i - 2, i - 1) if j >= 0)])
    for i in range(FILLERS):  # (a BUILD file of several pieces, dsl/pieces.py: relower.py takes its edits in)
        text += f'package q{i} {{\n    version = "1.0"\n    summary = "{"x" * 600}"\n    build = "mkdir -p $OUT"\n}}\n'
    (root / "BUILD").write_text(text)
    return root / "BUILD"


def test_build_file_edits_of_one_shared_resolution(example, chain, builds):
    assert builds() is None  # (a new analysis: the full path)
    links, _ = _state(example)
    assert len(links) == 7 + FILLERS
    src = example.root / "src"
    (src / "p5.txt").write_text("leaf\n")  # a leaf: its own root only
    _check(example, builds, lambda n: n == 1)
    (example.root / "libc" / "impl.c").write_text("int f(void) { return 2; }\n")  # every root
    _check(example, builds, lambda n: n == 7)
    _edit(chain, 'exports = ["share"]\n}\npackage p3', 'exports = []\n}\npackage p3')  # p2 exports nothing
    _check(example, builds, lambda n: n == 4)  # (p2, and p3, p4, p5 whose closures hold it)
    _edit(chain, 'requires = [:libc, :p2, :p3]', 'requires = [:libc, :p3]')  # p4 needs p2 no more
    _check(example, builds, lambda n: n == 2)  # (p4, p5)
    _edit(chain, 'requires = [:libc, :p3]', 'requires = [:libc, :p0, :p3]')  # ... and p0 instead
    _check(example, builds, lambda n: n == 2)
    (src / "p1.txt").write_text("middle\n")
    _check(example, builds, lambda n: n == 5)  # (p1..p5 hold p1; p0 and the fillers do not)
    _edit(chain, 'exports = []\n}\npackage p3', 'exports = ["share"]\n}\npackage p3')  # by a build without links:
    assert builds(links=False) == "no run"  # no key changed, and the environments did
    _check(example, builds, lambda n: n == 4)  # (p2..p5: p2 exports again)
    (src / "p0.txt").write_text("first\n")
    assert builds(links=False) == "no run"
    (src / "p1.txt").write_text("second\n")  # two builds without links
    assert builds(links=False) == "no run"
    builds()  # (from the record of the last build with links, or the full path)
    after = _state(example)
    assert _full(example, builds) == after


def test_another_host_tree_choice_takes_the_full_path(example, builds, monkeypatch):
    """Each GC-root record names the host trees its closure builds over, which follow dpkg's
    status and the chosen alternatives, not the closure: when those differ from the record's,
    every record is made again."""
    from jbuild.engine import results

    builds()
    libs = example.root / "libs"
    _edit(libs / "geohash" / "src" / "geohash.c", "{", "{ /* one */")
    assert builds() is not None
    monkeypatch.setattr(results, "host_signature", lambda p: ("another choice",))
    _edit(libs / "geohash" / "src" / "geohash.c", "{", "{ /* two */")
    assert builds() is None


EDITS_WITHOUT_LINKS = {  # (each edit is built at once: its BUILD file's stat is racy, read again next time)
    "relower, then a source": (["build", "source"], 3),  # (the roots made again: p3, and p4, p5 holding it)
    "relower, relower with links, then a source": (["build", "build links", "source"], 1),
    "relower, a source, relower": (["build", "source", "build"], 3),
    "libc, relower, relower": (["libc", "build", "build"], 7),
}


@pytest.mark.parametrize("edits", sorted(EDITS_WITHOUT_LINKS))
def test_builds_without_links_after_a_build_file_edit(example, chain, builds, edits):
    """A BUILD edit taken in by relower.py and built at once leaves its file's stat racy: the
    next build reads it again the loader's way and writes the analysis anew, so the no-op
    snapshot is recorded whole. It keeps the recorded environments (noop._keep_envs): the
    next build with links makes again only what the edits reach, and leaves what the full path
    makes."""
    assert builds() is None
    steps, reached = EDITS_WITHOUT_LINKS[edits]
    for k, what in enumerate(steps):
        if what.startswith("build"):
            _edit(chain, "> $OUT/share/p3", f"> $OUT/share/p3 # {k}")
        elif what == "source":
            (example.root / "src" / "p5.txt").write_text(f"edit {k}\n")
        else:
            (example.root / "libc" / "impl.c").write_text(f"int f(void) {{ return {k + 5}; }}\n")
        builds(links=what.endswith("links"))
    _check(example, builds, lambda n: n == reached)


def _detail(example):
    from jbuild.engine import snapshot

    found = []
    for path in (example.root / ".jbuild" / "cache").glob("analysis-*.pickle"):
        snap = snapshot.load(path)
        kept = snapshot.load_detail(path, snap) if snap is not None else None
        if kept is not None and len(kept.entries):
            found.append(kept)
    assert len(found) == 1
    return found[0]


def _unused(packed) -> int:
    from array import array

    return len(packed.table) - len({j for row in packed.rows for j in array("I", row)})


def test_the_roots_record_is_compacted(example, chain, builds, monkeypatch):
    """Each edit adds its roots' new members and entries to the record's tables, and the rows
    that named the old ones name them no more: the tables are compacted once they grew by more
    than 1/SLACK since they were last made whole (here by more than one item), before the
    edit's rows are packed; the outcome stays the full path's."""
    from jbuild.engine import results

    monkeypatch.setattr(results, "SLACK", 100)
    assert builds() is None
    kept = _detail(example)
    assert _unused(kept.entries) == 0 and _unused(kept.members) == 0
    unused = []
    for k in range(4):
        (example.root / "src" / "p5.txt").write_text(f"edit {k}\n")
        assert builds() == 1
        kept = _detail(example)
        unused.append((_unused(kept.entries), _unused(kept.members)))
    assert unused == [(1, 1), (2, 2), (1, 1), (2, 2)], unused  # (compacted by the third edit)
    monkeypatch.setattr(results, "SLACK", 4)
    for k in range(2):
        (example.root / "src" / "p5.txt").write_text(f"again {k}\n")
        assert builds() == 1
    assert _unused(_detail(example).entries) == 4  # (not yet a quarter more)
    (example.root / "libc" / "impl.c").write_text("int f(void) { return 9; }\n")
    _check(example, builds, lambda n: n == 7)


def test_every_root_made_again_in_one_batch(example, chain, builds, monkeypatch):
    """A libc patch makes every root's environment again (here libc and 20 packages requiring
    it): published with their fsyncs deferred to one syncfs (store.deferred_sync), the record's
    tables made anew; the same links, environments and GC roots as the full path, and a store
    that verifies."""
    from jbuild.engine import results
    from jbuild.engine.store import Store, durability

    text = chain.read_text().split("package p0 {")[0]
    for i in range(20):
        (example.root / "src" / f"p{i}.txt").write_text(f"{i}\n")
        text += _package(i, [":libc"])
    chain.write_text(text)
    _settle()  # (a source's racy stat is hashed again next time, and its node counted as may-differ)
    batches = []
    batched = results._batched
    monkeypatch.setattr(results, "_batched", lambda store, count: batches.append(count) or batched(store, count))
    assert builds() is None
    (example.root / "src" / "p3.txt").write_text("edited\n")
    assert builds() == 1
    assert _unused(_detail(example).entries) > 0
    (example.root / "libc" / "impl.c").write_text("int f(void) { return 3; }\n")
    assert builds() == 21 and batches[-1] == 21 > durability.Syncer.FEW
    kept = _detail(example)
    assert _unused(kept.entries) == 0 and _unused(kept.members) == 0
    assert not list(example.store.glob(durability.MARKER + "*"))  # (the batch made durable, its marker gone)
    assert Store(example.store).verify() == []
    after = _state(example)
    assert _full(example, builds) == after


def test_a_no_op_with_links_after_a_build_without_them_makes_what_it_changed(example, chain, builds):
    """A build without links records that its changes may differ from the recorded
    environments (`envs_dirty`): the next build with links, though nothing changed since, is
    not answered by the no-op with the environments recorded before (noop.answer refuses), and
    makes again only what those changes reach."""
    assert builds() is None
    (example.root / "src" / "p5.txt").write_text("leaf\n")
    _settle()  # (a stat older than the run that recorded it: the next build is a no-op by the stats)
    assert builds(links=False) == "no run"
    before = _state(example)
    assert builds() == 1
    after = _state(example)
    assert after[0] != before[0]
    assert _full(example, builds) == after


def test_a_root_whose_environment_left_the_store_is_made_again(example, chain, builds):
    """An environment gone from the store (removed by hand, or a gc of a store whose GC-root
    record was removed) is made again by the next build with links, though no change reaches
    its root."""
    import shutil
    import subprocess

    assert builds() is None
    links, _ = _state(example)
    gone = example.store / os.path.basename(links["result-3"])
    subprocess.run(["chmod", "-R", "u+w", str(gone)], check=True)
    shutil.rmtree(gone)
    (example.root / "src" / "p5.txt").write_text("leaf\n")  # (another root: p5's)
    assert builds() == 2
    assert (example.store / os.path.basename(_state(example)[0]["result-3"])).is_dir()
    after = _state(example)
    assert _full(example, builds) == after

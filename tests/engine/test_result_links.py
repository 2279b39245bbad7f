"""`jbuild build`'s `result` links and their GC roots across no-ops (engine/result_links.py): a
no-op writes nothing when they are right, makes again whatever is wrong or missing, never lets
gc take what a link holds, and never points a link at an environment an edit made stale."""

import json
import os
import shutil
import subprocess
import sys
import time

from jbuild.base.freshness import RACY_MARGIN_NS


def _settle():
    time.sleep(2 * RACY_MARGIN_NS / 1e9)  # (stats newer than a run's start are not trusted by the next)


def _jbuild(example, *args) -> str:
    env = {**os.environ, "JBUILD_STORE": str(example.store)}
    r = subprocess.run([sys.executable, "-m", "jbuild", *args], cwd=example.root, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    return r.stderr


def _build(example, *args) -> str:
    return _jbuild(example, "build", "//...", "--sandbox", "bwrap", *args)


def _links(example) -> dict:
    return {p.name: os.readlink(p) for p in example.root.glob("result*")}


def _records(example) -> dict:
    """link -> (target, entries) of each GC-root record."""
    found = {}
    for p in (example.store / "roots").glob("*.json"):
        data = json.loads(p.read_text())
        found[data["link"]] = (data["target"], sorted(data["entries"]))
    return found


def test_a_noop_makes_again_each_wrong_link_and_record_and_gc_keeps_what_they_hold(example):
    _build(example)
    _settle()
    assert "0 built" in _build(example)
    links, records = _links(example), _records(example)
    assert len(links) >= 4 and all(str(example.root / name) in records for name in links)
    roots = example.store / "roots"
    by_link = {json.loads(p.read_text())["link"]: p for p in roots.glob("*.json")}
    first, second, third = sorted(links)[:3]
    by_link[str(example.root / first)].unlink()  # a record gone
    stale = by_link[str(example.root / second)]
    tmp = stale.with_name("stale.tmp")  # a record naming too little (written whole, as any writer does)
    tmp.write_text(json.dumps({"link": str(example.root / second), "target": links[second], "entries": []}))
    tmp.rename(stale)
    (example.root / third).unlink()
    (example.root / third).symlink_to(links[first])  # a link pointing at another root's environment
    last = sorted(links)[-1]
    (example.root / last).unlink()  # a link gone
    _settle()
    assert "0 built" in _build(example)
    assert _links(example) == links and _records(example) == records
    _settle()
    inodes = {p: os.lstat(p).st_ino for p in [*example.root.glob("result*"), *roots.glob("*.json")]}
    assert "0 built" in _build(example)  # right again: nothing written
    assert {p: os.lstat(p).st_ino for p in inodes} == inodes
    _jbuild(example, "gc")
    for target, entries in records.values():
        assert os.path.isdir(target) and all((example.store / e).is_dir() for e in entries)
    assert "0 built" in _build(example)


def test_a_link_moved_by_another_command_is_moved_back_and_rerooted(example):
    _build(example)
    links, records = _links(example), _records(example)
    _settle()
    _jbuild(example, "build", "//libs:libc", "--sandbox", "bwrap")  # `result` -> libc's environment
    assert _links(example)["result"] != links["result"] or len(links) == 1
    _settle()
    assert "0 built" in _build(example)
    assert _links(example) == links and _records(example) == records


def test_without_the_kept_detail_a_noop_still_answers_and_a_wrong_link_is_still_made(example):
    """Each root's members and closure entries are kept apart from the no-op's snapshot, read only
    to write a record: a no-op whose links are right does without them."""
    _build(example)
    _settle()
    assert "0 built" in _build(example)
    links, records = _links(example), _records(example)
    detail, = example.root.glob(".jbuild/cache/roots-*.pickle")
    detail.unlink()
    _settle()
    assert "0 built" in _build(example) and "0 built" in _build(example, "--no-link")
    assert not detail.exists()
    (example.root / "result").unlink()
    _settle()
    _build(example)  # (the full path: it records the detail again)
    assert _links(example) == links and _records(example) == records
    assert detail.exists()


def test_an_edit_built_without_links_leaves_no_stale_environment_for_the_next_linked_noop(example):
    _build(example)
    _settle()
    src = example.root / "libs/libc/src/mini.c"
    src.write_text(src.read_text() + "\n/* edited */\n")
    _settle()
    assert "0 built" not in _build(example, "--no-link")
    _settle()
    _build(example)  # with links: each one to its environment at the edited libc
    linked = _links(example)
    shutil.rmtree(example.root / ".jbuild" / "cache")
    _settle()
    assert "0 built" in _build(example)  # analysed afresh: the environments as they are
    assert _links(example) == linked


def test_settle_writes_and_reads_only_what_is_wrong_and_its_stamp_proves_the_rest(tmp_path):
    from jbuild.engine.result_links import settle, unchanged
    from jbuild.engine.store import Store

    store = Store(tmp_path / "store")
    envs = [f"{i:032x}-env-p{i}" for i in range(3)]
    for env in envs:
        (store.root / env).mkdir()
    (tmp_path / "ws").mkdir()
    base, root = str(tmp_path / "ws" / "result"), str(store.root)

    def entries():
        asked.append(1)
        return [[f"dep{i}"] for i in range(3)]

    asked = []
    stamp = settle(root, base, envs, None, entries)
    assert [os.readlink(p) for p in (base, base + "-2", base + "-3")] == [f"{root}/{e}" for e in envs]
    assert {r.link: sorted(r.entries) for r in store.roots()} == \
        {link: sorted([env, f"dep{i}"]) for i, (link, env) in enumerate(zip((base, base + "-2", base + "-3"), envs, strict=True))}
    assert all(r.holds() for r in store.roots())
    assert not unchanged(stamp, base, root, 3)  # (links written just now: not trusted yet)
    _settle()

    def never():
        raise AssertionError("closure entries read though every link and record is right")

    inodes = {p: os.lstat(p).st_ino for p in [*tmp_path.glob("ws/result*"), *(store.root / "roots").iterdir()]}
    stamp = settle(root, base, envs, stamp, never)
    assert {p: os.lstat(p).st_ino for p in inodes} == inodes
    _settle()
    assert unchanged(stamp, base, root, 3) and not unchanged(stamp, base, root, 2)
    (tmp_path / "ws" / "result-2").unlink()
    assert not unchanged(stamp, base, root, 3)
    asked.clear()
    stamp = settle(root, base, envs, stamp, entries)
    assert asked == [1] and os.readlink(base + "-2") == f"{root}/{envs[1]}"
    _settle()
    (store.root / "roots" / "elsewhere.json").write_text("{}")  # another workspace's root
    assert not unchanged(stamp, base, root, 3)
    _settle()
    stamp = settle(root, base, envs, stamp, never)
    _settle()
    assert unchanged(stamp, base, root, 3)


def test_a_build_of_tests_only_makes_no_link_and_its_noop_none_either(example):
    for _ in range(2):
        assert "is a test" in _jbuild(example, "build", "//services:geotags_test", "--sandbox", "bwrap")
        assert _links(example) == {}
        _settle()

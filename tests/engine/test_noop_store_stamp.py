"""The no-op proves its store entries present by one stat of the store's directory once a no-op
has seen them there (noop._stamp_holds), where it would list the store: from
snapshot.LISTING_FROM entries on (below, a stat of each one's metadata answers, and sees an
entry damaged by hand). Real builds of the example plus that many small packages, a real store,
entries really removed."""

import os
import shutil
import subprocess
import sys
import time

import pytest
from helpers import write_tree
from jbuild.base.freshness import RACY_MARGIN_NS
from jbuild.engine import snapshot

SMALL = """
package p{i} {{
    version = "1"
    build_requires = [@std//host:sh]
    build = "mkdir -p $OUT/share && echo {i} > $OUT/share/n"
}}
"""


@pytest.fixture
def many(example):
    """The example and snapshot.LISTING_FROM small packages: a no-op of `//...` would list the store."""
    write_tree(example.root, {"many/BUILD": "".join(SMALL.format(i=i) for i in range(snapshot.LISTING_FROM))})
    return example


def _build(example):
    return example.build("--no-link", target="//...")


def _snapshots(example) -> list[snapshot.Snapshot]:
    return [snapshot.load(p) for p in sorted((example.root / ".jbuild" / "cache").glob("analysis-*.pickle"))]


def _settled_stamp(example) -> None:
    """No-ops until the snapshot holds a stamp taken safely after the store's last change."""
    for _ in range(5):
        time.sleep(2 * RACY_MARGIN_NS / 1e9)
        r, ran = _build(example)
        assert r.returncode == 0 and set(ran.values()) == {"reused"}, r.stderr
        (snap,) = _snapshots(example)
        if snap.store_stamp:
            key, taken_at = snap.store_stamp
            if max(key[0], key[3]) < taken_at - RACY_MARGIN_NS:
                return
    raise AssertionError("no settled stamp after five no-ops")


def test_a_stamped_noop_does_not_look_for_its_entries(many, tmp_path):
    example = many
    _build(example)
    _settled_stamp(example)
    trace = tmp_path / "trace"
    r = subprocess.run(["strace", "-f", "-e", "trace=%stat,access,openat", "-o", str(trace), "python3", "-c", "pass"])
    if r.returncode:  # strace cannot trace here (no ptrace): the removal test below still runs
        return
    subprocess.run(["strace", "-f", "-e", "trace=%stat,access,openat", "-o", str(trace),
                    *_jbuild_argv(), "build", "//...", "--no-link", "--sandbox", "bwrap"],
                   cwd=example.root, env=_env(example), check=True, capture_output=True)
    lines = trace.read_text().splitlines()
    assert any("analysis-" in line for line in lines)  # (the trace saw the no-op read its snapshot)
    assert [line for line in lines if ".jbuild-entry.json" in line] == []


def test_an_entry_removed_after_the_stamp_is_rebuilt(many):
    example = many
    _build(example)
    _settled_stamp(example)
    (entry,) = [p for p in example.store.iterdir() if "-geotags-" in p.name]
    subprocess.run(["chmod", "-R", "u+w", str(entry)], check=True)
    shutil.rmtree(entry)
    r, ran = _build(example)
    assert r.returncode == 0 and ran.pop("//services:geotags") == "built", r.stderr
    assert len(ran) > snapshot.LISTING_FROM and set(ran.values()) == {"reused"}


def test_a_new_recording_starts_without_a_stamp(many):
    """A build that records anew names entries no stamp has seen: it lists them first."""
    example = many
    _build(example)
    _settled_stamp(example)
    example.edit("services/geotags/src/main.c", "int main", "/* edited */\nint main")
    r, ran = _build(example)
    assert ran["//services:geotags"] == "built"
    assert [s.store_stamp for s in _snapshots(example)] == [()]


def _jbuild_argv() -> list[str]:
    return [sys.executable, "-m", "jbuild"]


def _env(example) -> dict:
    return {**os.environ, "JBUILD_STORE": str(example.store)}


def test_a_noop_waits_for_gc_holding_the_store(many):
    """The no-op takes the store's own shared lock (without opening the store): while a gc holds
    it exclusively, the no-op waits, then answers."""
    from jbuild.engine.store import Store

    example = many
    _build(example)
    _settled_stamp(example)
    with Store(example.store).exclusive():
        proc = subprocess.Popen([*_jbuild_argv(), "build", "//...", "--no-link", "--sandbox", "bwrap"],
                                cwd=example.root, env=_env(example), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        time.sleep(1.5)
        assert proc.poll() is None  # waiting for the lock
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and f"0 built, {6 + snapshot.LISTING_FROM} reused" in err, err  # (with 2 the tests need)

"""Review of h-buildedit (engine/relower.py): a BUILD edit in place that changes what a package
declares as its sources (same lines), and a source edit beside it or after it: the kept session
must key the package as a cold analysis does."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import pytest
from jbuild.dsl import pieces

sys.path.insert(0, str(Path(__file__).parent.parent / "engine"))
from test_build_edit_property import Workspace, cold, incremental, pair  # noqa: E402


def _both(inc: Path, fresh: Path, rel: str, text: str) -> None:
    for root in (inc, fresh):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


@pytest.fixture
def kept(tmp_path, monkeypatch):
    monkeypatch.setattr(pieces, "PIECE_CHARS", 200)
    from jbuild.engine import relower

    real, used = relower.update, {"updates": 0, "relowered": 0}

    def counted(*args):
        found = real(*args)
        used["relowered"] += found is not None
        return found

    monkeypatch.setattr(relower, "update", counted)
    ws = Workspace(random.Random(3), 20)
    inc, fresh, cache = pair(tmp_path, ws)
    _both(inc, fresh, "src/extra.txt", "extra 1\n")
    time.sleep(0.05)
    assert incremental(inc, cache, used)[0] == "ok"
    return inc, fresh, cache, used


def _step(inc, fresh, cache, used):
    time.sleep(0.03)
    got, want = incremental(inc, cache, used), cold(fresh)
    assert got == want
    return got


def test_a_source_added_in_place_then_edited(kept):
    inc, fresh, cache, used = kept
    text = (inc / "BUILD").read_text()
    _both(inc, fresh, "BUILD", text.replace('sources = ["src/p7.txt"]', 'sources = ["src/p7.txt", "src/extra.txt"]'))
    _step(inc, fresh, cache, used)
    for i in range(2, 5):
        _both(inc, fresh, "src/extra.txt", f"extra {i}\n")
        _step(inc, fresh, cache, used)
    assert used["relowered"] >= 1, used


def test_a_source_removed_in_place_then_edited(kept):
    inc, fresh, cache, used = kept
    text = (inc / "BUILD").read_text()
    both = text.replace('sources = ["src/p7.txt"]', 'sources = ["src/p7.txt", "src/extra.txt"]')
    _both(inc, fresh, "BUILD", both)
    _step(inc, fresh, cache, used)
    _both(inc, fresh, "BUILD", text)
    _step(inc, fresh, cache, used)
    _both(inc, fresh, "src/extra.txt", "extra 9\n")
    _step(inc, fresh, cache, used)
    assert used["relowered"] >= 2, used


def test_a_build_edit_and_a_source_edit_together(kept):
    inc, fresh, cache, used = kept
    text = (inc / "BUILD").read_text()
    for i in range(3):
        text = text.replace("# a\"", f"# b{i}\"", 1) if i == 0 else text.replace(f"# b{i - 1}\"", f"# b{i}\"", 1)
        _both(inc, fresh, "BUILD", text)
        _both(inc, fresh, "src/p0.txt", f"p0 edited {i}\n")
        _both(inc, fresh, "src/p19.txt", f"p19 edited {i}\n")
        _step(inc, fresh, cache, used)
    assert used["relowered"] >= 1, used

"""Review of h-buildedit (relower.py, lines added or removed above kept pieces: their records'
spans shifted): errors that name a moved target's place — its missing source, its broken
constraint — after lines were added, removed and added again on top, as a cold analysis."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from jbuild.dsl import pieces

sys.path.insert(0, str(Path(__file__).parent.parent / "engine"))
from test_build_edit_property import Workspace, cold, edited, incremental, pair  # noqa: E402


def _moved(tops, tmp_path, monkeypatch, requires: dict | None = None):
    """Twenty packages (no requirements but `requires`), analysed through the kept session, then
    lines added on top `tops` times, each compared with a cold analysis."""
    monkeypatch.setattr(pieces, "PIECE_CHARS", 200)
    ws = Workspace(random.Random(0), 20)
    for name, p in ws.packages.items():
        p["requires"] = dict((requires or {}).get(name, {}))
    inc, fresh, cache = pair(tmp_path, ws)
    used = {"updates": 0}
    assert incremental(inc, cache, used)[0] == "ok"
    for top in tops:
        ws.top = top
        got, want = edited(inc, fresh, cache, ws, used)
        assert got == want, top
    return ws, inc, fresh, cache, used


@pytest.mark.parametrize("tops", [(3,), (3, 1), (2, 5, 0), (4, 4)])
def test_a_moved_targets_missing_source_is_reported_at_its_new_place(tops, tmp_path, monkeypatch):
    ws, inc, fresh, cache, used = _moved(tops, tmp_path, monkeypatch)
    for root in (inc, fresh):
        (root / "src" / "p15.txt").unlink()
    got, want = incremental(inc, cache, used), cold(fresh)
    assert got == want
    for root in (inc, fresh):
        (root / "src" / "p15.txt").write_text("p15 back\n")
    got, want = incremental(inc, cache, used), cold(fresh)
    assert got == want


@pytest.mark.parametrize("tops", [(3,), (3, 1), (6, 2)])
def test_a_moved_requirers_broken_constraint_is_reported_at_its_new_place(tops, tmp_path, monkeypatch):
    ws, inc, fresh, cache, used = _moved(tops, tmp_path, monkeypatch, {"p17": {"p2": " >= 1.0"}})
    ws.packages["p2"]["version"] = "0.9"  # p17's constraint breaks: reported at p17's (moved) line
    got, want = edited(inc, fresh, cache, ws, used)
    assert got[0] == "error" and got == want

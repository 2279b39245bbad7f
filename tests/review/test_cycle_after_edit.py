"""Review of h-buildedit: a BUILD edit in place that closes a cycle, through the kept session
(its restored graph keeps no edge spans; regraph.py updates it; relower.py moves pieces below
lines added on top): the cycle's report must be a cold analysis's, each edge with its place."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from jbuild.dsl import pieces

sys.path.insert(0, str(Path(__file__).parent.parent / "engine"))
from test_build_edit_property import Workspace, edited, incremental, pair  # noqa: E402


def _chain() -> Workspace:
    ws = Workspace(random.Random(0), 20)
    for p in ws.packages.values():
        p["requires"] = {}
    ws.packages["p12"]["requires"] = {"p5": ""}
    ws.packages["p15"]["requires"] = {"p12": ""}
    return ws


@pytest.mark.parametrize("top", [0, 3])
def test_a_cycle_closed_by_an_edit_is_reported_as_cold(top, tmp_path, monkeypatch):
    monkeypatch.setattr(pieces, "PIECE_CHARS", 200)
    ws = _chain()
    inc, fresh, cache = pair(tmp_path, ws)
    used = {"updates": 0}
    assert incremental(inc, cache, used)[0] == "ok"
    if top:
        ws.top = top  # lines on top first: the pieces below move (relower.py's shifts)
        got, want = edited(inc, fresh, cache, ws, used)
        assert got == want
    ws.packages["p5"]["requires"] = {"p15": ""}  # p5 -> p15 -> p12 -> p5
    got, want = edited(inc, fresh, cache, ws, used)
    assert want[0] == "error" and "cycle" in want[1].lower(), want
    assert got == want
    assert used["updates"] >= 1

"""Review of h-buildedit: BUILD edits of the same size made within the racy window (the same
coarse mtime as the last analysis read), each taken in by the kept session at once (relower.py),
compared with a cold analysis; then an edit undone."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from jbuild.dsl import pieces

sys.path.insert(0, str(Path(__file__).parent.parent / "engine"))
from test_build_edit_property import Workspace, edited, incremental, pair, write  # noqa: E402


@pytest.mark.parametrize("seed", [1, 2])
def test_same_size_edits_in_the_racy_window(seed, tmp_path, monkeypatch):
    monkeypatch.setattr(pieces, "PIECE_CHARS", 200)
    rng = random.Random(seed)
    ws = Workspace(rng, 20)
    for p in ws.packages.values():
        p["script"] = "s100000"
    inc, fresh, cache = pair(tmp_path, ws)
    used = {"updates": 0}
    assert incremental(inc, cache, used)[0] == "ok"
    first = {n: dict(p) for n, p in ws.packages.items()}
    for step in range(30):
        name = rng.choice(list(ws.packages))
        ws.packages[name]["script"] = f"s{rng.randrange(100000, 999999)}"  # (the same size)
        write(inc, ws)
        got = incremental(inc, cache, used)  # at once: within the racy window of the write
        name = rng.choice(list(ws.packages))
        ws.packages[name]["script"] = f"s{rng.randrange(100000, 999999)}"
        got, want = edited(inc, fresh, cache, ws, used)  # at once again
        assert got == want, f"step {step}"
        if step % 7 == 6:
            ws.packages = {n: dict(p) for n, p in first.items()}
            got, want = edited(inc, fresh, cache, ws, used)
            assert got == want, f"undo at step {step}"

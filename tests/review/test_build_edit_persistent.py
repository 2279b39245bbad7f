"""Review of h-buildedit: BUILD edits through the kept session where a constraint, a flavour
asked for or an error is NOT reset after one edit (the property test in
tests/engine/test_build_edit_property.py resets them each edit), so the kept pieces carry them
while lines above them move and the packages they name change in other pieces."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from jbuild.dsl import pieces

sys.path.insert(0, str(Path(__file__).parent.parent / "engine"))
from test_build_edit_property import Workspace, edited, incremental, pair  # noqa: E402


class Sticky(Workspace):
    """As the property test's workspace, but what an edit asks for stays until undone."""

    def edit(self) -> str:
        rng, names = self.rng, list(self.packages)
        what = rng.choice(["script", "add", "remove", "require", "unrequire", "top", "top", "version",
                           "version", "constraint", "flavour", "ask flavour", "typo", "mend"])
        name = rng.choice(names)
        p = self.packages[name]
        if what == "mend":
            self.typo = False
        elif what == "typo" and "p3" in self.packages:
            self.typo = True
        elif what in ("require", "constraint", "ask flavour"):
            earlier = names[:names.index(name)]
            if earlier:
                dep = rng.choice(earlier)
                p["requires"][dep] = {"require": "", "constraint": rng.choice([" >= 1.0", " >= 1.1", " < 1.1"]),
                                      "ask flavour": "[opt=b]"}[what]
        elif what == "remove" and len(names) > 4:
            del self.packages[name]
            for q in self.packages.values():
                q["requires"].pop(name, None)
        elif what == "script":
            p["script"] = f"s{rng.randrange(10 ** 6)}"
        elif what == "add":
            self.add(f"p{self.next}")
            self.next += 1
        elif what == "unrequire" and p["requires"]:
            del p["requires"][rng.choice(list(p["requires"]))]
        elif what == "top":
            self.top += rng.randrange(1, 4)
        elif what == "version":
            p["version"] = rng.choice(["1.0", "1.1", "0.9"])
        elif what == "flavour":
            p["flavours"] = not p["flavours"]
        return f"{what} {name}"


@pytest.mark.parametrize("seed", [11])
def test_sticky_build_edits_analyse_as_a_cold_analysis(seed, tmp_path, monkeypatch):
    monkeypatch.setattr(pieces, "PIECE_CHARS", 200)
    used = {"updates": 0}
    rng = random.Random(seed)
    ws = Sticky(rng, 20)
    inc, fresh, cache = pair(tmp_path, ws)
    assert incremental(inc, cache, used)[0] == "ok"
    log = []
    for step in range(30):
        log.append(ws.edit())
        got, want = edited(inc, fresh, cache, ws, used)
        assert got == want, f"step {step}: {log}"


def test_kept_requirer_error_after_lines_on_top(tmp_path, monkeypatch):
    """A requirer in an untouched piece whose constraint breaks when the required package's
    version changes elsewhere, while lines are inserted on top: the error names its new line."""
    monkeypatch.setattr(pieces, "PIECE_CHARS", 200)
    ws = Workspace(random.Random(0), 20)
    for p in ws.packages.values():
        p["requires"] = {}
    ws.packages["p15"]["requires"] = {"p0": " >= 1.0"}
    inc, fresh, cache = pair(tmp_path, ws)
    used = {"updates": 0}
    assert incremental(inc, cache, used)[0] == "ok"
    for top, version in ((3, "1.0"), (5, "0.9"), (9, "0.9"), (9, "1.1")):
        ws.top, ws.packages["p0"]["version"] = top, version
        got, want = edited(inc, fresh, cache, ws, used)
        assert got == want, (top, version)
    assert used["updates"] >= 3  # (the kept session really updated, not analysed whole each time)


def test_a_removed_package_still_required_by_a_kept_piece(tmp_path, monkeypatch):
    """The package a kept piece's target requires is removed (another piece) while lines are
    inserted on top: the 'no such target' error (with its did-you-mean) names the requirer's new
    line and column, as a cold analysis does; putting it back builds again."""
    monkeypatch.setattr(pieces, "PIECE_CHARS", 200)
    ws = Workspace(random.Random(0), 20)
    for p in ws.packages.values():
        p["requires"] = {}
    ws.packages["p15"]["requires"] = {"p1": ""}
    inc, fresh, cache = pair(tmp_path, ws)
    used = {"updates": 0}
    assert incremental(inc, cache, used)[0] == "ok"
    kept = ws.packages.pop("p1")
    for top in (2, 4):
        ws.top = top
        got, want = edited(inc, fresh, cache, ws, used)
        assert got[0] == "error" and got == want, (got, want)
    ws.packages = {"p1": kept, **ws.packages}
    got, want = edited(inc, fresh, cache, ws, used)
    assert got == want

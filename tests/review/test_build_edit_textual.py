"""Review of h-buildedit: raw textual BUILD edits (not through the data model) taken through the
kept session, compared with a cold analysis: characters inserted and deleted at random offsets
(the first and last byte included), braces, quotes, `#` and `package` put into strings, comments
and long strings, triple-quoted scripts holding "}" and "package", the whole file emptied and
restored, an edit undone."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import pytest
from jbuild.dsl import pieces

sys.path.insert(0, str(Path(__file__).parent.parent / "engine"))
from test_build_edit_property import Workspace, cold, incremental, pair  # noqa: E402

LONG = 'package longs {\n    version = "1"\n    build = """\n  echo "}" package x {\n  # }\n  }}} package\n"""\n}\n'
SNIPPETS = ["}", "{", '"', '"""', "#", "package q { }\n", "\n", "package", " ", '"}"', "# }\n", "x", "=", "]", "[",
            '"""}\npackage z {\n"""', "\\", "'"]


def mutate(rng: random.Random, text: str) -> str:
    what = rng.randrange(7)
    at = rng.choice([0, len(text), rng.randrange(len(text) + 1)])
    if what == 0 and text:
        end = min(len(text), at + rng.randrange(1, 40))
        return text[:at] + text[end:]
    if what == 1 and text:  # a character changed at the first or the last byte
        at = rng.choice([0, len(text) - 1])
        return text[:at] + rng.choice(SNIPPETS) + text[at + 1:]
    return text[:at] + rng.choice(SNIPPETS) + text[at:]


def write_text(inc: Path, fresh: Path, text: str) -> None:
    for root in (inc, fresh):
        (root / "BUILD").write_text(text)


@pytest.mark.parametrize("seed", [5, 6, 7, 8])
def test_random_textual_edits_analyse_as_a_cold_analysis(seed, tmp_path, monkeypatch):
    monkeypatch.setattr(pieces, "PIECE_CHARS", 200)
    rng = random.Random(seed)
    ws = Workspace(rng, 20)
    inc, fresh, cache = pair(tmp_path, ws)
    good = (inc / "BUILD").read_text()
    half = good.index("\npackage ", len(good) // 2) + 1
    good = good[:half] + LONG + good[half:]
    write_text(inc, fresh, good)
    time.sleep(0.05)
    used = {"updates": 0}
    assert incremental(inc, cache, used)[0] == "ok"
    text, log = good, []
    for step in range(40):
        r = rng.random()
        if r < 0.1:
            text = good  # back to the good file (an undo)
            log.append("undo")
        elif r < 0.15:
            text = ""
            log.append("emptied")
        else:
            text = mutate(rng, text)
            log.append(f"mutate {len(text)}")
        write_text(inc, fresh, text)
        got, want = incremental(inc, cache, used), cold(fresh)
        assert got == want, f"seed {seed} step {step}: {log[-5:]}\n{text!r}"


INSIDE = ["}", "{", "}\npackage y {\n", "\n}\n\npackage w {\n    version = \"1\"\n}\n", "package", "#", '"', "\n# }\n",
          '\\"', "{{", "$"]


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_valid_edits_inside_long_strings_and_comments(seed, tmp_path, monkeypatch):
    """Edits that keep the file valid but put braces and `package` where only a lexer knows they
    are text: inside the triple-quoted script, a comment, a string."""
    from jbuild.engine import relower

    monkeypatch.setattr(pieces, "PIECE_CHARS", 200)
    real = relower.update
    used = {"updates": 0, "relowered": 0}

    def counted(*args):
        found = real(*args)
        used["relowered"] += found is not None
        return found

    monkeypatch.setattr(relower, "update", counted)
    rng = random.Random(seed)
    ws = Workspace(rng, 20)
    inc, fresh, cache = pair(tmp_path, ws)
    base = (inc / "BUILD").read_text()
    half = base.index("\npackage ", len(base) // 2) + 1
    text = base[:half] + LONG.replace('"""\n}', '"""\n    # c\n}') + base[half:]
    write_text(inc, fresh, text)
    time.sleep(0.05)
    assert incremental(inc, cache, used)[0] == "ok"
    for step in range(40):
        start = text.index('build = """', half) + len('build = """')
        stop = text.index('"""', start)
        comment = text.index("    # c", half) + len("    # c")
        snippet = rng.choice(INSIDE)
        where = rng.choice(["long", "long", "comment", "first", "last"])
        if where == "long":
            at = rng.randrange(start, stop + 1)
            if '"""' in text[max(start, at - 2):at] + snippet or snippet.endswith('"'):
                snippet = snippet.replace('"', "'")
            text = text[:at] + snippet + text[at:]
        elif where == "comment":
            text = text[:comment] + snippet.replace("\n", " ") + text[comment:]
        elif where == "first":
            text = "# " + snippet.replace("\n", " ") + "\n" + text
            half += len(snippet.replace("\n", " ")) + 3
        else:
            text = text + "# " + snippet.replace("\n", " ") + "\n"
        write_text(inc, fresh, text)
        got, want = incremental(inc, cache, used), cold(fresh)
        assert got == want, f"seed {seed} step {step}: {where} {snippet!r}\n{text!r}"
    assert used["updates"] >= 30, used

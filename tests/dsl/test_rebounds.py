"""A large BUILD file's cuts found from its last cuts (dsl/pieces.py `rebounds`: only the text
around an edit is scanned) are the cuts a scan of the whole file finds, whatever the edit:
lines on top, an item changed, added or removed anywhere, text appended, blanks at the end."""

from __future__ import annotations

import random

import pytest
import xxhash
from jbuild.dsl import pieces


def item(rng: random.Random, i: int) -> str:
    body = "".join(f'    a{j} = "{rng.randrange(10 ** rng.randrange(1, 6))}"\n' for j in range(rng.randrange(1, 5)))
    brace = '    build = "echo \'}\' # }"\n' if rng.random() < 0.2 else ""
    return f"package p{i} {{\n{body}{brace}}}\n" + ("# a comment }\n" if rng.random() < 0.1 else "")


def edit(rng: random.Random, items: list[str], text_top: str) -> tuple[list[str], str]:
    what = rng.choice(["top", "change", "add", "remove", "append", "blanks", "untop"])
    items = list(items)
    at = rng.randrange(len(items))
    if what == "top":
        text_top += "# top\n" * rng.randrange(1, 4)
    elif what == "untop":
        text_top = ""
    elif what == "change":
        items[at] = item(rng, at)
    elif what == "add":
        items.insert(at, item(rng, 1000 + rng.randrange(1000)))
    elif what == "remove" and len(items) > 3:
        del items[at]
    elif what == "append":
        items.append(item(rng, len(items)))
    elif what == "blanks":
        items[-1] = items[-1].rstrip("\n") + "\n" * rng.randrange(0, 3)
    return items, text_top


def rows(text: str, cuts: list[tuple[int, int]]) -> list[tuple[bytes, int]]:
    return [(key(text)(s, e), e - s) for s, e in cuts]


def key(text: str):
    def of(start: int, end: int) -> bytes:
        col = start - (text.rfind("\n", 0, start) + 1)
        return xxhash.xxh3_128_digest(f"{col}\0{text[start:end]}".encode())
    return of


@pytest.mark.parametrize("seed", range(6))
def test_cuts_found_from_the_last_cuts_are_a_whole_scan_s(seed, monkeypatch):
    monkeypatch.setattr(pieces, "PIECE_CHARS", 150)
    rng = random.Random(seed)
    items, top = [item(rng, i) for i in range(60)], ""
    text = top + "".join(items)
    before = rows(text, list(pieces.bounds(text)))
    scanned, whole = [], 0
    real = pieces.bounds

    def counted(text, start=0):
        for s, e in real(text, start):
            scanned.append(e - s)
            yield s, e

    monkeypatch.setattr(pieces, "bounds", counted)
    for _ in range(150):
        items, top = edit(rng, items, top)
        text = top + "".join(items)
        got = pieces.rebounds(text, before, key(text))
        want = list(real(text))
        assert got == want
        whole += len(text)
        before = rows(text, want)
    assert sum(scanned) < whole / 4  # only around the edits (cuts fall as before a few pieces on)


def test_without_last_cuts_or_with_foreign_ones_the_whole_text_is_cut_as_a_scan_does(monkeypatch):
    monkeypatch.setattr(pieces, "PIECE_CHARS", 150)
    rng = random.Random(7)
    text = "".join(item(rng, i) for i in range(40))
    want = list(pieces.bounds(text))
    assert pieces.rebounds(text, [], key(text)) == want
    other = "".join(item(rng, i) for i in range(40))
    assert pieces.rebounds(text, rows(other, list(pieces.bounds(other))), key(text)) == want

"""One did-you-mean helper for labels, attributes, flavours and commands."""

from __future__ import annotations

from collections.abc import Iterable


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def suggestions(word: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Candidates close enough to `word` to be a typo of it, nearest first."""
    budget = max(1, min(3, len(word) // 3 + 1))
    scored = []
    for cand in set(candidates):
        prefix = len(word) > 3 and cand.lower().startswith(word.lower())
        if abs(len(cand) - len(word)) > budget and not prefix:
            continue  # the distance is at least the difference in length: not a typo (and a huge name costs nothing)
        d = edit_distance(word.lower(), cand.lower()) if not prefix or len(cand) < 200 else len(cand) - len(word)
        if d <= budget or prefix:
            scored.append((d, cand[:1] != word[:1], cand))
    return [c for *_, c in sorted(scored)[:limit]]


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """`did you mean 'x'?` or None."""
    found = suggestions(word, candidates, limit=1)
    return f"did you mean '{found[0]}'?" if found else None

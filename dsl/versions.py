"""Versions and constraints.

A version is `[0-9][0-9A-Za-z.+~-]*` (`2.24`, `1.0.2k`, `9.1.24-r1`, `1.0~rc1`), compared as
Debian compares versions: runs of digits numerically, everything else character by character
with `~` before the end of the string, the end before letters, letters before other symbols.
So `1.0~rc1 < 1.0 < 1.0.2 < 1.0.2k < 9.1.24 < 9.1.24-r1`.

A constraint is a conjunction of comparisons: `>= 9.1 < 10` (written `>=9.1,<10`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from jbuild.base.slotted_pickle import speed_up

VERSION_RE = re.compile(r"[0-9][0-9A-Za-z.+~\-]*\Z")
OPERATORS = (">=", "<=", "==", "!=", ">", "<")


class VersionError(ValueError):
    pass


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _compare(a: str, b: str) -> int:
    """dpkg's verrevcmp."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


@total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    text: str

    @classmethod
    def parse(cls, text: str) -> Version:
        if not VERSION_RE.match(text):
            raise VersionError(
                f"'{text}' is not a version: a version starts with a digit and holds only "
                "letters, digits and . + ~ -"
            )
        return cls(text)

    def __lt__(self, other: Version) -> bool:
        return _compare(self.text, other.text) < 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and _compare(self.text, other.text) == 0

    def __hash__(self) -> int:
        # Equal versions (`1.0` and `1.00`) must hash alike: hash a normalised form.
        return hash(re.sub(r"(?<![0-9])0+(?=[0-9])", "", self.text))

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Constraint:
    """All of `terms` must hold; no terms admits every version."""

    terms: tuple[tuple[str, Version], ...] = ()

    def admits(self, v: Version) -> bool:
        for op, bound in self.terms:
            c = _compare(v.text, bound.text)
            ok = {">=": c >= 0, "<=": c <= 0, ">": c > 0, "<": c < 0, "==": c == 0, "!=": c != 0}[op]
            if not ok:
                return False
        return True

    def __str__(self) -> str:
        return ",".join(f"{op}{v}" for op, v in self.terms) or "*"

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """`>=9.1,<10` or `>= 9.1 < 10` (the command line's and the docs' spellings)."""
        terms = []
        for m in re.finditer(r"\s*(>=|<=|==|!=|>|<)\s*([^\s,<>=!]+)\s*,?", text):
            terms.append((m.group(1), Version.parse(m.group(2))))
        if not terms and text.strip() not in ("", "*"):
            raise VersionError(f"'{text}' is not a version constraint (try '>= 1.2 < 2')")
        return cls(tuple(terms))


speed_up(globals())  # pickled by the million (base/slotted_pickle.py)

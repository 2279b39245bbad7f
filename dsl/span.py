"""Where something was written: a file and a range of lines and columns (1-based)."""

from __future__ import annotations

from dataclasses import dataclass, field

from jbuild.base.slotted_pickle import speed_up


@dataclass(frozen=True, slots=True)
class Span:
    path: str
    line: int
    col: int
    end_line: int = 0
    end_col: int = 0
    # Text of a template's body expanded for a call: where that call was written (templates.py).
    # An error here is reported at the call, with this span as a note.
    via: Span | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"

    @property
    def width(self) -> int:
        """Caret width on the first line (at least 1)."""
        if self.end_line == self.line and self.end_col > self.col:
            return self.end_col - self.col
        return 1


NOWHERE = Span("<command line>", 0, 0)


speed_up(globals())  # pickled by the million (base/slotted_pickle.py)

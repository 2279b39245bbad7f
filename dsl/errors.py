"""Recipe errors as data with a span, rendered by one function.

    services/BUILD:12:5: error: unknown attribute 'verison'
       12 |     verison = "1.0"
          |     ^^^^^^^
    help: did you mean 'version'?
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .span import Span

MAX_HINTED = 100  # longer words get no did-you-mean: edit distance is quadratic


def did_you_mean(word: str, candidates) -> str | None:
    """base.spelling's `did you mean 'x'?`, skipped for absurdly long words (a fuzzed 10 MB
    name must not cost minutes)."""
    from jbuild.base.spelling import did_you_mean as hint

    return hint(word, candidates) if len(word) <= MAX_HINTED else None


def suggestions(word: str, candidates, limit: int = 3) -> list[str]:
    from jbuild.base.spelling import suggestions as near

    return near(word, candidates, limit) if len(word) <= MAX_HINTED else []


@dataclass(frozen=True)
class Diagnostic:
    span: Span
    message: str
    help: str | None = None
    inside: Span | None = None  # the line of a template's body at fault (span is then the call)

    def at_call(self) -> Diagnostic:
        """An error in a template's expanded text, moved to the user's call (Span.via)."""
        if self.span.via is None:
            return self
        inner = Span(self.span.path, self.span.line, self.span.col, self.span.end_line, self.span.end_col)
        return Diagnostic(self.span.via, self.message, self.help, inner)

    def sort_key(self) -> tuple:
        return (self.span.path, self.span.line, self.span.col, self.message)


class RecipeError(Exception):
    """One or more problems in recipes or on the command line. Exit code 2."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        unique: dict[tuple, Diagnostic] = {}
        for d in (d.at_call() for d in diagnostics):  # a template's argument used twice errs twice at one call
            unique.setdefault(d.sort_key(), d)
        self.diagnostics = sorted(unique.values(), key=Diagnostic.sort_key)
        super().__init__("\n".join(d.message for d in self.diagnostics))

    @classmethod
    def at(cls, span: Span, message: str, help: str | None = None) -> RecipeError:
        return cls([Diagnostic(span, message, help)])


def _source_line(path: str, line: int, root: str | None) -> str | None:
    if path.startswith("@std//"):  # a standard template (templates.STD_DISPLAY)
        from .workspace import stdlib_dir

        path = str(stdlib_dir() / path[len("@std//"):])
    full = os.path.join(root, path) if root and not os.path.isabs(path) else path
    try:
        with open(full, encoding="utf-8", errors="replace") as f:
            for n, text in enumerate(f, 1):
                if n == line:
                    return text.rstrip("\n").expandtabs(4)
    except OSError:
        return None
    return None


def _window(text: str, col: int, width: int = 100) -> tuple[str, int]:
    """A long line cut to about `width` characters around `col` (a 10 MB line is not shown)."""
    if len(text) <= width:
        return text, col
    start = max(0, min(col - 1 - width // 3, len(text) - width))
    shown = ("..." if start else "") + text[start:start + width] + ("..." if start + width < len(text) else "")
    return shown, col - start + (3 if start else 0)


def render(diag: Diagnostic, root: str | None = None, color: bool = False) -> str:
    """GCC-style `path:line:col: error: msg`, the numbered line, a caret, and `help:`."""
    bold, red, cyan, reset = ("\033[1m", "\033[31m", "\033[36m", "\033[0m") if color else ("",) * 4
    where = f"{diag.span}: " if diag.span.line > 0 else ""
    out = [f"{bold}{where}{red}error:{reset}{bold} {diag.message}{reset}"]
    out += _excerpt(diag.span, root, cyan, red, reset)
    if diag.inside is not None:
        out.append(f"{cyan}note:{reset} in the template's text, at {diag.inside} (the line below):")
        out += _excerpt(diag.inside, root, cyan, red, reset)
    if diag.help:
        out.append(f"{cyan}help:{reset} {diag.help}")
    return "\n".join(out)


def _excerpt(span: Span, root: str | None, cyan: str, red: str, reset: str) -> list[str]:
    """The numbered source line and a caret under the span."""
    text = _source_line(span.path, span.line, root) if span.line > 0 else None
    if text is None:
        return []
    num = str(span.line)
    pad = " " * len(num)
    text, col = _window(text, span.col)
    width = min(span.width, max(1, len(text) - col + 1))
    return [f"{cyan}{num} |{reset} {text}", f"{cyan}{pad} |{reset} {' ' * (col - 1)}{red}{'^' * width}{reset}"]


def excerpt(span: Span, root: str | None = None, color: bool = False, indent: str = "") -> list[str]:
    """The numbered source line at `span` and a caret under it (none if the file cannot be read)."""
    cyan, red, reset = ("\033[36m", "\033[31m", "\033[0m") if color else ("",) * 3
    return [indent + line for line in _excerpt(span, root, cyan, red, reset)]


def render_all(err: RecipeError, root: str | None = None, color: bool = False) -> str:
    blocks = [render(d, root, color) for d in err.diagnostics]
    if len(blocks) > 1:
        blocks.append(f"{len(blocks)} errors")
    return "\n\n".join(blocks)

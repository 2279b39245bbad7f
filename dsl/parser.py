"""Text -> syntax tree (syntax.py). With to_syntax.py (lark's tree -> syntax), the only module
of the recipe language that imports lark.

Lark's exceptions are translated here, at the boundary, into plain facts that
syntax_errors.py words the way the user wrote the tokens; the grammar's terminal names never
reach the user.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from . import syntax as st
from .errors import RecipeError
from .scan import CLOSERS, OPENERS, SCAN, position
from .span import Span

GRAMMAR = Path(__file__).with_name("recipe.lark")
MAX_NESTING = 100  # brackets and blocks inside each other; also the length of a '+' chain
MAX_BYTES = 16 * 1024 * 1024  # a BUILD file larger than this is refused, not parsed


@lru_cache(maxsize=1)
def _lark():
    import lark  # imported lazily: ~0.1 s, and a warm load never parses

    return lark.Lark.open(
        str(GRAMMAR), parser="lalr", propagate_positions=True, maybe_placeholders=True,
        cache=True,
    )


def parse(text: str, path: str) -> st.File:
    """Parse one BUILD file's text; raise RecipeError with a span on a syntax error.

    A large file is parsed in pieces of whole top-level items: lark's tree of a whole 10,000
    package file is tens of MB at once, which the process keeps as its peak. Each piece is
    padded so that lark counts lines and columns as in the file; if any piece fails, the whole
    file is parsed again (unless that piece was the whole file: a 10 MB unterminated string is
    not parsed twice), so an error is reported exactly as without pieces."""
    from . import pieces

    check_nesting(text, path)
    if len(text) > pieces.PIECE_CHARS:
        files = []
        for piece in pieces.pieces(text):
            try:
                files.append(parse_one(piece, path))
            except RecipeError:
                if len(piece) == len(text):  # the piece is the whole file (padding keeps offsets)
                    raise
                break  # reported below, by the parse of the whole file
        else:
            return st.File(path, tuple(b for f in files for b in f.blocks), tuple(t for f in files for t in f.templates))
    return parse_one(text, path)


def parse_one(text: str, path: str) -> st.File:
    import lark

    from .to_syntax import ToSyntax

    try:
        tree = _lark().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise RecipeError([_syntax_diagnostic(exc, text, path)]) from None
    try:
        return ToSyntax(path).transform(tree)
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, RecipeError):
            raise exc.orig_exc from None
        raise


def _too_deep(span: Span) -> RecipeError:
    return RecipeError.at(span, f"nested more than {MAX_NESTING} levels deep",
                          "flatten it: a recipe never needs this much nesting")


def check_nesting(text: str, path: str) -> None:
    """Refuse absurd nesting before the parser sees it (the tree walks recurse)."""
    depth = 0
    for m in SCAN.finditer(text):
        c = m[0]
        if c in OPENERS:
            depth += 1
            if depth > MAX_NESTING:
                line, col = position(text, m.start())
                raise _too_deep(Span(path, line, col, line, col + 1))
        elif c in CLOSERS:
            depth = max(0, depth - 1)


def _syntax_diagnostic(exc, text: str, path: str):
    """Lark's exception as plain facts (syntax_errors.Unexpected), worded by syntax_errors."""
    import lark

    from .syntax_errors import Token, Unexpected, explain
    from .to_syntax import token_span

    line = getattr(exc, "line", 1) or 1
    col = getattr(exc, "column", 1) or 1
    if line < 1:  # lark reports -1 at the end of the input
        line, col = text.count("\n") + 1, len(text) - text.rfind("\n")
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        found = Unexpected(line, col, char=text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "")
    else:
        token = getattr(exc, "token", None)
        at_end = isinstance(exc, lark.exceptions.UnexpectedEOF) or (token is not None and token.type == "$END")
        found = Unexpected(
            line, col, at_end=at_end, expected=frozenset(getattr(exc, "expected", ()) or ()),
            token=None if token is None or at_end else Token(token.type, str(token), token.start_pos,
                                                             token_span(path, token)),
        )
    return explain(found, text, path, _pattern_text)


def _pattern_text(terminal: str) -> str | None:
    """The text of a terminal's pattern (`'{'` for LBRACE), None if the grammar has no such terminal."""
    try:
        return _lark().get_terminal(terminal).pattern.value
    except KeyError:
        return None

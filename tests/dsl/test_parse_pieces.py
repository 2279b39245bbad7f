"""A large BUILD file is parsed in pieces of whole top-level items (dsl/pieces.py): the same
syntax, spans included, as one parse of the whole file, and the same errors."""

import pytest
from jbuild.dsl import parser, pieces
from jbuild.dsl.errors import RecipeError, render_all

TEXT = '''
# a comment with a brace } and a quote "
template tool(sources, version) {
    version = args.version
    sources = args.sources
    build = """
        echo "}" > $OUT/x   # a closing brace inside a long string
    """
}
package a { version = "1.0" build = "echo '}' > $OUT/a" }   package b { version = "2" requires = [:a] }
package c = tool(["c.c"], "1.0")
package d = tool(["d.c"], "1.0") {
    patches = []
}
test t {
    requires = [:a, :b]
    run = "true"
}
'''


@pytest.fixture
def small_pieces(monkeypatch):
    monkeypatch.setattr(pieces, "PIECE_CHARS", 40)


def test_pieces_parse_as_the_whole_file_with_the_same_spans(small_pieces):
    text = TEXT * 3
    assert len(list(pieces.pieces(text))) > 6
    whole = parser.parse_one(text, "BUILD")
    parsed = parser.parse(text, "BUILD")
    assert parsed == whole and repr(parsed) == repr(whole)  # repr shows every span's line and column
    assert [b.name for b in parsed.blocks][-3:] == ["c", "d", "t"] and len(parsed.templates) == 3


def test_an_error_in_a_later_piece_is_reported_as_by_one_parse(small_pieces, tmp_path):
    text = TEXT * 2 + 'package e { version = "1" requires = [:a,, :b] }\n' + TEXT
    with pytest.raises(RecipeError) as by_pieces:
        parser.parse(text, "BUILD")
    with pytest.raises(RecipeError) as whole:
        parser.parse_one(text, "BUILD")
    (tmp_path / "BUILD").write_text(text)
    shown = render_all(by_pieces.value, root=str(tmp_path))
    assert shown == render_all(whole.value, root=str(tmp_path))
    assert f"BUILD:{TEXT.count(chr(10)) * 2 + 1}:" in shown  # the line in the file, not in a piece

"""`${config.KEY}`: found, placed where it was written (through escapes and long strings),
and substituted."""

import pytest
from jbuild.dsl import interpolate
from jbuild.dsl.parser import parse


def refs_with_spans(text: str):
    block = parse(text, "BUILD").blocks[0]
    return [(key, span.line, span.col, span.width) for key, span in interpolate.in_expression(block.members[0].value)]


def test_a_reference_after_escapes_is_placed_in_the_source():
    assert refs_with_spans('package a { x = "q\\"\\t${config.port} ${config.port}" }') == [
        ("port", 1, 23, 14), ("port", 1, 38, 14)]


def test_a_reference_in_a_long_string_is_placed_on_its_line():
    text = 'package a {\n    x = """\n        one\n          two ${config.dir}\n    """\n}\n'
    assert refs_with_spans(text) == [("dir", 4, 15, 13)]


def test_bare_references_and_malformed_ones():
    assert refs_with_spans('package a { x = [config.port, "${config.}"] }') == [
        ("port", 1, 18, 11), (None, 1, 32, 9)]


def test_substitution_renders_each_type_and_leaves_shell_variables():
    values = {"port": 80, "on": True, "names": ("a", "b"), "dir": "/srv"}
    text = "${config.port} ${config.on} ${config.names} ${config.dir} ${HOME} $${config.x"
    assert interpolate.substitute(text, values) == "80 true a b /srv ${HOME} $${config.x"
    with pytest.raises(KeyError):
        interpolate.substitute("${config.nope}", values)

"""Random and mutated recipe text: the loader either succeeds or raises a RecipeError whose
rendering names a place in the file. Never another exception."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s
from jbuild.dsl.errors import RecipeError, render_all
from jbuild.dsl.lowering import lower_file
from jbuild.dsl.parser import parse

SEED = (Path(__file__).parent / "cases" / "valid" / "every_form.jb").read_text()
ALPHABET = s.sampled_from(list('{}[]()=,:.+"#\n @/<>!~-_ab01') + ["package", "version", "when", "default",
                                                                    "glob", '"""', "//x:y", ":z", ">="])


def check(text: str) -> None:
    try:
        lower_file(parse(text, "BUILD"), "pkg")
    except RecipeError as exc:
        out = render_all(exc)
        assert out.startswith("BUILD:") and "error:" in out
        assert "__ANON" not in out and "Token(" not in out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s.lists(ALPHABET, max_size=40).map("".join))
def test_random_text(text):
    check(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s.integers(0, len(SEED) - 1), s.integers(0, 12), s.lists(ALPHABET, max_size=3).map("".join))
def test_mutated_valid_recipe(pos, cut, insert):
    check(SEED[:pos] + insert + SEED[pos + cut:])

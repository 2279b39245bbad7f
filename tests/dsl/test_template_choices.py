"""A template parameter with a closed set of values (`kind = ["shared", "static", "both"]
default "shared"`): a wrong argument is a recipe error at the call (exit 2, caret under the
argument, did-you-mean), not a failing script at build time."""

import pytest
from helpers import run_jbuild
from jbuild.dsl.errors import RecipeError, render_all
from jbuild.dsl.lowering import lower_file
from jbuild.dsl.parser import parse

LIB = 'package geo = cc_library(["geo.c"], "1.3", hdrs = []{extra})\n'


def col(text: str, word: str) -> int:
    """The 1-based column of `"word"` in `text`."""
    return text.index(f'"{word}"') + 1


def lower(text: str):
    return lower_file(parse(text, "BUILD"), "pkg")


def rendered(tmp_path, text: str) -> str:
    (tmp_path / "BUILD").write_text(text)
    with pytest.raises(RecipeError) as exc:
        lower(text)
    return render_all(exc.value, root=str(tmp_path))


@pytest.mark.parametrize("call", [LIB.format(extra=', kind = "static"'), LIB.format(extra=", kind = static"),
                                  'package geo = cc_library(["geo.c"], "1.3", [], "static")'])
def test_a_value_of_the_set_expands_by_name_by_position_and_as_a_word(call):
    [geo] = lower(call)
    assert "case static in" in geo.build


def test_the_default_is_used_when_the_argument_is_left_out():
    [geo] = lower(LIB.format(extra=""))
    assert "case shared in" in geo.build


def test_a_typo_is_reported_at_the_argument_with_did_you_mean(tmp_path):
    text = LIB.format(extra=', kind = "statc"')
    out = rendered(tmp_path, text).splitlines()
    assert out[0] == (f"BUILD:1:{col(text, 'statc')}: error: argument 'kind' of template 'cc_library' is one of "
                      '"shared", "static", "both", not \'statc\'')
    assert out[2].index("^") == out[1].index('"statc"') and out[2].count("^") == len('"statc"')
    assert out[3] == "help: did you mean 'static'?"


def test_a_value_that_is_not_plain_text_lists_the_choices(tmp_path):
    out = rendered(tmp_path, LIB.format(extra=', kind = ["static"]'))
    assert 'is one of "shared", "static", "both", not this' in out
    assert "help: write one of them as a string" in out


def test_a_template_whose_default_is_outside_its_values_is_refused(tmp_path):
    text = 'template t(a, mode = ["fast", "small"] default "fats") { version = "1" }\npackage p = t(1)\n'
    out = rendered(tmp_path, text)
    assert out.startswith(f"BUILD:1:{col(text, 'fats')}: error: default of 'mode' is not one of its values")
    assert "help: did you mean 'fast'?" in out


def test_jbuild_build_with_a_typo_exits_2_before_building(make_workspace, tmp_path):
    text = LIB.format(extra=', kind = "shraed"')
    ws = make_workspace({"BUILD": text, "geo.c": "int geo(void) { return 1; }\n"})
    r = run_jbuild("build", "//:geo", cwd=ws, env={"JBUILD_STORE": str(tmp_path / "store")})
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"BUILD:1:{col(text, 'shraed')}: error: argument 'kind' of template 'cc_library'" in r.stderr
    assert "did you mean 'shared'?" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").glob("*-geo-*"))


@pytest.mark.parametrize("values", ['["fast", "small", "fast"]', '["fast", "1", 1]'])
def test_a_value_listed_twice_is_refused(tmp_path, values):
    text = f'template t(a, mode = {values} default "fast") {{ version = "1" }}\npackage p = t(1)\n'
    out = rendered(tmp_path, text).splitlines()
    second = text.index(values) + values.rindex(", ") + 3  # the last value's column
    assert out[0].startswith(f"BUILD:1:{second}: error: value '") and out[0].endswith("' of parameter 'mode' is listed twice")

"""The query language over the example's resolved graph: every function, depths, set operators,
and the resolution they see (the chosen version's requirements, `when` conditions decided)."""

import pytest
from jbuild.dsl.query import QueryError, parse
from jbuild.engine.query import run_query

GEOTAGS, TEST = "//services:geotags", "//services:geotags_test"
LIBC, GEOHASH, TINYDB, TUNING = "//libs:libc", "//libs:geohash", "//db:tinydb", "//db:tinydb_tuning"
CC, SH = "@std//host:cc", "@std//host:sh"
GTEST, DBTEST = "//libs:geohash_test", "//services:geotags_db_test"
ALL = {GEOTAGS, TEST, LIBC, GEOHASH, TINYDB, TUNING, GTEST, DBTEST}
LIBS = {LIBC, GEOHASH, GTEST}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from helpers import pristine_example

    return pristine_example(tmp_path_factory.mktemp("q") / "geotags")


def labels(ws, text):
    return {str(i) for i in run_query(text, str(ws)).items}


CASES = [
    ("//...", ALL),
    ("//libs/...", LIBS),
    ("deps(//services:geotags)", {GEOTAGS, GEOHASH, LIBC, TINYDB, CC, SH}),
    ("deps(//services:geotags_test, 0)", {TEST}),
    ("deps(//services:geotags_test, 1)", {TEST, GEOTAGS, SH}),
    ("deps(//services:geotags_test, 2)", {TEST, GEOTAGS, SH, GEOHASH, LIBC, TINYDB, CC}),
    ("rdeps(//..., //libs:libc)", {LIBC, GEOHASH, TINYDB, GEOTAGS, TEST, GTEST, DBTEST}),
    ("rdeps(//..., //libs:libc, 1)", {LIBC, GEOHASH, TINYDB, GEOTAGS}),
    ("rdeps(//libs/..., //libs:libc)", LIBS),  # only inside the universe's closure
    ("somepath(//services:geotags_test, //libs:libc)", {TEST, GEOTAGS, LIBC}),
    ("somepath(//libs:libc, //services:geotags)", set()),
    ("allpaths(//services:geotags_test, //libs:libc)", {TEST, GEOTAGS, GEOHASH, TINYDB, LIBC}),
    ("kind(test, //...)", {TEST, GTEST, DBTEST}),
    ("kind('^package$', deps(//services:geotags))", {GEOTAGS, GEOHASH, LIBC, TINYDB}),
    ("kind(host, deps(//services:geotags))", {CC, SH}),
    ("attr(requires, libc, //...)", {GEOHASH, TINYDB, GEOTAGS}),
    ("attr(run_requires, tinydb, //...)", {GEOTAGS}),
    ("attr(version, '^2\\.', //...)", {LIBC, TINYDB}),  # tinydb 2.0.0 is one member of the family
    ("attr(summary, 'shared object', //...)", {LIBC}),
    ("attr(sources, 'main.c', //...)", {GEOTAGS}),
    ("filter('^//libs:', //...)", LIBS),
    ("filter(tuning, //...)", {TUNING}),
    ("tests(//...)", {TEST, GTEST, DBTEST}),
    ("tests(rdeps(//..., //libs:libc))", {TEST, GTEST, DBTEST}),
    ("buildfiles(deps(//services:geotags))", {"//db:BUILD", "//libs:BUILD", "//services:BUILD", "@std//host:BUILD"}),
    ("//... - //libs/...", ALL - LIBS),
    ("//... except //libs/...", ALL - LIBS),
    ("//libs:libc + //db:tinydb", {LIBC, TINYDB}),
    ("//libs:libc union //db:tinydb", {LIBC, TINYDB}),
    ("deps(//libs:geohash) ^ //libs/...", {GEOHASH, LIBC}),
    ("deps(//libs:geohash) intersect //...", {GEOHASH, LIBC}),
    ("//... - //libs/... + //libs:libc", ALL - {GEOHASH, GTEST}),  # left-associative, as Bazel
    ("//... - (//libs/... + //libs:libc)", ALL - LIBS),
    ("'//libs:libc'", {LIBC}),  # a quoted pattern is a pattern
]


@pytest.mark.parametrize("text,expected", CASES, ids=[c[0] for c in CASES])
def test_function(ws, text, expected):
    assert labels(ws, text) == expected


def test_relative_label_from_a_package_directory(ws):
    assert {str(i) for i in run_query("deps(:geohash, 1)", str(ws / "libs")).items} == {GEOHASH, LIBC, CC, SH}


def test_a_plain_pattern_query_never_resolves(ws):
    """`jbuild query //...` is pattern expansion only, as before: no graph is built."""
    result = run_query("//... - //db/...", str(ws))
    assert "graph" not in vars(result.session)


def test_resolution_decides_the_edges(make_workspace):
    """Edges are the resolved ones: the chosen version's requirements, `when` conditions decided
    by the selected flavour (a requirement under `ssl == on` is absent while ssl is off)."""
    root = make_workspace({"BUILD": """
        package ssl { version = "1" }
        package old { version = "1" }
        package fam { version = "1" requires = [:old] }
        package fam { version = "2" }
        package app {
            version = "1"
            flavours { ssl = [on, off] default off }
            requires = [:ssl when ssl == on, :fam >= 2]
        }
        package secure { version = "1" requires = [:app[ssl=on]] }
    """})
    assert {str(i) for i in run_query("deps(//:app)", str(root)).items} == {"//:app", "//:fam"}
    assert {str(i) for i in run_query("deps(//:secure)", str(root)).items} == {"//:secure", "//:app", "//:ssl", "//:fam"}
    assert {str(i) for i in run_query("rdeps(//..., //:old)", str(root)).items} == {"//:old"}


@pytest.mark.parametrize("text,message,caret", [
    ("dep(//x)", "unknown function 'dep'", (1, 3)),
    ("deps(//x", "unclosed '('", (5, 1)),
    ("//a //b", "two expressions need an operator", (5, 3)),
    ("deps(//x, two)", "the depth must be a whole number", (11, 3)),
    ("kind(test)", "kind() takes 2 arguments, not 1", (1, 10)),
    ("attr(verison, x, //...)", "unknown attribute 'verison'", (6, 7)),
    ("filter('(', //...)", "bad regular expression", (8, 3)),
    ("//...-//libs/...", "is not a label", (1, 16)),
])
def test_syntax_errors_point_at_the_word(text, message, caret):
    with pytest.raises(QueryError) as exc:
        parse(text)
    assert message in exc.value.message
    assert (exc.value.span.col, exc.value.span.width) == caret
    assert "__ANON" not in str(exc.value) and "RPAR" not in str(exc.value) and "WORD" not in str(exc.value)


def test_a_warm_pattern_query_imports_no_lark(ws):
    """The common query stays as cheap as pattern expansion: no lark, no resolver, no networkx."""
    import subprocess
    import sys

    code = ("import sys; from jbuild.engine.query import run_query; "
            f"run_query('//... - //db/...', {str(ws)!r}); print(sorted(m for m in ('lark', 'resolvelib', 'networkx') "
            "if m in sys.modules))")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # warms the parse cache
    r = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert r.stdout.strip() == "[]"


def test_absurd_queries_are_refused_not_crashed():
    with pytest.raises(QueryError, match="nested more than 100 levels"):
        parse("deps(" * 5000 + "//a" + ")" * 5000)
    with pytest.raises(QueryError, match="more than 200 set operators"):
        parse(" + ".join(["//a"] * 202))
    parse(" + ".join(["deps(//a)"] * 201))  # 200 operators: accepted


def test_random_text_is_a_query_error_or_a_query():
    """Whatever is typed, a QueryError (shown with a caret) or an expression; never a crash."""
    import random

    alphabet = list("()/,:.+-^ '\"abc1@*$\n") + ["deps", "rdeps", "//...", "//a:b", "union", "kind", "attr", "tags"]
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        try:
            parse(text)
        except QueryError as exc:
            assert "__ANON" not in str(exc) and "$END" not in str(exc)

"""archive(), git() and patches in the language: what they lower to, and that the docs' table
of their arguments is the one lowering checks against."""

from pathlib import Path

import pytest
from jbuild.dsl import model as m
from jbuild.dsl.canonical import target
from jbuild.dsl.errors import RecipeError
from jbuild.dsl.lowering import lower_file
from jbuild.dsl.parser import parse
from jbuild.dsl.sources import reference_table

REPO = Path(__file__).resolve().parents[2]
SHA = "b3a24de97a8fdbc835b9833169501030b8977031bcb54b3b3ac13740f846ab30"


def lower(text):
    return lower_file(parse(text, "BUILD"), "pkg")


def test_the_docs_table_is_the_schema():
    assert reference_table() in (REPO / "docs" / "language.md").read_text()


def test_fetched_sources_keep_their_order_and_a_normalised_hash():
    [pkg] = lower(f"""
        package z {{
            version = "1"
            sources = ["local.c"] + archive(url = "https://a.example/z.tgz", sha256 = "{SHA.upper()}", strip = 1)
                      + [git(url = "/srv/git/z", commit = "{'A' * 40}")]
            patches = ["p/1.patch", "p/0.patch"]
        }}
    """)
    assert pkg.sources.paths == ("local.c",)
    assert pkg.sources.fetched == (m.Archive("https://a.example/z.tgz", SHA, 1), m.GitSource("/srv/git/z", "a" * 40))
    assert pkg.patches.paths == ("p/1.patch", "p/0.patch") and pkg.patch_strip == 1
    canon = target(pkg)
    assert canon["fetch"] == [{"archive": "https://a.example/z.tgz", "sha256": SHA, "strip": 1},
                              {"git": "/srv/git/z", "commit": "a" * 40}]
    assert canon["patches"] == ["p/1.patch", "p/0.patch"]


def test_a_recipe_without_them_keeps_its_canonical_form():
    [pkg] = lower('package z { version = "1" sources = ["a.c"] }')
    assert "fetch" not in target(pkg) and "patches" not in target(pkg)


@pytest.mark.parametrize("text,message", [
    ('package z { version = "1" patches = ["a.patch"] }', "'patches' need 'sources' to patch"),
    (f'test t {{ command = "true" sources = archive(url = "https://a/b.tgz", sha256 = "{SHA}") }}',
     "a test's sources are files of the workspace"),
    (f'package z {{ version = "1" interface = archive(url = "https://a/b.tgz", sha256 = "{SHA}") }}',
     "unknown function 'archive'"),
])
def test_misplaced_sources_are_errors(text, message):
    with pytest.raises(RecipeError) as info:
        lower(text)
    assert info.value.diagnostics[0].message.startswith(message)

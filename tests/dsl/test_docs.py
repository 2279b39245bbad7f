"""BUILD.example and every recipe example in docs/ load; the docs' attribute table is the
schema's."""

import re
import shutil
from pathlib import Path

import pytest
from jbuild.dsl.loader import Loader
from jbuild.dsl.lowering import lower_file
from jbuild.dsl.parser import parse
from jbuild.dsl.schema import reference_table
from jbuild.dsl.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
EXAMPLES = [(p.name, i, block) for p in DOCS
            for i, block in enumerate(re.findall(r"```jbuild\n(.*?)```", p.read_text(), re.DOTALL))]


def test_build_example_loads_whole(tmp_path):
    (tmp_path / "jbuild.toml").write_text("")
    (tmp_path / "db" / "src").mkdir(parents=True)
    (tmp_path / "db" / "include").mkdir()
    shutil.copy(REPO / "BUILD.example", tmp_path / "db" / "BUILD")
    (tmp_path / "db" / "src" / "main.c").write_text("int main(){return 0;}\n")
    (tmp_path / "db" / "include" / "pg.h").write_text("")
    loader = Loader(Workspace(tmp_path))
    loaded = loader.closure(loader.expand(["//..."]))
    family = loaded.targets[next(lb for lb in loaded.targets if lb.name == "postgresql")]
    assert sorted(str(t.version) for t in family) == ["10.5", "9.1.24"]
    pg = next(t for t in family if str(t.version) == "9.1.24")
    assert pg.files == ("include/pg.h", "src/main.c") and pg.service.volumes[0].size == "10Gi"


def test_docs_have_examples():
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("doc,index,text", EXAMPLES, ids=[f"{d}#{i}" for d, i, _ in EXAMPLES])
def test_doc_example_parses(doc, index, text):
    assert lower_file(parse(text, doc), "pkg")


def test_reference_table_matches_schema():
    text = (REPO / "docs" / "language.md").read_text()
    assert reference_table() in text


def test_flavour_environment_names_follow_the_docs():
    from jbuild.dsl.model import flavour_environment

    assert flavour_environment([("precision", "high"), ("fast-math", "on")]) == {
        "JBUILD_FLAVOUR_PRECISION": "high", "JBUILD_FLAVOUR_FAST_MATH": "on"}
    text = (REPO / "docs" / "language.md").read_text()
    assert "$JBUILD_FLAVOUR_PRECISION" in text and "sh -eu" in text and "$JOBS" in text


def test_settings_table_matches_schema():
    from jbuild.dsl.settings_schema import reference_table as settings_table

    assert settings_table() in (REPO / "docs" / "language.md").read_text()

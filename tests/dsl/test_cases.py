"""Recipe cases as data: every invalid case's rendering is pinned beside it (NAME.expected);
every valid case loads. Regenerate after a deliberate wording change with JBUILD_REGEN=1."""

import os
import shutil
from pathlib import Path

import pytest
from jbuild.dsl.errors import RecipeError, render_all
from jbuild.dsl.loader import Loader
from jbuild.dsl.workspace import Workspace

CASES = Path(__file__).parent / "cases"
INVALID = sorted(p.stem for p in (CASES / "invalid").glob("*.jb"))
VALID = sorted(p.stem for p in (CASES / "valid").glob("*.jb"))


def load_case(tmp_path: Path, source: Path):
    (tmp_path / "jbuild.toml").write_text("")
    (tmp_path / "pkg").mkdir()
    shutil.copy(source, tmp_path / "pkg" / "BUILD")
    loader = Loader(Workspace(tmp_path))
    return loader.closure(loader.expand(["//..."]))


@pytest.mark.parametrize("name", INVALID)
def test_invalid_case_renders_as_pinned(tmp_path, name):
    with pytest.raises(RecipeError) as info:
        load_case(tmp_path, CASES / "invalid" / f"{name}.jb")
    text = render_all(info.value, str(tmp_path)) + "\n"
    expected = CASES / "invalid" / f"{name}.expected"
    if os.environ.get("JBUILD_REGEN"):
        expected.write_text(text)
    assert text == expected.read_text()
    assert "__ANON" not in text and "Token(" not in text and "Traceback" not in text


@pytest.mark.parametrize("name", VALID)
def test_valid_case_loads(tmp_path, name):
    loaded = load_case(tmp_path, CASES / "valid" / f"{name}.jb")
    assert loaded.targets


def test_there_are_cases():
    assert len(INVALID) >= 15 and len(VALID) >= 1

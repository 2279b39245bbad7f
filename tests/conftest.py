from pathlib import Path

import pytest
from helpers import Example, pristine_example, write_tree


@pytest.fixture
def make_workspace(tmp_path):
    """make_workspace({"BUILD": "...", "src/a.c": "..."}) -> a workspace root with jbuild.toml."""

    def make(files: dict[str, str], toml: str = "") -> Path:
        root = tmp_path / "ws"
        root.mkdir(exist_ok=True)
        (root / "jbuild.toml").write_text(toml)
        return write_tree(root, files)

    return make


@pytest.fixture
def example(tmp_path):
    return Example(pristine_example(tmp_path / "geotags"), tmp_path / "store")

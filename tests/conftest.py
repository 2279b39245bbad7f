import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "geotags"


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def make_workspace(tmp_path):
    """make_workspace({"BUILD": "...", "src/a.c": "..."}) -> a workspace root with jbuild.toml."""

    def make(files: dict[str, str], toml: str = "") -> Path:
        root = tmp_path / "ws"
        root.mkdir(exist_ok=True)
        (root / "jbuild.toml").write_text(toml)
        return write_tree(root, files)

    return make


def run_jbuild(*args: str, cwd, env=None, timeout=300) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, as a user runs it."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "jbuild", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)

"""The console examples of docs/images.md, run in order in a copy of the example workspace:
each `$ ` command must exit 0, and each line shown under it must match a line of its output,
in order (`…` matches any text)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import pristine_example

DOC = Path(__file__).resolve().parents[2] / "docs" / "images.md"
TOOLS = ("skopeo", "umoci", "bwrap", "kubernetes-validate")


def examples() -> list[tuple[str, list[str]]]:
    blocks = re.findall(r"```console\n(.*?)```", DOC.read_text(), re.DOTALL)
    out: list[tuple[str, list[str]]] = []
    for block in blocks:
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            else:
                out[-1][1].append(line)
    return out


def matches(expected: list[str], output: list[str]) -> bool:
    at = 0
    for want in expected:
        pattern = re.compile(".*".join(map(re.escape, want.split("…"))))
        while at < len(output) and not pattern.fullmatch(output[at]):
            at += 1
        if at == len(output):
            return False
        at += 1
    return True


def test_the_doc_has_examples():
    assert len(examples()) >= 10


@pytest.mark.skipif(not all(shutil.which(t) or (Path(sys.executable).parent / t).exists() for t in TOOLS),
                    reason="skopeo, umoci and bwrap come from dev/setup.sh, kubernetes-validate from .[test]")
def test_the_examples_run(tmp_path):
    ws = pristine_example(tmp_path / "geotags")
    env = dict(os.environ, JBUILD_STORE=str(tmp_path / "store"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for command, expected in examples():
        r = subprocess.run(["bash", "-c", command], cwd=ws, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=300)
        output = r.stdout.splitlines()
        assert r.returncode == 0, f"$ {command}\n{r.stdout}"
        assert matches(expected, output), f"$ {command}: expected\n" + "\n".join(expected) + "\nin\n" + "\n".join(output)

"""Shell completion through click's env-var protocol, run by a real bash: commands, options,
and labels (whose ':' bash splits words at)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import EXAMPLE

BIN = Path(sys.executable).parent  # the virtualenv's bin/, where the `jbuild` script is

DRIVER = r"""
source "$2"
COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
# The words as bash splits them: at blanks, and around ':' (in COMP_WORDBREAKS).
read -ra COMP_WORDS <<< "$(sed 's/:/ : /g' <<< "$COMP_LINE")"
[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMPREPLY=()
_jbuild_completion jbuild 2>/dev/null
printf '%s\n' "${COMPREPLY[@]}"
"""


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    """The script `eval "$(_JBUILD_COMPLETE=bash_source jbuild)"` loads (README), made once."""
    if shutil.which("bash") is None:
        pytest.fail("bash is needed for completion tests")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "_JBUILD_COMPLETE": "bash_source"}
    r = subprocess.run(["jbuild"], env=env, capture_output=True, text=True, check=True)
    path = tmp_path_factory.mktemp("completion") / "jbuild.bash"
    path.write_text(r.stdout)
    return path


@pytest.fixture
def complete(script):
    return lambda line, cwd: _complete(script, line, cwd)


def _complete(script, line, cwd):
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    r = subprocess.run(["bash", "--norc", "-c", DRIVER, "driver", line, str(script)], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    return [w for w in r.stdout.splitlines() if w]


def test_bash_completes_commands_and_options(complete, tmp_path):
    assert complete("jbuild qu", tmp_path) == ["query"]
    assert "why-depends" in complete("jbuild wh", tmp_path)
    assert complete("jbuild build --dry", tmp_path) == ["--dry-run"]


def test_bash_completes_packages_then_targets(complete):
    assert complete("jbuild build //li", EXAMPLE) == ["//libs/...", "//libs:"]
    # @std's packages: host tools, and the standard templates (callable as @std//templates:NAME)
    assert complete("jbuild build @st", EXAMPLE) == ["std//...", "std//host/...", "std//host:",
                                                     "std//templates/...", "std//templates:"]
    # bash replaces only what follows the ':' it split at: the answers are trimmed to that
    assert complete("jbuild build //libs:", EXAMPLE) == ["all", "geohash", "geohash_test", "libc"]
    assert complete("jbuild build //libs:li", EXAMPLE) == ["libc"]
    assert complete("jbuild why-depends //services:geotags @std//host:c", EXAMPLE) == ["cc", "cmake", "cxx"]
    assert complete("jbuild build :geo", EXAMPLE / "services") == ["geotags", "geotags_db_test", "geotags_test"]
    assert complete("jbuild plan -- //... -//d", EXAMPLE) == ["-//db/...", "-//db:"]


def test_bash_completes_labels_inside_a_query(complete):
    """Readline replaces the text after the last word-break character ('(' and ' ' too)."""
    assert complete("jbuild query rdeps(//...,//libs:g", EXAMPLE) == ["geohash", "geohash_test"]
    assert complete("jbuild query deps(//li", EXAMPLE) == ["//libs/...", "//libs:"]
    assert complete("jbuild query 'rdeps(//..., //li", EXAMPLE) == ["//libs/...", "//libs:"]


def test_completion_outside_a_workspace_offers_nothing_quietly(complete, tmp_path):
    assert complete("jbuild build //li", tmp_path) == []


def test_zsh_script_is_generated(tmp_path):
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "_JBUILD_COMPLETE": "zsh_source"}
    r = subprocess.run(["jbuild"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert r.returncode == 0 and "#compdef jbuild" in r.stdout

"""docs/cache.md is true: its nginx rules are the ones the tests serve, its settings validate,
and its channel session runs against a real nginx."""

import re
import shlex
import tomllib
from pathlib import Path

from helpers import Example, pristine_example, run_jbuild
from jbuild.dsl.settings_schema import validate
from nginx_server import CONFIG, nginx_fixture  # noqa: F401 (the `nginx` fixture)

DOC = Path(__file__).resolve().parents[2] / "docs" / "cache.md"


def blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), re.DOTALL)


def squash(text):
    return " ".join(text.split())


def test_the_documented_nginx_rules_are_the_tested_ones():
    (rules,) = blocks("nginx")
    served = CONFIG.replace("{{", "{").replace("}}", "}")
    assert squash(rules) in squash(served)


def test_the_documented_settings_validate():
    (toml,) = blocks("toml")
    assert validate(tomllib.loads(toml), toml, "jbuild.toml") == []


def test_the_channel_session_runs(tmp_path, nginx):
    ex = Example(pristine_example(tmp_path / "ws"), tmp_path / "store")
    session = blocks("sh")[0]
    outputs = {}
    for line in session.splitlines():
        command = line.split("#")[0].strip()
        argv = shlex.split(command)
        assert argv[0] == "jbuild"
        r = run_jbuild(*argv[1:], cwd=ex.root, env={"JBUILD_STORE": str(ex.store), "JBUILD_REMOTE_CACHE": nginx.url})
        assert r.returncode == 0, (command, r.stderr)
        outputs[command] = r.stdout
    assert outputs["jbuild channel list"].splitlines() == ["staging  //services:geotags", "testing  //services:geotags"]
    shown = outputs["jbuild channel show staging"].splitlines()
    documented = re.search(r"prints:\n\n```\n(.*?)```", DOC.read_text(), re.DOTALL)[1].splitlines()
    pattern = re.escape(documented[0]).replace(re.escape("ci@builder-3"), r"\S+").replace(
        re.escape("2026-11-27 09:50:17"), r"[\d-]+ [\d:]+")
    assert re.fullmatch(pattern, shown[0])
    assert documented[1] in shown  # the example's libc entry: the same key on every machine

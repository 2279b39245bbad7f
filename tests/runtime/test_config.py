"""Self-integration on real loaded workspaces: config defaults < settings < --set, conflicts,
etc/ templates, service commands, slots and the standard compiler finding contributed headers."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from jbuild.base.errors import BadInput
from jbuild.dsl.errors import RecipeError, render_all
from jbuild.dsl.labels import Label
from jbuild.dsl.loader import Loader
from jbuild.dsl.model import Package
from jbuild.dsl.workspace import Workspace
from jbuild.engine.runtime.config import (
    CC,
    parse_set,
    render_command,
    render_etc,
    resolve_config,
    slot_values,
    toolchain_environment,
)

REPO = Path(__file__).resolve().parents[2]
DB = Label("", "", "db")

BUILD = '''
package db {
    version = "1"
    config {
        port: int = 7000
        data_dir: string = "/var/lib/db"
        verbose: bool = false
        peers: list = ["a", "b"]
        secret: string
    }
    etc = {
        "db.conf" = """
            port = ${config.port}
            data = ${config.data_dir}
            verbose = ${config.verbose}
            peers = ${config.peers}
            home = ${HOME}
        """,
        "db/secret" = "${config.secret}"
    }
    slots = ["plugins"]
    service {
        command = "bin/db --port ${config.port} --data ${config.data_dir}"
        ports = [config.port, 9100]
        env = { DB_PORT = config.port, VERBOSE = config.verbose, MODE = "fast-${config.port}" }
        health = "bin/db-ping ${config.port}"
    }
}
package tuning {
    version = "1"
    settings { :db.port = 22333 }
}
package tuning_too {
    version = "1"
    settings { :db.port = 22333 }
}
package other_tuning {
    version = "1"
    settings { :db.port = 1234 }
}
package plugin {
    version = "1"
    contribute { :db.plugins = ["lib/plugins", "share/extra"] }
}
'''


def load_all(root: Path, pattern: str = "//...") -> list[Package]:
    loader = Loader(Workspace(root))
    loaded = loader.closure(loader.expand([pattern], str(root)))
    return [t for family in loaded.targets.values() for t in family if isinstance(t, Package)]


def load(root: Path, pattern: str = "//...") -> dict[str, Package]:
    return {p.label.name: p for p in load_all(root, pattern)}


@pytest.fixture
def pkgs(make_workspace):
    return load(make_workspace({"BUILD": BUILD}))


def test_defaults_apply_and_a_key_without_default_stays_unset(pkgs):
    assert resolve_config([pkgs["db"]]) == {
        DB: {"port": 7000, "data_dir": "/var/lib/db", "verbose": False, "peers": ("a", "b")}}


def test_a_setting_of_another_package_overrides_the_default(pkgs):
    config = resolve_config([pkgs["db"], pkgs["tuning"]])
    assert config[DB]["port"] == 22333 and config[DB]["data_dir"] == "/var/lib/db"
    assert config[pkgs["tuning"].label] == {}


def test_set_on_the_command_line_overrides_a_setting(pkgs):
    env = [pkgs["db"], pkgs["tuning"]]
    key, value = parse_set("//:db.port=4000", env)
    assert (key, value) == ((DB, "port"), 4000)
    assert resolve_config(env, {key: value})[DB]["port"] == 4000


def test_two_packages_setting_one_key_differently_is_an_error_naming_both(pkgs):
    env = [pkgs["db"], pkgs["tuning"], pkgs["other_tuning"]]
    with pytest.raises(BadInput) as info:
        resolve_config(env)
    text = str(info.value)
    assert "//:db.port" in text and "//:other_tuning" in text and "//:tuning" in text
    assert "BUILD:31:16: //:tuning" in text and "BUILD:39:16: //:other_tuning" in text and "22333" in text and "1234" in text
    assert "--set //:db.port=" in text
    # The same value twice agrees; --set decides a conflict.
    assert resolve_config([pkgs["db"], pkgs["tuning"], pkgs["tuning_too"]])[DB]["port"] == 22333
    assert resolve_config(env, {(DB, "port"): 5})[DB]["port"] == 5


def test_a_setting_for_a_package_outside_the_environment_is_inert(pkgs):
    assert resolve_config([pkgs["tuning"]]) == {pkgs["tuning"].label: {}}


@pytest.mark.parametrize("text,expected", [
    ("//:db.port=abc", "'port' is an int, and 'abc' is not a number"),
    ("//:db.verbose=maybe", "'verbose' is a bool: write true or false, not 'maybe'"),
    ("//:db.prot=1", "did you mean 'port'?"),
    ("//:dbb.port=1", "did you mean '//:db'?"),
    ("//:db.port", "expected LABEL.KEY=VALUE"),
    ("db.port=1", "did you mean ':db'"),
    ("//:db@1.port=1", "without a version"),
])
def test_bad_set_text_is_a_clear_error(pkgs, text, expected):
    with pytest.raises(BadInput) as info:
        parse_set(text, [pkgs["db"], pkgs["tuning"]])
    assert expected in str(info.value)


def test_set_values_are_typed_by_the_key(pkgs):
    env = [pkgs["db"]]
    assert parse_set("//:db.verbose=TRUE", env)[1] is True
    assert parse_set("//:db.peers=x, y", env)[1] == ("x", "y")
    assert parse_set("//:db.peers=", env)[1] == ()
    assert parse_set(":db.data_dir=/srv/a=b", env, "")[1] == "/srv/a=b"
    with pytest.raises(BadInput, match="not 'a string'|is int, not a string"):
        resolve_config(env, {(DB, "port"): "22333"})


def test_etc_templates_render_config(pkgs):
    config = resolve_config([pkgs["db"], pkgs["tuning"]], {(DB, "secret"): "s3"})[DB]
    assert render_etc(pkgs["db"], config) == {
        "db.conf": "port = 22333\ndata = /var/lib/db\nverbose = false\npeers = a b\nhome = ${HOME}\n",
        "db/secret": "s3",
    }


def test_a_template_using_a_key_without_value_is_an_error(pkgs):
    with pytest.raises(BadInput) as info:
        render_etc(pkgs["db"], resolve_config([pkgs["db"]])[DB])
    assert "etc/db/secret" in str(info.value) and "config.secret" in str(info.value)
    assert "--set //:db.secret=VALUE" in str(info.value)


def test_an_unknown_config_reference_in_a_template_is_placed_exactly(make_workspace):
    root = make_workspace({"BUILD": BUILD.replace("data = ${config.data_dir}", "data = ${config.datadir}")})
    with pytest.raises(RecipeError) as info:
        load(root)
    text = render_all(info.value, str(root))
    assert text.startswith("BUILD:14:20: error: unknown config key 'datadir'")
    assert "help: did you mean 'data_dir'?" in text and "^" * len("${config.datadir}") in text


def test_service_command_env_and_ports_take_config(pkgs):
    config = resolve_config([pkgs["db"], pkgs["tuning"]])[DB]
    svc = render_command(pkgs["db"].service, config, DB)
    assert svc.command == "bin/db --port 22333 --data /var/lib/db"
    assert svc.ports == (22333, 9100)
    assert svc.env == {"DB_PORT": "22333", "VERBOSE": "false", "MODE": "fast-22333"}
    assert svc.health == "bin/db-ping 22333"
    with pytest.raises(BadInput, match="port '0' is not a port number"):
        render_command(pkgs["db"].service, {**config, "port": 0}, DB)


def test_contributions_fill_slots_inside_each_contributors_entry(pkgs, tmp_path):
    entries = {pkgs["plugin"].label: tmp_path / "store" / "abc-plugin-1", DB: tmp_path / "store" / "def-db-1"}
    slots = slot_values([pkgs["db"], pkgs["plugin"]], entries)
    root = str(tmp_path / "store" / "abc-plugin-1")
    assert slots == {(DB, "plugins"): [root + "/lib/plugins", root + "/share/extra"]}
    assert slot_values([pkgs["db"]], entries) == {(DB, "plugins"): []}
    assert slot_values([pkgs["plugin"]], entries) == {}  # the slot's owner is not there: inert


def test_toolchain_environment_maps_the_compilers_slots():
    slots = {(CC, "include_dirs"): ["/e/a/include", "/e/b/include"], (CC, "library_dirs"): [],
             (DB, "plugins"): ["/x"]}
    assert toolchain_environment(slots) == {"C_INCLUDE_PATH": "/e/a/include:/e/b/include",
                                            "CPLUS_INCLUDE_PATH": "/e/a/include:/e/b/include"}


HELLO = '''
package hello {
    version = "1"
    contribute {
        @std//host:cc.include_dirs = ["include"]
        @std//host:cc.library_dirs = ["lib"]
    }
}
'''


def test_the_host_cc_compiles_against_contributed_headers_and_libraries(make_workspace, tmp_path):
    pkgs = load(make_workspace({"BUILD": HELLO}))
    assert CC in {p.label for p in pkgs.values()}
    entry = tmp_path / "entry-hello-1"
    (entry / "include").mkdir(parents=True)
    (entry / "lib").mkdir()
    (entry / "include" / "jb_hello_only_here.h").write_text("int jb_hello(void);\n")
    (tmp_path / "hello.c").write_text("int jb_hello(void) { return 42; }\n")
    subprocess.run(["cc", "-c", str(tmp_path / "hello.c"), "-o", str(tmp_path / "hello.o")], check=True)
    subprocess.run(["ar", "rcs", str(entry / "lib" / "libjbhello.a"), str(tmp_path / "hello.o")], check=True)
    work = tmp_path / "user"
    work.mkdir()
    (work / "main.c").write_text('#include <jb_hello_only_here.h>\n#include <stdio.h>\n'
                                 'int main(void) { printf("%d\\n", jb_hello()); return 0; }\n')
    env_vars = toolchain_environment(slot_values(pkgs.values(), {pkgs["hello"].label: entry}))
    assert set(env_vars) == {"C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "LIBRARY_PATH"}
    base = {k: v for k, v in os.environ.items() if k not in env_vars}
    compile_ = ["cc", "main.c", "-ljbhello", "-o", "prog"]
    without = subprocess.run(compile_, cwd=work, env=base, capture_output=True, text=True)
    assert without.returncode != 0 and "jb_hello_only_here.h" in without.stderr
    subprocess.run(compile_, cwd=work, env={**base, **env_vars}, check=True)
    assert subprocess.run([str(work / "prog")], capture_output=True, text=True, check=True).stdout == "42\n"


def test_templates_and_config_never_enter_a_build_key(make_workspace, tmp_path):
    from jbuild.engine.build import Options, plan

    def key(build: str) -> str:
        root = make_workspace({"BUILD": build})
        p = plan(["//:db"], Options(sandbox="dry-run", store=str(tmp_path / "store")), cwd=str(root))
        return next(v for n, v in p.keys.build.items() if n.label.name == "db")

    before = key(BUILD)
    assert key(BUILD.replace("port = ${config.port}", "listen = ${config.port}")) == before
    assert key(BUILD.replace("port: int = 7000", "port: int = 7001")) == before


def test_the_example_tuning_package_moves_tinydb_without_touching_geotags(tmp_path):
    example = tmp_path / "geotags"
    shutil.copytree(REPO / "examples" / "geotags", example, ignore=shutil.ignore_patterns(".jbuild", "result"))
    assert "tinydb_tuning" not in load(example, "//services:geotags")
    everything = load_all(example)
    pkgs = {p.label.name: p for p in everything if p.label.name != "tinydb"}
    tinydb = next(p for p in everything if p.label.name == "tinydb" and str(p.version) == "1.4.2")
    config = resolve_config([tinydb, pkgs["tinydb_tuning"]])[tinydb.label]
    assert render_etc(tinydb, config) == {"tinydb.conf": "port = 22333\ndata_dir = /var/lib/tinydb\n"}
    assert render_command(tinydb.service, config, tinydb.label).ports == (22333,)
    entries = {p.label: tmp_path / p.label.name for p in pkgs.values()}
    env = toolchain_environment(slot_values(pkgs.values(), entries))
    assert env["C_INCLUDE_PATH"] == f"{tmp_path}/geohash/include:{tmp_path}/libc/include"
    assert env["LIBRARY_PATH"] == f"{tmp_path}/geohash/lib:{tmp_path}/libc/lib"

"""The command line imports a command's module only when that command runs (jbuild/commands.py):
`jbuild --help` lists every command from the table, importing none of them, and says what the
commands themselves would say."""

import json
import subprocess
import sys

import click

from jbuild import cli, commands, group

COMMAND_MODULES = {f"jbuild.{module}" for module, _, _ in commands.COMMANDS.values()}


def _imported_after(*argv: str) -> tuple[str, set[str]]:
    """(stdout, jbuild modules imported) of `jbuild ARGV` in a fresh interpreter."""
    code = ("import json, sys\nfrom jbuild.cli import run\ncode = run(sys.argv[1:])\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('jbuild', 'click')))))")
    r = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    out, _, last = r.stdout.rstrip("\n").rpartition("\n")
    return out, set(json.loads(last))


def test_help_lists_every_command_without_importing_one():
    out, imported = _imported_after("--help")
    for name in commands.COMMANDS:
        assert f"\n  {name} " in out, name
    assert not imported & COMMAND_MODULES
    assert "click.shell_completion" not in imported


def test_a_command_imports_its_own_module_only():
    out, imported = _imported_after("build", "--help")
    assert "Build PATTERNS into the store" in out
    assert imported & COMMAND_MODULES == {"jbuild.build_commands"}
    assert "click.shell_completion" not in imported  # label completion is imported when it completes


def test_listing_is_what_click_derives_from_the_commands_themselves():
    """The table's one-line helps, against an eager group of the real commands: the same text."""
    eager = click.Group("jbuild", help=group.cli.help, context_settings=group.cli.context_settings,
                        params=group.cli.params)
    for name in commands.COMMANDS:
        cmd = commands.load(name)
        assert cmd.get_short_help_str(limit=10**6) == commands.COMMANDS[name][2], name
        eager.add_command(cmd, name)
    for name in ("show", "help"):
        eager.add_command(group.cli.commands[name], name)
    lazy = group._Group("jbuild", help=group.cli.help, context_settings=group.cli.context_settings,
                      params=group.cli.params, commands={n: group.cli.commands[n] for n in ("show", "help")})
    with click.Context(eager, info_name="jbuild") as a, click.Context(lazy, info_name="jbuild") as b:
        assert eager.get_help(a) == lazy.get_help(b)


def test_every_command_module_is_in_the_table():
    """A command added to a module without a table row would be unreachable: each click command
    defined at the top of a command module is listed (or is a subcommand of a listed group)."""
    import importlib
    import pkgutil

    import jbuild

    listed = {id(commands.load(n)) for n in commands.COMMANDS}
    sub = {id(c) for n in commands.COMMANDS for c in getattr(commands.load(n), "commands", {}).values()}
    for info in pkgutil.iter_modules(jbuild.__path__):
        if info.name == "__main__":
            continue
        module = importlib.import_module(f"jbuild.{info.name}")
        for attr, value in vars(module).items():
            if isinstance(value, click.Command) and getattr(value.callback, "__module__", "") == module.__name__ \
                    and info.name != "group":
                assert id(value) in listed | sub, f"jbuild.{info.name}.{attr} is not in jbuild/commands.py"


def test_unknown_command_did_you_mean_from_the_table(capsys):
    assert cli.run(["wy-depends"]) == 2
    assert "no such command 'wy-depends' (did you mean 'why-depends'?)" in capsys.readouterr().err

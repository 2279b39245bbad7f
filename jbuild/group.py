"""The `jbuild` click group: its help, the label shortcut, did-you-mean for commands, and the
two commands that live here (`show`, `help`); every other command comes from commands.py's
table when it runs. Imported only when click parses the command line (cli.py)."""

from __future__ import annotations

import click

from . import __version__
from .commands import LazyGroup

TARGET_SYNTAX = """\
Targets and patterns (as in Bazel):

  //services:geotags     target 'geotags' declared in services/BUILD
  //services             the same as //services:services
  :geotags               a target of the package of the current directory
  services:geotags       relative to the current directory: //services:geotags at the
                         top of the workspace, //libs/services:geotags in libs/
  @std//host:cc          a standard recipe shipped with jbuild (stdlib-recipes/)
  //db:tinydb@1.4.2      one version of a version family (where a single target is meant)
  //...                  every target of the workspace
  //services/...         every target under services/
  //services:all         every target of services/BUILD

Subtract with a leading '-' after '--':

  jbuild build -- //... -//experimental/...

Targets tagged "manual" are skipped by patterns in build and test, not in query.
"""



class _Group(LazyGroup):
    def parse_args(self, ctx, args):
        """`jbuild //services:geotags` (a label where a command goes) means `jbuild build ...`;
        so does a label relative to the current directory (`jbuild services:geotags`)."""
        if args and (args[0].startswith(("//", ":", "@")) or _relative_label(args[0])):
            args = ["build", *args]
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name and name not in self.list_commands(ctx) and not name.startswith("-"):
            from jbuild.base.spelling import did_you_mean

            hint = did_you_mean(name, self.list_commands(ctx))
            raise click.UsageError(f"no such command '{name}'" + (f" ({hint})" if hint else ""))
        return super().resolve_command(ctx, args)


def _relative_label(word: str) -> bool:
    if ":" not in word and not word.endswith("/..."):
        return False
    from jbuild.dsl.labels import from_cwd

    return from_cwd(word, "") != word


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="jbuild", message="%(prog)s %(version)s")
@click.option("--no-server", is_flag=True, expose_value=False,
              help="Run the command in this process, not in the workspace's build server (as `bazel --batch`; "
                   "JBUILD_SERVER=0 does the same). Give it before the command.")
def cli():
    """jbuild: declarative builds that never rebuild what a change cannot affect.

    Run inside a workspace (a directory tree with jbuild.toml at its root).
    `jbuild //x:y` is short for `jbuild build //x:y`; `jbuild help target-syntax` explains
    labels and patterns. `jbuild build` runs in the workspace's resident build server, started
    on first use, which keeps the analysis in memory between builds (docs/server.md; `jbuild
    shutdown` stops it). Exit codes: 0 success, 1 build failed, 2 bad command line or recipe,
    3 tests failed, 4 no tests matched (build: nothing to build matched), 8 interrupted,
    9 lock not had in time, 34 the remote executor or a needed remote cache cannot be used,
    37 internal error.
    """


@cli.command()
def version():
    """Print jbuild's version (the same as `jbuild --version`)."""
    click.echo(f"jbuild {__version__}")


@cli.command()
@click.argument("label", shell_complete=lambda ctx, param, incomplete: _complete(ctx, param, incomplete))
def show(label):
    """Print a target as the engine sees it (canonical JSON).

    Every version of a version family is shown; name one with //pkg:name@VERSION.
    """
    import json

    from jbuild.dsl.canonical import target
    from jbuild.dsl.loader import Loader, parse_cli_label
    from jbuild.dsl.workspace import Workspace

    ws = Workspace.find()
    loader = Loader(ws)
    found = loader.lookup(parse_cli_label(label, ws))
    loader.raise_errors()
    loader.save_cache()
    data = [target(t) for t in found]
    click.echo(json.dumps(data[0] if len(data) == 1 else data, indent=2, sort_keys=True))


def _complete(ctx, param, incomplete):
    from .label_completion import complete_labels

    return complete_labels(ctx, param, incomplete)


@cli.command(name="help")
@click.argument("topic", required=False)
def help_(topic):
    """Explain a topic: target-syntax, language."""
    topics = {"target-syntax": TARGET_SYNTAX, "language": _language()}
    if topic is None:
        click.echo("topics: " + ", ".join(topics))
        return
    if topic not in topics:
        from jbuild.base.spelling import did_you_mean

        hint = did_you_mean(topic, topics)
        raise click.UsageError(f"no help topic '{topic}'" + (f" ({hint})" if hint else ""))
    click.echo(topics[topic], nl=False)


def _language() -> str:
    """Every block's attributes, from the schema tables that drive validation (docs/language.md
    is the full reference, with examples)."""
    from jbuild.dsl import schema

    lines = ["The recipe language: blocks and their attributes (docs/language.md has examples).", ""]
    for kind, table in (("package", schema.PACKAGE), ("test", schema.TEST), ("service", schema.SERVICE),
                        ("volume", schema.VOLUME), ("host_tool", schema.HOST_TOOL)):
        lines.append(f"{kind} {{ ... }}")
        lines += [f"  {s.name:<16}{s.doc}" + (" (required)" if s.required else "") for s in table.values()]
        lines.append("")
    lines.append("package blocks: " + ", ".join(schema.PACKAGE_BLOCKS))
    return "\n".join(lines) + "\n"

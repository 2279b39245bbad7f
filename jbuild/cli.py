"""The command line: a thin layer over jbuild.dsl and jbuild.engine.

Each command imports what it needs inside its body, so `jbuild --help` and a warm no-op stay
fast. Every error leaves through `main()`, which maps it to an exit code (exitcodes.py).
"""

from __future__ import annotations

import os
import sys

import click

from . import __version__, exitcodes
from .commands import LazyGroup

TARGET_SYNTAX = """\
Targets and patterns (as in Bazel):

  //services:geotags     target 'geotags' declared in services/BUILD
  //services             the same as //services:services
  :geotags               a target of the package of the current directory
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
        """`jbuild //services:geotags` (a label where a command goes) means `jbuild build ...`."""
        if args and args[0].startswith(("//", ":", "@")):
            args = ["build", *args]
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name and name not in self.list_commands(ctx) and not name.startswith("-"):
            from jbuild.base.spelling import did_you_mean

            hint = did_you_mean(name, self.list_commands(ctx))
            raise click.UsageError(f"no such command '{name}'" + (f" ({hint})" if hint else ""))
        return super().resolve_command(ctx, args)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="jbuild", message="%(prog)s %(version)s")
def cli():
    """jbuild: declarative builds that never rebuild what a change cannot affect.

    Run inside a workspace (a directory tree with jbuild.toml at its root).
    `jbuild //x:y` is short for `jbuild build //x:y`; `jbuild help target-syntax` explains
    labels and patterns. Exit codes: 0 success, 1 build failed, 2 bad command line or recipe,
    3 tests failed, 4 no tests matched (build: nothing to build matched), 8 interrupted,
    9 lock not had in time, 37 internal error.
    """


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


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; map every outcome to an exit code, never a traceback for bad input."""
    code = run(argv)
    sys.exit(code)


def _terminate(signum, frame):
    raise KeyboardInterrupt  # SIGTERM stops a build like Ctrl-C: children killed, exit 8


def run(argv: list[str] | None = None) -> int:
    import signal

    if threading_is_main():
        signal.signal(signal.SIGTERM, _terminate)
    if "_JBUILD_COMPLETE" in os.environ:  # shell completion (jbuild/completion.py)
        from .completion import install

        install()
    try:
        result = cli.main(args=argv, prog_name="jbuild", standalone_mode=False)
        return result if isinstance(result, int) else exitcodes.SUCCESS
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exitcodes.BAD_INPUT
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        return exitcodes.INTERRUPTED
    except BrokenPipeError:
        return exitcodes.SUCCESS
    except Exception as exc:  # noqa: BLE001 - the one place that classifies every failure
        return _classify(exc)


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _classify(exc: Exception) -> int:
    from jbuild.dsl.errors import RecipeError, render_all

    if isinstance(exc, RecipeError):
        root = None
        try:
            from jbuild.dsl.workspace import Workspace

            root = str(Workspace.find().root)
        except RecipeError:
            pass
        click.echo(render_all(exc, root, color=sys.stderr.isatty()), err=True)
        _annotate(exc, root)
        return exitcodes.BAD_INPUT
    from jbuild.base.errors import JbuildError

    if isinstance(exc, JbuildError):
        if str(exc):  # an empty message was reported already (an interrupted build's summary)
            click.echo(f"error: {exc}", err=True)
        return exitcodes.BY_KIND[exc.kind]
    import traceback

    click.echo("internal error: jbuild has a bug. Please report it with the text below.", err=True)
    click.echo("".join(traceback.format_exception(exc)), err=True)
    return exitcodes.INTERNAL_ERROR


def _annotate(exc, root: str | None) -> None:
    """Under GitHub Actions, each recipe error also becomes an `::error file=…,line=…,col=…::`."""
    from jbuild.engine import ci

    if not ci.github_actions():
        return
    for d in exc.diagnostics:
        if d.span.line > 0:
            path = d.span.path if os.path.isabs(d.span.path) or not root else os.path.join(root, d.span.path)
            click.echo(ci.annotation(d.message, path, d.span.line, d.span.col, title="jbuild: recipe error"), err=True)
        else:
            click.echo(ci.annotation(d.message, title="jbuild: bad command line"), err=True)


if __name__ == "__main__":
    main(os.sys.argv[1:])

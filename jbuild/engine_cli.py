"""CLI commands over the engine: build, explain, log, store verify, gc. Thin: parse options,
call jbuild.engine, print."""

from __future__ import annotations

import os
from pathlib import Path

import click

from . import exitcodes

SANDBOXES = ["auto", "bwrap", "fallback"]


def _opts(jobs, keep_going, strict, sandbox, store, build_events=None, out_link="result"):
    from jbuild.engine.build import Options

    return Options(jobs=jobs or os.cpu_count() or 2, keep_going=keep_going, strict=strict, sandbox=sandbox,
                   store=store, build_events=build_events, out_link=out_link)


common = [
    click.option("-j", "--jobs", type=int, default=0, help="Parallel actions (default: the core count)."),
    click.option("-k", "--keep-going", is_flag=True, help="Build what does not depend on a failure."),
    click.option("--strict", is_flag=True, help="Release mode: interface keys are full build keys (Nix-like)."),
    click.option("--sandbox", type=click.Choice(SANDBOXES), default="auto", show_default=True,
                 help="bwrap (bubblewrap), or the weaker fallback; auto picks bwrap where it works."),
    click.option("--store", type=click.Path(), help="Store directory (else JBUILD_STORE, jbuild.toml, cache dir)."),
]


def with_common(f):
    for opt in reversed(common):
        f = opt(f)
    return f


@click.command()
@click.argument("patterns", nargs=-1, required=True)
@with_common
@click.option("--build-events", type=click.Path(), help="Write one JSON object per event to FILE.")
@click.option("--out-link", default="result", show_default=True, help="Name of the result link (a GC root).")
@click.option("--no-link", is_flag=True, help="Do not create a result link.")
@click.option("--print-out-paths", is_flag=True, help="Print the store path of each root on stdout.")
def build(patterns, jobs, keep_going, strict, sandbox, store, build_events, out_link, no_link, print_out_paths):
    """Build PATTERNS (e.g. //services:geotags, //...) into the store.

    Keys are computed up front from declared inputs; an action whose key is in the store is
    reused. Prints where each root landed and leaves a `result` link (a GC root).
    """
    from jbuild.engine.build import build as run_build

    opts = _opts(jobs, keep_going, strict, sandbox, store, build_events, None if no_link else out_link)
    result = run_build(list(patterns), opts)
    for node, entry in result.roots:
        click.echo(f"{node} up to date: {entry}", err=True)
        if print_out_paths:
            click.echo(str(entry))
    return result.code


@click.command()
@click.argument("patterns", nargs=-1, required=True)
@with_common
def explain(patterns, jobs, keep_going, strict, sandbox, store):
    """Say, for each target in the closure, why it was last built or reused.

    Reads the decisions the last build recorded; a target whose key changed since is said to
    be out of date, with the inputs that changed.
    """
    from jbuild.engine.build import plan
    from jbuild.engine.graph import is_action
    from jbuild.engine.keys import describe_change

    p = plan(list(patterns), _opts(jobs, keep_going, strict, sandbox, store))
    recorded = p.store.index.decisions(str(p.workspace.root))
    for node in sorted(p.graph.nodes, key=str):
        if not is_action(node):
            continue
        rec = recorded.get(str(node))
        key = p.keys.build[node]
        if rec and rec[1] == key:
            click.echo(f"{node}: {rec[2]}: {rec[3]}")
        else:
            why = describe_change(p.store.index.last_inputs(str(node)), p.keys.inputs[node])
            click.echo(f"{node}: out of date: {why}")


@click.command()
@click.argument("label")
@click.option("--store", type=click.Path())
def log(label, store):
    """Print the build log of LABEL's last build."""
    from jbuild.dsl.loader import parse_cli_label
    from jbuild.dsl.workspace import Workspace
    from jbuild.engine.build import Options, store_path
    from jbuild.engine.store import Store

    ws = Workspace.find()
    wanted = str(parse_cli_label(label, ws).label)
    s = Store(store_path(ws, Options(store=store)))
    rows = [(n, v) for n, v in s.index.decisions(str(ws.root)).items() if v[0] == wanted]
    if not rows:
        raise click.UsageError(f"no build of {wanted} is recorded in this workspace")
    node, (_, key, _, _) = rows[0]
    path = s.root / "logs" / f"{key}.log"
    if not path.exists():
        click.echo(f"{node}: no log (it was reused from the store)", err=True)
        return exitcodes.SUCCESS
    click.echo(path.read_text(errors="replace"), nl=False)


@click.group(name="store")
def store_group():
    """Inspect and repair the store."""


@store_group.command()
@click.option("--repair", is_flag=True, help="Evict changed entries and rebuild the index from the entries.")
@click.option("--store", type=click.Path())
def verify(repair, store):
    """Rehash every entry and report those that changed since they were built."""
    problems = _store(store).verify(repair)
    for line in problems:
        click.echo(line)
    click.echo(f"{len(problems)} problem(s)" + (" repaired" if repair and problems else ""), err=True)
    return exitcodes.BUILD_FAILED if problems and not repair else exitcodes.SUCCESS


@click.command()
@click.option("--dry-run", is_flag=True, help="Print what would be deleted; delete nothing.")
@click.option("--store", type=click.Path())
def gc(dry_run, store):
    """Delete store entries no root reaches (result links are roots)."""
    report = _store(store).gc(dry_run)
    dead, freed = report.dead, report.freed
    for name in dead:
        click.echo(("would delete " if dry_run else "deleting ") + name)
    click.echo(f"{freed} bytes {'would be ' if dry_run else ''}freed")


def _store(path):
    from jbuild.dsl.errors import RecipeError
    from jbuild.dsl.workspace import Workspace
    from jbuild.engine.build import Options, store_path
    from jbuild.engine.store import Store, default_store

    try:
        ws = Workspace.find()
        return Store(store_path(ws, Options(store=path)))
    except RecipeError:
        return Store(Path(path or os.environ.get("JBUILD_STORE") or default_store()))


def register(cli: click.Group) -> None:
    for cmd in (build, explain, log, store_group, gc):
        cli.add_command(cmd)

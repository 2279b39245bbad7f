"""`jbuild query`, `plan`, `why-depends` and `path-info`: questions about the graph, the keys
and the store, answered without building anything. Thin: parse options, call jbuild.engine, print."""

from __future__ import annotations

import click

from . import exitcodes
from .build_commands import PLANNING, _opts, _with
from .label_completion import complete_labels
from .pattern_command import PatternCommand

QUERY_HELP = """Answer a question about the target graph; print the labels, one per line, sorted.

EXPRESSION is a target pattern or a query (docs/query.md), e.g.

\b
  jbuild query //...                              every target
  jbuild query 'rdeps(//..., //libs:libc)'        what a libc change could touch
  jbuild query 'deps(//services:geotags, 1)'      what it requires directly
  jbuild query 'somepath(//services:geotags, //libs:libc)'
  jbuild query 'kind(test, //...) - //libs/...'

Functions: deps(x[, depth]), rdeps(universe, x[, depth]), somepath(a, b), allpaths(a, b),
kind(regex, x), attr(name, regex, x), filter(regex, x), tests(x), buildfiles(x); operators
+ (union), ^ (intersect), - (except). Several arguments are joined as patterns are in
`jbuild build`: `jbuild query -- //... -//db/...`.
"""


@click.command(cls=PatternCommand, help=QUERY_HELP)
@click.argument("expression", nargs=-1, required=True, shell_complete=complete_labels)
@click.option("--output", type=click.Choice(["label", "graph", "json", "location"]), default="label",
              show_default=True,
              help="label: one per line, sorted; graph: GraphViz DOT (requirements as edges); json: one "
                   "object per target with its kind, location, versions and requirements; location: "
                   "FILE:LINE:COL: kind label, where each is declared.")
def query(expression, output):
    from jbuild.dsl.query import from_arguments
    from jbuild.engine.query import run_query
    from jbuild.engine.query.output import render

    result = run_query(from_arguments(list(expression)))
    click.echo(render(result, output), nl=False)


@click.command()
@click.argument("patterns", nargs=-1, required=True, shell_complete=complete_labels)
@_with(PLANNING)
def plan(patterns, strict, sandbox, store):
    """Say what `jbuild build PATTERNS` would build now, and why — running nothing.

    Every key is predicted from the declared inputs; an action whose predicted entry is in the
    store would be reused, any other would build (with the inputs that changed since its last
    build). `jbuild build --dry-run` prints the same.
    """
    print_plan(list(patterns), _opts(strict=strict, sandbox=sandbox, store=store))


def print_plan(patterns: list[str], opts) -> None:
    from jbuild.engine.build import plan as make_plan
    from jbuild.engine.explain import predict
    from jbuild.engine.nothing_to_build import check

    p = make_plan(patterns, opts)
    check(p, patterns, None)
    prediction = predict(p)
    for e in prediction.explanations:
        click.echo(str(e))
    click.echo(prediction.summary(), err=True)


@click.command(name="why-depends")
@click.argument("package", shell_complete=complete_labels)
@click.argument("dependency", shell_complete=complete_labels)
@click.option("-e", "--entries", is_flag=True,
              help="Also name each step's store entry at the current inputs, and where a reused entry was "
                   "built against another entry than the one it runs with now (plans the keys; runs nothing).")
@_with(PLANNING)
def why_depends(package, dependency, entries, strict, sandbox, store):
    """Print how PACKAGE comes to need DEPENDENCY: a chain of requirements, each edge with its
    kind (requires, build_requires, run_requires), at the versions resolution chose for PACKAGE.

    Exits 0 with a sentence when there is no such chain (as `nix why-depends`).
    """
    from jbuild.engine.query.why import why_depends as chain

    opts = _opts(strict=strict, sandbox=sandbox, store=store) if entries else None
    found = chain(package, dependency, opts=opts)
    click.echo(found.render())


@click.command(name="path-info")
@click.argument("patterns", nargs=-1, required=True, shell_complete=complete_labels)
@click.option("-s", "--size", is_flag=True, help="Print the entry's own size in bytes.")
@click.option("-S", "--closure-size", is_flag=True,
              help="Print the closure's size in bytes: the entry and every entry it needs to build and "
                   "to run (what its result link keeps from gc).")
@click.option("-r", "--recursive", is_flag=True, help="Print every entry of the closure, not only the target's.")
@click.option("--human-readable", is_flag=True, help="Sizes in KiB, MiB, GiB.")
@_with(PLANNING)
def path_info(patterns, size, closure_size, recursive, human_readable, strict, sandbox, store):
    """Print the store path of each target PATTERNS names (as `nix path-info`), at the current inputs.

    A target not in the store at its current key is an error (exit 1): build it first.
    """
    from jbuild.engine.query.path_info import path_info as info

    for row in info(list(patterns), _opts(strict=strict, sandbox=sandbox, store=store), recursive):
        click.echo(row.render(size, closure_size, human_readable))
    return exitcodes.SUCCESS

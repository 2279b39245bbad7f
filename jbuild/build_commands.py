"""`jbuild build`, `explain` and `log`: parse options, call jbuild.engine, print. Thin."""

from __future__ import annotations

import click

from . import build_options as table
from . import exitcodes
from .build_run import SHOW_RESULT, _opts, build_and_report, events_even_if_refused, refused_events
from .label_completion import complete_labels
from .pattern_command import PatternCommand

__all__ = ["SHOW_RESULT", "_opts", "events_even_if_refused", "refused_events"]  # (other commands import them here)


def _option(row: dict):
    """click's option for a row of build_options.py (the fast parser reads the same rows)."""
    kind, more = row["kind"], dict(row["click"])
    if kind == "flag":
        more["is_flag"] = True
    elif kind != "switch":  # (a switch is click's `--x/--no-x`, from its declaration)
        more["type"] = {"int": int, "count": click.IntRange(min=0), "sandbox": click.Choice(table.SANDBOXES),
                        "path": click.Path(), "file": click.Path(dir_okay=False), "text": None}[kind]
    return click.option(*row["decls"], row["name"], default=row["default"], help=row["help"], **more)


STORE = _option(table.STORE)
PLANNING = [_option(row) for row in table.PLANNING]
RUNNING = [_option(row) for row in table.RUNNING]
REMOTE = [_option(row) for row in table.REMOTE]
EXECUTOR = [_option(row) for row in table.EXECUTOR]


def _with(options):
    def apply(f):
        for opt in reversed(options):
            f = opt(f)
        return f
    return apply


@click.command(cls=PatternCommand)
@click.argument("patterns", nargs=-1, required=True, shell_complete=complete_labels)
@_with([_option(row) for row in table.BUILD])
def build(patterns, jobs, keep_going, strict, sandbox, store, remote_cache, remote_upload, strict_interfaces,
          verify_inputs, build_events, out_link, no_link, print_out_paths, remote_executor, remote_instance, dry_run,
          offline, remote_ca_cert, show_result):
    """Build PATTERNS into the store.

    PATTERNS are labels (//services:geotags) or patterns (//..., //services:all). Keys are
    computed up front from declared inputs; an action whose key is in the store is reused.
    Prints where each root landed and leaves a `result` link (a GC root) per root, for at most
    20 roots unless --out-link is given. Patterns that match nothing to build (only templates,
    host tools or targets tagged manual) say so and exit 4, as `jbuild test` does when no test
    matches.
    """
    if dry_run:
        from .query_command import print_plan

        return print_plan(list(patterns), _opts(strict=strict, sandbox=sandbox, store=store))
    return build_and_report(patterns, jobs, keep_going, strict, sandbox, store, remote_cache, remote_upload,
                            strict_interfaces, verify_inputs, build_events, out_link, no_link, print_out_paths,
                            remote_executor, remote_instance, offline, remote_ca_cert, show_result)


@click.command()
@click.argument("patterns", nargs=-1, required=True, shell_complete=complete_labels)
@_with(PLANNING)
def explain(patterns, strict, sandbox, store):
    """Say, for each target in the closure, why it was built or reused.

    Reads the decisions the last build recorded; where the store does not hold what the current
    inputs predict, says what would build and which inputs changed.
    """
    from jbuild.engine.build import plan
    from jbuild.engine.explain import explain as explanations

    for e in explanations(plan(list(patterns), _opts(strict=strict, sandbox=sandbox, store=store))):
        click.echo(str(e))


@click.command()
@click.argument("label", shell_complete=complete_labels)
@STORE
def log(label, store):
    """Print the build log of LABEL's last build in this workspace."""
    from jbuild.engine.logs import last_log

    found = last_log(label, _opts(store=store))
    if found.path is None:
        click.echo(f"{found.node}: no log ({found.why})", err=True)
        return exitcodes.SUCCESS
    text = found.path.read_text(errors="replace")
    if not text:
        click.echo(f"{found.node}: the build printed nothing (log {found.path})", err=True)
    click.echo(text, nl=False)


@click.command()
@click.argument("patterns", nargs=-1, required=True)
@STORE
@click.option("--offline", is_flag=True, default=None,
              help="Only check that the download cache and [fetch] mirrors hold everything.")
@click.option("--into", type=click.Path(file_okay=False),
              help="Also copy each archive into DIR as a mirror directory (DIR/NAME and DIR/sha256/HASH), "
                   "for [fetch] mirrors on a machine without network.")
def fetch(patterns, store, offline, into):
    """Download the archives and git commits PATTERNS' closure declares, without building.

    A later `jbuild build --offline` then needs no network. Each archive is verified against
    its sha256 and kept in the store's download cache.
    """
    from pathlib import Path

    from jbuild.engine.fetch.prefetch import prefetch

    say = lambda text: click.echo(text, err=True)  # noqa: E731
    found = prefetch(list(patterns), _opts(store=store, offline=offline), into=Path(into) if into else None, say=say)
    for f in found:
        if f.error:
            click.echo(f"{f.label}: {f.error}", err=True)
        else:
            click.echo(f"{f.label}: {f.what} ok" + (f" ({f.path})" if f.path else ""), err=True)
    failed = sum(1 for f in found if f.error)
    click.echo(f"{len(found) - failed} sources ready, {failed} failed", err=True)
    return exitcodes.BUILD_FAILED if failed else exitcodes.SUCCESS

"""`jbuild store verify` and `jbuild gc`: thin wrappers over the store."""

from __future__ import annotations

import click

from . import exitcodes
from .build_commands import STORE


def _store(path):
    from jbuild.engine.store_access import open_store

    return open_store(path)


@click.group(name="store")
def store_group():
    """Inspect and repair the store."""


@store_group.command()
@click.option("--repair", is_flag=True, help="Evict changed entries and rebuild the index from the entries.")
@STORE
def verify(repair, store):
    """Rehash every entry and report those that changed since they were built."""
    problems = _store(store).verify(repair)
    for line in problems:
        click.echo(line)
    click.echo(f"{len(problems)} problem(s)" + (" repaired" if repair and problems else ""), err=True)
    return exitcodes.BUILD_FAILED if problems and not repair else exitcodes.SUCCESS


@click.command()
@click.option("--dry-run", is_flag=True, help="Print what would be deleted; delete nothing.")
@click.option("-v", "--verbose", is_flag=True, help="Also print what is kept, and which root keeps it.")
@click.option("--unused-for", "unused_for", type=float, default=7.0, show_default=True, metavar="DAYS",
              help="Also delete fetched archives, git caches, host image layers and the sandbox's host /usr "
                   "trees that no kept entry or root needs and nothing used in the last DAYS days "
                   "(0: all of them now), and Landlock helpers of older jbuilds unused that long (and a day).")
@STORE
def gc(dry_run, verbose, unused_for, store):
    """Delete store entries no GC root needs (result links and their closures are roots), then
    what only they needed beside the store: their cached test results, image layers, and
    downloads and host /usr trees (see --unused-for)."""
    from jbuild.engine.gc import gc as collect

    report = collect(_store(store), dry_run, unused_for)
    if verbose:
        for name, why in sorted(report.kept.items()):
            click.echo(f"keeping {name} ({why})")
    verb = "would delete " if dry_run else "deleting "
    for name in report.dead:
        click.echo(verb + name)
    for path, _ in report.trimmed:
        click.echo(verb + path)
    for label in report.test_results:
        click.echo(f"{'would drop' if dry_run else 'dropping'} the cached test result of {label}")
    for note in report.notes:
        click.echo(note)
    click.echo(f"{report.freed} bytes {'would be ' if dry_run else ''}freed")

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
@STORE
def gc(dry_run, verbose, store):
    """Delete store entries no GC root needs (result links and their closures are roots)."""
    report = _store(store).gc(dry_run)
    if verbose:
        for name, why in sorted(report.kept.items()):
            click.echo(f"keeping {name} ({why})")
    for name in report.dead:
        click.echo(("would delete " if dry_run else "deleting ") + name)
    click.echo(f"{report.freed} bytes {'would be ' if dry_run else ''}freed")

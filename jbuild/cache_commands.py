"""`jbuild publish`, `promote` and `channel`: named closures in the shared cache. Thin."""

from __future__ import annotations

import time

import click

from .build_commands import PLANNING, REMOTE, RUNNING, _opts, _with
from .label_completion import complete_labels


@click.command()
@click.argument("targets", nargs=-1, required=True, shell_complete=complete_labels)
@click.option("--channel", required=True, help="The channel to record the closure under, e.g. testing.")
@_with(RUNNING + PLANNING + REMOTE)
def publish(targets, channel, jobs, keep_going, strict, sandbox, store, remote_cache, remote_upload):
    """Build TARGETS, upload their closures and record them under CHANNEL in the remote cache.

    The record names each entry of each target's closure with its tree digest, who published
    it and when; `jbuild env create NAME --channel CHANNEL TARGET` installs exactly those.
    """
    from jbuild.engine.remote.channels import publish as run_publish

    opts = _opts(jobs, keep_going, strict, sandbox, store, remote_cache=remote_cache, remote_upload=remote_upload)
    for target, entries in run_publish(list(targets), channel, opts):
        click.echo(f"published {target} to {channel}: {entries} entries", err=True)


@click.command()
@click.argument("source")
@click.argument("dest")
@click.argument("targets", nargs=-1, required=True, shell_complete=complete_labels)
@click.option("--remote-cache", metavar="URL", default=None, help="The shared cache (else [cache] url).")
def promote(source, dest, targets, remote_cache):
    """Copy TARGETS' records from channel SOURCE to channel DEST, rebuilding nothing.

    The source record is verified first (its digest, and that the cache holds every entry
    with the recorded tree digest).
    """
    from jbuild.engine.remote.channels import promote as run_promote

    for target in run_promote(source, dest, list(targets), _opts(remote_cache=remote_cache)):
        click.echo(f"promoted {target} from {source} to {dest}", err=True)


@click.group(name="channel")
def channel_group():
    """What the remote cache's channels hold (`jbuild publish` records them)."""


@channel_group.command(name="list")
@click.option("--remote-cache", metavar="URL", default=None, help="The shared cache (else [cache] url).")
def list_(remote_cache):
    """Each channel and the targets it holds."""
    from jbuild.engine.remote.channels import channels

    for name, targets in channels(_opts(remote_cache=remote_cache)):
        click.echo(f"{name}  {' '.join(targets) or '(empty)'}")


@channel_group.command()
@click.argument("name")
@click.option("--remote-cache", metavar="URL", default=None, help="The shared cache (else [cache] url).")
def show(name, remote_cache):
    """Each target of channel NAME: who put it there and when, and its entries with their digests."""
    from jbuild.engine.remote.channels import show as read

    for target, rec in read(name, _opts(remote_cache=remote_cache)):
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(rec["published_at"]))
        origin = f" (promoted from {rec['promoted_from']})" if rec.get("promoted_from") else ""
        click.echo(f"{target}  published by {rec['published_by']} at {when}{origin}")
        for entry, digest in sorted(rec["entries"].items()):
            click.echo(f"  {entry}  {digest}")

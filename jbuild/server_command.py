"""`jbuild shutdown`: stop this workspace's build servers (jbuild/server.py), as `bazel shutdown`."""

from __future__ import annotations

import click


@click.command()
@click.option("--timeout", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds to wait for each server to finish its build and exit.")
def shutdown(timeout):
    """Stop this workspace's build servers of the current user (as `bazel shutdown`).

    A server running a build finishes it first; one still building after --timeout is
    said so, and exits once its build ends. Servers also exit by themselves after
    JBUILD_SERVER_IDLE seconds without a build (15 minutes unless set), and when jbuild's own code
    changes. Prints how many were stopped; with none running, does nothing.
    """
    from jbuild.dsl.workspace import Workspace

    from .server_client import stop_servers

    stopped, busy = stop_servers(str(Workspace.find().root), timeout)
    said = f"stopped {stopped} build server{'s' if stopped != 1 else ''}"
    if busy:
        said += (f"; {busy} still building after {timeout:g} s: {'it exits' if busy == 1 else 'each exits'}"
                 " once its build ends")
    click.echo(said, err=True)

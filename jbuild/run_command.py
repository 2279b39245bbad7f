"""`jbuild run TARGET [-- ARGS]`: build, then start the target's service and the services it
requires (or run its program). Thin: jbuild.engine.services does the work."""

from __future__ import annotations

import dataclasses
import os
import sys

import click

from .build_commands import PLANNING, _opts, _with


@click.command()
@click.argument("target")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--set", "sets", multiple=True, metavar="LABEL.KEY=VALUE",
              help="Override a package's config for this run, e.g. --set //db:tinydb.port=22333 (repeatable).")
@click.option("--with", "withs", multiple=True, metavar="TARGET",
              help="Also put TARGET's packages in the environment, e.g. a tuning package whose settings "
                   "move a port: --with //db:tinydb_tuning (repeatable).")
@click.option("--ready-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds a service may take to become ready (port open or health command passing).")
@click.option("--stop-timeout", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Seconds between SIGTERM and SIGKILL when stopping a service.")
@_with(PLANNING)
def run(target, args, sets, withs, ready_timeout, stop_timeout, strict, sandbox, store):
    """Build TARGET, then run it: a package with a service starts with the services it requires,
    in dependency order, each once the previous is ready; logs are prefixed with the service's
    name; Ctrl-C stops them in reverse order. A package without a service runs its program
    (bin/NAME) with ARGS after `--`, and its exit code is jbuild's, as with `bazel run`.

    Each consumer finds what it requires in NAME_HOST / NAME_PORT (e.g. TINYDB_PORT) and in the
    JSON file at $JBUILD_DISCOVERY. If a service dies, the others are stopped and the exit code
    is 100 + its position in the start order (101: the first started).

    Example: jbuild run //services:geotags --set //db:tinydb.port=7001
    """
    from jbuild.engine.services import prepare, run_program, run_services

    plan = prepare(target, _opts(strict=strict, sandbox=sandbox, store=store), list(sets), withs=list(withs))
    if plan.program:
        return run_program(plan.program + list(args), plan.env, os.getcwd())
    specs = list(plan.services)
    if args:  # services[0] is the target's own service: ARGS extend its command
        specs[0] = dataclasses.replace(specs[0], command=specs[0].command + list(args))
    return run_services(specs, plan.root, sys.stdout, ready_timeout=ready_timeout, stop_timeout=stop_timeout)

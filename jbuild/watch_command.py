"""`jbuild watch [build|test|run] PATTERN...`: thin; jbuild.engine.watch does the work."""

from __future__ import annotations

import click

from .build_commands import PLANNING, RUNNING, _opts, _with

ACTIONS = ("build", "test", "run")


@click.command()
@click.argument("words", nargs=-1, required=True, metavar="[build|test|run] PATTERN...")
@_with(RUNNING + PLANNING)
@click.option("--debounce", type=click.FloatRange(min=0.0, max=10.0), default=0.1, show_default=True,
              help="Seconds without a change before rebuilding: a burst of saves is one rebuild.")
@click.option("--poll", is_flag=True,
              help="Poll the watched directories instead of using inotify (network filesystems, or when "
                   "the inotify limit is reached).")
@click.option("--set", "sets", multiple=True, metavar="LABEL.KEY=VALUE",
              help="watch run: override a package's config, as `jbuild run --set` (repeatable).")
@click.option("--with", "withs", multiple=True, metavar="TARGET",
              help="watch run: also put TARGET's packages in the environment, as `jbuild run --with`.")
@click.option("--ready-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="watch run: seconds a service may take to become ready.")
@click.option("--stop-timeout", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="watch run: seconds between SIGTERM and SIGKILL when restarting or stopping.")
@click.option("--build-events", type=click.Path(), help="Write one JSON object per event to FILE (each rebuild "
              "rewrites it).")
def watch(words, jobs, keep_going, strict, sandbox, store, debounce, poll, sets, withs, ready_timeout, stop_timeout,
          build_events):
    """Build PATTERNS, then rebuild whenever one of their declared inputs changes.

    Watches only what the build is made of: the declared sources of the targets' closure, the
    BUILD files that define it and jbuild.toml. A file nothing declares never triggers a
    rebuild; a BUILD change re-reads that file and re-resolves. A recipe error or a failed
    build is reported and watching goes on. Prints `Changed: PATH — rebuilding`, then the
    build's summary. Ctrl-C stops watching (and what `watch run` started).

    \b
    jbuild watch //services:geotags          build on every change (= watch build)
    jbuild watch test //libs/...             rerun the tests
    jbuild watch run //services:geotags      keep the service running; restart it after a
                                             rebuild that changed what it runs
    """
    from jbuild.engine.watch import WatchOptions
    from jbuild.engine.watch import watch as run_watch

    words = list(words)
    action = words.pop(0) if words[0] in ACTIONS else "build"
    if not words:
        raise click.UsageError(f"jbuild watch {action}: name at least one PATTERN")
    opts = _opts(jobs, keep_going, strict, sandbox, store, build_events=build_events)
    w = WatchOptions(action=action, debounce=debounce, poll=poll, sets=list(sets), withs=list(withs),
                     ready_timeout=ready_timeout, stop_timeout=stop_timeout)
    return run_watch(words, opts, None, w)

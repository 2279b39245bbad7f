"""`jbuild test PATTERN...`: build, run the test targets, print Bazel's summary. Thin:
jbuild.engine.testing does the work."""

from __future__ import annotations

import time

import click

from . import exitcodes
from .build_commands import EXECUTOR, PLANNING, RUNNING, _opts, _with, events_even_if_refused, refused_events
from .pattern_command import PatternCommand


@click.command(cls=PatternCommand)
@click.argument("patterns", nargs=-1, required=True)
@_with(RUNNING + PLANNING + EXECUTOR)
@click.option("--cache-test-results", type=click.Choice(["yes", "no"]), default="yes", show_default=True,
              help="yes: a test whose test key (its recipe, sources and the build keys of its whole run "
                   "closure) passed before is not run again, and a command whose tests all passed answers "
                   "without planning while nothing changed; no: run every test. A failure always reruns.")
@click.option("--test-output", type=click.Choice(["errors", "all", "summary"]), default="errors",
              show_default=True,
              help="errors: print the log of each failed, timed-out or flaky test; all: of every test run; "
                   "summary: only the summary. Logs are always in jbuild-testlogs/.")
@click.option("--test-timeout", type=click.FloatRange(min=0.001), default=300.0, show_default=True,
              help="Seconds one run of a test may take; then it is killed and reported as TIMEOUT.")
@click.option("--flaky-attempts", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs of a failing test before it counts as failed; one that passes on a later "
                   "attempt is reported FLAKY (exit 0).")
@click.option("--junit-xml", type=click.Path(dir_okay=False),
              help="Write one combined JUnit XML report of every test to FILE (for CI).")
@click.option("--build-events", type=click.Path(), help="Write one JSON object per event to FILE (docs/ci.md).")
def test(patterns, jobs, keep_going, strict, sandbox, store, cache_test_results, test_output, test_timeout,
         flaky_attempts, junit_xml, build_events, remote_executor, remote_instance, remote_ca_cert):
    """Build what PATTERNS need and run the test targets among them, e.g. //... or //libs:all.

    Each test runs in the sandbox against an environment of its whole run closure, starting in
    that environment (so `bin/geotags` is the program under test), with $TEST_TMPDIR,
    $XML_OUTPUT_FILE and its declared sources at $SRC. Tests run on the -j workers as soon as
    what they need is built. Results are cached by test key. Logs: jbuild-testlogs/<package>/<name>/
    {test.log,test.xml}. Exit codes: 0 passed, 1 a build failed, 3 a test failed, 4 no test matched.
    """
    from jbuild.engine.testing import TestOptions
    from jbuild.engine.testing import test as run_tests

    start = time.time()
    with events_even_if_refused(build_events):
        opts = _opts(jobs, keep_going, strict, sandbox, store, build_events=build_events,
                     remote_executor=remote_executor, remote_instance=remote_instance, remote_ca_cert=remote_ca_cert)
        topts = TestOptions(cache_results=cache_test_results == "yes", output=test_output, timeout=test_timeout,
                            flaky_attempts=flaky_attempts, junit_xml=junit_xml)
        run = run_tests(list(patterns), opts, topts)
    if run.kind == "no_tests":
        refused_events(build_events, start, exitcodes.BY_KIND[run.kind])
    for line in run.summary:
        click.echo(line, err=run.kind == "no_tests")
    return exitcodes.SUCCESS if run.kind == "passed" else exitcodes.BY_KIND[run.kind]

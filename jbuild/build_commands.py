"""`jbuild build`, `explain` and `log`: parse options, call jbuild.engine, print. Thin."""

from __future__ import annotations

import click

from . import exitcodes
from .build_run import SANDBOXES, SHOW_RESULT, _opts, build_and_report, events_even_if_refused, refused_events
from .label_completion import complete_labels

__all__ = ["SHOW_RESULT", "_opts", "events_even_if_refused", "refused_events"]  # (other commands import them here)



STORE = click.option("--store", type=click.Path(),
                     help="The store directory (else JBUILD_STORE, then [store] path in jbuild.toml, "
                          "then ~/.cache/jbuild/store).")
PLANNING = [
    click.option("--strict", is_flag=True, default=None,
                 help="Release mode: a dependency enters its consumers' keys with its full build key (Nix-like)."),
    click.option("--sandbox", type=click.Choice(SANDBOXES), default="auto", show_default=True,
                 help="bwrap (bubblewrap, one mount per dependency), landlock (bubblewrap over one bind of the "
                      "store, Landlock naming the dependencies: faster for many; keyed apart, docs/keys.md), "
                      "or the weaker fallback; auto picks bwrap where it works."),
    STORE,
]
RUNNING = [
    click.option("-j", "--jobs", type=int, default=None,
                 help="Actions at once (default: [build] jobs in jbuild.toml, else the core count)."),
    click.option("-k", "--keep-going/--no-keep-going", default=None,
                 help="Build what does not depend on a failure (default: [build] keep_going in jbuild.toml, "
                      "else on under CI=true, else off)."),
]


REMOTE = [
    click.option("--remote-cache", metavar="URL", default=None,
                 help="A shared HTTP cache (/ac/, /cas/; docs/cache.md), tried after the store "
                      "(else JBUILD_REMOTE_CACHE, then [cache] url; '' for none)."),
    click.option("--remote-upload/--no-remote-upload", default=None,
                 help="Upload what this build makes to the remote cache (default: [cache] upload, else on)."),
]

EXECUTOR = [
    click.option("--remote-executor", metavar="grpc[s]://HOST:PORT",
                 help="Run actions on a Remote Execution API server (e.g. BuildGrid); grpcs:// is TLS, with a "
                      "bearer token from JBUILD_REMOTE_TOKEN. See docs/remote.md."),
    click.option("--remote-instance", default="", help="The instance name on the --remote-executor server."),
    click.option("--remote-ca-cert", envvar="JBUILD_REMOTE_CA_CERT", type=click.Path(dir_okay=False), default=None,
                 help="Trust these PEM CA certificates for a grpcs:// --remote-executor (default: the system's)."),
]


def _with(options):
    def apply(f):
        for opt in reversed(options):
            f = opt(f)
        return f
    return apply


@click.command()
@click.argument("patterns", nargs=-1, required=True, shell_complete=complete_labels)
@_with(RUNNING + PLANNING + REMOTE + EXECUTOR)
@click.option("--strict-interfaces", is_flag=True,
              help="Fail a package whose measured exported interface changed although its declared "
                   "interface did not (for CI), instead of rebuilding its consumers.")
@click.option("--verify-inputs", is_flag=True,
              help="Re-hash every store entry the build reuses (not only stat it); a changed one is rebuilt.")
@click.option("--build-events", type=click.Path(), help="Write one JSON object per event to FILE.")
@click.option("--out-link", default="result", show_default=True,
              help="Name of the result link (a GC root); several targets get NAME, NAME-2, ...")
@click.option("--no-link", is_flag=True, help="Do not create a result link.")
@click.option("--show-result", type=click.IntRange(min=0), default=SHOW_RESULT, show_default=True, metavar="N",
              help="Say where each root landed (`NODE up to date: PATH`) when there are at most N roots; beyond "
                   "that one summary line (with `//...` at thousands of packages, printing is a cost).")
@click.option("--print-out-paths", is_flag=True,
              help="Print the store path of each root on stdout (of each output, for a package that declares outputs).")
@click.option("-n", "--dry-run", is_flag=True,
              help="Run nothing: say what would build and why, from the predicted keys (as `jbuild plan`).")
@click.option("--offline", is_flag=True, default=None,
              help="Never use the network: archives and git commits come from the download cache or "
                   "[fetch] mirrors (also JBUILD_OFFLINE=1, or [fetch] offline = true).")
def build(patterns, jobs, keep_going, strict, sandbox, store, remote_cache, remote_upload, strict_interfaces,
          verify_inputs, build_events, out_link, no_link, print_out_paths, remote_executor, remote_instance, dry_run,
          offline, remote_ca_cert, show_result):
    """Build PATTERNS into the store, e.g. //services:geotags or //... .

    Keys are computed up front from declared inputs; an action whose key is in the store is
    reused. Prints where each root landed and leaves a `result` link (a GC root). Patterns
    that match nothing to build (only templates, host tools or targets tagged manual) say so
    and exit 4, as `jbuild test` does when no test matches.
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

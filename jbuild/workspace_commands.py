"""`jbuild shell`, `info` and `clean`: what Nix and Bazel users type by habit. Thin."""

from __future__ import annotations

import os
import shutil

import click

from .build_commands import PLANNING, RUNNING, _opts, _with


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("targets", nargs=-1, required=True)
@click.option("-c", "--command", "command", metavar="CMD",
              help="Run CMD (through /bin/sh -c) instead of an interactive shell; its exit code is jbuild's.")
@_with(RUNNING + PLANNING)
def shell(targets, command, jobs, keep_going, strict, sandbox, store):
    """Build TARGETS and start a shell with their run closure's bin/ first on PATH (`nix shell`).

    The environment is the one `jbuild run` and `result` use: programs find their libraries
    through launchers, never LD_LIBRARY_PATH; etc/ is rendered from config; the standard cc
    compiles against the packages' headers and libraries. Nothing is named or kept as a
    generation (that is `jbuild env create`); `.jbuild/shell/` keeps it from gc.

    Examples: jbuild shell //services:geotags   |   jbuild shell //libs:geohash -c 'ls $JBUILD_ENV_DIR/lib'
    """
    from jbuild.base.errors import BadInput
    from jbuild.engine.runtime.named import ephemeral

    opts = _opts(jobs, keep_going, strict, sandbox, store)
    env_dir, environ = ephemeral(list(targets), opts)
    argv = ["/bin/sh", "-c", command] if command else [os.environ.get("SHELL") or "/bin/sh"]
    if not command:
        click.echo(f"entering {env_dir} (exit the shell to leave)", err=True)
    try:
        os.execvpe(argv[0], argv, environ)
    except OSError as exc:
        raise BadInput(f"{argv[0]}: cannot start it: {exc.strerror}") from None


@click.command()
@click.argument("key", required=False)
@_with(PLANNING[-1:])
def info(key, store):
    """Print where things are: the workspace, its caches, the store, jobs, the sandbox (`bazel info`).

    With KEY (e.g. `jbuild info store`), print only that value, for scripts.
    """
    import sys

    from jbuild import __version__
    from jbuild.dsl.workspace import Workspace, stdlib_dir
    from jbuild.engine.settings import resolve

    ws = Workspace.find()
    opts = resolve(ws, _opts(store=store))
    values = {
        "version": __version__,
        "workspace": str(ws.root),
        "cache": str(ws.cache_dir),
        "store": opts.store,
        "jobs": str(opts.jobs),
        "keep_going": str(opts.keep_going).lower(),
        "strict": str(opts.strict).lower(),
        "sandbox": _sandbox_kind(),
        "stdlib": str(stdlib_dir()),
        "python": sys.executable,
    }
    if key is not None:
        if key not in values:
            from jbuild.base.spelling import did_you_mean

            hint = did_you_mean(key, values)
            raise click.UsageError(f"no info key '{key}'" + (f" ({hint})" if hint else "") +
                                   f"; keys: {', '.join(values)}")
        click.echo(values[key])
        return
    for name, value in values.items():
        click.echo(f"{name}: {value}")


def _sandbox_kind() -> str:
    from jbuild.engine.sandbox import BwrapExecutor

    if not BwrapExecutor.available():
        return f"fallback ({BwrapExecutor.why_unavailable()})"
    from jbuild.engine.sandbox_landlock import why_not

    landlock = "available" if BwrapExecutor.landlock_available() else f"unavailable ({why_not() or 'its probe failed'})"
    return (f"bwrap (bubblewrap; dependencies: {BwrapExecutor.dependency_mode()}; roots staged by "
            f"{BwrapExecutor.stager()}); --sandbox landlock: {landlock}")


@click.command()
@click.option("--links", is_flag=True, help="Also remove the workspace's `result` links (they stop being GC roots).")
def clean(links):
    """Forget this workspace's cached analysis: parse, stat and no-op caches, test logs.

    The store is shared and content-addressed, so nothing in it is deleted: the next build
    reuses every entry it still names. `jbuild gc` frees the store's space.
    """
    from jbuild.dsl.workspace import Workspace

    ws = Workspace.find()
    removed = []
    for path in (ws.cache_dir, ws.root / "jbuild-testlogs"):
        if path.exists():
            shutil.rmtree(path)
            removed.append(path)
    if links:
        for link in sorted(ws.root.glob("result*")):
            if link.is_symlink():
                link.unlink()
                removed.append(link)
    for path in removed:
        click.echo(f"removed {path}", err=True)
    if not removed:
        click.echo("nothing to clean", err=True)
    click.echo("the store is untouched; `jbuild gc` frees what no root holds", err=True)

"""`jbuild env ...`: named environments with generations (engine/runtime/). Thin."""

from __future__ import annotations

import os
import time

import click

from .build_commands import PLANNING, REMOTE, RUNNING, STORE, _opts, _with


def _generations(store):
    from jbuild.engine.runtime.generations import Generations
    from jbuild.engine.store_access import open_store

    return Generations(open_store(store))


def _report(name, before, after):
    if after is None:
        click.echo(f"{name} is unchanged (generation {before.number})", err=True)
        return
    what = ", ".join(after.targets) or "nothing"
    if before is None:
        click.echo(f"created {name}, generation {after.number}: {what}", err=True)
    else:
        click.echo(f"switching {name} from generation {before.number} to {after.number}: {what}", err=True)
    click.echo(str(after.path.parent / name))


@click.group(name="env")
def env_group():
    """Named environments: a closure's bin/ lib/ include/ share/, etc/ and var/, with generations.

    Each change makes a new generation and switches to it atomically; `rollback` switches back.
    The current generation is <store>/envs/NAME; var/ is kept across every switch.
    """


CHANNEL = click.option("--channel", default=None,
                       help="Install the entries recorded in this channel of the remote cache (`jbuild publish`) "
                            "and build nothing: a target not prebuilt there is refused.")
# `remove` adds nothing, so it has nothing to take from a channel: refused by name, not ignored.
NO_CHANNEL = click.option("--channel", default=None, hidden=True, expose_value=True)


def _changer(verb, doc):
    @env_group.command(name=verb, help=doc)
    @click.argument("name")
    @click.argument("targets", nargs=-1, required=True)
    @_with(RUNNING + PLANNING + REMOTE)
    @(NO_CHANNEL if verb == "remove" else CHANNEL)
    def command(name, targets, jobs, keep_going, strict, sandbox, store, remote_cache, remote_upload, channel):
        from jbuild.engine.runtime import named

        _refuse_unused(verb, channel, remote_upload)
        opts = _opts(jobs, keep_going, strict, sandbox, store, remote_cache=remote_cache,
                     remote_upload=remote_upload, channel=channel)
        _report(name, *getattr(named, verb)(name, list(targets), opts))

    return command


def _refuse_unused(verb, channel, remote_upload) -> None:
    """An option this command would accept and then not use is a usage error (exit 2)."""
    if channel is not None and verb == "remove":
        raise click.UsageError("env remove takes no --channel: it adds nothing (the targets left were "
                               "installed already); use --channel with env create or env install")
    if channel is not None and remote_upload:
        raise click.UsageError("--remote-upload uploads what a build makes, and with --channel nothing is "
                               "built (the channel's entries are downloaded); drop one of them")


_changer("create", "Create NAME holding TARGETS (absolute labels): build them, generation 1.")
_changer("install", "Add TARGETS to NAME (rebuilding its closure at the current resolution): a new generation.")
_changer("remove", "Remove TARGETS from NAME: a new generation (`jbuild env delete NAME` deletes NAME).")


@env_group.command(name="list")
@STORE
def list_(store):
    """Each named environment, its current generation and targets."""
    gens = _generations(store)
    for name in gens.names():
        cur = gens.current(name)
        click.echo(f"{name}  generation {cur.number}  {' '.join(cur.targets) or '(empty)'}")


@env_group.command()
@click.argument("name")
@STORE
def history(name, store):
    """Every generation of NAME, the current one marked."""
    gens = _generations(store)
    cur = gens.require(name)
    for g in gens.history(name):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(g.created))
        mark = "  (current)" if g.number == cur.number else ""
        click.echo(f"{g.number:>4}  {when}  {' '.join(g.targets) or '(empty)'}{mark}")


@env_group.command()
@click.argument("name")
@click.option("--to", "to", type=int, help="The generation to switch to (default: the one before the current).")
@STORE
def rollback(name, to, store):
    """Switch NAME back to an earlier generation (var/ is kept)."""
    gens = _generations(store)
    with gens.lock(name):
        old, new = gens.rollback(name, to)
    click.echo(f"switching {name} from generation {old.number} to {new.number}")


@env_group.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@STORE
def run(name, command, store):
    """Run COMMAND with NAME's bin/ first on PATH: jbuild env run NAME -- CMD ARGS..."""
    _exec(name, list(command), store)


@env_group.command()
@click.argument("name")
@STORE
def shell(name, store):
    """Start $SHELL (else /bin/sh) with NAME's bin/ first on PATH and JBUILD_ENV=NAME."""
    sh = os.environ.get("SHELL") or "/bin/sh"
    _exec(name, [sh], store)


def _exec(name, argv, store):
    from jbuild.base.errors import BadInput
    from jbuild.engine.runtime.named import run_environ

    environ = run_environ(_generations(store), name, dict(os.environ))
    try:
        os.execvpe(argv[0], argv, environ)
    except OSError as exc:
        raise BadInput(f"{argv[0]}: cannot run it in {name}: {exc.strerror}") from None


@env_group.command()
@click.argument("name")
@click.option("--purge-var", is_flag=True, help="Also delete NAME's var/ (its data). Kept by default.")
@STORE
def delete(name, purge_var, store):
    """Delete NAME and every generation of it (they stop being GC roots)."""
    gens = _generations(store)
    with gens.lock(name):
        gens.require(name)
        dropped = gens.delete(name, purge_var)
    click.echo(f"deleted {name} ({len(dropped)} generation(s))", err=True)
    if not purge_var:
        click.echo(f"kept its data in {gens.dir / (name + '.var')} (--purge-var deletes it)", err=True)

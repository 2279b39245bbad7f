"""`jbuild worker`: serve a Remote Execution API server's Remote Workers API as a bot. Thin."""

from __future__ import annotations

import signal

import click


@click.command()
@click.option("--server", required=True, metavar="grpc[s]://HOST:PORT",
              help="The server's Bots service, e.g. BuildGrid's (grpcs:// is TLS; a bearer token is taken "
                   "from JBUILD_REMOTE_TOKEN or the file JBUILD_REMOTE_TOKEN_FILE names).")
@click.option("--remote-ca-cert", envvar="JBUILD_REMOTE_CA_CERT", type=click.Path(dir_okay=False), default=None,
              help="Trust these PEM CA certificates for a grpcs:// server (default: the system's).")
@click.option("--instance", default="", show_default=True, help="The instance name on that server.")
@click.option("--bot-id", default=None, help="This bot's name (default: host-pid-random).")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Where leased actions are staged and the declared hosts' /usr trees are kept "
                   "(default: the system temporary directory).")
@click.option("--dpkg-admindir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Read which Debian packages are installed from this dpkg database instead of "
                   "/var/lib/dpkg (dpkg's --admindir); their files are still this host's.")
def worker(server, remote_ca_cert, instance, bot_id, workdir, dpkg_admindir):
    """Run leased build actions in the bubblewrap sandbox until interrupted.

    Fetches each action's inputs from the server's CAS, runs it over the /usr assembled from
    the Debian packages the action was keyed with (refused, FAILED_PRECONDITION, when this
    host's versions differ), uploads its outputs and log. Failed actions are reported, never
    cached. See docs/remote.md.
    """
    from jbuild.base.errors import BadInput
    from jbuild.engine.reapi.worker import Worker
    from jbuild.engine.sandbox import BwrapExecutor

    if dpkg_admindir:
        from jbuild.engine import dpkg

        dpkg.use_admin_dir(dpkg_admindir)
    if not BwrapExecutor.available():
        raise BadInput("jbuild worker needs bubblewrap (bwrap) able to create namespaces here")
    bot = Worker(server, instance, bot_id, workdir, remote_ca_cert)
    signal.signal(signal.SIGTERM, lambda *_: bot.stop.set())
    click.echo(f"jbuild worker {bot.bot_id}: serving {server}", err=True)
    try:
        bot.serve()
    except KeyboardInterrupt:
        bot.stop.set()
    except Exception as exc:
        if getattr(exc, "code", None) is None:
            raise
        click.echo(f"jbuild worker: {server}: {exc.code().name}: {exc.details()}", err=True)
        return 1
    click.echo(f"jbuild worker {bot.bot_id}: stopped after {bot.ran} actions", err=True)
    return 0

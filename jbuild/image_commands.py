"""`jbuild image` and `jbuild deploy`: parse options, call jbuild.engine.image / .deploy, print."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click

from .build_commands import PLANNING, _opts, _with

SETS = click.option("--set", "sets", multiple=True, metavar="LABEL.KEY=VALUE",
                    help="Override a package's config in the image, e.g. --set //db:tinydb.port=22333 (repeatable).")
TAG = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@click.command()
@click.argument("target")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Where to write: an archive file (geotags.tar), or an OCI layout directory when the "
                   "path ends with '/' or is a directory (an existing layout gains the image).")
@click.option("--format", "fmt", type=click.Choice(["oci", "docker"]), default="oci", show_default=True,
              help="oci: an OCI image layout archive (skopeo inspect oci-archive:FILE); docker: the "
                   "archive `docker load` reads (an archive only).")
@click.option("--tag", metavar="NAME:TAG", help="The image's name and tag (default: NAME:VERSION of the target).")
@SETS
@_with(PLANNING)
def image(target, output, fmt, tag, sets, strict, sandbox, store):
    """Build TARGET and write the OCI image of its run closure.

    One layer per store entry of the closure (its exports at the environment's paths, cached
    in the store and shared by every image holding the entry), a layer of the host C library
    the programs need (from the declared host tools' Debian packages), and a top layer with
    the rendered etc/ and an empty var/. Entrypoint, command, env, ports and volumes come from
    the service. The same closure always gives the same digest, printed on stdout.

    Example: jbuild image //services:geotags -o geotags.tar
    """
    from jbuild.base.errors import BadInput
    from jbuild.engine.image.oci import write_archive, write_directory
    from jbuild.engine.image.target import build_for_image, image_of_node, overrides_of

    if tag is not None and not TAG.match(tag):
        raise BadInput(f"--tag '{tag}': expected NAME:TAG in lower case, e.g. geotags:5.1 or registry.example/geotags:5.1")
    as_dir = output.endswith("/") or os.path.isdir(output)
    if as_dir and fmt == "docker":
        raise BadInput("--format docker writes an archive: give -o a file name (e.g. geotags.tar)")
    parent = os.path.dirname(os.path.abspath(output.rstrip("/") or "."))
    if not os.path.isdir(parent):
        raise BadInput(f"-o {output}: the directory {parent} does not exist")
    _can_write(output if os.path.isdir(output) else parent, output)
    p, closure, rb = build_for_image(target, _opts(strict=strict, sandbox=sandbox, store=store))
    overrides = overrides_of(p, closure, list(sets), None)
    with p.store.shared():
        composed = image_of_node(p, closure, closure.root, rb, overrides, tag)
        img = composed.image
        if as_dir:
            write_directory(img, Path(output))
        else:
            write_archive(img, Path(output), docker=fmt == "docker")
    click.echo(f"{closure.root}: image {img.tag} {img.digest}, {len(img.all_layers)} layers "
               f"({composed.new_layers} new), {img.size():,} bytes -> {output}", err=True)
    click.echo(img.digest)


@click.command()
@click.argument("target")
@click.option("--k8s", "k8s", is_flag=True, help="Kubernetes manifests (the only kind for now).")
@click.option("-o", "--output", type=click.Path(file_okay=False),
              help="A directory: NAME.yaml per service, and images/ (an OCI layout with each service's "
                   "image, as the manifests reference it). Without it, the YAML goes to stdout.")
@click.option("--registry", default="jbuild.local", show_default=True,
              help="Where the manifests say the images are: REGISTRY/NAME@sha256:DIGEST.")
@SETS
@_with(PLANNING)
def deploy(target, k8s, output, registry, sets, strict, sandbox, store):
    """Build TARGET and write Kubernetes manifests for its service and every service it requires.

    Per service: a Deployment (a StatefulSet when it has volumes), a Service per port, a
    PersistentVolumeClaim per volume, a ConfigMap with the rendered etc/, NAME_HOST/NAME_PORT
    discovery variables, a readiness probe (health command, else the port) and resource
    requests; images are referenced by the digest `jbuild image` gives.

    Example: jbuild deploy //services:geotags --k8s -o deploy/
    """
    from jbuild.base.errors import BadInput
    from jbuild.engine.deploy import deploy as make
    from jbuild.engine.deploy import to_yaml

    if not k8s:
        raise click.UsageError("say which kind of deployment: --k8s")
    out = Path(output) if output else None
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(f"-o {output}: cannot create the directory ({exc.strerror})") from None
        _can_write(str(out), output)
    result = make(target, _opts(strict=strict, sandbox=sandbox, store=store), list(sets), None, registry,
                  images_dir=out / "images" if out else None)
    for name, objects in result.manifests.items():
        text = to_yaml(objects)
        if out is None:
            click.echo(text, nl=False)
            continue
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.yaml").write_text(text)
        click.echo(f"{name}: {len(objects)} objects -> {out / (name + '.yaml')} (image {result.images[name]})", err=True)


def _can_write(directory: str, output: str) -> None:
    """Refuse before building, not with a traceback after: create and remove a file there
    (os.access says yes to root on /proc and on a read-only bind mount)."""
    import tempfile

    from jbuild.base.errors import BadInput

    try:
        fd, probe = tempfile.mkstemp(prefix=".jbuild-probe-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BadInput(f"-o {output}: cannot write there ({exc.strerror})") from None

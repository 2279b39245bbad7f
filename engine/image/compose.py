"""An image from a run closure: the entries' layers, the host C library's, and a top layer.

The root filesystem is the environment (DESIGN §10): each entry's layer holds its exports at
the environment's paths (`bin/`, `lib/`), so the loader's default paths (/lib) find the
libraries and no launcher or store path enters the image. Below them, when the programs need
it, one layer of the host C library from the declared host tools' Debian packages
(hostlibs.py); on top, the rendered `etc/`, an empty `var/` and `tmp/`, and the service's
working directory. Layers are ordered by label, so a changed entry changes one layer.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from jbuild.base.errors import BadInput

from .hostlibs import host_layer
from .layers import Layer, entry_layers
from .oci import Image, make_image
from .tarball import Item, write_layer

PATH = "/bin:/usr/bin"


class LayerConflict(BadInput):
    pass


@dataclass(frozen=True)
class Runtime:
    """What the image's config says about running it (from the service description)."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    ports: tuple[int, ...] = ()
    volumes: tuple[str, ...] = ()
    workdir: str = "/"
    labels: dict = field(default_factory=dict)

    def config(self) -> dict:
        out = {"Env": [f"PATH={PATH}", *(f"{k}={v}" for k, v in self.env if k != "PATH")],
               "WorkingDir": self.workdir}
        if self.entrypoint:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            out["Cmd"] = list(self.cmd)
        if self.ports:
            out["ExposedPorts"] = {f"{p}/tcp": {} for p in self.ports}
        if self.volumes:
            out["Volumes"] = {v: {} for v in self.volumes}
        return out


@dataclass
class Composed:
    image: Image
    new_layers: int  # entries' layers computed by this call (the rest came from the cache)


def compose(store, members: Sequence, etc: Mapping[str, str], runtime: Runtime, host_packages: Sequence[str],
            tag: str) -> Composed:
    """The image of `members` (run_members' entries) with `etc` rendered. Call under the
    store's shared lock."""
    ordered = sorted(members, key=lambda m: (m.label, m.entry))
    every, new = entry_layers(store, ordered)
    layers = [layer for layer in every if layer.files or layer.dirs]
    check_conflicts(layers)
    host = host_layer(store.root, layers, host_packages)
    base = [host] if host is not None else []
    top, top_layer = top_layer_of(etc, runtime)
    labels = dict(runtime.labels)
    labels.update({f"dev.jbuild.entry.{m.label}": m.entry for m in ordered})
    if host is not None:
        labels["dev.jbuild.host-packages"] = host.source.removeprefix("host:")
    history = [layer.source for layer in base + layers] + ["etc/, var/"]
    image = make_image(base + layers, top, top_layer, runtime.config(), labels, tag, history)
    return Composed(image, new)


def check_conflicts(layers: Sequence[Layer]) -> None:
    """Two layers holding one path, or a file where another has a directory, would shadow
    each other in the image: an error naming both (the environment refuses it too)."""
    owner: dict[str, str] = {}
    for layer in layers:
        for path in layer.files:
            other = owner.setdefault(path, layer.source)
            if other != layer.source:
                raise LayerConflict(f"{other} and {layer.source} both hold {path}: an image holds one file per path")
    for layer in layers:
        for path in layer.dirs:
            if path in owner:
                raise LayerConflict(f"{owner[path]} holds a file at {path}, where {layer.source} has a directory")


def top_layer_of(etc: Mapping[str, str], runtime: Runtime) -> tuple[bytes, Layer]:
    """etc/ rendered, var/ and tmp/ empty, the working directory and volume mounts made."""
    items = [Item(f"etc/{rel}", data=text.encode()) for rel, text in sorted(etc.items())]
    items += [Item("etc"), Item("var"), Item("tmp", mode=0o1777)]
    items += [Item(d.strip("/")) for d in (runtime.workdir, *runtime.volumes) if d.strip("/")]
    buf = io.BytesIO()
    written = write_layer(items, buf)
    return buf.getvalue(), Layer("top", "etc/, var/", written.digest, written.diff_id, written.size)

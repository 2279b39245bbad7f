"""An image's config, manifest and index (OCI image spec 1.0), and the three ways to write it.

- an OCI image layout archive (`skopeo inspect oci-archive:FILE`),
- an OCI image layout directory (`-o dir/`; `skopeo copy oci:dir:TAG docker://...` feeds a
  registry); a second image written to the same directory joins its index.json,
- `docker load`'s archive: the same layout plus manifest.json (the format `docker save` writes
  since Docker 25; older Dockers read the gzip layers too).

Everything is serialised canonically (sorted keys, no spaces) and archives are reproducible
(tarball.py), so the same layers and config give the same digests and the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from .layers import Layer
from .tarball import Item, write_tar

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
INDEX = "application/vnd.oci.image.index.v1+json"
EPOCH = "1970-01-01T00:00:00Z"
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
        "s390x": "s390x", "riscv64": "riscv64"}


def canonical(data) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Image:
    layers: tuple[Layer, ...]  # bottom first; each blob is a file (the cache's, or the top layer's bytes)
    top: bytes  # the top layer's blob (etc/, var/): small, made per image
    top_layer: Layer
    config: bytes
    manifest: bytes
    tag: str  # NAME:TAG

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def all_layers(self) -> tuple[Layer, ...]:
        return (*self.layers, self.top_layer)

    def size(self) -> int:
        return len(self.manifest) + len(self.config) + sum(layer.size for layer in self.all_layers)


def make_image(layers: list[Layer], top: bytes, top_layer: Layer, runtime: dict, labels: dict, tag: str,
               history: list[str]) -> Image:
    """`runtime` holds the config's Entrypoint, Cmd, Env, WorkingDir, ExposedPorts, Volumes."""
    every = [*layers, top_layer]
    config = canonical({
        "created": EPOCH,
        "architecture": ARCH.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "config": {**runtime, "Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in every]},
        "history": [{"created": EPOCH, "created_by": f"jbuild: {what}"} for what in history],
    })
    manifest = canonical({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": LAYER, "digest": layer.digest, "size": layer.size} for layer in every],
    })
    return Image(tuple(layers), top, top_layer, config, manifest, tag)


def _ref_name(tag: str) -> str:
    return tag.rsplit(":", 1)[1] if ":" in tag.rsplit("/", 1)[-1] else "latest"


def _descriptor(image: Image) -> dict:
    return {"mediaType": MANIFEST, "digest": image.digest, "size": len(image.manifest),
            "annotations": {"org.opencontainers.image.ref.name": _ref_name(image.tag),
                            "io.containerd.image.name": image.tag}}


def _blob(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


def _layout_items(image: Image, index: dict) -> list[Item]:
    items = [Item("oci-layout", data=canonical({"imageLayoutVersion": "1.0.0"})),
             Item("index.json", data=canonical(index)),
             Item(_blob(image.digest), data=image.manifest),
             Item(_blob(sha256(image.config)), data=image.config),
             Item(_blob(image.top_layer.digest), data=image.top)]
    items += [Item(_blob(layer.digest), layer.blob) for layer in image.layers]
    return list({i.path: i for i in items}.values())  # two entries may share a layer's bytes


def write_archive(image: Image, path: Path, docker: bool = False) -> None:
    """The image as one reproducible tar: an OCI layout, plus `docker load`'s manifest.json."""
    items = _layout_items(image, {"schemaVersion": 2, "mediaType": INDEX, "manifests": [_descriptor(image)]})
    if docker:
        items.append(Item("manifest.json", data=canonical([{
            "Config": _blob(sha256(image.config)), "RepoTags": [image.tag],
            "Layers": [_blob(layer.digest) for layer in image.all_layers]}])))
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{secrets.token_hex(4)}"
    try:
        with open(tmp, "wb") as f:
            write_tar(items, f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_directory(image: Image, root: Path) -> None:
    """The image into an OCI layout directory, joining what it holds (same tag: replaced).
    Blobs are hard links to the layer cache where the filesystem allows, else copies."""
    root = Path(root)
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": []}
    if (root / "index.json").exists():
        index = json.loads((root / "index.json").read_text())
    ref = _descriptor(image)["annotations"]
    index["manifests"] = [m for m in index.get("manifests", []) if m.get("annotations") != ref
                          and m.get("annotations", {}).get("io.containerd.image.name") != image.tag]
    index["manifests"].append(_descriptor(image))
    for item in _layout_items(image, index):
        dest = root / item.path
        if item.path.startswith("blobs/") and dest.exists():
            continue
        _place(item, dest)


def _place(item: Item, dest: Path) -> None:
    tmp = dest.parent / f".tmp-{secrets.token_hex(4)}"
    try:
        if item.data is not None:
            tmp.write_bytes(item.data)
        else:
            try:
                os.link(item.source, tmp)
            except OSError:
                shutil.copyfile(item.source, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)

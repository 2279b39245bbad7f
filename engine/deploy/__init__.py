"""`jbuild deploy TARGET --k8s`: manifests for a service and every service it requires.

    result = deploy(target, opts, sets, cwd, registry="jbuild.local", images_dir=None)
    result.manifests   # {service name: [objects]} (k8s.py); to_yaml(objects) renders them

Each service's image is composed as `jbuild image` composes it (engine/image), from that
service's own run closure, and referenced as REGISTRY/NAME@sha256:DIGEST; with `images_dir`
the images are also written there as one OCI layout (tags NAME:VERSION), ready for
`skopeo copy oci:DIR:VERSION docker://REGISTRY/NAME:VERSION`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class DeployResult:
    manifests: dict[str, list[dict]]
    images: dict[str, str]  # service name -> image reference by digest


def deploy(target: str, opts, sets=(), cwd: str | None = None, registry: str = "jbuild.local",
           images_dir: Path | None = None) -> DeployResult:
    from jbuild.base.errors import BadInput
    from jbuild.engine.image.oci import write_directory
    from jbuild.engine.image.target import build_for_image, image_of_node, in_root, overrides_of
    from jbuild.engine.results import run_packages
    from jbuild.engine.runtime.config import environment_etc, render_command, resolve_config
    from jbuild.engine.services.preparation import services_of

    from .k8s import Deployed, dns_name, health_argv, manifests

    p, closure, rb = build_for_image(target, opts, cwd)
    if closure.root.target.service is None:
        raise BadInput(f"{closure.root} has no service block: nothing to deploy (`jbuild image` makes its image)")
    overrides = overrides_of(p, closure, list(sets), cwd)
    deployed, images = [], {}
    with p.store.shared():
        for node in services_of(closure):
            packages = run_packages(closure, node)
            config = resolve_config(packages, overrides).get(node.label, {})
            composed = image_of_node(p, closure, node, rb, overrides)
            if images_dir is not None:
                write_directory(composed.image, images_dir)
            name, s = node.label.name, node.target.service
            rendered = render_command(s, config, node.label)
            ref = f"{registry.rstrip('/')}/{dns_name(name)}@{composed.image.digest}"
            images[name] = ref
            deployed.append(Deployed(
                name=name, label=str(node.label), image=ref, ports=rendered.ports, env=rendered.env,
                health=health_argv(rendered.health, in_root) if rendered.health else None,
                volumes=tuple((v.name, v.size, v.mount) for v in s.volumes),
                resources={k: _text(v, config) for k, v in s.resources},
                etc=environment_etc(packages, overrides), requires=tuple(r.label.name for r in s.requires)))
    return DeployResult(manifests(deployed), images)


def _text(value, config) -> str:
    from jbuild.dsl.model import ConfigRef

    if isinstance(value, ConfigRef):
        value = config.get(value.key, "")
    return str(value)


def to_yaml(objects: list[dict]) -> str:
    """Multi-document YAML (PyYAML: a well-kept emitter that quotes what YAML would misread,
    such as "on" or "0755"; hand-written YAML would not)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value: str):  # a rendered etc/ file reads as itself: a literal block
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump_all(objects, Dumper=Dumper, sort_keys=False, default_flow_style=False, explicit_start=True)

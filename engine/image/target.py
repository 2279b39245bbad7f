"""`jbuild image TARGET`: build the target, then compose the image of its run closure.

Also what `jbuild deploy` calls for each service (`image_of_node`): one image per service,
of that service's own run closure, config rendered as `jbuild run` renders it.
"""

from __future__ import annotations

import dataclasses
import os
import shlex

from jbuild.base.errors import BadInput, Failed

from .compose import Composed, Runtime, compose


def build_for_image(target: str, opts, cwd: str | None = None):
    """Plan and build `target` (one label); return (plan, its closure, the rebuilder)."""
    from jbuild.dsl.loader import parse_cli_label
    from jbuild.dsl.model import Test
    from jbuild.engine.build import plan, run

    p = plan([target], dataclasses.replace(opts, out_link=None), cwd)
    label = parse_cli_label(target, p.workspace, cwd).label
    found = [c for c in p.closures if c.root.label == label]
    if len(found) != 1:
        raise BadInput(f"an image is made of one target; {target} names {len(found)}")
    closure = found[0]
    if isinstance(closure.root.target, Test):
        raise BadInput(f"{closure.root} is a test: an image holds packages")
    code, rb = run(p)
    if code != 0:
        raise Failed(f"{target} did not build; no image")
    return p, closure, rb


def overrides_of(p, closure, sets, cwd: str | None) -> dict:
    from jbuild.engine.results import run_packages
    from jbuild.engine.runtime.config import parse_set

    packages = run_packages(closure, closure.root)
    current = p.workspace.package_of(cwd or os.getcwd())
    return dict(parse_set(text, packages, current) for text in sets)


def image_of_node(p, closure, node, rb, overrides: dict, tag: str | None = None) -> Composed:
    """The image of `node`'s run closure (call under the store's shared lock)."""
    from jbuild.engine.graph import is_action, run_closure
    from jbuild.engine.keys import host_tools_of
    from jbuild.engine.results import run_packages
    from jbuild.engine.runtime.config import environment_etc, resolve_config
    from jbuild.engine.runtime.environment import run_members

    members = run_members(closure, node, rb.entry_of)
    packages = run_packages(closure, node)
    config = resolve_config(packages, overrides).get(node.label, {})
    nodes = [n for n in run_closure(closure, node) if is_action(n)]
    host = sorted({pkg for n in nodes for tool in host_tools_of(closure, n)
                   for pkg in p.computer.host[tool.label].debian_packages})
    runtime = runtime_of(node, config, members, p.store)
    name = node.label.name
    return compose(p.store, members, environment_etc(packages, overrides), runtime, host,
                   tag or f"{name}:{node.target.version or 'latest'}")


def runtime_of(node, config: dict, members, store) -> Runtime:
    """Entrypoint, command, env, ports and volumes from the service (or the program bin/NAME)."""
    from jbuild.engine.runtime.config import render_command

    pkg, name = node.target, node.label.name
    labels = {"org.opencontainers.image.title": name, "org.opencontainers.image.version": str(pkg.version or ""),
              "org.opencontainers.image.description": pkg.summary, "dev.jbuild.target": str(node.label)}
    workdir = f"/var/lib/{name}"
    if pkg.service is None:
        program = _program(node, members, store)
        return Runtime(entrypoint=(program,) if program else (), workdir=workdir, labels=labels)
    s = render_command(pkg.service, config, node.label)
    argv = shlex.split(s.command)
    if not argv:
        raise BadInput(f"the service of {node.label}: the command is empty")
    return Runtime(entrypoint=(in_root(argv[0]),), cmd=tuple(argv[1:]), env=tuple(sorted(s.env.items())),
                   ports=s.ports, volumes=tuple(v.mount for v in pkg.service.volumes), workdir=workdir,
                   labels=labels)


def in_root(word: str) -> str:
    """`bin/tinydb` (relative to the environment) is /bin/tinydb in the image; a bare name is
    looked up on PATH, an absolute path stays."""
    return "/" + word if "/" in word and not os.path.isabs(word) else word


def _program(node, members, store) -> str | None:
    from jbuild.engine.runtime.environment import member_files

    own = next((m for m in members if m.label == str(node.label)), None)
    found = sorted(rel for rel in member_files(store, own) if rel.startswith("bin/")) if own else []
    named = f"bin/{node.label.name}"
    if named in found:
        return "/" + named
    return "/" + found[0] if len(found) == 1 else None

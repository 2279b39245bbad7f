"""`prepare` for `jbuild run`: build the target, assemble the environment of its run closure at
this resolution (runtime/environment.py: launchers find the libraries, etc/ rendered from
config), and describe each service (or the program) over that environment. Config is
runtime/config.py's: defaults < settings of the environment's packages (`--with` adds a tuning
package) < `--set`."""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from pathlib import Path

from jbuild.base.errors import BadInput, Failed
from jbuild.dsl.model import ConfigRef, Package, RequirementKind, Test

from . import RunPlan
from .runner import ServiceSpec

CONFIG_REF = re.compile(r"\$\{config\.([A-Za-z_][A-Za-z0-9_]*)\}")
PASSED_TO_SERVICES = ("HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR")


def prepare(target: str, opts, sets: list[str], cwd: str | None, withs: list[str] | None = None,
            planned=None, after_run=None) -> RunPlan:
    """`planned`: a plan of [target, *withs] already made (watch mode's session updates one);
    `after_run(rebuilder)` is told what the run settled."""
    from jbuild.dsl.loader import parse_cli_label
    from jbuild.engine.build import plan, run
    from jbuild.engine.results import run_packages
    from jbuild.engine.runtime.config import environment_etc, parse_set, resolve_config
    from jbuild.engine.runtime.environment import assemble, run_members

    p = planned or plan([target, *(withs or [])], dataclasses.replace(opts, out_link=None), cwd)
    closure = _one_closure(p, parse_cli_label(target, p.workspace, cwd).label, target)
    nodes = run_closure(closure)
    packages = {n.label: n.target for n in nodes}
    for other in p.closures:
        for pkg in run_packages(other, other.root):
            packages.setdefault(pkg.label, pkg)
    current = p.workspace.package_of(cwd or os.getcwd())
    overrides = dict(parse_set(text, packages.values(), current) for text in sets)  # said before building
    config = resolve_config(packages.values(), overrides)
    service_nodes = services_of(closure) if closure.root.target.service else []
    code, rb = run(p)
    if after_run is not None:
        after_run(rb)
    if code != 0:
        raise Failed(f"{target} did not build; nothing to run")
    root = closure.root
    run_root = p.workspace.root / ".jbuild" / "run" / re.sub(r"[^A-Za-z0-9_.-]", "_", str(root.label).strip("/"))
    run_root.mkdir(parents=True, exist_ok=True)
    with p.store.shared():
        members = run_members(closure, root, rb.entry_of)
        env_dir = assemble(p.store, members, environment_etc(packages.values(), overrides), title=root.label.name)
        link = run_root / "env"  # a GC root while (and after) it runs
        tmp = run_root / "env.new"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(env_dir)
        os.replace(tmp, link)
        p.store.add_root(link, [env_dir.name, *(m.entry for m in members)])
    path = os.pathsep.join([str(env_dir / "bin"), "/usr/local/bin", "/usr/bin", "/bin"])
    if not service_nodes:
        env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
        env.update(PATH=os.pathsep.join([str(env_dir / "bin"), os.environ.get("PATH", "")]))
        return RunPlan(str(root), program=_program(root, env_dir), env=env, root=str(run_root))
    base = {k: os.environ[k] for k in PASSED_TO_SERVICES if k in os.environ}
    base.update(PATH=path, JBUILD_ENV_DIR=str(env_dir))
    specs = [_service(n, env_dir, config.get(n.label, {}), base) for n in service_nodes]
    return RunPlan(str(root), services=specs, root=str(run_root))


def _one_closure(p, label, target: str):
    found = [c for c in p.closures if c.root.label == label]
    if len(found) != 1:
        raise BadInput(f"`jbuild run` takes one target; {target} names {len(found)}")
    closure = found[0]
    if isinstance(closure.root.target, Test):
        raise BadInput(f"{closure.root} is a test: `jbuild test` runs it")
    return closure


def run_closure(closure) -> list:
    """The root and its build-and-run and run-only requirements, transitively, as resolved now."""
    seen, stack = {}, [closure.root]
    while stack:
        n = stack.pop()
        if n in seen or not isinstance(n.target, Package) or n.target.host_tool is not None:
            continue
        seen[n] = None
        stack.extend(d for req, d in closure.deps.get(n, ()) if req.kind.at_run)
    return list(seen)


def services_of(closure) -> list:
    """The root's service and the services it requires, transitively (each must be in the run
    closure: a service requirement names a run requirement, e.g. run_requires = [//db:tinydb])."""
    out, stack = {}, [closure.root]
    while stack:
        n = stack.pop()
        if n in out:
            continue
        out[n] = None
        for req in n.target.service.requires:
            dep = closure.nodes.get(req.label)
            if dep is None or not any(d == dep and r.kind is not RequirementKind.BUILD_ONLY
                                      for r, d in closure.deps.get(n, ())):
                raise BadInput(f"the service of {n.label} requires {req.label}, which is not among its "
                               f"requires or run_requires")
            if dep.target.service is None:
                raise BadInput(f"the service of {n.label} requires {req.label}, which has no service block")
            stack.append(dep)
    return list(out)


def _render(value, config: dict, where: str) -> str:
    if isinstance(value, ConfigRef):
        if config.get(value.key) is None:
            raise BadInput(f"{where}: no value for config '{value.key}' (it has: {', '.join(config) or 'none'})")
        value = config[value.key]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        def sub(m):
            return _render(ConfigRef(m[1]), config, where)
        return CONFIG_REF.sub(sub, value)
    return str(value)


def _port(value, config: dict, where: str) -> int:
    text = _render(value, config, where)
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise BadInput(f"{where}: port '{text}' is not a number in 1..65535")
    return int(text)


def _service(node, entry: Path, config: dict, base: dict) -> ServiceSpec:
    s, where = node.target.service, f"the service of {node.label}"
    argv = shlex.split(_render(s.command, config, where))
    if not argv:
        raise BadInput(f"{where}: the command is empty")
    argv[0] = _locate(argv[0], entry, where)
    health = _render(s.health, config, where) if s.health else None
    if health:
        first, _, rest = health.partition(" ")
        health = shlex.quote(_locate(first, entry, where)) + (" " + rest if rest else "")
    env = dict(base)
    env.update({k: _render(v, config, where) for k, v in s.env})
    return ServiceSpec(name=node.label.name, label=str(node.label), command=argv, env=env,
                       ports=[_port(p, config, where) for p in s.ports], health=health,
                       requires=[r.label.name for r in s.requires])


def _locate(word: str, env_dir: Path, where: str) -> str:
    """`bin/tinydb` is a path in the environment (its launcher finds the libraries)."""
    if "/" not in word or os.path.isabs(word):
        return word
    path = env_dir / word
    if not path.exists():
        raise BadInput(f"{where}: {word} is not in the environment {env_dir} (does the package export it?)")
    return str(path)


def _program(node, entry: Path) -> list[str]:
    """A program's executable: bin/<name> of its entry, else its only file in bin/."""
    bin_dir = entry / "bin"
    named = bin_dir / node.label.name
    if named.is_file():
        return [str(named)]
    found = sorted(p for p in bin_dir.iterdir() if p.is_file()) if bin_dir.is_dir() else []
    if len(found) == 1:
        return [str(found[0])]
    listed = ", ".join(p.name for p in found) or "nothing"
    raise BadInput(f"{node} has no service and no single program to run (bin/ holds {listed})")

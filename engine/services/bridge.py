"""`prepare` for `jbuild run` from what exists today: build the target, walk its run closure at
this resolution, and describe each service (or the program) over the closure's store entries.

BRIDGE (temporary, replaced when environments and config land):
  - `_closure_dirs`: PATH and LD_LIBRARY_PATH from the entries' bin/ and lib/ directories.
    An environment (engine/runtime/environment.py `assemble(...)`, a directory with bin/ lib/
    etc/ var/) replaces it: commands resolve against <env>/bin, no LD_LIBRARY_PATH (the env's
    launchers find the libraries), each service's cwd becomes <env>/var/<name>.
  - `_config`: each package's config defaults, then `--set LABEL.KEY=VALUE`. engine/runtime/
    config.py replaces it (defaults < settings of packages in the environment < --set, with
    conflicts reported).
Everything else (which services, their order, interpolation into commands, ports, env) stays.
"""

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


def prepare(target: str, opts, sets: list[str], cwd: str | None) -> RunPlan:
    from jbuild.engine.build import plan, run

    p = plan([target], dataclasses.replace(opts, out_link=None), cwd)
    closure = _one_closure(p, target)
    nodes = run_closure(closure)
    config = _config(nodes, sets, p.workspace, cwd)  # bad input is said before anything builds
    service_nodes = services_of(closure) if closure.root.target.service else []
    code, rb = run(p)
    if code != 0:
        raise Failed(f"{target} did not build; nothing to run")
    entries = {n: p.store.path(rb.entry_of(n)) for n in nodes}
    bins, libs = _closure_dirs(entries.values())
    root = closure.root
    run_root = p.workspace.root / ".jbuild" / "run" / re.sub(r"[^A-Za-z0-9_.-]", "_", str(root.label).strip("/"))
    if not service_nodes:
        env = dict(os.environ, PATH=os.pathsep.join(bins + [os.environ.get("PATH", "")]),
                   LD_LIBRARY_PATH=os.pathsep.join(libs))
        return RunPlan(str(root), program=_program(root, entries[root]), env=env, root=str(run_root))
    base = {k: os.environ[k] for k in PASSED_TO_SERVICES if k in os.environ}
    base.update(PATH=os.pathsep.join(bins + ["/usr/local/bin", "/usr/bin", "/bin"]), LD_LIBRARY_PATH=os.pathsep.join(libs))
    specs = [_service(n, entries[n], config[n], base) for n in service_nodes]
    return RunPlan(str(root), services=specs, root=str(run_root))


def _one_closure(p, target: str):
    if len(p.closures) != 1:
        raise BadInput(f"`jbuild run` takes one target; {target} names {len(p.closures)}")
    closure = p.closures[0]
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


def _closure_dirs(entries) -> tuple[list[str], list[str]]:
    """BRIDGE: the environment replaces this (see the module docstring)."""
    entries = sorted(entries)
    return ([str(e / "bin") for e in entries if (e / "bin").is_dir()],
            [str(e / "lib") for e in entries if (e / "lib").is_dir()])


def _config(nodes: list, sets: list[str], ws, cwd) -> dict:
    """BRIDGE: config.py replaces this. {node: {key: value}}: defaults, then `--set`."""
    values = {n: {f.name: f.default for f in n.target.config} for n in nodes}
    by_label = {n.label: n for n in nodes}
    for text in sets:
        name, eq, raw = text.partition("=")
        label_text, dot, key = name.rpartition(".")
        if not eq or not dot:
            raise BadInput(f"--set {text}: expected LABEL.KEY=VALUE, e.g. //db:tinydb.port=22333")
        from jbuild.dsl.loader import parse_cli_label

        label = parse_cli_label(label_text, ws, cwd).label
        node = by_label.get(label)
        if node is None:
            raise BadInput(f"--set {text}: {label} is not in what this run starts")
        field = {f.name: f for f in node.target.config}.get(key)
        if field is None:
            raise BadInput(f"--set {text}: {label} has no config '{key}' (it has: {', '.join(values[node]) or 'none'})")
        values[node][key] = _typed(raw, field.type, text)
    return values


def _typed(raw: str, kind: str, text: str):
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise BadInput(f"--set {text}: '{raw}' is not an integer") from None
    if kind == "bool":
        if raw not in ("true", "false"):
            raise BadInput(f"--set {text}: expected true or false")
        return raw == "true"
    return raw


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


def _locate(word: str, entry: Path, where: str) -> str:
    """`bin/tinydb` is a path in the package's own entry (BRIDGE: in the environment)."""
    if "/" not in word or os.path.isabs(word):
        return word
    path = entry / word
    if not path.exists():
        raise BadInput(f"{where}: {word} is not in its store entry {entry}")
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

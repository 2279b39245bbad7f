"""Source hash, recipe hash, interface key and build key — all before anything is built.

DESIGN §3, exactly:
  interface key(P) = H(name, version, flavours, P's interface files,
                       interface keys of P's build-and-run requirements)   (if P declares one)
                   = build key(P)                                         (otherwise, or --strict)
  build key(P)     = H(recipe hash, source hash, platform fingerprints of declared host tools,
                       sandbox kind, interface keys of build-and-run requirements,
                       build keys of the run closure of build-only requirements)
Each input set is a frozen value (`KeyInputs`), encoded by hashing.key_of.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

from jbuild.base.hashing import key_of
from jbuild.dsl.model import Package, RequirementKind

from .graph import run_closure
from .resolve import Closure, Node

# The attributes of a recipe that its build cannot observe: they enter no build key.
NOT_IN_RECIPE = ("summary", "config", "settings", "service", "tags", "slots", "contribute", "exports",
                 "files", "interface", "requires")


@dataclass(frozen=True)
class KeyInputs:
    """Everything a build key is computed from; stored with each entry so `explain` can diff."""

    recipe: str
    sources: dict = field(default_factory=dict)  # path -> digest (+x)
    platform: dict = field(default_factory=dict)  # host tool label -> fingerprint
    sandbox: str = ""
    interfaces: dict = field(default_factory=dict)  # build-and-run dep -> interface key
    tools: dict = field(default_factory=dict)  # run closure of build-only deps -> build key


@dataclass
class Keys:
    build: dict[Node, str] = field(default_factory=dict)
    interface: dict[Node, str] = field(default_factory=dict)
    inputs: dict[Node, KeyInputs] = field(default_factory=dict)


def recipe_hash(node: Node, closure: Closure) -> str:
    from jbuild.dsl.canonical import target

    data = {k: v for k, v in target(node.target).items() if k not in NOT_IN_RECIPE}
    data["flavour_values"] = dict(node.flavours)
    # Resolved requirements, not the constraint text: widening a constraint with the same
    # resolution changes nothing.
    data["resolved"] = sorted(
        [r.kind.value, str(d.label), d.version, dict(d.flavours)]
        for r, d in closure.deps.get(node, ()) if r.kind.at_build
    )
    return key_of(data)


class KeyComputer:
    """Computes keys for every node of the given closures, memoised across them."""

    def __init__(self, workspace_root, stats, host, sandbox_kind: str, strict: bool = False):
        self.root = workspace_root
        self.stats = stats
        self.host = host  # label -> HostFingerprint
        self.sandbox_kind = sandbox_kind
        self.strict = strict
        self.keys = Keys()
        self._active: set[Node] = set()

    def package_dir(self, node: Node) -> str:
        from jbuild.dsl.workspace import stdlib_dir

        base = stdlib_dir() if node.label.repo == "std" else self.root
        return os.path.join(base, node.label.package)

    def file_digests(self, node: Node, files) -> dict:
        base = self.package_dir(node)
        out = {}
        for rel in files:
            digest, exe = self.stats.digest(os.path.join(base, rel))
            out[rel] = digest + ("+x" if exe else "")
        return out

    def build_key(self, node: Node, closure: Closure) -> str:
        if node in self.keys.build:
            return self.keys.build[node]
        if node in self._active:
            raise RuntimeError(f"key cycle at {node}")
        self._active.add(node)
        pkg = node.target
        if isinstance(pkg, Package) and pkg.host_tool is not None:
            key = key_of(["host", str(node.label), self.host[node.label].fingerprint])
            inputs = KeyInputs(recipe="", platform={str(node.label): self.host[node.label].fingerprint})
        else:
            interfaces, tools, platform = {}, {}, {}
            for req, dep in closure.deps.get(node, ()):
                if req.kind is RequirementKind.BUILD_AND_RUN:
                    interfaces[str(dep)] = self.interface_key(dep, closure)
                elif req.kind is RequirementKind.BUILD_ONLY:
                    for n in run_closure(closure, dep):
                        if isinstance(n.target, Package) and n.target.host_tool is not None:
                            platform[str(n.label)] = self.host[n.label].fingerprint
                        else:
                            tools[str(n)] = self.build_key(n, closure)
            inputs = KeyInputs(
                recipe=recipe_hash(node, closure),
                sources=self.file_digests(node, pkg.files),
                platform=platform, sandbox=self.sandbox_kind, interfaces=interfaces, tools=tools,
            )
            key = key_of(asdict(inputs))
        self._active.discard(node)
        self.keys.build[node] = key
        self.keys.inputs[node] = inputs
        return key

    def interface_key(self, node: Node, closure: Closure) -> str:
        if node in self.keys.interface:
            return self.keys.interface[node]
        pkg = node.target
        declared = isinstance(pkg, Package) and (pkg.interface or pkg.host_tool is not None)
        if self.strict or not declared or (isinstance(pkg, Package) and pkg.host_tool is not None):
            key = self.build_key(node, closure)
        else:
            deps = {str(d): self.interface_key(d, closure) for r, d in closure.deps.get(node, ())
                    if r.kind is RequirementKind.BUILD_AND_RUN}
            key = key_of({"name": str(node.label), "version": node.version, "flavours": dict(node.flavours),
                          "interface": self.file_digests(node, pkg.interface_files), "deps": deps})
        self.keys.interface[node] = key
        return key


def entry_name(node: Node, key: str) -> str:
    """`<key>-<name>-<version>[-flavour=value,...]`: the store directory of an entry."""
    fl = "-" + ",".join(f"{k}={v}" for k, v in node.flavours) if node.flavours else ""
    return f"{key}-{node.label.name}-{node.version}{fl}"


def describe_change(old: dict | None, new: KeyInputs) -> str:
    """Why a key differs from the last build of the same target: the first inputs that changed."""
    if old is None:
        return "never built before"
    cur = asdict(new)
    reasons = []
    if old.get("recipe") != cur["recipe"]:
        reasons.append("the recipe changed")
    for what, label in (("sources", "source"), ("interfaces", "interface of"), ("tools", "build tool"),
                        ("platform", "host tool")):
        a, b = old.get(what, {}), cur[what]
        changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if changed:
            shown = ", ".join(changed[:3]) + (f" (+{len(changed) - 3} more)" if len(changed) > 3 else "")
            reasons.append(f"{label} changed: {shown}" if what != "sources" else f"sources changed: {shown}")
    if old.get("sandbox") != cur["sandbox"]:
        reasons.append(f"sandbox kind changed to {cur['sandbox']}")
    return "; ".join(reasons) or "same inputs, but not in the store"


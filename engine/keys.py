"""Source hash, recipe hash, interface key and build key (DESIGN §3).

  interface key(P)   = H(name, version, flavours, P's declared interface files,
                         interface keys of P's build-and-run requirements)     (if P declares one)
                     = build key(P)                                          (otherwise, or --strict)
  exported digest(P) = H(what P's output offers consumers, measured after the build (exported.py),
                         exported digests of P's build-and-run requirements)
  build key(P)       = H(recipe hash, source hash, platform fingerprints of declared host tools,
                         sandbox kind, exported digests of build-and-run requirements,
                         build keys of the run closure of build-only requirements)

A build key depends on measured digests, so it is known exactly only once its dependencies are
settled (`actual`). Before anything runs, `predict` computes every key with each dependency's
exported digest *predicted*: exact when the dependency's predicted entry is in the store, else
the digest last measured for the same interface key, else a placeholder derived from the
interface key (the consumer is then predicted to rebuild). Under --strict, build-and-run
requirements enter with their build keys (Nix-like) and no measurement is trusted.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter

from jbuild.base.hashing import key_of
from jbuild.dsl.model import RequirementKind

from .fetch.digest import source_digests
from .graph import run_closure
from .resolve import Closure, Node

# The attributes of a recipe that its build cannot observe: they enter no build key.
NOT_IN_RECIPE = ("summary", "config", "settings", "service", "tags", "slots", "contribute", "exports",
                 "files", "interface", "requires", "etc", "fetch")  # fetch: URLs; hashes enter the source hash
PREDICTED = "predicted:"  # prefix of a placeholder digest: the dependency's interface was never measured


class KeyInputs(tuple):
    """Everything a build key is computed from; stored with each entry so `explain` can diff.

    A tuple, not a data class: a session's hot file holds one per action (10,000 at 10,000
    packages), and a tuple comes back from a pickle without a Python call per object (a slotted
    data class's `__setstate__` cost ~90 ms there)."""

    __slots__ = ()
    FIELDS = ("recipe", "sources", "platform", "sandbox", "interfaces", "tools")

    def __new__(cls, recipe: str, sources: dict | None = None, platform: dict | None = None, sandbox: str = "",
                interfaces: dict | None = None, tools: dict | None = None):
        return tuple.__new__(cls, (recipe, {} if sources is None else sources, {} if platform is None else platform,
                                   sandbox, {} if interfaces is None else interfaces, {} if tools is None else tools))

    recipe = property(itemgetter(0))
    sources = property(itemgetter(1))  # path -> digest (+x)
    platform = property(itemgetter(2))  # host tool label -> fingerprint
    sandbox = property(itemgetter(3))
    interfaces = property(itemgetter(4))  # build-and-run dep label -> exported digest
    tools = property(itemgetter(5))  # run closure of build-only deps -> build key

    def __reduce__(self):  # tuple.__new__ itself: no Python call when read back
        return tuple.__new__, (KeyInputs, tuple(self))

    def __repr__(self) -> str:
        return "KeyInputs(" + ", ".join(f"{k}={v!r}" for k, v in zip(self.FIELDS, self, strict=True)) + ")"

    def as_dict(self) -> dict:
        return dict(zip(self.FIELDS, self, strict=True))

    def key(self) -> str:
        return key_of(self.as_dict())


@dataclass
class Keys:
    build: dict[Node, str] = field(default_factory=dict)
    interface: dict[Node, str] = field(default_factory=dict)
    inputs: dict[Node, KeyInputs] = field(default_factory=dict)
    exported: dict[Node, str] = field(default_factory=dict)  # predicted exported digests


def recipe_hash(node: Node, closure: Closure) -> str:
    from jbuild.dsl.canonical import target

    data = {k: v for k, v in target(node.target).items() if k not in NOT_IN_RECIPE}
    data["flavour_values"] = dict(node.flavours)
    # Resolved requirements, not the constraint text: widening a constraint with the same
    # resolution changes nothing. A library's version enters only through its exported digest
    # (a version is a label, not an input of anyone's compiled code); a tool's through its key.
    data["resolved"] = sorted(
        [r.kind.value, str(d.label), d.version if r.kind is RequirementKind.BUILD_ONLY else "", dict(d.flavours)]
        for r, d in closure.deps.get(node, ()) if r.kind.at_build
    )
    return key_of(data)


def combined_exported(own: str, deps: dict[str, str]) -> str:
    """A package's exported digest: its own measured interface and those of its build-and-run
    requirements (headers include headers)."""
    return key_of({"own": own, "deps": deps})


def is_host_tool(node: Node) -> bool:
    return node.shape.host_tool


def tool_nodes(closure: Closure, node: Node) -> list[Node]:
    """The workspace-built tools a build of `node` runs (build-only requirements' run closures)."""
    return [n for n in _hosts_and_tools(closure, node) if not is_host_tool(n)]


def host_tools_of(closure: Closure, node: Node) -> list[Node]:
    """The host tools a build of `node` declares (in the run closures of its build-only requirements)."""
    return [n for n in _hosts_and_tools(closure, node) if is_host_tool(n)]


def _hosts_and_tools(closure: Closure, node: Node) -> list[Node]:
    """The run closure of each build-only requirement: the tools a build runs."""
    out: dict[Node, None] = {}
    for req, dep in closure.deps.get(node, ()):
        if req.kind is RequirementKind.BUILD_ONLY:
            out.update(dict.fromkeys(run_closure(closure, dep)))
    return list(out)


class KeyComputer:
    """Computes keys for every node of the given closures, memoised across them."""

    def __init__(self, workspace_root, stats, host, sandbox_kind: str, strict: bool = False,
                 known_exported: Callable[[Node, str, str], str | None] = lambda n, b, i: None):
        self.root = workspace_root
        self.stats = stats
        self.host = host  # label -> HostFingerprint
        self.sandbox_kind = sandbox_kind
        self.strict = strict
        # (node, predicted build key, interface key) -> the exported digest the store knows, or None
        self.known_exported = known_exported
        self.keys = Keys()  # the prediction
        # Memos, never saved: a node's static inputs are those of its predicted inputs (`keys.inputs`,
        # which `forget` drops when they change), and its tools come from its closure.
        self._static: dict[Node, tuple[str, dict, dict]] = {}
        self._tools: dict[Node, list[Node]] = {}  # run closures of build-only requirements
        self._active: set[Node] = set()
        # Who read a node's build key (node -> consumers: its tools' users, or under --strict its
        # direct consumers), so that a change re-keys exactly the consumers that read the value
        # that changed (`rekey`). A node's exported digest and interface key are read by its
        # direct build-and-run consumers: `rekey` finds those in the closures, not in a map
        # (two equal maps of 40,000 members at 10,000 packages, read back by every run).
        self.readers: dict[str, dict[Node, set[Node]]] = {"build": {}}

    MEMOS = ("_static", "_tools", "_active")

    def __getstate__(self):  # the store callback is re-attached by whoever restores it (session.py)
        return {**{k: v for k, v in self.__dict__.items() if k not in self.MEMOS}, "known_exported": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._static, self._tools, self._active = {}, {}, set()

    def _read_build(self, dep: Node, by: Node) -> None:
        self.readers["build"].setdefault(dep, set()).add(by)

    def tools_of(self, node: Node, closure: Closure) -> list[Node]:
        """The run closures of `node`'s build-only requirements, host tools included (memoised)."""
        found = self._tools.get(node)
        if found is None:
            found = self._tools[node] = _hosts_and_tools(closure, node)
        return found

    def package_dir(self, node: Node) -> str:
        from jbuild.dsl.workspace import stdlib_dir

        base = stdlib_dir() if node.label.repo == "std" else self.root
        return os.path.join(base, node.label.package)

    def file_digests(self, node: Node, files) -> dict:
        base = self.package_dir(node)
        out = {}
        for rel in files:
            try:
                digest, exe = self.stats.digest(os.path.join(base, rel))
            except OSError as e:  # (unreadable: another user's file, mode 000; gone since the load)
                from jbuild.base.errors import BadInput

                shown = os.path.join(node.label.package, rel)
                raise BadInput(f"cannot read {shown!r}, a source of {node.label}: {e.strerror or e}") from None
            out[rel] = digest + ("+x" if exe else "")
        return out

    def _static_inputs(self, node: Node, closure: Closure) -> tuple[str, dict, dict]:
        """(recipe hash, source digests, platform fingerprints): what needs no dependency built.
        Those of its predicted inputs while it has some (`forget` drops them when they change):
        a consumer re-keyed because a dependency changed encodes no recipe again."""
        found = self._static.get(node)
        if found is None:
            was = self.keys.inputs.get(node)
            if was is not None:
                found = (was.recipe, was.sources, was.platform)
            else:
                platform = {str(n.label): self.host[n.label].fingerprint
                            for n in self.tools_of(node, closure) if is_host_tool(n)}
                sources = {**self.file_digests(node, node.target.files), **source_digests(node.target)}
                found = (recipe_hash(node, closure), sources, platform)
            self._static[node] = found
        return found

    def inputs(self, node: Node, closure: Closure, exported: Callable[[Node], str],
               build_key: Callable[[Node], str]) -> KeyInputs:
        """The inputs of `node`'s build key, given each dependency's exported digest and build key."""
        recipe, sources, platform = self._static_inputs(node, closure)
        direct = [d for r, d in closure.deps.get(node, ()) if r.kind is RequirementKind.BUILD_AND_RUN]
        interfaces = {str(d.label): (build_key(d) if self.strict else exported(d)) for d in direct}
        tool_nodes = [n for n in self.tools_of(node, closure) if not is_host_tool(n)]
        tools = {str(n): build_key(n) for n in tool_nodes}
        for n in [*direct, *tool_nodes] if self.strict else tool_nodes:
            self._read_build(n, node)
        return KeyInputs(recipe=recipe, sources=sources, platform=platform, sandbox=self.sandbox_kind,
                         interfaces=interfaces, tools=tools)

    # ------------------------------------------------------------------ the prediction

    def build_key(self, node: Node, closure: Closure) -> str:
        """The predicted build key (memoised)."""
        if node in self.keys.build:
            return self.keys.build[node]
        if node in self._active:
            raise RuntimeError(f"key cycle at {node}")
        self._active.add(node)
        if is_host_tool(node):
            fp = self.host[node.label].fingerprint
            inputs = KeyInputs(recipe="", platform={str(node.label): fp})
            key = key_of(["host", str(node.label), fp])
        else:
            inputs = self.inputs(node, closure, lambda d: self.predicted_exported(d, closure),
                                 lambda d: self.build_key(d, closure))
            key = inputs.key()
        self._active.discard(node)
        self.keys.build[node] = key
        self.keys.inputs[node] = inputs
        return key

    def predicted_exported(self, node: Node, closure: Closure) -> str:
        if node in self.keys.exported:
            return self.keys.exported[node]
        if is_host_tool(node):  # a host tool exports its fingerprint (as the rebuilder says)
            return self.build_key(node, closure)
        key, iface = self.build_key(node, closure), self.interface_key(node, closure)
        known = self.known_exported(node, key, iface)
        value = known if known is not None else PREDICTED + iface
        self.keys.exported[node] = value
        return value

    def interface_key(self, node: Node, closure: Closure) -> str:
        if node in self.keys.interface:
            return self.keys.interface[node]
        pkg = node.target
        if self.strict or is_host_tool(node) or not pkg.interface:
            key = self.build_key(node, closure)
        else:
            direct = [d for r, d in closure.deps.get(node, ()) if r.kind is RequirementKind.BUILD_AND_RUN]
            deps = {str(d.label): self.interface_key(d, closure) for d in direct}
            key = key_of({"name": str(node.label), "version": node.version, "flavours": dict(node.flavours),
                          "interface": self.file_digests(node, pkg.interface_files), "deps": deps})
        self.keys.interface[node] = key
        return key

    # ------------------------------------------------------------------ incremental

    def forget(self, nodes: Iterable[Node]) -> None:
        """Drop what was cached of `nodes`' own inputs (their sources or recipe changed): their
        predicted inputs too, which `_static_inputs` would take them from."""
        for n in nodes:
            self._static.pop(n, None)
            self._tools.pop(n, None)
            self.keys.inputs.pop(n, None)

    def rekey(self, dirty: Iterable[Node], order: dict[Node, int], closure_of: dict[Node, Closure],
              consumers: dict[Node, list[Node]] | None = None) -> set[Node]:
        """Recompute the keys of `dirty` and of every consumer that read a value that changed,
        dependencies first, stopping wherever a build key, interface key and predicted exported
        digest all come out as before (early cutoff). Returns the nodes whose build key changed
        (or that had none). `consumers` (the action graph's: each action's direct consumers at
        build time) narrows the search for a node's direct build-and-run consumers."""
        heap = [(order[n], id(n), n) for n in set(dirty) if n in order]
        heapq.heapify(heap)
        done: set[Node] = set()
        changed: set[Node] = set()
        k = self.keys
        while heap:
            _, _, n = heapq.heappop(heap)
            if n in done:
                continue
            done.add(n)
            old = (k.build.pop(n, None), k.interface.pop(n, None), k.exported.pop(n, None))
            closure = closure_of[n]
            new = (self.build_key(n, closure), self.interface_key(n, closure), self.predicted_exported(n, closure))
            readers = list(self.readers["build"].get(n, ())) if old[0] != new[0] else []
            if old[1] != new[1] or old[2] != new[2]:
                readers += direct_consumers(n, closure_of, consumers)
            for c in readers:
                if c in order and c not in done:
                    heapq.heappush(heap, (order[c], id(c), c))
            if old[0] != new[0]:
                changed.add(n)
        return changed

    def settle(self, node: Node, key: str, exported: str, inputs: KeyInputs) -> None:
        """A run settled `node` (built or found in the store): its actual key and measured
        digest become the prediction, so the next plan predicts exactly what is in the store."""
        self.keys.build[node] = key
        self.keys.inputs[node] = inputs
        self.keys.exported[node] = exported
        if not self.declares_interface(node):
            self.keys.interface[node] = key

    def declares_interface(self, node: Node) -> bool:
        """True if `node`'s interface key is a prediction of its own (not its build key)."""
        return not self.strict and not node.shape.host_tool and node.shape.interface


def direct_consumers(node: Node, closure_of: dict[Node, Closure], consumers: dict | None = None) -> list[Node]:
    """The packages that require `node` directly as build-and-run: those that read its exported
    digest and interface key. Among `consumers[node]` (the action graph's) when it lists it,
    else among every node (a host tool, whose keys an update never changes)."""
    candidates = consumers.get(node) if consumers is not None else None
    out = []
    for c in closure_of if candidates is None else candidates:
        if (c.shape.action or c.shape.host_tool) and any(  # a package (its target may not be read back)
                r.kind is RequirementKind.BUILD_AND_RUN and (d is node or d == node)
                for r, d in closure_of[c].deps.get(c, ())):
            out.append(c)
    return out


def entry_name(node: Node, key: str) -> str:
    """`<key>-<name>-<version>[-flavour=value,...]`: the store directory of an entry."""
    fl = "-" + ",".join(f"{k}={v}" for k, v in node.flavours) if node.flavours else ""
    return f"{key}-{node.label.name}-{node.version}{fl}"


def describe_change(old: dict | None, new: KeyInputs) -> str:
    """Why a key differs from the last build of the same target: the first inputs that changed."""
    if old is None:
        return "never built before"
    cur = new.as_dict()
    reasons = []
    if old.get("recipe") != cur["recipe"]:
        reasons.append("the recipe changed")
    for what, label in (("sources", "sources changed"), ("interfaces", "exported interface changed"),
                        ("tools", "build tool changed"), ("platform", "host tool changed")):
        a, b = old.get(what, {}), cur[what]
        changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if changed:
            shown = ", ".join(changed[:3]) + (f" (+{len(changed) - 3} more)" if len(changed) > 3 else "")
            reasons.append(f"{label}: {shown}")
    if old.get("sandbox") != cur["sandbox"]:
        reasons.append(f"sandbox kind changed to {cur['sandbox']}")
    return "; ".join(reasons) or "same inputs, but not in the store"

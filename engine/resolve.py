"""Pick one version and one flavour assignment per version family, per root (DESIGN §9).

resolvelib (pip's resolver core) does the backtracking over versions with a provider of ours;
flavours are unified afterwards, and `when` conditions re-evaluated until the assignment is
stable. A conflict is explained in PubGrub's style with the chain of requirements.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter

from jbuild.dsl.labels import Label
from jbuild.dsl.model import Package, Requirement, RequirementKind, Target
from jbuild.dsl.versions import Constraint

from .node import Node, Shape, shape_of  # noqa: F401 (where the engine imports them from)
from .resolve_explain import Explained, explain_conflict


class ResolutionError(Explained):
    """A closure that cannot be resolved (exit 2): a message, or a headline with notes and help."""


def requirements_of(t: Target) -> tuple[Requirement, ...]:
    """A target's requirements in the order its closure's edges take them (`_active`)."""
    if isinstance(t, Package) and t.service:
        return t.requires + t.service.requires
    return t.requires


class RequirementRef(tuple):
    """An edge's requirement in a restored closure: (kind, owner node, position among
    `requirements_of(owner.target)`). Its kind is at hand (all that an update, a plan, keys and
    adoption ask of an edge); anything else reads the owner's target back and asks the real one."""

    __slots__ = ()
    kind = property(itemgetter(0))

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.real(), name)

    def real(self) -> Requirement:
        _, owner, position = self
        return requirements_of(owner.target)[position]

    def __str__(self) -> str:
        return str(self.real())

    __repr__ = __str__


@dataclass
class Closure:
    root: Node
    nodes: dict[Label, Node]
    deps: dict[Node, list[tuple[Requirement, Node]]]
    # Resolved with every other root at once, without search (`_resolve_roots`): a change of a few
    # families is re-resolved from the last resolution (reresolve.py).
    shared: bool = False


def kept_edges(deps: dict[Node, list[tuple[Requirement, Node]]]) -> dict[Node, list[tuple[Requirement, Node]]]:
    """A closure's edges as a kept analysis writes them: each requirement a RequirementRef (its
    kind, its owner and its position), not the requirement with its label, constraint and span."""
    out = {}
    for n, edges in deps.items():
        reqs = None
        row = []
        for r, d in edges:
            if type(r) is not RequirementRef:
                reqs = requirements_of(n.target) if reqs is None else reqs
                at = next((i for i, x in enumerate(reqs) if x is r), None)
                r = r if at is None else RequirementRef((r.kind, n, at))
            row.append((r, d))
        out[n] = row
    return out


@dataclass(frozen=True)
class _Req:
    requirement: Requirement
    parent: str  # who asked, for explanations


def resolve_roots(roots: list[Label], families: dict[Label, list[Target]],
                  pins: dict[Label, str] | None = None, previous: tuple | None = None) -> list[Closure]:
    """One closure per root (see `_resolve_roots`), each node identified by its own resolution.
    `previous`: (the last closures, the families they were resolved from); where only a few
    families changed, those and what they reach are resolved again from them (reresolve.py)."""
    if previous is not None and not pins:
        from .reresolve import update

        found = update(previous[0], roots, families, previous[1])
        if found is not None:
            return found
    return identify(_resolve_roots(roots, families, pins))


def resolution_of(edges) -> str:
    """A node's resolution: the digest of how each of its requirements was resolved (its
    edges' kinds and the ids and resolutions of the nodes they reach)."""
    from jbuild.base.hashing import key_of

    below = sorted([r.kind.value, d.id, d.resolution] for r, d in edges)
    return key_of(below)[:16] if below else ""


def identify(closures: list[Closure]) -> list[Closure]:
    """Give every node the digest of how its requirements were resolved, transitively, so that
    a node means one action across all closures of a build. Closures resolved together share
    their nodes and are identified once."""
    done: dict[int, tuple[dict, dict, dict]] = {}
    out = []
    for c in closures:
        if id(c.deps) not in done:
            memo: dict[Node, Node] = {}
            for n in _postorder(c):
                res = resolution_of((r, memo.get(d, d)) for r, d in c.deps.get(n, ()))
                memo[n] = Node(n.target, n.label, n.version, n.flavours, res)
            nodes = {lb: memo[n] for lb, n in c.nodes.items()}
            deps = {memo[n]: [(r, memo[d]) for r, d in ds] for n, ds in c.deps.items()}
            done[id(c.deps)] = (memo, nodes, deps)
        memo, nodes, deps = done[id(c.deps)]
        out.append(Closure(memo[c.root], nodes, deps, c.shared))
    return out


def _postorder(c: Closure) -> list[Node]:
    """Every node of `c`, each after its requirements (a cycle is cut; graph.py reports it)."""
    order: list[Node] = []
    seen: set[Node] = set()
    for start in c.nodes.values():
        if start in seen:
            continue
        seen.add(start)
        stack = [(start, iter(c.deps.get(start, ())))]
        while stack:
            node, it = stack[-1]
            for _, d in it:
                if d not in seen:
                    seen.add(d)
                    stack.append((d, iter(c.deps.get(d, ()))))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def _resolve_roots(roots: list[Label], families: dict[Label, list[Target]],
                   pins: dict[Label, str] | None = None) -> list[Closure]:
    """One closure per root; `pins` names the one version a root was asked for
    (`//db:tinydb@1.4.2`), and such a root is resolved on its own. Where no search and no flavour choice is involved (every family
    reached has one version and no requirement selects a flavour value), per-root resolution
    would pick the same node for a label in every closure: resolve them together once, and let
    the closures share their nodes and edges. Otherwise resolve each root on its own."""
    if pins:
        pinned = [resolve(r, {**families, r: [t for t in families[r] if str(t.version) == pins[r]]})
                  for r in roots if r in pins]
        return pinned + _resolve_roots([r for r in roots if r not in pins], families)
    shared = _single_versions(roots, families, {}, no_flavour_choice=True)
    if shared is None:
        return [resolve(r, families) for r in roots]
    nodes = {lb: Node(t, lb, str(t.version) if t.version else "", _flavour_values(t, {}))
             for lb, t in shared.items()}
    deps = {n: [(r, nodes[r.label]) for r in _active(n.target, dict(n.flavours))] for n in nodes.values()}
    return [Closure(nodes[r], nodes, deps, shared=True) for r in roots]


def resolve(root: Label, families: dict[Label, list[Target]]) -> Closure:
    """Resolve the closure of `root` over the loaded `families`."""
    selections: dict[Label, dict[str, str]] = {}
    for _ in range(8):
        chosen = _resolve_versions(root, families, selections)
        new = _unify_flavours(root, chosen, selections)
        if new == selections:
            break
        selections = new
    nodes = {lb: Node(t, lb, str(t.version) if t.version else "", _flavour_values(t, selections.get(lb, {})))
             for lb, t in chosen.items()}
    deps = {}
    for _lb, node in nodes.items():
        flav = dict(node.flavours)
        deps[node] = [(r, nodes[r.label]) for r in _active(node.target, flav) if r.label in nodes]
    return Closure(nodes[root], nodes, deps)


def _active(t: Target, flavours: dict[str, str]) -> list[Requirement]:
    return [r for r in requirements_of(t) if r.condition is None or r.condition.holds(flavours)]


def _flavour_values(t: Target, selected: dict[str, str]) -> tuple[tuple[str, str], ...]:
    if not isinstance(t, Package):
        return ()
    return tuple(sorted((f.name, selected.get(f.name, f.default)) for f in t.flavours))


def _resolve_versions(root: Label, families, selections) -> dict[Label, Target]:
    fast = _single_versions([root], families, selections)
    if fast is not None:
        return fast
    import resolvelib

    provider = _Provider(families, selections)
    root_req = _Req(Requirement(root, RequirementKind.BUILD_AND_RUN), "the command line")
    try:
        result = resolvelib.Resolver(provider, resolvelib.BaseReporter()).resolve([root_req], max_rounds=10_000)
    except resolvelib.ResolutionImpossible as exc:
        raise ResolutionError(*explain_conflict(exc.causes, families, _chains(root, families))) from None
    except resolvelib.ResolutionTooDeep:
        raise ResolutionError(f"resolving {root} took too many steps; narrow some constraints") from None
    return {Label(*key): cand for key, cand in result.mapping.items()}


def _chains(root: Label, families):
    """label -> the labels from `root` down to it by requirements (any version's, a shortest
    path): how a conflict's requirer came into the closure, for its explanation."""
    parent: dict[Label, Label | None] = {root: None}
    todo = [root]
    for label in todo:  # (breadth first: todo grows as it is walked)
        for t in families.get(label, []):
            for r in requirements_of(t):
                if r.label not in parent:
                    parent[r.label] = label
                    todo.append(r.label)

    def chain(label: Label) -> list[Label]:
        out = []
        while label is not None and label in parent:
            out.append(label)
            label = parent[label]
        return out[::-1]

    return chain


def _single_versions(roots: list[Label], families, selections, no_flavour_choice: bool = False
                     ) -> dict[Label, Target] | None:
    """The common case without search: every family reached from `roots` has one version and
    every constraint admits it (and, with `no_flavour_choice`, no requirement selects a flavour
    value). None sends the closure to resolvelib, which also explains failures."""
    chosen: dict[Label, Target] = {}
    todo = list(roots)
    while todo:
        label = todo.pop()
        if label in chosen:
            continue
        family = families.get(label, [])
        if len(family) != 1:
            return None
        t = chosen[label] = family[0]
        for r in _active(t, dict(_flavour_values(t, selections.get(label, {})))):
            dep = families.get(r.label, [])
            if (no_flavour_choice and r.flavours) or len(dep) != 1 or (
                    dep[0].version is not None and not r.constraint.admits(dep[0].version)):
                return None
            todo.append(r.label)
    return chosen


class _Provider:
    """resolvelib's provider protocol over version families."""

    def __init__(self, families, selections):
        self.families = families
        self.selections = selections

    def identify(self, requirement_or_candidate):
        obj = requirement_or_candidate
        label = obj.requirement.label if isinstance(obj, _Req) else obj.label
        return (label.repo, label.package, label.name)

    def get_preference(self, identifier, resolutions, candidates, information, backtrack_causes):
        return (sum(1 for _ in candidates[identifier]), identifier)

    def find_matches(self, identifier, requirements, incompatibilities):
        bad = {id(c) for c in incompatibilities[identifier]}
        reqs = list(requirements[identifier])
        family = self.families.get(Label(*identifier), [])
        ok = [t for t in family if id(t) not in bad and all(self.is_satisfied_by(r, t) for r in reqs)]
        return sorted(ok, key=lambda t: t.version, reverse=True) if all(t.version for t in ok) else ok

    def is_satisfied_by(self, requirement, candidate):
        c: Constraint = requirement.requirement.constraint
        return candidate.version is None or c.admits(candidate.version)

    def get_dependencies(self, candidate):
        flav = dict(_flavour_values(candidate, self.selections.get(candidate.label, {})))
        who = f"{candidate.label} {candidate.version}" if candidate.version else str(candidate.label)
        return [_Req(r, who) for r in _active(candidate, flav)]

    def narrow_requirement_selection(self, identifiers, resolutions, candidates, information, backtrack_causes):
        return identifiers


def _choices(word: str, choices, what: str) -> str:
    from jbuild.dsl.errors import did_you_mean

    listed = f"{what}: {', '.join(choices) or 'none'}"
    hint = did_you_mean(word, choices)
    return f"{hint} ({listed})" if hint else listed


def _unify_flavours(root, chosen: dict[Label, Target], old) -> dict[Label, dict[str, str]]:
    """Every flavour value a requirement in the closure demands; two different demands conflict."""
    demands: dict[tuple[Label, str], tuple[str, str, Requirement]] = {}
    for lb, t in chosen.items():
        flav = dict(_flavour_values(t, old.get(lb, {})))
        for r in _active(t, flav):
            target = chosen.get(r.label)
            for name, value in r.flavours:
                if isinstance(target, Package) and target.flavour(name) is None:
                    raise ResolutionError(f"{lb} asks for flavour '{name}' of {r.label}, which has no such flavour",
                                          [(f"{lb} needs {r.label}[{name}={value}]", r.span)],
                                          _choices(name, [f.name for f in target.flavours], "its flavours"))
                if isinstance(target, Package) and value not in target.flavour(name).values:
                    raise ResolutionError(f"{lb} asks for {name}={value} of {r.label}, which is not among its values",
                                          [(f"{lb} needs {r.label}[{name}={value}]", r.span)],
                                          _choices(value, target.flavour(name).values, f"the values of '{name}'"))
                prev = demands.get((r.label, name))
                if prev and prev[0] != value:
                    raise ResolutionError(
                        f"because {prev[1]} needs {r.label}[{name}={prev[0]}] and {lb} needs {r.label}[{name}={value}], "
                        f"no flavour of {r.label} satisfies both",
                        [(f"{prev[1]} needs {r.label}[{name}={prev[0]}]", prev[2].span),
                         (f"{lb} needs {r.label}[{name}={value}]", r.span)],
                        f"make them ask for one value of '{name}', or let one of them name no value (the other's is "
                        "then taken): a closure holds one flavour of each package")
                demands[(r.label, name)] = (value, str(lb), r)
    out: dict[Label, dict[str, str]] = {}
    for (lb, name), (value, _, _) in demands.items():
        out.setdefault(lb, {})[name] = value
    return out

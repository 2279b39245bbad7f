"""`jbuild explain`: for each action of a plan, why it was built or reused — read from the
decisions the rebuilder recorded when it decided — or, where the store no longer holds what the
current inputs predict, what would build and which inputs changed. Always true of the store as
it is: an entry that is there is never said to be missing."""

from __future__ import annotations

from dataclasses import dataclass

from .keys import PREDICTED, describe_change, entry_name
from .store.sets import complete


@dataclass(frozen=True)
class Explanation:
    node: str
    status: str  # built | reused | up to date | would build | failed | skipped
    reason: str

    def __str__(self) -> str:
        return f"{self.node}: {self.status}: {self.reason}"


def explain(p) -> list[Explanation]:
    """Explanations for every action of the plan `p` (engine.build.Plan), sorted by label."""
    recorded = p.store.index.decisions(str(p.workspace.root))
    out = []
    for node in sorted(p.graph.nodes, key=str):
        key = p.keys.build[node]
        rec = recorded.get(str(node))
        if rec and rec.decision in ("failed", "skipped") and rec.key in (key, ""):
            out.append(Explanation(str(node), rec.decision, rec.reason))  # the last build's word
            continue
        name = entry_name(node, key)
        if complete(p.store, name):  # a set missing an output is rebuilt
            drift = runs_with(p, node, name)
            if rec and rec.key == key and rec.decision in ("built", "reused"):
                out.append(Explanation(str(node), rec.decision, rec.reason + drift))
            else:
                out.append(Explanation(str(node), "up to date",
                                       "its entry for the current inputs is in the store" + drift))
            continue
        out.append(Explanation(str(node), "would build", _why_build(p, node)))
    return out


def _why_build(p, node) -> str:
    """Which inputs changed since `node`'s last build, and which of them are only predicted."""
    inputs = p.keys.inputs[node]
    why = describe_change(p.store.index.last_inputs(str(node)), inputs)
    unmeasured = sorted(dep for dep, digest in inputs.interfaces.items() if digest.startswith(PREDICTED))
    if unmeasured:
        why += f" (predicted: {', '.join(unmeasured)} not measured yet; an unchanged export will cut this off)"
    return why


@dataclass(frozen=True)
class Prediction:
    """`jbuild plan`: what a build would do now, from the predicted keys and the store alone."""

    explanations: list[Explanation]

    def count(self, status: str) -> int:
        return sum(1 for e in self.explanations if e.status == status)

    def summary(self) -> str:
        return (f"{self.count('would build')} would build, {self.count('would reuse')} would be reused "
                f"from the store (nothing was run)")


def predict(p) -> Prediction:
    """For every action of the plan `p`, sorted by label: `would reuse` when the entry its
    predicted key names is in the store, else `would build` and why. Reads the store; writes
    nothing. (A dependency that would build and export the same interface lets its consumers be
    reused: those are said to build, with the note that the prediction may be cut off.)"""
    out = []
    for node in sorted(p.graph.nodes, key=str):
        name = entry_name(node, p.keys.build[node])
        if complete(p.store, name):  # a set missing an output is rebuilt
            out.append(Explanation(str(node), "would reuse", f"{name} is in the store" + runs_with(p, node, name)))
        else:
            out.append(Explanation(str(node), "would build", _why_build(p, node)))
    return Prediction(out)


def runs_with(p, node, name: str) -> str:
    """"; built against X, runs with Y" for each dependency whose entry changed since `node` was
    built (a reused program runs with the patched library: visible, never silent)."""
    from .graph import build_time_deps, is_action

    against = p.store.meta(name).built_against
    notes = []
    for dep in build_time_deps(p.node_closure[node], node):
        if not is_action(dep) or str(dep.label) not in against:
            continue
        now = entry_name(dep, p.keys.build[dep])
        then = against[str(dep.label)].get("entry")
        if then and then != now:
            notes.append(f"built against {then}, runs with {now}")
    return "; " + "; ".join(notes) if notes else ""

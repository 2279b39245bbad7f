"""build_time_deps, with its per-closure memo of each node's build-and-run requirements: the very
order the plain walk gave (the order names /deps when two dependencies share a name, so a
change of order would change what a build sees under the same key)."""

import random
from types import SimpleNamespace

from jbuild.dsl.model import RequirementKind
from jbuild.engine.graph import build_time_deps, run_closure

KINDS = [RequirementKind.BUILD_AND_RUN] * 6 + [RequirementKind.BUILD_ONLY, RequirementKind.RUN_ONLY]


def plain_walk(closure, node) -> list:
    """The walk as it was before the memo: a node already taken is never pushed."""
    out: dict = {}
    deps, both = closure.deps, RequirementKind.BUILD_AND_RUN
    stack = [dep for req, dep in deps.get(node, ()) if req.kind is both]
    while stack:
        dep = stack.pop()
        if dep in out:
            continue
        out[dep] = None
        stack.extend(d for r, d in deps.get(dep, ()) if r.kind is both and d not in out)
    for req, dep in deps.get(node, ()):
        if req.kind is RequirementKind.BUILD_ONLY:
            for n in run_closure(closure, dep):
                out[n] = None
    return list(out)


def random_closure(rng: random.Random, n: int):
    deps = {}
    for i in range(n):
        picks = rng.sample(range(i), min(i, rng.randint(0, 5))) if i else []
        if i and rng.random() < 0.3:
            picks.append(rng.randrange(i))  # the same requirement twice
        deps[f"p{i}"] = [(SimpleNamespace(kind=rng.choice(KINDS)), f"p{j}") for j in picks]
    return SimpleNamespace(deps=deps)


def test_the_memo_gives_the_plain_walks_order_on_random_graphs():
    rng = random.Random(7)
    for _ in range(40):
        closure = random_closure(rng, rng.randint(1, 120))
        shared: dict = {}
        for node in rng.sample(list(closure.deps), len(closure.deps)):
            want = plain_walk(closure, node)
            assert build_time_deps(closure, node) == want
            assert build_time_deps(closure, node, shared) == want  # the memo filled by earlier calls


def test_a_diamond_is_walked_depth_first_last_requirement_first():
    both = SimpleNamespace(kind=RequirementKind.BUILD_AND_RUN)
    closure = SimpleNamespace(deps={"top": [(both, "a"), (both, "b")], "a": [(both, "c")], "b": [(both, "c")],
                                    "c": []})
    assert build_time_deps(closure, "top") == ["b", "c", "a"]

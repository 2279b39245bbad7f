"""What a test runs against, and its test key (DESIGN §3).

A test observes behaviour, so unlike a build key its key covers implementations: test key(T) =
H(T's canonical recipe, its declared sources, the environment it runs in — whose name hashes
every member entry's name, i.e. the *build keys* of T's whole run closure, run-only
requirements included, and the rendered config —, the host tools it declares, the sandbox kind).
A libc implementation patch gives libc a new entry, so every test whose closure holds libc gets
a new key and reruns, while libc's consumers' builds are reused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from jbuild.base.hashing import key_of
from jbuild.dsl.canonical import target

from ..graph import is_action, run_closure
from ..keys import is_host_tool
from ..resolve import Closure, Node

FORMAT = 1  # bump when what enters a test key changes: every cached result is then stale
NOT_IN_KEY = ("summary", "tags")  # display and selection only


@dataclass(frozen=True)
class TestInputs:
    """Everything a test's run and key are made of, once its run closure is built."""

    members: list  # runtime.environment.Member of its environment
    packages: list  # the Packages of that closure (config is rendered over them)
    etc: dict  # the environment's rendered etc/
    env_name: str  # the environment's store name (hashes the members' entries and etc/)
    host: dict  # host tool label -> its key (fingerprint)
    key: str


def closure_nodes(closure: Closure, test: Node) -> list[Node]:
    """The test's run closure, and the run closure of each tool it declares in build_requires
    (a workspace-built tool a test runs is part of what it exercises)."""
    out: dict[Node, None] = dict.fromkeys(run_closure(closure, test))
    for req, dep in closure.deps.get(test, ()):
        if not req.kind.at_run:
            out.update(dict.fromkeys(run_closure(closure, dep)))
    return list(out)


def action_deps(closure: Closure, test: Node) -> set[Node]:
    """The actions that must be built before the test can run."""
    return {n for n in closure_nodes(closure, test) if is_action(n)}


def test_inputs(computer, closure: Closure, test: Node, entry_of: Callable[[Node], str]) -> TestInputs:
    """Call once the test's closure is built (entry_of needs the actual build keys)."""
    from ..runtime.config import environment_etc
    from ..runtime.environment import env_name

    nodes = closure_nodes(closure, test)
    actions = [n for n in nodes if is_action(n)]
    subjects = {dep for _, dep in closure.deps.get(test, ())}  # what it requires: seen whole, as a result's root
    members = [m for n in actions for m in _members(n, entry_of, n in subjects)]
    packages = [n.target for n in actions]
    etc = environment_etc(packages)
    name = env_name(members, etc, test.label.name)
    host = {str(n.label): computer.build_key(n, closure) for n in nodes if is_host_tool(n)}
    recipe = {k: v for k, v in target(test.target).items() if k not in NOT_IN_KEY}
    key = key_of({"format": FORMAT, "recipe": recipe, "sources": computer.file_digests(test, test.target.files),
                  "environment": name, "host": host, "sandbox": computer.sandbox_kind})
    return TestInputs(members, packages, etc, name, host, key)


def _members(n: Node, entry_of: Callable[[Node], str], subject: bool) -> list:
    """A closure action's members of the test's environment: its one entry, or, for a split
    package, its run outputs (bin and lib, as in environments and images: split.py) — its set
    entry holds no files. A package the test requires itself (`subject`) and that declares no
    `exports` is seen whole, as a `result` environment sees its root (what you test, you see);
    one further down exports nothing."""
    from ..runtime.environment import WHOLE, Member
    from ..split import RUN, visible

    exports = tuple(n.target.exports)
    if not n.target.outputs:
        return [Member(str(n.label), entry_of(n), exports or (WHOLE if subject else ()))]
    return [Member(str(n.label), entry, exports or WHOLE, output)
            for output, entry in visible(n.target, entry_of(n), RUN)]

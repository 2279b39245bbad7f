"""A resolved node (`Node`) and what the engine asks of its target on every run (`Shape`):
the key of nearly every dict and set of the engine, so made to hash and compare in C."""

from __future__ import annotations

import functools
from typing import NamedTuple

from jbuild.dsl.labels import Label
from jbuild.dsl.model import Output, Package, Target, Test


class Node(frozenset):
    """One resolved target of a closure: a package version with its flavour values.

    Its identity is (label, version, flavours, resolution); `target` is not part of it. A node
    keys nearly every dict and set of the engine (~358,000 hashes in a leaf edit at 10,000
    packages), so hashing and comparing one must not be a Python call: a node IS the frozenset
    of one tuple, its identity (repo, package, name, version, flavours, resolution), and
    frozenset's own C `__hash__` (computed once, then kept in the object) and `__eq__` serve;
    every attribute lives in the instance's dict. A dict lookup by the object a value was
    stored under is then as cheap as by an object's identity (~15 ns against ~60 ns for the
    Python `__hash__` it replaces, and ~40 ns for a tuple of the six, hashed anew each time).

    Not interned (one object per identity, with object's identity hash): the engine tells a
    re-made node from the one it replaces by `is` (reresolve.py, regraph.py, relower.py,
    `Session._reload`): a changed build script makes an equal node with another target, and
    both live at once. So there is no table either, and nothing outlives its last user. The
    price of being a frozenset: a node equals the plain frozenset of its identity, and is
    iterable and ordered (by inclusion) as one: nothing asks; and ~0.6 KB a node against ~0.2 KB
    (its set's table and a dict that shares no keys: ~4 MB at 10,000 packages). `_hash` is
    `hash(node)`, kept for a test before `in` (cutoff.py). Frozen: its dict is filled only by
    `made` (construction, restoration, unpickling)."""

    def __new__(cls, target: Target, label: Label, version: str, flavours: tuple[tuple[str, str], ...],
                resolution: str = "") -> Node:
        # resolution: how its own requirements were resolved (a digest; "" before `identify`):
        # two roots of one build may resolve a shared package against different versions or
        # flavours below it, and those are two actions, not one.
        return made(cls, target=target, label=label, version=version, flavours=flavours, resolution=resolution)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r}: a Node is frozen")

    __delattr__ = __setattr__

    @functools.cached_property  # (what the engine asks of every node's target on every run)
    def shape(self) -> Shape:
        return shape_of(self.target)

    def __getstate__(self) -> dict:  # pickled whole (a session file writes nodes its own way)
        d = {k: v for k, v in self.__dict__.items() if k not in ("_kept", "_hash")}
        d["target"] = self.target
        return d

    def __reduce__(self):  # (a frozenset's own would call `__new__` with its items; a str's hash
        return _unpickled, (self.__getstate__(),)  # differs from process to process: hashed anew)

    @functools.cached_property  # (in the instance's dict)
    def id(self) -> str:
        fl = "[" + ",".join(f"{k}={v}" for k, v in self.flavours) + "]" if self.flavours else ""
        return f"{self.label}@{self.version}{fl}" if self.version else f"{self.label}{fl}"

    def __str__(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"Node({self.label!r}, {self.version!r}, {self.flavours!r}, {self.resolution!r})"

    __format__ = object.__format__  # (str(node), not the frozenset's)


_new_set, _set_hash = frozenset.__new__, frozenset.__hash__


def made(cls, **fields) -> Node:
    """A node of `fields`: label, version, flavours, resolution, and any attribute kept with it
    (target, shape, id, `_kept`: where a kept analysis holds its target)."""
    label = fields["label"]
    n = _new_set(cls, ((label.repo, label.package, label.name, fields["version"], fields["flavours"],
                        fields["resolution"]),))
    d = n.__dict__
    d.update(fields)
    d["_hash"] = _set_hash(n)
    return n


def _unpickled(state: dict) -> Node:
    return made(Node, **state)


class _KeptTarget:
    """`Node.target` of a node restored from a kept analysis (engine/analysis_file.py), which
    holds none: read back when first asked (`_kept` names where), then in the node's dict. A
    descriptor, not a `__getattr__`: that hook made every attribute of every node a slower
    lookup (~2% of a 10k edit's instructions)."""

    def __get__(self, node, owner=None):
        if node is None:
            return self
        d = node.__dict__
        if "_kept" not in d:
            raise AttributeError("target")
        analysis, record = d["_kept"]
        found = d["target"] = analysis.target(record)
        return found


Node.target = _KeptTarget()  # (a non-data descriptor: a value in the node's dict wins)


class Shape(NamedTuple):
    """What the engine asks of a node's target on every run (to plan, adopt, key and mount its
    dependencies): kept with each node of a saved analysis, so that an edit reads back only the
    targets it builds or re-keys (engine/analysis_file.py)."""

    action: bool  # a package built in the workspace (graph.is_action)
    host_tool: bool
    test: bool
    outputs: tuple[Output, ...]  # the declared outputs (split.py reads `.outputs` of a package or a shape)
    interface: bool  # declares an interface


def shape_of(t: Target) -> Shape:
    if not isinstance(t, Package):
        return Shape(False, False, isinstance(t, Test), (), False)
    return Shape(t.host_tool is None, t.host_tool is not None, False, t.outputs, bool(t.interface))

"""Fast pickling for frozen, slotted data classes.

Python 3.11 pickles such a class through dataclasses' `__getstate__`/`__setstate__`, which call
`dataclasses.fields()` on every object: for the million objects of a 10,000-target analysis
that is most of the time spent writing it (and much of reading it). `speed_up` gives each class
the same state (its fields' values in order) through a precomputed `operator.attrgetter`, so
files written before and after read the same.
"""

from __future__ import annotations

import dataclasses
import operator


def speed_up(namespace: dict) -> None:
    """Give every frozen, slotted data class defined in `namespace` (a module's globals()) the
    fast state methods."""
    slow_get = getattr(dataclasses, "_dataclass_getstate", None)
    for cls in list(namespace.values()):
        if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__dict__.get("__getstate__") is slow_get:
            names = tuple(f.name for f in dataclasses.fields(cls))
            cls.__getstate__ = _getter(names)
            cls.__setstate__ = _setter(names)


def _getter(names: tuple[str, ...]):
    if len(names) == 1:
        name = names[0]
        return lambda self: (getattr(self, name),)
    if not names:
        return lambda self: ()
    get = operator.attrgetter(*names)
    return lambda self: get(self)


def _setter(names: tuple[str, ...]):
    """A `__setstate__` written out for these names (no loop: it runs once per object read)."""
    lines = [f"    _set(self, {n!r}, state[{i}])" for i, n in enumerate(names)]
    code = "def __setstate__(self, state):\n" + "\n".join(lines or ["    pass"]) + "\n"
    scope: dict = {"_set": object.__setattr__}
    exec(compile(code, f"<setstate {', '.join(names)}>", "exec"), scope)
    return scope["__setstate__"]
